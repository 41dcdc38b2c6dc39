// Private to this package: the only code that includes sentencepiece's headers. Those define
// absl::string_view as std::string_view, which collides with Debian's abseil (where it is a
// class of its own), so the bridge includes no abseil header and speaks std types only.
//
//   internal::SentencePieceBridge bridge;
//   std::string error = bridge.Load("spm.model");  // "" on success
//   std::vector<internal::SentencePiecePiece> pieces = bridge.Encode("Hello world");
#ifndef MODELS_TOKENIZERS_SENTENCEPIECE_BRIDGE_H_
#define MODELS_TOKENIZERS_SENTENCEPIECE_BRIDGE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}  // namespace sentencepiece

namespace tokenizers {
namespace internal {

struct SentencePiecePiece {
  std::string piece;    // The vocabulary entry, e.g. "▁hello".
  int id = 0;
  uint32_t begin = 0;   // [begin, end) byte span of `surface` in the encoded text.
  uint32_t end = 0;
  std::string surface;  // The original text the piece covers.
};

class SentencePieceBridge {
 public:
  SentencePieceBridge();
  ~SentencePieceBridge();

  // "" on success, else sentencepiece's error message.
  std::string Load(const std::string& path);

  std::vector<SentencePiecePiece> Encode(std::string_view text) const;
  std::string Decode(const std::vector<int>& ids) const;

  int GetPieceSize() const;
  // unk_id() for pieces that are not in the vocabulary.
  int PieceToId(std::string_view piece) const;
  std::string IdToPiece(int id) const;
  bool IsControl(int id) const;
  bool IsUnknown(int id) const;
  int unk_id() const;
  int bos_id() const;  // -1 when the model has none; likewise below.
  int eos_id() const;
  int pad_id() const;

 private:
  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
};

// SentencePieceTrainer::Train(kwargs) after seeding sentencepiece's random generator with
// `seed`. "" on success, else the error message.
std::string TrainSentencePieceModel(const std::map<std::string, std::string>& kwargs,
                                    unsigned int seed);

}  // namespace internal
}  // namespace tokenizers

#endif  // MODELS_TOKENIZERS_SENTENCEPIECE_BRIDGE_H_
