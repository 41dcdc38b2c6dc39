// Knowledge distillation as a Component (INC's Distillation): a frozen teacher runs on the
// student's batch and the training loss becomes
//   w_task * task loss (if add_origin_loss) + w_kd * KD + sum_i layer_mappings[i].weight
//   * layer loss i,
// where KD is the mean over `logit_names` of the logit losses of kd_loss.h at
// `temperature`. Prune Once for All uses it with T = 2 and weights 0.5/0.5 upstream and
// [0, 1] in INC's SQuAD example.
//
//   DistillationConfig config;
//   config.logit_names = {"start_logits", "end_logits"};
//   config.loss_types = {"KL"};
//   config.loss_weights = {0.0, 1.0};
//   auto distillation = std::make_shared<Distillation>(config, teacher, forward);
//   // Alone or in a Combination; the training loop calls the hooks (component.h) and
//   // adds distillation->trainable_parameters() (learned projections) to its optimizer.
//
// The teacher and its outputs are only a torch::nn::Module and named tensors: which
// outputs to distill are strings from the config.
#ifndef COMPRESSOR_DISTILLATION_DISTILLATION_H_
#define COMPRESSOR_DISTILLATION_DISTILLATION_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>

#include "absl/status/status.h"
#include "compressor/component.h"

namespace compressor {

// One intermediate-layer pair (an entry of INC's layer_mappings).
struct LayerMapping {
  std::string student_output;     // Key in the student's outputs, e.g. "hidden_states.2".
  std::string teacher_output;     // Key in the teacher's outputs, e.g. "hidden_states.4".
  std::string loss_type = "MSE";  // MSE | L1 | KL (KL expects attention probabilities).
  double weight = 1.0;            // Multiplies this mapping's loss in the total.
  int64_t student_width = 0;      // Last dim of the student tensor; 0 = as the teacher's.
  int64_t teacher_width = 0;      // Last dim of the teacher tensor; when both widths are
                                  // set and differ, a learned Linear projects the student.
};

// INC's distillation vocabulary. Every field has a default, so a config is never shared
// state.
struct DistillationConfig {
  double temperature = 2.0;  // Softens both distributions of CE/KL logit losses.
  // Outputs whose logits are distilled, e.g. {"start_logits", "end_logits"} or {"logits"};
  // KD is the mean over them. May be empty when layer_mappings is not.
  std::vector<std::string> logit_names;
  // CE | KL | MSE: one per logit name, or one for all.
  std::vector<std::string> loss_types = {"CE"};
  // [task loss weight, KD weight].
  std::vector<double> loss_weights = {0.5, 0.5};
  // Input key whose value -100 marks positions excluded from the logit losses (e.g.
  // "labels" for MLM); "" = every position counts. It masks the logits whose shape without
  // the last dim equals its shape (MLM [B, S, V] for labels [B, S]) and leaves the others
  // (NSP [B, 2]) whole; fitting none of them is an error.
  std::string kd_mask_key;
  std::vector<LayerMapping> layer_mappings;  // Intermediate-layer losses.
  bool add_origin_loss = true;  // Include the task loss; false = distillation terms only.
  // INC's run_teacher_logits: input key of an int64 [B] tensor identifying each example
  // (e.g. "example_index"); the teacher's outputs are then cached per example and reused
  // in later epochs. Only for inputs that are the same every epoch (not for dynamic MLM
  // masking) and padded to a fixed length. "" = off.
  std::string teacher_cache_key;
  // Where the teacher cache lives: "" = in memory (mind the memory: MLM logits are
  // S x vocab floats per example); a directory = one safetensors file per example,
  // "<dir>/<example id>.safetensors" holding one tensor per cached output name, written
  // atomically and reused by later runs pointed at the same directory. Nothing is kept
  // in memory then. Needs teacher_cache_key. The files are trusted to match the teacher
  // and inputs: delete the directory when either changes.
  std::string teacher_cache_dir;

