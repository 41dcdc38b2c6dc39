// Builds the model class that a config names, like Hugging Face's AutoModel: the
// architecture comes from config.json "architectures" (or an explicit override), and the
// result is any PreTrainedModel with freshly initialised weights.
//
//   ASSIGN_OR_RETURN(auto model, CreateModel(config, "BertForQuestionAnswering"));
#ifndef MODELS_AUTO_MODEL_H_
#define MODELS_AUTO_MODEL_H_

#include <memory>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "models/bert_config.h"
#include "models/pretrained_model.h"

namespace models {

// `architecture` empty: config.architecture(). Unknown or mismatched (a DistilBert head
// for a bert config) architectures give InvalidArgument naming the value. Weights are
// initialised from the global torch generator; seed it for reproducible models.
absl::StatusOr<std::shared_ptr<PreTrainedModel>> CreateModel(const BertConfig& config,
                                                             absl::string_view architecture = "");

// A new model of the same architecture and config with a copy of every parameter and
// buffer (requires_grad flags kept): e.g. a student initialised from its teacher.
absl::StatusOr<std::shared_ptr<PreTrainedModel>> CloneModel(const PreTrainedModel& model);

}  // namespace models

#endif  // MODELS_AUTO_MODEL_H_
