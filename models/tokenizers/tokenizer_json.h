// Hugging Face's tokenizer files for WordPiece (BERT) tokenizers, so a model directory we
// save is a tokenizer any Hugging Face client loads (transformers, transformers.js,
// tokenizers), and a checkpoint that ships only tokenizer.json loads here:
//   tokenizer.json           as the tokenizers library writes it for bert-base-uncased:
//                            BertNormalizer, BertPreTokenizer, WordPiece model,
//                            TemplateProcessing ([CLS] A [SEP] / [CLS] A [SEP] B [SEP]),
//                            WordPiece decoder, the five specials as added_tokens.
//   tokenizer_config.json    transformers' BertTokenizer arguments (do_lower_case, ...).
//   special_tokens_map.json  the five special tokens by role.
//   vocab.txt                one token per line (BertTokenizer's own file).
//
//   RETURN_IF_ERROR(tokenizers::SaveTokenizerFiles(*tokenizer, dir, 512));
//   ASSIGN_OR_RETURN(auto loaded, tokenizers::LoadTokenizerJson(dir + "/tokenizer.json"));
#ifndef MODELS_TOKENIZERS_TOKENIZER_JSON_H_
#define MODELS_TOKENIZERS_TOKENIZER_JSON_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "models/tokenizers/wordpiece_tokenizer.h"

namespace tokenizers {

// The tokenizer.json document of `tokenizer`. Fails when an option has no tokenizer.json
// form (never_split words).
absl::StatusOr<std::string> TokenizerJson(const BertTokenizer& tokenizer);

// Builds a BertTokenizer from tokenizer.json contents. Only what BertTokenizer does is
// accepted: model WordPiece ("##" continuations), normalizer BertNormalizer, pre_tokenizer
// BertPreTokenizer (or null), post_processor TemplateProcessing / BertProcessing (or null),
// added tokens that are the special tokens. Anything else is an error naming `source`, the
// field and its value (e.g. `model.type "BPE" is not supported`). Specials: unk_token from
// the model, cls/sep from the post processor, pad from `padding`; `config_json` (the
// tokenizer_config.json beside it, "" when there is none) overrides all five by role.
absl::StatusOr<std::unique_ptr<BertTokenizer>> ParseTokenizerJson(
    absl::string_view contents, absl::string_view source, absl::string_view config_json = "");

// Reads `path` and, when present, tokenizer_config.json in the same directory.
absl::StatusOr<std::unique_ptr<BertTokenizer>> LoadTokenizerJson(const std::string& path);

// A WordPiece tokenizer from: a file named *tokenizer.json (LoadTokenizerJson: its own
// normalizer and special tokens; `options` is not used), a model directory
// (DIR/tokenizer.json, else DIR/vocab.txt with `options`), or a vocabulary file with
// `options` (vocab.txt or a JSON list; see LoadVocab).
absl::StatusOr<std::unique_ptr<BertTokenizer>> LoadBertTokenizer(
    const std::string& path, const BertTokenizerOptions& options = {});

// Writes vocab.txt, tokenizer.json, tokenizer_config.json and special_tokens_map.json into
// the existing directory `dir`, each atomically. `model_max_length` is the longest input
// the model takes (its max_position_embeddings).
absl::Status SaveTokenizerFiles(const BertTokenizer& tokenizer, const std::string& dir,
                                int64_t model_max_length);

}  // namespace tokenizers

#endif  // MODELS_TOKENIZERS_TOKENIZER_JSON_H_
