#include "models/pretrained_model.h"

namespace models {

PreTrainedModel::PreTrainedModel(BertConfig config, std::string architecture)
    : config_(std::move(config)) {
  config_.architectures = {std::move(architecture)};
}

std::vector<std::pair<std::string, at::Tensor>> ModelOutput::Named() const {
  std::vector<std::pair<std::string, at::Tensor>> named;
  const std::pair<const char*, const at::Tensor*> fields[] = {
      {"start_logits", &start_logits},
      {"end_logits", &end_logits},
      {"logits", &logits},
      {"prediction_logits", &prediction_logits},
      {"seq_relationship_logits", &seq_relationship_logits},
      {"last_hidden_state", &last_hidden_state},
      {"pooler_output", &pooler_output}};
  for (const auto& [name, tensor] : fields) {
    if (tensor->defined()) named.emplace_back(name, *tensor);
  }
  return named;
}

}  // namespace models
