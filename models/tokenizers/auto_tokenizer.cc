#include "models/tokenizers/auto_tokenizer.h"

#include <utility>

#include "absl/strings/match.h"
#include "base/status_macros.h"
#include "models/tokenizers/sentencepiece_tokenizer.h"
#include "models/tokenizers/tokenizer_json.h"

namespace tokenizers {

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(
    const std::string& path, const BertTokenizerOptions& wordpiece_options) {
  if (absl::EndsWith(path, ".model")) {
    ASSIGN_OR_RETURN(std::unique_ptr<SentencePieceTokenizer> tokenizer,
                     SentencePieceTokenizer::Load(path));
    return std::unique_ptr<Tokenizer>(std::move(tokenizer));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<BertTokenizer> tokenizer,
                   LoadBertTokenizer(path, wordpiece_options));
  return std::unique_ptr<Tokenizer>(std::move(tokenizer));
}

}  // namespace tokenizers