  // Everything checkable without a model; `source` prefixes messages (file / key).
  absl::Status Validate(const std::string& source) const;
  // The logit loss type of logit_names[i] (loss_types broadcast when it has one entry).
  const std::string& loss_type(size_t i) const;
  // Whether layer_mappings[i] needs a learned projection.
  bool has_projection(size_t i) const;
};

// Runs a model on a batch and returns its named outputs; the same kind of function the
// training loop uses for the student.
using ForwardFunction = std::function<TensorMap(torch::nn::Module& model, const TensorMap& batch)>;

class Distillation : public Component {
 public:
  // Projections are created here (from torch's RNG), so they exist for load_state()
  // before training begins; the config is checked in on_train_begin.
  Distillation(DistillationConfig config, std::shared_ptr<torch::nn::Module> teacher,
               ForwardFunction teacher_forward);

  std::string kind() const override { return "distillation"; }
  // The learned projections' weights and biases, in layer_mappings order.
  std::vector<at::Tensor> trainable_parameters() const override;

  // Validates the config, puts the teacher in eval mode, freezes it and creates
  // teacher_cache_dir. Fails when the teacher is missing, is the student, or shares a
  // parameter with the student (freezing it would freeze the student), or when the cache
  // directory cannot be created.
  absl::Status on_train_begin(TrainState& state) override;
  // Runs the teacher under NoGradGuard when `teacher_outputs` is null (or takes its
  // outputs from the teacher cache) and returns the combined loss; logs "loss/task",
  // "loss/kd" and "loss/layer/<student_output>". An undefined `student_loss` is allowed
  // when the task term is off (add_origin_loss false or task weight 0). A missing output
  // or mask key throws c10::Error naming it and the available keys; an unreadable or
  // inconsistent teacher cache file, or a failed cache write, throws naming the file.
  at::Tensor on_after_compute_loss(TrainState& state, const TensorMap& inputs,
                                   const TensorMap& student_outputs, const at::Tensor& student_loss,
                                   const TensorMap* teacher_outputs) override;

  // Config values, the mean KD loss seen, the number of teacher forward passes and, with
  // teacher_cache_dir, "teacher_cache/files_read" and "teacher_cache/files_written".
  ComponentSummary summary() const override;
  // "projection.<i>.weight" / "projection.<i>.bias", i = index into layer_mappings.
  TensorMap state() const override;
  // Copies into the live projection tensors (the optimizer keeps pointing at them).
  absl::Status load_state(const TensorMap& state) override;

  const DistillationConfig& config() const { return config_; }
  // Teacher forward passes run so far (not counting cache hits).
  int64_t teacher_forward_calls() const { return teacher_forward_calls_; }

 private:
  // The teacher outputs the losses need, from the cache when enabled and complete.
  TensorMap TeacherOutputs(const TensorMap& inputs);
  TensorMap RunTeacher(const TensorMap& inputs);
  // Example `id`'s cached rows of `names` (memory or disk); nullopt when not cached.
  // Throws c10::Error naming the file when a cache file exists but cannot be used.
  std::optional<TensorMap> CachedRow(int64_t id, const std::vector<std::string>& names);
  // Caches example `id`'s rows (copies, so no batch tensor stays alive).
  void StoreRow(int64_t id, const TensorMap& row);
  // "<teacher_cache_dir>/<id>.safetensors"; also names the example in error messages.
  std::string CacheSource(int64_t id) const;
  // Creates teacher_cache_dir once.
  absl::Status EnsureCacheDir();

  DistillationConfig config_;
  std::shared_ptr<torch::nn::Module> teacher_;
  ForwardFunction teacher_forward_;
  // One per layer mapping; an empty holder where no projection is needed.
  std::vector<torch::nn::Linear> projections_;
  // teacher_cache_key value -> that example's row of each needed teacher output; only
  // used when teacher_cache_dir is empty.
  std::map<int64_t, TensorMap> teacher_cache_;
  bool cache_dir_ready_ = false;
  int64_t cache_files_read_ = 0;
  int64_t cache_files_written_ = 0;
  int64_t teacher_forward_calls_ = 0;
  double kd_loss_sum_ = 0.0;
  int64_t kd_loss_count_ = 0;
};

}  // namespace compressor

#endif  // COMPRESSOR_DISTILLATION_DISTILLATION_H_
