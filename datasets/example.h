// One model input as plain integer/float sequences, the currency between every data
// pipeline (SQuAD, GLUE-style, MLM) and the batching data loader, so the training loop
// never needs to know the task.
//
// Conventional keys (Hugging Face's names): input_ids, token_type_ids, attention_mask;
// start_positions / end_positions (QA), labels (classification: one value; MLM: one per
// token, -100 where not masked), next_sentence_label (NSP), example_index (for QA
// post-processing).
#ifndef DATASETS_EXAMPLE_H_
#define DATASETS_EXAMPLE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace datasets {

struct Example {
  std::map<std::string, std::vector<int64_t>> ints;  // Sequences or length-1 scalars.
  std::map<std::string, std::vector<float>> floats;  // e.g. regression labels.
};

}  // namespace datasets

#endif  // DATASETS_EXAMPLE_H_
