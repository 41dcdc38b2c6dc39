// Masked-language-model pre-training (MLM, plus next-sentence prediction when the data and
// the head have it) as a task for compressor::Trainer: plain-text corpora -> a masked
// example stream -> padded batches; BERT's pre-training loss; and evaluation of masked-token
// loss and accuracy on a dev corpus.
//
//   datasets::mlm::MlmStreamOptions stream;  // NSP on by default (BertForPreTraining)
//   datasets::DataLoaderOptions loader;
//   loader.batch_size = 32;
//   loader.shuffle = true;
//   ASSIGN_OR_RETURN(auto train, MaskedLmBatches({"corpus/train.txt"}, tokenizer.get(),
//                                                stream, loader));
//   loader.shuffle = false;
//   ASSIGN_OR_RETURN(std::shared_ptr<LoaderBatchSource> dev,
//                    MaskedLmBatches({"corpus/dev.txt"}, tokenizer.get(), stream, loader));
//   trainer_config.max_steps = 10000;  // streams have no known length
//   compressor::Trainer trainer(trainer_config, MaskedLmTask(dev, {}), train.get());
//   // evaluations report {"mlm_loss": 2.1, "mlm_accuracy": 0.58, "nsp_accuracy": 0.91, ...}
#ifndef RECIPES_TASKS_MASKED_LM_H_
#define RECIPES_TASKS_MASKED_LM_H_

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "compressor/train/trainer.h"
#include "datasets/data_loader.h"
#include "datasets/mlm/mlm_stream.h"
#include "models/tokenizers/tokenizer.h"
#include "recipes/tasks/loader_batch_source.h"

namespace recipes {

// Batches of a datasets::mlm::MlmExampleStream over `paths`: input_ids, token_type_ids,
// attention_mask and labels [batch, longest sequence] (labels -100 where nothing is
// predicted, padding included), and with NSP next_sentence_label [batch].
// loader_options.pad_token_id is set from the tokenizer. The batches end an epoch with the
// stream's error if reading failed. `tokenizer` must outlive the result.
absl::StatusOr<std::unique_ptr<LoaderBatchSource>> MaskedLmBatches(
    std::vector<std::string> paths, const tokenizers::Tokenizer* tokenizer,
    datasets::mlm::MlmStreamOptions stream_options, datasets::DataLoaderOptions loader_options);

// The pre-training loss as Hugging Face's heads compute it: models::MaskedLMLoss on
// "prediction_logits" (BertForPreTraining) or else "logits" (BertForMaskedLM) against the
// batch's "labels", plus models::NextSentenceLoss on "seq_relationship_logits" when the
// model has that output and the batch has "next_sentence_label". Throws c10::Error naming a
// missing key.
at::Tensor MaskedLmLoss(const compressor::TensorMap& outputs, const compressor::TensorMap& batch);

struct MaskedLmConfig {
  // Compute the MLM head's vocabulary logits only at the predicted positions (labels !=
  // -100), for the student, the teacher and evaluation: the loss, the KD term and the
  // accuracy are the same, and at 15% masking the head costs ~1/7. false = logits at every
  // position ([batch, seq, vocab], as Hugging Face's heads return them).
  bool masked_positions_only = true;
  int64_t max_eval_batches = 0;  // Stop evaluating after this many dev batches; 0: all.
  uint64_t eval_epoch = 0;       // Dev stream epoch: fixes its masks, the same every evaluation.
};

// Over the dev batches (restarted at config.eval_epoch; eval mode, no gradients, training
// mode restored): "mlm_loss" (cross-entropy per masked token), "mlm_accuracy" (fraction of
// masked tokens predicted exactly), and when the model and the data have NSP "nsp_loss" and
// "nsp_accuracy" (per sequence). FailedPrecondition when the dev data masks no token; model
// errors come back as InvalidArgument.
absl::StatusOr<std::map<std::string, double>> EvaluateMaskedLm(torch::nn::Module& model,
                                                               LoaderBatchSource& dev,
                                                               const MaskedLmConfig& config);

// The model's outputs on an MLM batch; with masked_positions_only its MLM logits are rows
// [n, vocab] at the batch's predicted positions (ModelInput::prediction_mask from "labels").
compressor::TensorMap ForwardMaskedLm(torch::nn::Module& model, const compressor::TensorMap& batch,
                                      const MaskedLmConfig& config);

// forward = ForwardMaskedLm, loss = MaskedLmLoss, evaluate = EvaluateMaskedLm on `dev`
// (none when `dev` is null).
compressor::TaskFunctions MaskedLmTask(std::shared_ptr<LoaderBatchSource> dev,
                                       MaskedLmConfig config);

}  // namespace recipes

#endif  // RECIPES_TASKS_MASKED_LM_H_
