#include "recipes/tasks/masked_lm.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "models/losses.h"
#include "recipes/tasks/model_io.h"

namespace recipes {
namespace {

constexpr char kTask[] = "masked LM";

// The MLM logits of BertForPreTraining or BertForMaskedLM.
const at::Tensor& MlmLogits(const compressor::TensorMap& outputs) {
  const auto it = outputs.find("prediction_logits");
  if (it != outputs.end() && it->second.defined()) return it->second;
  return RequireTensor(outputs, "logits", kTask, "model outputs",
                       "; a masked-LM head (BertForMaskedLM or BertForPreTraining) is needed");
}

// The NSP logits and labels when both the model and the batch have them.
bool FindNsp(const compressor::TensorMap& outputs, const compressor::TensorMap& batch,
             at::Tensor* logits, at::Tensor* labels) {
  const auto logits_it = outputs.find("seq_relationship_logits");
  const auto labels_it = batch.find("next_sentence_label");
  if (logits_it == outputs.end() || labels_it == batch.end() || !logits_it->second.defined() ||
      !labels_it->second.defined()) {
    return false;
  }
  *logits = logits_it->second;
  *labels = labels_it->second.reshape({-1});
  return true;
}

}  // namespace

compressor::TensorMap ForwardMaskedLm(torch::nn::Module& model, const compressor::TensorMap& batch,
                                      const MaskedLmConfig& config) {
  if (!config.masked_positions_only) return ForwardBertClass(model, batch);
  return ForwardBertClassWithMask(
      model, batch, RequireTensor(batch, "labels", kTask, "batch").ne(models::kIgnoreIndex));
}

absl::StatusOr<std::unique_ptr<LoaderBatchSource>> MaskedLmBatches(
    std::vector<std::string> paths, const tokenizers::Tokenizer* tokenizer,
    datasets::mlm::MlmStreamOptions stream_options, datasets::DataLoaderOptions loader_options) {
  if (tokenizer == nullptr) return absl::InvalidArgumentError("MaskedLmBatches: tokenizer is null");
  ASSIGN_OR_RETURN(std::shared_ptr<datasets::mlm::MlmExampleStream> stream,
                   datasets::mlm::MlmExampleStream::Create(std::move(paths), tokenizer,
                                                           std::move(stream_options)));
  loader_options.pad_token_id = tokenizer->pad_id();
  const datasets::mlm::MlmExampleStream* raw = stream.get();
  return LoaderBatchSource::Create(std::move(stream), std::move(loader_options),
                                   [raw] { return raw->status(); });
}

at::Tensor MaskedLmLoss(const compressor::TensorMap& outputs, const compressor::TensorMap& batch) {
  const at::Tensor& logits = MlmLogits(outputs);
  const at::Tensor& labels = RequireTensor(batch, "labels", kTask, "batch");
  at::Tensor loss = models::MaskedLMLoss(logits, labels);
  at::Tensor nsp_logits, nsp_labels;
  if (FindNsp(outputs, batch, &nsp_logits, &nsp_labels)) {
    loss = loss + models::NextSentenceLoss(nsp_logits, nsp_labels);
  }
  return loss;
}

absl::StatusOr<std::map<std::string, double>> EvaluateMaskedLm(torch::nn::Module& model,
                                                               LoaderBatchSource& dev,
                                                               const MaskedLmConfig& config) {
  double mlm_loss_sum = 0.0, nsp_loss_sum = 0.0;
  int64_t masked = 0, mlm_correct = 0, sequences = 0, nsp_correct = 0, batches = 0;
  try {
    ScopedEvalMode eval_mode(model);
    dev.Restart(config.eval_epoch);
    compressor::TensorMap batch;
    while (config.max_eval_batches <= 0 || batches < config.max_eval_batches) {
      ASSIGN_OR_RETURN(const bool has_batch, dev.Next(&batch));
      if (!has_batch) break;
      ++batches;
      const compressor::TensorMap outputs = ForwardMaskedLm(model, batch, config);
      const at::Tensor& logits = MlmLogits(outputs);
      const at::Tensor& labels = RequireTensor(batch, "labels", kTask, "batch");
      at::Tensor flat_logits, flat_labels;
      if (logits.dim() == 2) {  // Rows at the predicted positions only.
        flat_labels = labels.masked_select(labels != models::kIgnoreIndex);
        TORCH_CHECK(flat_labels.size(0) == logits.size(0), "masked LM: logits of shape ",
                    logits.sizes(), " for labels of shape ", labels.sizes(), " with ",
                    flat_labels.size(0), " predicted positions (a masked-LM head is needed)");
        flat_logits = logits;
      } else {
        TORCH_CHECK(logits.dim() == 3 && labels.sizes() == logits.sizes().slice(0, 2),
                    "masked LM: logits of shape ", logits.sizes(), " for labels of shape ",
                    labels.sizes());
        flat_logits = logits.reshape({-1, logits.size(-1)});
        flat_labels = labels.reshape({-1});
      }
      const at::Tensor predicted = flat_labels != models::kIgnoreIndex;
      mlm_loss_sum += at::cross_entropy_loss(flat_logits, flat_labels, /*weight=*/{},
                                             at::Reduction::Sum, models::kIgnoreIndex)
                          .item<double>();
      masked += predicted.sum().item<int64_t>();
      mlm_correct += (flat_logits.argmax(-1).eq(flat_labels) & predicted).sum().item<int64_t>();
      at::Tensor nsp_logits, nsp_labels;
      if (FindNsp(outputs, batch, &nsp_logits, &nsp_labels)) {
        nsp_loss_sum +=
            at::cross_entropy_loss(nsp_logits, nsp_labels, {}, at::Reduction::Sum).item<double>();
        sequences += nsp_labels.size(0);
        nsp_correct += nsp_logits.argmax(-1).eq(nsp_labels).sum().item<int64_t>();
      }
    }
  } catch (const c10::Error& error) {
    return StatusFromTorchError(error, "masked LM evaluation");
  }
  if (masked == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "masked LM evaluation: the dev data masks no token (", batches, " batches read)"));
  }
  std::map<std::string, double> metrics = {{"mlm_loss", mlm_loss_sum / double(masked)},
                                           {"mlm_accuracy", double(mlm_correct) / double(masked)}};
  if (sequences > 0) {
    metrics["nsp_loss"] = nsp_loss_sum / double(sequences);
    metrics["nsp_accuracy"] = double(nsp_correct) / double(sequences);
  }
  return metrics;
}

compressor::TaskFunctions MaskedLmTask(std::shared_ptr<LoaderBatchSource> dev,
                                       MaskedLmConfig config) {
  compressor::TaskFunctions task;
  task.forward = [config](torch::nn::Module& model, const compressor::TensorMap& batch) {
    return ForwardMaskedLm(model, batch, config);
  };
  task.loss = MaskedLmLoss;
  if (dev != nullptr) {
    task.evaluate = [dev = std::move(dev), config](
                        torch::nn::Module& model) -> absl::StatusOr<std::map<std::string, double>> {
      return EvaluateMaskedLm(model, *dev, config);
    };
  }
  return task;
}

}  // namespace recipes
