// TEMPORARY, local to datasets/glue: builds BERT classifier inputs for one sentence or a
// pair. The shared pair builder being written for all pipelines replaces this file; keep it
// small and do not depend on it from outside datasets/glue.
//
//   Example inputs = BuildClassificationInputs(a_ids, &b_ids, tokenizer.cls_id(),
//                                              tokenizer.sep_id(), /*max_seq_length=*/128);
#ifndef DATASETS_GLUE_PAIR_INPUTS_H_
#define DATASETS_GLUE_PAIR_INPUTS_H_

#include <cstdint>
#include <vector>

#include "datasets/example.h"

namespace datasets {

// [CLS] a [SEP] for one sentence, [CLS] a [SEP] b [SEP] for a pair (`b` non-null), with
// token_type_ids 0 up to and including the first [SEP] and 1 after it, and attention_mask
// all 1 (no padding: the DataLoader pads). Truncates "longest_first" as Hugging Face's
// Python tokenizers do: one token at a time from the end of the longer sequence, from `b`
// on a tie. The caller guarantees max_seq_length leaves room for the special tokens.
Example BuildClassificationInputs(std::vector<int64_t> a, const std::vector<int64_t>* b,
                                  int64_t cls_id, int64_t sep_id, int64_t max_seq_length);

}  // namespace datasets

#endif  // DATASETS_GLUE_PAIR_INPUTS_H_
