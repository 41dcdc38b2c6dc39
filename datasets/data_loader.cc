#include "datasets/data_loader.h"

#include <ATen/ops/empty.h>

#include <algorithm>
#include <numeric>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace datasets {
namespace {

// The tokenizer's per-token keys: sequences even when a batch happens to hold one token.
bool IsTokenKey(const std::string& key) {
  return key == "input_ids" || key == "attention_mask" || key == "token_type_ids";
}

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Uniform in [0, n) by rejection. Our own, because std::uniform_int_distribution and
// std::shuffle differ between standard libraries and the order must be reproducible.
uint64_t UniformIndex(std::mt19937_64& rng, uint64_t n) {
  const uint64_t threshold = (0 - n) % n;  // 2^64 mod n: the biased low values.
  while (true) {
    const uint64_t r = rng();
    if (r >= threshold) return r % n;
  }
}

template <typename T>
std::vector<std::string> KeysOf(const std::map<std::string, std::vector<T>>& features) {
  std::vector<std::string> keys;
  for (const auto& [key, values] : features) keys.push_back(key);
  return keys;
}

template <typename T>
absl::Status CheckSameKeys(const std::map<std::string, std::vector<T>>& features,
                           const std::map<std::string, std::vector<T>>& reference, const char* kind,
                           const std::string& name, const std::string& reference_name) {
  for (const auto& [key, values] : reference) {
    if (features.count(key) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(name, " has no ", kind, " feature \"", key,
                                                     "\", which ", reference_name, " has"));
    }
  }
  for (const auto& [key, values] : features) {
    if (reference.count(key) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(name, " has ", kind, " feature \"", key,
                                                     "\", which ", reference_name, " lacks"));
    }
  }
  return absl::OkStatus();
}

// A [batch] tensor of the single values, or a [batch, length] one padded with `pad`.
template <typename T>
at::Tensor Stack(const std::vector<Example>& examples,
                 const std::map<std::string, std::vector<T>> Example::*features,
                 const std::string& key, bool scalar, int64_t length, T pad, at::ScalarType dtype) {
  const int64_t batch_size = static_cast<int64_t>(examples.size());
  at::Tensor tensor = scalar ? at::empty({batch_size}, at::TensorOptions().dtype(dtype))
                             : at::empty({batch_size, length}, at::TensorOptions().dtype(dtype));
  T* data = tensor.data_ptr<T>();
  const int64_t row_size = scalar ? 1 : length;
  for (int64_t i = 0; i < batch_size; ++i) {
    const std::vector<T>& values = (examples[i].*features).at(key);
    T* row = data + i * row_size;
    std::copy(values.begin(), values.end(), row);
    std::fill(row + values.size(), row + row_size, pad);
  }
  return tensor;
}

