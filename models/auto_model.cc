#include "models/auto_model.h"

#include <functional>
#include <map>
#include <string>

#include <ATen/ATen.h>
#include <torch/utils.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "models/bert.h"
#include "models/distilbert.h"

namespace models {
namespace {

using Factory = std::function<std::shared_ptr<PreTrainedModel>(const BertConfig&)>;

template <typename Impl>
Factory Make() {
  return [](const BertConfig& config) { return std::make_shared<Impl>(config); };
}

const std::map<std::string, Factory>& Factories() {
  static const auto* const kFactories = new std::map<std::string, Factory>{
      {"BertModel", Make<BertModelImpl>()},
      {"BertForMaskedLM", Make<BertForMaskedLMImpl>()},
      {"BertForPreTraining", Make<BertForPreTrainingImpl>()},
      {"BertForQuestionAnswering", Make<BertForQuestionAnsweringImpl>()},
      {"BertForSequenceClassification", Make<BertForSequenceClassificationImpl>()},
      {"DistilBertModel", Make<DistilBertModelImpl>()},
      {"DistilBertForMaskedLM", Make<DistilBertForMaskedLMImpl>()},
      {"DistilBertForQuestionAnswering", Make<DistilBertForQuestionAnsweringImpl>()},
      {"DistilBertForSequenceClassification", Make<DistilBertForSequenceClassificationImpl>()},
  };
  return *kFactories;
}

}  // namespace

absl::StatusOr<std::shared_ptr<PreTrainedModel>> CreateModel(const BertConfig& config,
                                                             absl::string_view architecture) {
  const std::string name = architecture.empty() ? config.architecture() : std::string(architecture);
  const std::vector<std::string>& supported = SupportedArchitectures(config.model_type);
  if (std::find(supported.begin(), supported.end(), name) == supported.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "architecture \"", name, "\" cannot be built for model_type \"", config.model_type,
        "\"; supported: ", absl::StrJoin(supported, ", ")));
  }
  {
    absl::Status valid = ValidateBertConfig(config, "config");
    if (!valid.ok()) return valid;
  }
  try {
    return Factories().at(name)(config);
  } catch (const c10::Error& e) {
    return absl::InternalError(
        absl::StrCat("building ", name, " failed: ", e.what_without_backtrace()));
  }
}

absl::StatusOr<std::shared_ptr<PreTrainedModel>> CloneModel(const PreTrainedModel& model) {
  absl::StatusOr<std::shared_ptr<PreTrainedModel>> copy =
      CreateModel(model.config(), model.architecture());
  if (!copy.ok()) return copy.status();
  torch::NoGradGuard no_grad;
  auto target_parameters = (*copy)->named_parameters();
  for (const auto& item : model.named_parameters()) {
    at::Tensor& target = target_parameters[item.key()];
    target.copy_(item.value());
    target.set_requires_grad(item.value().requires_grad());
  }
  auto target_buffers = (*copy)->named_buffers();
  for (const auto& item : model.named_buffers()) target_buffers[item.key()].copy_(item.value());
  (*copy)->train(model.is_training());
  return copy;
}

}  // namespace models
