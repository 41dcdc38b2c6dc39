#include "datasets/mlm/instance_builder.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "datasets/mlm/rng.h"

namespace datasets::mlm {

absl::Status ValidateInstanceOptions(const InstanceOptions& options) {
  // NSP needs [CLS] A [SEP] B [SEP] with |A|, |B| >= 1; packing needs [CLS] x [SEP].
  const int64_t smallest = options.next_sentence_prediction ? 5 : 3;
  if (options.max_seq_length < smallest) {
    return absl::InvalidArgumentError(
        absl::StrCat("InstanceOptions.max_seq_length must be >= ", smallest,
                     options.next_sentence_prediction ? " with next_sentence_prediction" : "",
                     ", got ", options.max_seq_length));
  }
  if (!(options.short_seq_prob >= 0.0 && options.short_seq_prob <= 1.0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "InstanceOptions.short_seq_prob must be in [0, 1], got ", options.short_seq_prob));
  }
  if (options.next_sentence_prediction && options.nsp_document_buffer_size < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("InstanceOptions.nsp_document_buffer_size must be >= 2 (the current "
                     "document and another) with next_sentence_prediction, got ",
                     options.nsp_document_buffer_size));
  }
  return absl::OkStatus();
}

void TruncateSeqPair(std::vector<int64_t>* tokens_a, std::vector<int64_t>* tokens_b,
                     int64_t max_num_tokens, std::mt19937_64& rng) {
  // Trims index ranges and erases once: front removals on vectors would be quadratic for a
  // very long random B segment.
  size_t a_begin = 0, a_end = tokens_a->size();
  size_t b_begin = 0, b_end = tokens_b->size();
  const auto limit = static_cast<size_t>(std::max<int64_t>(0, max_num_tokens));
  while ((a_end - a_begin) + (b_end - b_begin) > limit) {
    const bool trim_a = (a_end - a_begin) > (b_end - b_begin);
    size_t& begin = trim_a ? a_begin : b_begin;
    size_t& end = trim_a ? a_end : b_end;
    if (UniformDouble(rng) < 0.5) {
      ++begin;
    } else {
      --end;
    }
  }
  tokens_a->erase(tokens_a->begin() + static_cast<std::ptrdiff_t>(a_end), tokens_a->end());
  tokens_a->erase(tokens_a->begin(), tokens_a->begin() + static_cast<std::ptrdiff_t>(a_begin));
  tokens_b->erase(tokens_b->begin() + static_cast<std::ptrdiff_t>(b_end), tokens_b->end());
  tokens_b->erase(tokens_b->begin(), tokens_b->begin() + static_cast<std::ptrdiff_t>(b_begin));
}

absl::StatusOr<std::unique_ptr<InstanceBuilder>> InstanceBuilder::Create(
    std::unique_ptr<DocumentReader> reader, InstanceOptions options) {
  if (reader == nullptr) return absl::InvalidArgumentError("InstanceBuilder: reader is null");
  absl::Status status = ValidateInstanceOptions(options);
  if (!status.ok()) return status;
  return std::unique_ptr<InstanceBuilder>(new InstanceBuilder(std::move(reader), options));
}

InstanceBuilder::InstanceBuilder(std::unique_ptr<DocumentReader> reader, InstanceOptions options)
    : reader_(std::move(reader)),
      options_(options),
      cls_id_(reader_->tokenizer().cls_id()),
      sep_id_(reader_->tokenizer().sep_id()) {
  Restart(0);
}

void InstanceBuilder::Restart(uint64_t seed) {
  reader_->Restart();
  rng_.seed(seed);
  pending_.clear();
  finished_ = false;
  reader_exhausted_ = false;
  window_.clear();
  current_ = 0;
  window_started_ = false;
  block_.clear();
}

absl::StatusOr<bool> InstanceBuilder::Next(TrainingInstance* instance) {
  while (pending_.empty()) {
    if (finished_) return false;
    absl::StatusOr<bool> more = options_.next_sentence_prediction ? AdvanceNsp() : AdvancePacking();
    if (!more.ok()) return more.status();
    if (!*more) finished_ = true;
  }
  *instance = std::move(pending_.front());
  pending_.pop_front();
  return true;
}

absl::StatusOr<bool> InstanceBuilder::AdvanceNsp() {
  const auto capacity = static_cast<size_t>(options_.nsp_document_buffer_size);
  auto read_one = [&]() -> absl::Status {
    Document document;
    absl::StatusOr<bool> more = reader_->Next(&document);
    if (!more.ok()) return more.status();
    if (*more) {
      window_.push_back(std::move(document));
    } else {
      reader_exhausted_ = true;
    }
    return absl::OkStatus();
  };
  if (!window_started_) {
    window_started_ = true;
    while (!reader_exhausted_ && window_.size() < capacity) {
      absl::Status status = read_one();
      if (!status.ok()) return status;
    }
  } else {
    ++current_;
    if (!reader_exhausted_) {
      absl::Status status = read_one();
      if (!status.ok()) return status;
    }
    // Drop the oldest only while reading: once the corpus ends the window keeps the last
    // documents, so the final ones still have others to draw from.
    while (window_.size() > capacity) {
      window_.pop_front();
      --current_;
    }
  }
  if (current_ >= window_.size()) return false;
  CreateNspInstances(window_[current_]);
  return true;
}

size_t InstanceBuilder::PickOtherDocument() {
  if (window_.size() < 2) return current_;
  const auto pick = static_cast<size_t>(UniformInt(rng_, window_.size() - 1));
  return pick >= current_ ? pick + 1 : pick;
}

