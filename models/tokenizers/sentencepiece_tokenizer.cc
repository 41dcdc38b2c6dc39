#include "models/tokenizers/sentencepiece_tokenizer.h"

#include <algorithm>
#include <map>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "models/tokenizers/sentencepiece_bridge.h"
#include "models/tokenizers/unicode.h"

namespace tokenizers {
namespace {

std::string_view ToStd(absl::string_view text) { return {text.data(), text.size()}; }

absl::Status CheckNoComma(const std::vector<std::string>& items, const char* field) {
  for (const std::string& item : items) {
    if (item.empty() || item.find(',') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "SentencePieceTrainOptions.", field, ": \"", item,
          "\" cannot be passed to sentencepiece (empty or contains a comma)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status TrainSentencePiece(const SentencePieceTrainOptions& options) {
  const auto invalid = [](const auto&... message) {
    return absl::InvalidArgumentError(absl::StrCat("SentencePieceTrainOptions.", message...));
  };
  if (options.input_files.empty()) return invalid("input_files is empty");
  if (options.model_prefix.empty()) return invalid("model_prefix is empty");
  if (options.vocab_size <= 0) {
    return invalid("vocab_size must be positive, got ", options.vocab_size);
  }
  if (options.model_type != "unigram" && options.model_type != "bpe") {
    return invalid("model_type is \"", options.model_type, "\"; supported: unigram, bpe");
  }
  if (!(options.character_coverage > 0.0 && options.character_coverage <= 1.0)) {
    return invalid("character_coverage must be in (0, 1], got ", options.character_coverage);
  }
  if (options.num_threads <= 0) {
    return invalid("num_threads must be positive, got ", options.num_threads);
  }
  if (options.input_sentence_size < 0) {
    return invalid("input_sentence_size must not be negative, got ",
                   options.input_sentence_size);
  }
  absl::Status status = CheckNoComma(options.input_files, "input_files");
  if (status.ok()) status = CheckNoComma(options.user_defined_symbols, "user_defined_symbols");
  if (!status.ok()) return status;

  std::map<std::string, std::string> kwargs = {
      {"input", absl::StrJoin(options.input_files, ",")},
      {"model_prefix", options.model_prefix},
      {"vocab_size", absl::StrCat(options.vocab_size)},
      {"model_type", options.model_type},
      {"character_coverage", absl::StrCat(options.character_coverage)},
      {"normalization_rule_name", options.normalization_rule_name},
      {"num_threads", absl::StrCat(options.num_threads)},
      {"hard_vocab_limit", options.hard_vocab_limit ? "true" : "false"},
      {"input_sentence_size", absl::StrCat(options.input_sentence_size)},
      {"minloglevel", options.verbose ? "0" : "2"},
  };
  if (!options.user_defined_symbols.empty()) {
    kwargs["user_defined_symbols"] = absl::StrJoin(options.user_defined_symbols, ",");
  }
  const std::string error = internal::TrainSentencePieceModel(kwargs, options.seed);
  if (!error.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "training sentencepiece model ", options.model_prefix, ".model failed: ", error));
  }
  return absl::OkStatus();
}

SentencePieceTokenizer::SentencePieceTokenizer(
    std::unique_ptr<internal::SentencePieceBridge> bridge)
    : bridge_(std::move(bridge)) {}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> SentencePieceTokenizer::Load(
    const std::string& model_path) {
  auto bridge = std::make_unique<internal::SentencePieceBridge>();
  const std::string error = bridge->Load(model_path);
  if (!error.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(model_path, ": cannot load sentencepiece model: ", error));
  }
  std::unique_ptr<SentencePieceTokenizer> tokenizer(new SentencePieceTokenizer(std::move(bridge)));
  const internal::SentencePieceBridge& spm = *tokenizer->bridge_;
  tokenizer->unk_id_ = spm.unk_id();
  tokenizer->cls_id_ = tokenizer->FindSpecial({"[CLS]", "<cls>"}, spm.bos_id());
  tokenizer->sep_id_ = tokenizer->FindSpecial({"[SEP]", "<sep>"}, spm.eos_id());
  tokenizer->pad_id_ = tokenizer->FindSpecial({"[PAD]", "<pad>"}, spm.pad_id());
  tokenizer->mask_id_ = tokenizer->FindSpecial({"[MASK]", "<mask>"}, -1);
  return tokenizer;
}

int64_t SentencePieceTokenizer::FindSpecial(const std::vector<std::string>& pieces,
                                            int fallback) const {
  for (const std::string& piece : pieces) {
    const int id = bridge_->PieceToId(piece);
    if (!bridge_->IsUnknown(id)) return id;
  }
  return fallback >= 0 ? fallback : unk_id_;
}

Encoding SentencePieceTokenizer::Encode(absl::string_view text) const {
  Encoding encoding;
  const std::vector<int64_t> byte_to_char = Utf8ByteToChar(text);
  const auto to_char = [&](uint32_t byte) {
    return byte_to_char[std::min<size_t>(byte, text.size())];
  };
  for (internal::SentencePiecePiece& piece : bridge_->Encode(ToStd(text))) {
    const int64_t begin = to_char(piece.begin);
    // The character holding the last byte, + 1, in case a span ends inside a character.
    const int64_t end = piece.end > piece.begin ? to_char(piece.end - 1) + 1 : begin;
    encoding.tokens.push_back(std::move(piece.piece));
    encoding.ids.push_back(piece.id);
    encoding.offsets.emplace_back(begin, end);
  }
  return encoding;
}

std::string SentencePieceTokenizer::Decode(const std::vector<int64_t>& ids,
                                           bool skip_special_tokens) const {
  std::vector<int> kept;
  for (int64_t id : ids) {
    if (id < 0 || id >= vocab_size()) continue;
    if (skip_special_tokens &&
        (bridge_->IsControl(static_cast<int>(id)) || id == unk_id_ || id == cls_id_ ||
         id == sep_id_ || id == pad_id_ || id == mask_id_)) {
      continue;
    }
    kept.push_back(static_cast<int>(id));
  }
  return bridge_->Decode(kept);
}

int64_t SentencePieceTokenizer::vocab_size() const { return bridge_->GetPieceSize(); }

int64_t SentencePieceTokenizer::TokenToId(absl::string_view token) const {
  return bridge_->PieceToId(ToStd(token));
}

std::string SentencePieceTokenizer::IdToToken(int64_t id) const {
  if (id < 0 || id >= vocab_size()) return "";
  return bridge_->IdToPiece(static_cast<int>(id));
}

}  // namespace tokenizers
