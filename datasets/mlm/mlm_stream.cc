#include "datasets/mlm/mlm_stream.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "datasets/mlm/rng.h"

namespace datasets::mlm {
namespace {

// Purposes in DeriveSeed, so instance creation and masking draw independent streams.
constexpr uint64_t kInstanceDraws = 1;
constexpr uint64_t kMaskDraws = 2;

}  // namespace

absl::Status ValidateMlmStreamOptions(const MlmStreamOptions& options) {
  absl::Status status = ValidateInstanceOptions(options.instances);
  if (!status.ok()) return status;
  status = ValidateMaskingOptions(options.masking);
  if (!status.ok()) return status;
  if (options.dupe_factor < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("MlmStreamOptions.dupe_factor must be >= 1, got ", options.dupe_factor));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<MlmExampleStream>> MlmExampleStream::Create(
    std::vector<std::string> paths, const tokenizers::Tokenizer* tokenizer,
    MlmStreamOptions options) {
  absl::Status status = ValidateMlmStreamOptions(options);
  if (!status.ok()) return status;
  if (tokenizer == nullptr)
    return absl::InvalidArgumentError("MlmExampleStream: tokenizer is null");
  absl::StatusOr<Masker> masker = Masker::Create(*tokenizer, options.masking);
  if (!masker.ok()) return masker.status();
  absl::StatusOr<std::unique_ptr<DocumentReader>> reader =
      DocumentReader::Create(std::move(paths), tokenizer, options.reader);
  if (!reader.ok()) return reader.status();
  absl::StatusOr<std::unique_ptr<InstanceBuilder>> builder =
      InstanceBuilder::Create(*std::move(reader), options.instances);
  if (!builder.ok()) return builder.status();
  return std::unique_ptr<MlmExampleStream>(
      new MlmExampleStream(*std::move(builder), *std::move(masker), options));
}

MlmExampleStream::MlmExampleStream(std::unique_ptr<InstanceBuilder> builder, Masker masker,
                                   MlmStreamOptions options)
    : builder_(std::move(builder)), masker_(std::move(masker)), options_(options) {
  Restart(0);
}

void MlmExampleStream::Restart(uint64_t epoch) {
  epoch_ = epoch;
  pass_ = 0;
  status_ = absl::OkStatus();
  StartPass();
}

void MlmExampleStream::StartPass() {
  const uint64_t epoch = options_.static_masking ? 0 : epoch_;
  const auto pass = static_cast<uint64_t>(pass_);
  builder_->Restart(DeriveSeed(options_.seed, epoch, pass, kInstanceDraws));
  mask_rng_.seed(DeriveSeed(options_.seed, epoch, pass, kMaskDraws));
}

bool MlmExampleStream::Next(Example* out) {
  if (!status_.ok()) return false;
  TrainingInstance instance;
  while (true) {
    absl::StatusOr<bool> more = builder_->Next(&instance);
    if (!more.ok()) {
      status_ = more.status();
      return false;
    }
    if (*more) break;
    if (pass_ + 1 >= options_.dupe_factor) return false;
    ++pass_;
    StartPass();
  }
  std::vector<int64_t> labels = masker_.Mask(&instance.input_ids, mask_rng_);
  out->ints.clear();
  out->floats.clear();
  out->ints["attention_mask"].assign(instance.input_ids.size(), 1);
  out->ints["input_ids"] = std::move(instance.input_ids);
  out->ints["token_type_ids"] = std::move(instance.token_type_ids);
  out->ints["labels"] = std::move(labels);
  if (options_.instances.next_sentence_prediction) {
    out->ints["next_sentence_label"] = {instance.next_sentence_label};
  }
  return true;
}

}  // namespace datasets::mlm