void InstanceBuilder::CreateNspInstances(const Document& document) {
  const int64_t max_num_tokens = options_.max_seq_length - 3;
  // Once per document, as the reference: shorter sequences now and then narrow the gap to
  // the short inputs of fine-tuning.
  int64_t target_seq_length = max_num_tokens;
  if (UniformDouble(rng_) < options_.short_seq_prob) {
    target_seq_length = RandInt(rng_, 2, max_num_tokens);
  }
  const auto& sentences = document.sentences;
  const auto num_sentences = static_cast<int64_t>(sentences.size());
  int64_t chunk_begin = 0;
  int64_t current_length = 0;
  for (int64_t i = 0; i < num_sentences; ++i) {
    current_length += static_cast<int64_t>(sentences[i].size());
    if (i != num_sentences - 1 && current_length < target_seq_length) continue;
    const int64_t chunk_size = i - chunk_begin + 1;
    const int64_t a_sentences = chunk_size >= 2 ? RandInt(rng_, 1, chunk_size - 1) : 1;
    std::vector<int64_t> tokens_a;
    for (int64_t j = chunk_begin; j < chunk_begin + a_sentences; ++j) {
      tokens_a.insert(tokens_a.end(), sentences[j].begin(), sentences[j].end());
    }
    std::vector<int64_t> tokens_b;
    bool is_random_next = false;
    if (chunk_size == 1 || UniformDouble(rng_) < 0.5) {
      is_random_next = true;
      const int64_t target_b_length = target_seq_length - static_cast<int64_t>(tokens_a.size());
      const Document& random_document = window_[PickOtherDocument()];
      const auto& random_sentences = random_document.sentences;
      for (size_t j = UniformInt(rng_, random_sentences.size()); j < random_sentences.size(); ++j) {
        tokens_b.insert(tokens_b.end(), random_sentences[j].begin(), random_sentences[j].end());
        if (static_cast<int64_t>(tokens_b.size()) >= target_b_length) break;
      }
      // The chunk's sentences after A were not used: start the next chunk with them.
      i -= chunk_size - a_sentences;
    } else {
      for (int64_t j = chunk_begin + a_sentences; j <= i; ++j) {
        tokens_b.insert(tokens_b.end(), sentences[j].begin(), sentences[j].end());
      }
    }
    TruncateSeqPair(&tokens_a, &tokens_b, max_num_tokens, rng_);
    EmitPair(std::move(tokens_a), std::move(tokens_b), is_random_next);
    chunk_begin = i + 1;
    current_length = 0;
  }
}

void InstanceBuilder::EmitPair(std::vector<int64_t> tokens_a, std::vector<int64_t> tokens_b,
                               bool is_random_next) {
  TrainingInstance instance;
  instance.input_ids.reserve(tokens_a.size() + tokens_b.size() + 3);
  instance.input_ids.push_back(cls_id_);
  instance.input_ids.insert(instance.input_ids.end(), tokens_a.begin(), tokens_a.end());
  instance.input_ids.push_back(sep_id_);
  const size_t segment_a_length = instance.input_ids.size();
  instance.input_ids.insert(instance.input_ids.end(), tokens_b.begin(), tokens_b.end());
  instance.input_ids.push_back(sep_id_);
  instance.token_type_ids.assign(instance.input_ids.size(), 1);
  std::fill(instance.token_type_ids.begin(),
            instance.token_type_ids.begin() + static_cast<std::ptrdiff_t>(segment_a_length), 0);
  instance.next_sentence_label = is_random_next ? 1 : 0;
  pending_.push_back(std::move(instance));
}

absl::StatusOr<bool> InstanceBuilder::AdvancePacking() {
  Document document;
  absl::StatusOr<bool> more = reader_->Next(&document);
  if (!more.ok()) return more.status();
  if (!*more) {
    if (!block_.empty()) EmitPackedBlock(std::move(block_));
    block_.clear();
    return false;
  }
  PackDocument(document);
  return true;
}

void InstanceBuilder::PackDocument(const Document& document) {
  const auto max_num_tokens = static_cast<size_t>(options_.max_seq_length - 2);
  bool first_sentence = true;
  for (const auto& sentence : document.sentences) {
    const bool needs_separator = first_sentence && !block_.empty();
    first_sentence = false;
    if (!block_.empty() &&
        block_.size() + (needs_separator ? 1 : 0) + sentence.size() > max_num_tokens) {
      EmitPackedBlock(std::move(block_));
      block_.clear();
    } else if (needs_separator) {
      block_.push_back(sep_id_);
    }
    block_.insert(block_.end(), sentence.begin(), sentence.end());
    // Only a sentence longer than a whole segment gets here with an overfull block; its
    // full-length pieces go out now, the remainder starts the next segment.
    size_t emitted = 0;
    while (block_.size() - emitted > max_num_tokens) {
      const auto begin = block_.begin() + static_cast<std::ptrdiff_t>(emitted);
      EmitPackedBlock(
          std::vector<int64_t>(begin, begin + static_cast<std::ptrdiff_t>(max_num_tokens)));
      emitted += max_num_tokens;
    }
    block_.erase(block_.begin(), block_.begin() + static_cast<std::ptrdiff_t>(emitted));
  }
}

void InstanceBuilder::EmitPackedBlock(std::vector<int64_t> tokens) {
  TrainingInstance instance;
  instance.input_ids.reserve(tokens.size() + 2);
  instance.input_ids.push_back(cls_id_);
  instance.input_ids.insert(instance.input_ids.end(), tokens.begin(), tokens.end());
  instance.input_ids.push_back(sep_id_);
  instance.token_type_ids.assign(instance.input_ids.size(), 0);
  instance.next_sentence_label = 0;
  pending_.push_back(std::move(instance));
}

}  // namespace datasets::mlm
