// Training checkpoints that survive kill -9: each is a directory written under a temporary
// name and renamed into place, and a "latest_checkpoint" file (itself replaced atomically)
// names the newest complete one, so a crash at any moment leaves the previous checkpoint
// intact and loadable.
//
//   output_dir/checkpoint-1200/model.safetensors       every parameter and buffer
//                             /optimizer.pt            LibTorch optimizer archive
//                             /components.safetensors  component state + RNG state
//                             /trainer_state.json      step, epoch, data position, LR, best,
//                                                      and each other file's size and CRC-32
//   output_dir/latest_checkpoint                       "checkpoint-1200"
//
// The newest `keep` checkpoints are kept (TrainerConfig::save_total_limit, Hugging Face's
// name), so a resume whose latest checkpoint fails validation (a truncated or corrupted
// file, a pointer to a missing directory) falls back to the previous one.
#ifndef COMPRESSOR_TRAIN_CHECKPOINT_H_
#define COMPRESSOR_TRAIN_CHECKPOINT_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include "absl/status/statusor.h"
#include "compressor/component.h"

namespace compressor {

struct TrainerPosition {
  int64_t step = 0;            // Optimizer steps completed.
  int64_t epoch = 0;           // Epoch in progress.
  int64_t batch_in_epoch = 0;  // Micro-batches of that epoch already consumed.
  int64_t lr_origin = 0;       // Step the LR schedule last restarted at.
  bool has_best = false;
  double best_metric = 0.0;
  int64_t best_step = -1;
};

// Writes checkpoint-<step> and points latest_checkpoint at it; keeps the newest
// `keep` checkpoints (0 = all). Errors name the path; the previous checkpoint survives.
absl::Status SaveTrainingCheckpoint(const std::string& output_dir, const torch::nn::Module& model,
                                    const torch::optim::Optimizer& optimizer,
                                    const TensorMap& component_state,
                                    const TrainerPosition& position, int64_t keep);

// The directory latest_checkpoint names, or NotFound.
absl::StatusOr<std::string> LatestCheckpoint(const std::string& output_dir);

// The checkpoint directories a resume may use, in the order to try them: the one
// latest_checkpoint names (when it exists), then every other complete checkpoint-<step>
// directory, newest first. Empty when output_dir holds none.
std::vector<std::string> ResumeCandidates(const std::string& output_dir);

// Checks a checkpoint without loading it: trainer_state.json parses and every file it lists
// has its recorded size and CRC-32 (checkpoints written before sizes and checksums were
// recorded: the files exist). Errors name the file and what is wrong with it.
absl::Status ValidateTrainingCheckpoint(const std::string& checkpoint_dir);

// Loads a checkpoint written by SaveTrainingCheckpoint into the same kind of model and
// optimizer; restores LibTorch's CPU generator. Fills component state and the position.
absl::Status LoadTrainingCheckpoint(const std::string& checkpoint_dir, torch::nn::Module& model,
                                    torch::optim::Optimizer& optimizer, TensorMap* component_state,
                                    TrainerPosition* position);

// Copies a name -> tensor map into the module's parameters and buffers (all must match).
absl::Status LoadModuleState(torch::nn::Module& model, const TensorMap& state,
                             const std::string& source);
TensorMap ModuleState(const torch::nn::Module& model);

}  // namespace compressor

#endif  // COMPRESSOR_TRAIN_CHECKPOINT_H_
