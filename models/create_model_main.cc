// Creates a Hugging Face model directory with freshly initialised weights, from a named
// size (bert-tiny ... bert-large, distilbert-base) or an existing config.json:
//
//   bazel run //models:create_model -- --preset=bert-mini
//       --architecture=BertForQuestionAnswering --output_dir=/tmp/bert-mini-qa
//       --vocab=$PWD/data/vocab/bert-base-uncased-vocab.txt
// With --vocab the directory is a complete Hugging Face repository (tokenizer files too).
#include <cstdio>
#include <memory>
#include <string>

#include <torch/utils.h>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "base/cli.h"
#include "base/status_macros.h"
#include "models/auto_model.h"
#include "models/bert_config.h"
#include "models/hf_checkpoint.h"
#include "models/tokenizers/tokenizer_json.h"

ABSL_FLAG(std::string, preset, "bert-mini", "Named size (ignored when --config is given).");
ABSL_FLAG(std::string, config, "", "A config.json to start from instead of --preset.");
ABSL_FLAG(std::string, architecture, "", "Head to build, e.g. BertForQuestionAnswering.");
ABSL_FLAG(int64_t, vocab_size, 0, "Override vocab_size (0: keep).");
ABSL_FLAG(int64_t, num_labels, 0, "Override num_labels (0: keep).");
ABSL_FLAG(int64_t, max_position_embeddings, 0, "Override max_position_embeddings (0: keep).");
ABSL_FLAG(uint64_t, seed, 0, "Seed of the weight initialisation.");
ABSL_FLAG(std::string, output_dir, "", "Directory to write config.json + model.safetensors.");
ABSL_FLAG(std::string, vocab, "",
          "WordPiece vocabulary (vocab.txt, JSON list, tokenizer.json or a model directory) "
          "whose Hugging Face tokenizer files to write beside the model; vocab_size follows "
          "it unless --vocab_size is given.");
ABSL_FLAG(bool, do_lower_case, true, "With a --vocab vocabulary file: lower-case the input.");

namespace {

absl::Status Run() {
  const std::string output_dir = absl::GetFlag(FLAGS_output_dir);
  if (output_dir.empty()) return absl::InvalidArgumentError("--output_dir is required");
  models::BertConfig config;
  if (!absl::GetFlag(FLAGS_config).empty()) {
    ASSIGN_OR_RETURN(config, models::LoadBertConfig(absl::GetFlag(FLAGS_config)));
  } else {
    ASSIGN_OR_RETURN(config, models::BertConfigPreset(absl::GetFlag(FLAGS_preset)));
  }
  std::unique_ptr<tokenizers::BertTokenizer> tokenizer;
  if (!absl::GetFlag(FLAGS_vocab).empty()) {
    tokenizers::BertTokenizerOptions options;
    options.do_lower_case = absl::GetFlag(FLAGS_do_lower_case);
    ASSIGN_OR_RETURN(tokenizer, tokenizers::LoadBertTokenizer(absl::GetFlag(FLAGS_vocab), options));
    config.vocab_size = tokenizer->vocab_size();
  }
  if (absl::GetFlag(FLAGS_vocab_size) > 0) config.vocab_size = absl::GetFlag(FLAGS_vocab_size);
  if (tokenizer != nullptr && tokenizer->vocab_size() > config.vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--vocab_size=", config.vocab_size, " is smaller than --vocab ",
        absl::GetFlag(FLAGS_vocab), "'s ", tokenizer->vocab_size(), " tokens"));
  }
  if (absl::GetFlag(FLAGS_num_labels) > 0) {
    config.num_labels = absl::GetFlag(FLAGS_num_labels);
    config.id2label.clear();
  }
  if (absl::GetFlag(FLAGS_max_position_embeddings) > 0) {
    config.max_position_embeddings = absl::GetFlag(FLAGS_max_position_embeddings);
  }
  RETURN_IF_ERROR(models::ValidateBertConfig(config, "--config/--preset with overrides"));
  torch::manual_seed(absl::GetFlag(FLAGS_seed));
  ASSIGN_OR_RETURN(auto model, models::CreateModel(config, absl::GetFlag(FLAGS_architecture)));
  RETURN_IF_ERROR(models::SavePretrained(*model, output_dir));
  if (tokenizer != nullptr) {
    RETURN_IF_ERROR(tokenizers::SaveTokenizerFiles(*tokenizer, output_dir,
                                                   config.max_position_embeddings));
  }
  std::printf("wrote %s (%s)\n", output_dir.c_str(), model->architecture().c_str());
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  base::InitMain(argc, argv,
                 "Creates a randomly initialised model directory.\n"
                 "  create_model --preset=bert-mini --architecture=BertForQuestionAnswering "
                 "--output_dir=DIR");
  return base::RunMain(Run);
}
