// A Trainer checkpoint directory (compressor/train/checkpoint.h) with one of its files
// replaced by arbitrary bytes: the first input byte picks the file (model.safetensors,
// components.safetensors, optimizer.pt, trainer_state.json), the rest is its content; the
// other files come from a valid checkpoint written once at start-up. The validator and the
// loader both run, the loader also when validation fails (checkpoints written before sizes
// and checksums were recorded are loaded without them). Errors are expected; crashes,
// uncaught exceptions, out-of-bounds reads and leaks are bugs.
//
// CHECKPOINT_FUZZER_WRITE_SEEDS=DIR writes the valid checkpoint's four files as inputs of
// this format into DIR (how fuzz/seeds/checkpoint/ was made) and exits.
#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adamw.h>

#include "base/atomic_file.h"
#include "compressor/train/checkpoint.h"

namespace {

namespace fs = std::filesystem;

constexpr const char* kFiles[] = {"model.safetensors", "components.safetensors", "optimizer.pt",
                                  "trainer_state.json"};

struct Fixture {
  std::string work_dir;                 // Rewritten for every input.
  std::vector<std::string> valid_files;  // kFiles' contents of a valid checkpoint.
};

torch::nn::Linear NewModel() { return torch::nn::Linear(4, 3); }

Fixture MakeFixture() {
  Fixture fixture;
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string root_template = std::string(tmp ? tmp : "/tmp") + "/checkpoint_fuzzer.XXXXXX";
  const std::string root = mkdtemp(root_template.data());
  torch::manual_seed(1);
  torch::nn::Linear model = NewModel();
  torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(1e-3));
  model->forward(torch::ones({2, 4})).sum().backward();
  optimizer.step();  // So the optimizer state holds moments.
  compressor::TensorMap components = {{"pruning.mask.weight", torch::ones({3, 4})}};
  compressor::TrainerPosition position;
  position.step = 7;
  position.epoch = 1;
  position.batch_in_epoch = 3;
  if (!compressor::SaveTrainingCheckpoint(root + "/valid", *model, optimizer, components,
                                          position, /*keep=*/0)
           .ok()) {
    std::fprintf(stderr, "checkpoint_fuzzer: cannot write the valid checkpoint\n");
    std::abort();
  }
  for (const char* file : kFiles) {
    fixture.valid_files.push_back(*base::ReadFileToString(root + "/valid/checkpoint-7/" + file));
  }
  fixture.work_dir = root + "/work";
  fs::create_directories(fixture.work_dir);
  if (const char* seeds = std::getenv("CHECKPOINT_FUZZER_WRITE_SEEDS")) {
    fs::create_directories(seeds);
    for (size_t i = 0; i < fixture.valid_files.size(); ++i) {
      std::ofstream out(std::string(seeds) + "/" + std::to_string(i) + "-" + kFiles[i],
                        std::ios::binary);
      out << static_cast<char>(i) << fixture.valid_files[i];
    }
    std::exit(0);
  }
  return fixture;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Fixture fixture = MakeFixture();
  if (size == 0) return 0;
  const size_t replaced = data[0] % fixture.valid_files.size();
  for (size_t i = 0; i < fixture.valid_files.size(); ++i) {
    std::ofstream out(fixture.work_dir + "/" + kFiles[i], std::ios::binary | std::ios::trunc);
    if (i == replaced) {
      out.write(reinterpret_cast<const char*>(data + 1), static_cast<std::streamsize>(size - 1));
    } else {
      out << fixture.valid_files[i];
    }
  }
  (void)compressor::ValidateTrainingCheckpoint(fixture.work_dir);
  torch::nn::Linear model = NewModel();
  torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(1e-3));
  compressor::TensorMap components;
  compressor::TrainerPosition position;
  (void)compressor::LoadTrainingCheckpoint(fixture.work_dir, *model, optimizer, &components,
                                           &position);
  return 0;
}
