// The MLM (+NSP) pre-training data source: plain-text corpora in, unpadded Examples out,
// one epoch per pass over the files, never holding the corpus in memory. Reading, instance
// creation and masking are DocumentReader, InstanceBuilder and Masker; this class wires
// them together and owns the seeds.
//
// Corpus format: see document_reader.h (one sentence per line, blank line between
// documents, UTF-8). Each Example holds, all of one length n <= max_seq_length:
//   input_ids       [CLS] A [SEP] B [SEP] (NSP) or [CLS] text [SEP], masked;
//   token_type_ids  0 through the first [SEP], 1 after it (all 0 without NSP);
//   attention_mask  all 1 (the DataLoader pads and zeroes the padding);
//   labels          original id at masked positions, -100 elsewhere;
// and, with NSP, next_sentence_label = {0 (B is the actual next text) or 1 (random)}.
//
//   MlmStreamOptions options;
//   options.instances.max_seq_length = 128;
//   options.masking.do_whole_word_mask = true;
//   ASSIGN_OR_RETURN(auto stream, MlmExampleStream::Create({"wiki_00.txt", "wiki_01.txt"},
//                                                          &tokenizer, options));
//   for (uint64_t epoch = 0; epoch < num_epochs; ++epoch) {
//     stream->Restart(epoch);
//     datasets::Example example;
//     while (stream->Next(&example)) { ... }
//     RETURN_IF_ERROR(stream->status());  // An epoch can end early on an I/O error.
//   }
//
// Randomness: everything is a function of (seed, epoch, pass). Dynamic masking (default,
// RoBERTa) re-draws masks, and also NSP pairings and short targets, every epoch; static
// masking replays epoch 0 every epoch, the setting of Google's offline script, where
// dupe_factor > 1 gives each document several different maskings (dupe_factor passes over
// the corpus per epoch, each with its own draws). Examples come out in corpus order: shuffle
// through the DataLoader's buffer.
#ifndef DATASETS_MLM_MLM_STREAM_H_
#define DATASETS_MLM_MLM_STREAM_H_

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "datasets/dataset.h"
#include "datasets/example.h"
#include "datasets/mlm/document_reader.h"
#include "datasets/mlm/instance_builder.h"
#include "datasets/mlm/masking.h"
#include "models/tokenizers/tokenizer.h"

namespace datasets::mlm {

struct MlmStreamOptions {
  InstanceOptions instances;     // max_seq_length, short_seq_prob, NSP or packing.
  MaskingOptions masking;        // masked_lm_prob, max_predictions_per_seq, whole words.
  DocumentReaderOptions reader;  // Invalid UTF-8 handling.
  int64_t dupe_factor = 1;       // Passes over the corpus per epoch, each drawn anew.
  bool static_masking = false;   // true: every epoch repeats epoch 0's instances and masks.
  uint64_t seed = 12345;         // Base of every random draw (Google's random_seed).
};

// InvalidArgument naming the field and value when an option is out of range.
absl::Status ValidateMlmStreamOptions(const MlmStreamOptions& options);

class MlmExampleStream : public ExampleStream {
 public:
  // Fails on invalid options and on any path that is not a readable file (the error names
  // it). `tokenizer` must outlive the stream. The stream starts at epoch 0.
  static absl::StatusOr<std::unique_ptr<MlmExampleStream>> Create(
      std::vector<std::string> paths, const tokenizers::Tokenizer* tokenizer,
      MlmStreamOptions options);

  // False at the end of the epoch, or early when reading failed: check status().
  bool Next(Example* out) override;
  // Starts `epoch` from the first file, clearing any error.
  void Restart(uint64_t epoch) override;

  // OK unless the current epoch stopped on an error (a file removed or unreadable since
  // Create, invalid UTF-8 with reader.skip_invalid_utf8 = false); names file and line.
  const absl::Status& status() const { return status_; }
  // Counts of the current pass over the corpus (invalid UTF-8 lines skipped, ...).
  const DocumentReaderStats& reader_stats() const { return builder_->reader().stats(); }
  const MlmStreamOptions& options() const { return options_; }

 private:
  MlmExampleStream(std::unique_ptr<InstanceBuilder> builder, Masker masker,
                   MlmStreamOptions options);

  void StartPass();

  std::unique_ptr<InstanceBuilder> builder_;
  const Masker masker_;
  const MlmStreamOptions options_;
  uint64_t epoch_ = 0;
  int64_t pass_ = 0;  // In [0, dupe_factor).
  std::mt19937_64 mask_rng_;
  absl::Status status_;
};

}  // namespace datasets::mlm

#endif  // DATASETS_MLM_MLM_STREAM_H_
