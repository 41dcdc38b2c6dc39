// Turns the documents of a DocumentReader into pre-training instances, streaming: the
// BERT recipe (segment pairs for next-sentence prediction, Google's
// create_pretraining_data.py create_instances_from_document) or, without NSP, RoBERTa's
// FULL-SENTENCES packing. Instances are unmasked and unpadded; Masker and the data loader
// do the rest.
//
//   InstanceOptions options;
//   options.max_seq_length = 128;
//   ASSIGN_OR_RETURN(auto builder, InstanceBuilder::Create(std::move(reader), options));
//   builder->Restart(/*seed=*/DeriveSeed(seed, epoch, 0, 0));
//   TrainingInstance instance;
//   while (true) {
//     ASSIGN_OR_RETURN(bool more, builder->Next(&instance));
//     if (!more) break;
//     ...
//   }
//
// With NSP, per document (as the reference):
//   - target_seq_length = max_seq_length - 3, or with probability short_seq_prob a uniform
//     random length in [2, max_seq_length - 3], drawn once per document;
//   - sentences accumulate into a chunk until it reaches target_seq_length or the document
//     ends; segment A is the chunk's first k sentences, k uniform in [1, chunk - 1];
//   - with probability 0.5 (always when the chunk is one sentence, which tilts the labels
//     slightly towards 1 on corpora with many short documents) segment B is random text:
//     consecutive sentences, from a random sentence of another document on, until B
//     reaches target_seq_length - |A|; next_sentence_label = 1, and the chunk's unused
//     sentences are put back to start the next chunk. Otherwise B is the rest of the
//     chunk (the actual next text), label 0;
//   - the pair is cut to max_seq_length - 3 tokens by TruncateSeqPair.
// Streaming difference: the reference draws the other document from the whole corpus; here
// it is drawn uniformly from a window of nsp_document_buffer_size documents around the
// current one (mostly the documents that follow it; the ones before it near the end of the
// corpus), so memory stays bounded. A corpus of a single document falls back to that
// document, as the reference does.
//
// Without NSP: whole sentences are packed in corpus order into single segments
// [CLS] text [SEP] of up to max_seq_length tokens, crossing document boundaries with a
// [SEP] between documents (RoBERTa's FULL-SENTENCES). A sentence longer than a segment is
// split across consecutive segments rather than truncated, so every token of the corpus
// appears exactly once per pass. short_seq_prob does not apply (segments are full-length).
#ifndef DATASETS_MLM_INSTANCE_BUILDER_H_
#define DATASETS_MLM_INSTANCE_BUILDER_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "datasets/mlm/document_reader.h"

namespace datasets::mlm {

struct InstanceOptions {
  int64_t max_seq_length = 128;             // Longest instance, [CLS] and [SEP]s included.
  double short_seq_prob = 0.1;              // NSP: chance a document aims at a shorter length.
  bool next_sentence_prediction = true;     // false: FULL-SENTENCES packing, no NSP label.
  int64_t nsp_document_buffer_size = 1000;  // NSP: window random B segments are drawn from.
};

// InvalidArgument naming the field and value when an option is out of range.
absl::Status ValidateInstanceOptions(const InstanceOptions& options);

struct TrainingInstance {
  std::vector<int64_t> input_ids;       // [CLS] A [SEP] B [SEP], or [CLS] text [SEP].
  std::vector<int64_t> token_type_ids;  // 0 through the first [SEP], 1 over B and its [SEP].
  int64_t next_sentence_label = 0;      // NSP: 1 when B is random text; 0 without NSP.
};

// Google's truncate_seq_pair: while |A| + |B| > max_num_tokens, removes one token from the
// longer segment (B on ties), from its front or its back with equal probability, so the
// model sees segments cut at either end.
void TruncateSeqPair(std::vector<int64_t>* tokens_a, std::vector<int64_t>* tokens_b,
                     int64_t max_num_tokens, std::mt19937_64& rng);

class InstanceBuilder {
 public:
  // Fails on invalid options. Ready for a pass seeded with 0 until Restart() says otherwise.
  static absl::StatusOr<std::unique_ptr<InstanceBuilder>> Create(
      std::unique_ptr<DocumentReader> reader, InstanceOptions options);

  // Starts a new pass over the corpus whose random choices derive from `seed` alone.
  void Restart(uint64_t seed);

  // Fills *instance with the next instance: true when there is one, false at the end of
  // the pass. Reader errors are returned as they are.
  absl::StatusOr<bool> Next(TrainingInstance* instance);

  const DocumentReader& reader() const { return *reader_; }
  const InstanceOptions& options() const { return options_; }

 private:
  InstanceBuilder(std::unique_ptr<DocumentReader> reader, InstanceOptions options);

  // Each queues the instances of one more document; false when the corpus is exhausted.
  absl::StatusOr<bool> AdvanceNsp();
  absl::StatusOr<bool> AdvancePacking();

  void CreateNspInstances(const Document& document);
  void PackDocument(const Document& document);
  void EmitPackedBlock(std::vector<int64_t> tokens);
  void EmitPair(std::vector<int64_t> tokens_a, std::vector<int64_t> tokens_b, bool is_random_next);
  // Index into window_ of the document random B segments come from.
  size_t PickOtherDocument();

  std::unique_ptr<DocumentReader> reader_;
  const InstanceOptions options_;
  const int64_t cls_id_;
  const int64_t sep_id_;

  std::mt19937_64 rng_;
  std::deque<TrainingInstance> pending_;  // Built, not yet returned (one document's worth).
  bool finished_ = false;                 // The pass has no more documents.
  bool reader_exhausted_ = false;
  // NSP: documents around the current one; window_[current_] is being turned into instances.
  std::deque<Document> window_;
  size_t current_ = 0;
  bool window_started_ = false;
  // Packing: tokens of the segment being filled, without [CLS] and the final [SEP].
  std::vector<int64_t> block_;
};

}  // namespace datasets::mlm

#endif  // DATASETS_MLM_INSTANCE_BUILDER_H_
