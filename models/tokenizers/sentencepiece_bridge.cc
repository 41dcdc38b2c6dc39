#include "models/tokenizers/sentencepiece_bridge.h"

#include <exception>
#include <unordered_map>

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

namespace tokenizers {
namespace internal {

SentencePieceBridge::SentencePieceBridge()
    : processor_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {}

SentencePieceBridge::~SentencePieceBridge() = default;

std::string SentencePieceBridge::Load(const std::string& path) {
  // The library throws for some malformed models instead of returning a status (darts-clone's
  // "failed to insert key: zero-length key" for an empty piece; found by
  // //fuzz:sentencepiece_fuzzer), so both become the returned message.
  try {
    const sentencepiece::util::Status status = processor_->Load(path);
    return status.ok() ? "" : status.ToString();
  } catch (const std::exception& e) {
    processor_ = std::make_unique<sentencepiece::SentencePieceProcessor>();
    return std::string("malformed model: ") + e.what();
  }
}

std::vector<SentencePiecePiece> SentencePieceBridge::Encode(std::string_view text) const {
  std::vector<SentencePiecePiece> pieces;
  const sentencepiece::ImmutableSentencePieceText encoded =
      processor_->EncodeAsImmutableProto(text);
  pieces.reserve(encoded.pieces_size());
  for (const auto& piece : encoded.pieces()) {
    pieces.push_back({piece.piece(), static_cast<int>(piece.id()), piece.begin(), piece.end(),
                      piece.surface()});
  }
  return pieces;
}

std::string SentencePieceBridge::Decode(const std::vector<int>& ids) const {
  return processor_->DecodeIds(ids);
}

int SentencePieceBridge::GetPieceSize() const { return processor_->GetPieceSize(); }

int SentencePieceBridge::PieceToId(std::string_view piece) const {
  return processor_->PieceToId(piece);
}

std::string SentencePieceBridge::IdToPiece(int id) const { return processor_->IdToPiece(id); }

bool SentencePieceBridge::IsControl(int id) const { return processor_->IsControl(id); }
bool SentencePieceBridge::IsUnknown(int id) const { return processor_->IsUnknown(id); }
int SentencePieceBridge::unk_id() const { return processor_->unk_id(); }
int SentencePieceBridge::bos_id() const { return processor_->bos_id(); }
int SentencePieceBridge::eos_id() const { return processor_->eos_id(); }
int SentencePieceBridge::pad_id() const { return processor_->pad_id(); }

std::string TrainSentencePieceModel(const std::map<std::string, std::string>& kwargs,
                                    unsigned int seed) {
  sentencepiece::SetRandomGeneratorSeed(seed);
  const std::unordered_map<std::string, std::string> args(kwargs.begin(), kwargs.end());
  try {
    const sentencepiece::util::Status status = sentencepiece::SentencePieceTrainer::Train(args);
    return status.ok() ? "" : status.ToString();
  } catch (const std::exception& e) {
    return e.what();
  }
}

}  // namespace internal
}  // namespace tokenizers