absl::StatusOr<Batch> CollateNamed(const std::vector<Example>& examples,
                                   const std::vector<std::string>& names,
                                   const DataLoaderOptions& options) {
  if (examples.empty()) return absl::InvalidArgumentError("cannot collate an empty batch");
  const Example& first = examples[0];
  for (const auto& [key, values] : first.ints) {
    if (first.floats.count(key) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(names[0], " has \"", key, "\" as both an int and a float feature"));
    }
  }
  for (size_t i = 1; i < examples.size(); ++i) {
    RETURN_IF_ERROR(CheckSameKeys(examples[i].ints, first.ints, "int", names[i], names[0]));
    RETURN_IF_ERROR(CheckSameKeys(examples[i].floats, first.floats, "float", names[i], names[0]));
  }

  // Decide scalars, then check that each example's sequences share one length.
  std::set<std::string> scalars;
  auto find_scalars = [&](const auto& first_features, auto member) {
    for (const auto& [key, unused] : first_features) {
      if (IsTokenKey(key)) continue;
      const bool all_single =
          std::all_of(examples.begin(), examples.end(),
                      [&, k = key](const Example& e) { return (e.*member).at(k).size() == 1; });
      if (all_single) scalars.insert(key);
    }
  };
  find_scalars(first.ints, &Example::ints);
  find_scalars(first.floats, &Example::floats);
  std::vector<std::string> sequence_keys;  // input_ids first: it names the reference length.
  if (first.ints.count("input_ids") != 0) sequence_keys.push_back("input_ids");
  for (const std::string& key : KeysOf(first.ints)) {
    if (key != "input_ids" && scalars.count(key) == 0) sequence_keys.push_back(key);
  }
  for (const std::string& key : KeysOf(first.floats)) {
    if (scalars.count(key) == 0) sequence_keys.push_back(key);
  }
  auto length_of = [](const Example& e, const std::string& key) {
    auto it = e.ints.find(key);
    return it != e.ints.end() ? it->second.size() : e.floats.at(key).size();
  };
  size_t longest = 0;
  for (size_t i = 0; i < examples.size(); ++i) {
    if (sequence_keys.empty()) break;
    const std::string& reference = sequence_keys[0];
    const size_t length = length_of(examples[i], reference);
    for (size_t k = 1; k < sequence_keys.size(); ++k) {
      const size_t other = length_of(examples[i], sequence_keys[k]);
      if (other != length) {
        return absl::InvalidArgumentError(absl::StrCat(names[i], ": ", sequence_keys[k], " has ",
                                                       other, " values but ", reference, " has ",
                                                       length));
      }
    }
    if (options.padding == "max_length" && static_cast<int64_t>(length) > options.max_length) {
      return absl::InvalidArgumentError(absl::StrCat(names[i], ": ", reference, " has ", length,
                                                     " values, more than max_length ",
                                                     options.max_length));
    }
    longest = std::max(longest, length);
  }
  const int64_t length =
      options.padding == "max_length" ? options.max_length : static_cast<int64_t>(longest);

  Batch batch;
  for (const auto& [key, unused] : first.ints) {
    batch[key] = Stack<int64_t>(examples, &Example::ints, key, scalars.count(key) != 0, length,
                                IntPadValue(options, key), at::kLong);
  }
  for (const auto& [key, unused] : first.floats) {
    auto pad = options.float_pad_values.find(key);
    batch[key] =
        Stack<float>(examples, &Example::floats, key, scalars.count(key) != 0, length,
                     pad != options.float_pad_values.end() ? pad->second : 0.0f, at::kFloat);
  }
  return batch;
}

absl::Status ValidateOptions(const DataLoaderOptions& options) {
  if (options.batch_size <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("DataLoaderOptions.batch_size must be positive, got ", options.batch_size));
  }
  if (options.padding != "longest" && options.padding != "max_length") {
    return absl::InvalidArgumentError(absl::StrCat("DataLoaderOptions.padding is \"",
                                                   options.padding,
                                                   "\"; expected \"longest\" or \"max_length\""));
  }
  if (options.padding == "max_length" && options.max_length <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "DataLoaderOptions.max_length must be positive with padding \"max_length\", got ",
        options.max_length));
  }
  if (options.shuffle_buffer_size == 0) {
    return absl::InvalidArgumentError("DataLoaderOptions.shuffle_buffer_size must be positive");
  }
  return absl::OkStatus();
}

}  // namespace

int64_t IntPadValue(const DataLoaderOptions& options, const std::string& key) {
  auto it = options.pad_values.find(key);
  if (it != options.pad_values.end()) return it->second;
  if (key == "input_ids") return options.pad_token_id;
  if (key == "labels") return -100;
  return 0;
}

absl::StatusOr<Batch> Collate(const std::vector<Example>& examples,
                              const DataLoaderOptions& options) {
  RETURN_IF_ERROR(ValidateOptions(options));
  std::vector<std::string> names;
  for (size_t i = 0; i < examples.size(); ++i) names.push_back(absl::StrCat("example ", i));
  return CollateNamed(examples, names, options);
}

