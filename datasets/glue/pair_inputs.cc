#include "datasets/glue/pair_inputs.h"

#include <utility>

namespace datasets {

Example BuildClassificationInputs(std::vector<int64_t> a, const std::vector<int64_t>* b,
                                  int64_t cls_id, int64_t sep_id, int64_t max_seq_length) {
  std::vector<int64_t> second = b != nullptr ? *b : std::vector<int64_t>();
  const int64_t num_special = b != nullptr ? 3 : 2;
  const int64_t budget = max_seq_length > num_special ? max_seq_length - num_special : 0;
  while (static_cast<int64_t>(a.size() + second.size()) > budget) {
    if (a.size() > second.size()) {
      a.pop_back();
    } else {
      second.pop_back();
    }
  }
  std::vector<int64_t> input_ids;
  input_ids.reserve(a.size() + second.size() + num_special);
  input_ids.push_back(cls_id);
  input_ids.insert(input_ids.end(), a.begin(), a.end());
  input_ids.push_back(sep_id);
  std::vector<int64_t> token_type_ids(input_ids.size(), 0);
  if (b != nullptr) {
    input_ids.insert(input_ids.end(), second.begin(), second.end());
    input_ids.push_back(sep_id);
    token_type_ids.resize(input_ids.size(), 1);
  }
  Example example;
  example.ints["attention_mask"] = std::vector<int64_t>(input_ids.size(), 1);
  example.ints["token_type_ids"] = std::move(token_type_ids);
  example.ints["input_ids"] = std::move(input_ids);
  return example;
}

}  // namespace datasets