absl::StatusOr<DataLoader> DataLoader::Create(const Dataset* dataset, DataLoaderOptions options) {
  if (dataset == nullptr) return absl::InvalidArgumentError("DataLoader: dataset is null");
  RETURN_IF_ERROR(ValidateOptions(options));
  return DataLoader(dataset, nullptr, std::move(options));
}

absl::StatusOr<DataLoader> DataLoader::Create(ExampleStream* stream, DataLoaderOptions options) {
  if (stream == nullptr) return absl::InvalidArgumentError("DataLoader: stream is null");
  RETURN_IF_ERROR(ValidateOptions(options));
  return DataLoader(nullptr, stream, std::move(options));
}

DataLoader::DataLoader(const Dataset* dataset, ExampleStream* stream, DataLoaderOptions options)
    : dataset_(dataset), stream_(stream), options_(std::move(options)) {
  Restart(0);
}

void DataLoader::Restart(uint64_t epoch) {
  epoch_ = epoch;
  rng_.seed(SplitMix64(SplitMix64(options_.seed) ^ epoch));
  if (dataset_ != nullptr) {
    order_.resize(dataset_->size());
    std::iota(order_.begin(), order_.end(), size_t{0});
    if (options_.shuffle) {
      // Fisher-Yates.
      for (size_t i = order_.size(); i > 1; --i) {
        std::swap(order_[i - 1], order_[UniformIndex(rng_, i)]);
      }
    }
    cursor_ = 0;
    return;
  }
  stream_->Restart(epoch);
  buffer_.clear();
  stream_done_ = false;
  stream_position_ = 0;
}

bool DataLoader::NextFromStream(StreamExample* out) {
  const size_t capacity = options_.shuffle ? options_.shuffle_buffer_size : 1;
  while (!stream_done_ && buffer_.size() < capacity) {
    StreamExample next;
    if (!stream_->Next(&next.example)) {
      stream_done_ = true;
      break;
    }
    next.position = stream_position_++;
    buffer_.push_back(std::move(next));
  }
  if (buffer_.empty()) return false;
  const size_t pick = options_.shuffle ? UniformIndex(rng_, buffer_.size()) : 0;
  std::swap(buffer_[pick], buffer_.back());
  *out = std::move(buffer_.back());
  buffer_.pop_back();
  return true;
}

absl::StatusOr<bool> DataLoader::Next(Batch* batch) {
  const size_t batch_size = static_cast<size_t>(options_.batch_size);
  std::vector<Example> examples;
  std::vector<std::string> names;
  if (dataset_ != nullptr) {
    if (cursor_ >= order_.size()) return false;
    const size_t end = std::min(cursor_ + batch_size, order_.size());
    if (end - cursor_ < batch_size && options_.drop_last) {
      cursor_ = order_.size();
      return false;
    }
    for (size_t i = cursor_; i < end; ++i) {
      examples.push_back(dataset_->Get(order_[i]));
      names.push_back(absl::StrCat("dataset index ", order_[i]));
    }
    cursor_ = end;
  } else {
    StreamExample next;
    while (examples.size() < batch_size && NextFromStream(&next)) {
      examples.push_back(std::move(next.example));
      names.push_back(absl::StrCat("stream example ", next.position, " of epoch ", epoch_));
    }
    if (examples.empty() || (examples.size() < batch_size && options_.drop_last)) return false;
  }
  ASSIGN_OR_RETURN(*batch, CollateNamed(examples, names, options_));
  return true;
}

std::optional<int64_t> DataLoader::num_batches() const {
  if (dataset_ == nullptr) return std::nullopt;
  const int64_t size = static_cast<int64_t>(dataset_->size());
  const int64_t batch_size = options_.batch_size;
  return options_.drop_last ? size / batch_size : (size + batch_size - 1) / batch_size;
}

}  // namespace datasets
