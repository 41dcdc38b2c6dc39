#include "datasets/data_loader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

namespace datasets {
namespace {

using Ints = std::vector<int64_t>;

class VectorDataset : public Dataset {
 public:
  explicit VectorDataset(std::vector<Example> examples) : examples_(std::move(examples)) {}
  size_t size() const override { return examples_.size(); }
  Example Get(size_t index) const override { return examples_[index]; }

 private:
  std::vector<Example> examples_;
};

class VectorStream : public ExampleStream {
 public:
  explicit VectorStream(std::vector<Example> examples) : examples_(std::move(examples)) {}
  bool Next(Example* out) override {
    if (position_ >= examples_.size()) return false;
    *out = examples_[position_++];
    return true;
  }
  void Restart(uint64_t epoch) override {
    position_ = 0;
    restarts_.push_back(epoch);
  }
  const std::vector<uint64_t>& restarts() const { return restarts_; }

 private:
  std::vector<Example> examples_;
  size_t position_ = 0;
  std::vector<uint64_t> restarts_;
};

// A classification example: the given input_ids, a full attention mask, segment 0.
Example MakeExample(Ints input_ids, int64_t label) {
  Example example;
  example.ints["attention_mask"] = Ints(input_ids.size(), 1);
  example.ints["token_type_ids"] = Ints(input_ids.size(), 0);
  example.ints["input_ids"] = std::move(input_ids);
  example.ints["labels"] = {label};
  return example;
}

// Examples whose label is their index, with lengths cycling through 2..4.
std::vector<Example> IndexedExamples(int64_t count) {
  std::vector<Example> examples;
  for (int64_t i = 0; i < count; ++i) examples.push_back(MakeExample(Ints(2 + i % 3, 5), i));
  return examples;
}

Ints Values(const at::Tensor& tensor) {
  EXPECT_EQ(tensor.scalar_type(), at::kLong);
  const int64_t* data = tensor.data_ptr<int64_t>();
  return Ints(data, data + tensor.numel());
}

std::vector<float> FloatValues(const at::Tensor& tensor) {
  EXPECT_EQ(tensor.scalar_type(), at::kFloat);
  const float* data = tensor.data_ptr<float>();
  return std::vector<float>(data, data + tensor.numel());
}

Ints Shape(const at::Tensor& tensor) { return Ints(tensor.sizes().begin(), tensor.sizes().end()); }

std::vector<std::string> Keys(const Batch& batch) {
  std::vector<std::string> keys;
  for (const auto& [key, tensor] : batch) keys.push_back(key);
  return keys;
}

// The labels of every batch of one epoch, in order.
std::vector<Ints> EpochLabels(DataLoader& loader, uint64_t epoch) {
  loader.Restart(epoch);
  std::vector<Ints> batches;
  Batch batch;
  while (true) {
    absl::StatusOr<bool> has_batch = loader.Next(&batch);
    EXPECT_TRUE(has_batch.ok()) << has_batch.status();
    if (!has_batch.ok() || !*has_batch) break;
    batches.push_back(Values(batch.at("labels")));
  }
  return batches;
}

Ints Flatten(const std::vector<Ints>& batches) {
  Ints all;
  for (const Ints& batch : batches) all.insert(all.end(), batch.begin(), batch.end());
  return all;
}

Ints Iota(int64_t count) {
  Ints values(count);
  std::iota(values.begin(), values.end(), 0);
  return values;
}

TEST(DataLoaderTest, PadsToTheLongestInTheBatch) {
  VectorDataset dataset({MakeExample({2, 5, 3}, 0), MakeExample({7}, 1), MakeExample({2, 6}, 2)});
  DataLoaderOptions options;
  options.batch_size = 3;
  options.pad_token_id = 9;
  auto loader = DataLoader::Create(&dataset, options);
  ASSERT_TRUE(loader.ok()) << loader.status();
  EXPECT_EQ(loader->num_batches(), 1);
  Batch batch;
  auto has_batch = loader->Next(&batch);
  ASSERT_TRUE(has_batch.ok()) << has_batch.status();
  ASSERT_TRUE(*has_batch);
  EXPECT_EQ(Keys(batch),
            (std::vector<std::string>{"attention_mask", "input_ids", "labels", "token_type_ids"}));
  EXPECT_EQ(Shape(batch.at("input_ids")), (Ints{3, 3}));
  EXPECT_EQ(Values(batch.at("input_ids")), (Ints{2, 5, 3, 7, 9, 9, 2, 6, 9}));
  EXPECT_EQ(Values(batch.at("attention_mask")), (Ints{1, 1, 1, 1, 0, 0, 1, 1, 0}));
  EXPECT_EQ(Values(batch.at("token_type_ids")), (Ints{0, 0, 0, 0, 0, 0, 0, 0, 0}));
  // One value per example: a [batch] tensor, as cross-entropy wants.
  EXPECT_EQ(Shape(batch.at("labels")), (Ints{3}));
  EXPECT_EQ(Values(batch.at("labels")), (Ints{0, 1, 2}));

  has_batch = loader->Next(&batch);
  ASSERT_TRUE(has_batch.ok());
  EXPECT_FALSE(*has_batch);
}

TEST(DataLoaderTest, PadsToMaxLength) {
  VectorDataset dataset({MakeExample({2, 5, 3}, 1), MakeExample({2, 3}, 0)});
  DataLoaderOptions options;
  options.batch_size = 2;
  options.padding = "max_length";
  options.max_length = 5;
  options.pad_values["token_type_ids"] = 4;
  auto loader = DataLoader::Create(&dataset, options);
  ASSERT_TRUE(loader.ok()) << loader.status();
  Batch batch;
  auto has_batch = loader->Next(&batch);
  ASSERT_TRUE(has_batch.ok()) << has_batch.status();
  EXPECT_EQ(Shape(batch.at("input_ids")), (Ints{2, 5}));
  EXPECT_EQ(Values(batch.at("input_ids")), (Ints{2, 5, 3, 0, 0, 2, 3, 0, 0, 0}));
  EXPECT_EQ(Values(batch.at("attention_mask")), (Ints{1, 1, 1, 0, 0, 1, 1, 0, 0, 0}));
  EXPECT_EQ(Values(batch.at("token_type_ids")), (Ints{0, 0, 0, 4, 4, 0, 0, 4, 4, 4}));
  EXPECT_EQ(Shape(batch.at("labels")), (Ints{2}));
  EXPECT_EQ(Values(batch.at("labels")), (Ints{1, 0}));

  options.max_length = 2;
  auto short_loader = DataLoader::Create(&dataset, options);
  ASSERT_TRUE(short_loader.ok());
  EXPECT_EQ(short_loader->Next(&batch).status().message(),
            "dataset index 0: input_ids has 3 values, more than max_length 2");
}

TEST(DataLoaderTest, PadsSequenceLabelsWithMinus100AndStacksFloats) {
  // Masked-LM style: labels per token; a float score per example.
  Example first;
  first.ints["input_ids"] = {2, 4, 3};
  first.ints["labels"] = {-100, 8, -100};
  first.floats["score"] = {0.5f};
  first.floats["weights"] = {1.0f, 2.0f, 3.0f};
  Example second;
  second.ints["input_ids"] = {2, 3};
  second.ints["labels"] = {-100, -100};
  second.floats["score"] = {1.5f};
  second.floats["weights"] = {4.0f, 5.0f};
  DataLoaderOptions options;
  options.float_pad_values["weights"] = -1.0f;
  auto batch = Collate({first, second}, options);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(Shape(batch->at("labels")), (Ints{2, 3}));
  EXPECT_EQ(Values(batch->at("labels")), (Ints{-100, 8, -100, -100, -100, -100}));
  EXPECT_EQ(Shape(batch->at("score")), (Ints{2}));
  EXPECT_EQ(FloatValues(batch->at("score")), (std::vector<float>{0.5f, 1.5f}));
  EXPECT_EQ(Shape(batch->at("weights")), (Ints{2, 3}));
  EXPECT_EQ(FloatValues(batch->at("weights")),
            (std::vector<float>{1.0f, 2.0f, 3.0f, 4.0f, 5.0f, -1.0f}));
  EXPECT_EQ(IntPadValue(options, "labels"), -100);
  EXPECT_EQ(IntPadValue(options, "start_positions"), 0);
}

TEST(DataLoaderTest, DropLastDropsTheShortFinalBatch) {
  VectorDataset dataset(IndexedExamples(5));
  DataLoaderOptions options;
  options.batch_size = 2;
  auto keep = DataLoader::Create(&dataset, options);
  ASSERT_TRUE(keep.ok()) << keep.status();
  EXPECT_EQ(keep->num_batches(), 3);
  EXPECT_EQ(EpochLabels(*keep, 0), (std::vector<Ints>{{0, 1}, {2, 3}, {4}}));

  options.drop_last = true;
  auto drop = DataLoader::Create(&dataset, options);
  ASSERT_TRUE(drop.ok()) << drop.status();
  EXPECT_EQ(drop->num_batches(), 2);
  EXPECT_EQ(EpochLabels(*drop, 0), (std::vector<Ints>{{0, 1}, {2, 3}}));
}

TEST(DataLoaderTest, ShuffleIsSeededPerEpochAndCoversEveryIndexOnce) {
  VectorDataset dataset(IndexedExamples(10));
  DataLoaderOptions options;
  options.batch_size = 3;
  options.shuffle = true;
  options.seed = 7;
  auto loader = DataLoader::Create(&dataset, options);
  auto twin = DataLoader::Create(&dataset, options);
  ASSERT_TRUE(loader.ok() && twin.ok());

  const std::vector<Ints> epoch0 = EpochLabels(*loader, 0);
  const std::vector<Ints> epoch1 = EpochLabels(*loader, 1);
  ASSERT_EQ(epoch0.size(), 4u);
  EXPECT_EQ(epoch0.back().size(), 1u);
  EXPECT_EQ(EpochLabels(*twin, 0), epoch0);
  EXPECT_EQ(EpochLabels(*twin, 1), epoch1);
  EXPECT_EQ(EpochLabels(*loader, 0), epoch0);  // Restarting replays the epoch.
  EXPECT_NE(epoch0, epoch1);
  EXPECT_NE(Flatten(epoch0), Iota(10));
  for (const auto& epoch : {epoch0, epoch1}) {
    Ints all = Flatten(epoch);
    std::sort(all.begin(), all.end());
    EXPECT_EQ(all, Iota(10));
  }

  options.seed = 8;
  auto other_seed = DataLoader::Create(&dataset, options);
  ASSERT_TRUE(other_seed.ok());
  EXPECT_NE(EpochLabels(*other_seed, 0), epoch0);
}

TEST(DataLoaderTest, ShuffleOrderIsPinned) {
  // mt19937_64 and our own Fisher-Yates are fully specified, so this order must not change
  // across compilers or standard libraries; a change breaks resuming old runs. Expected
  // values from an independent Python implementation of SplitMix64 + mt19937_64 + this
  // Fisher-Yates with rejection sampling.
  VectorDataset dataset(IndexedExamples(8));
  DataLoaderOptions options;
  options.batch_size = 8;
  options.shuffle = true;
  auto loader = DataLoader::Create(&dataset, options);
  ASSERT_TRUE(loader.ok());
  EXPECT_EQ(Flatten(EpochLabels(*loader, 3)), (Ints{4, 1, 0, 6, 5, 2, 7, 3}));
}

TEST(DataLoaderTest, StreamShuffleBufferCoversEveryExampleOnce) {
  VectorStream stream(IndexedExamples(23));
  DataLoaderOptions options;
  options.batch_size = 4;
  options.shuffle = true;
  options.shuffle_buffer_size = 5;
  auto loader = DataLoader::Create(&stream, options);
  ASSERT_TRUE(loader.ok()) << loader.status();
  EXPECT_EQ(loader->num_batches(), std::nullopt);

  const std::vector<Ints> epoch0 = EpochLabels(*loader, 0);
  ASSERT_EQ(epoch0.size(), 6u);
  EXPECT_EQ(epoch0.back().size(), 3u);
  Ints all = Flatten(epoch0);
  EXPECT_NE(all, Iota(23));
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, Iota(23));
  EXPECT_EQ(EpochLabels(*loader, 0), epoch0);
  EXPECT_NE(EpochLabels(*loader, 1), epoch0);
  EXPECT_EQ(stream.restarts(), (std::vector<uint64_t>{0, 0, 0, 1}));

  options.shuffle = false;
  options.drop_last = true;
  auto in_order = DataLoader::Create(&stream, options);
  ASSERT_TRUE(in_order.ok());
  const std::vector<Ints> ordered = EpochLabels(*in_order, 0);
  ASSERT_EQ(ordered.size(), 5u);  // The last 3 examples are dropped.
  EXPECT_EQ(Flatten(ordered), Iota(20));
}

TEST(DataLoaderTest, ReportsInconsistentExamples) {
  Example short_mask = MakeExample({2, 5, 3}, 1);
  short_mask.ints["attention_mask"] = {1, 1};
  Example no_label = MakeExample({2, 3}, 0);
  no_label.ints.erase("labels");
  VectorDataset dataset({MakeExample({2, 3}, 0), short_mask, MakeExample({2, 3}, 0), no_label,
                         MakeExample({2, 4, 3}, 1), MakeExample({2, 3}, 0)});
  DataLoaderOptions options;
  options.batch_size = 2;
  auto loader = DataLoader::Create(&dataset, options);
  ASSERT_TRUE(loader.ok()) << loader.status();
  Batch batch;
  EXPECT_EQ(loader->Next(&batch).status().message(),
            "dataset index 1: attention_mask has 2 values but input_ids has 3");
  EXPECT_EQ(loader->Next(&batch).status().message(),
            "dataset index 3 has no int feature \"labels\", which dataset index 2 has");
  // The bad batches are skipped; the next one is fine.
  auto has_batch = loader->Next(&batch);
  ASSERT_TRUE(has_batch.ok()) << has_batch.status();
  EXPECT_EQ(Values(batch.at("labels")), (Ints{1, 0}));

  VectorStream stream({MakeExample({2, 3}, 0), short_mask});
  auto stream_loader = DataLoader::Create(&stream, options);
  ASSERT_TRUE(stream_loader.ok());
  EXPECT_EQ(stream_loader->Next(&batch).status().message(),
            "stream example 1 of epoch 0: attention_mask has 2 values but input_ids has 3");

  Example extra = MakeExample({2, 3}, 0);
  extra.floats["score"] = {1.0f};
  EXPECT_EQ(Collate({MakeExample({2, 3}, 0), extra}, options).status().message(),
            "example 1 has float feature \"score\", which example 0 lacks");
  EXPECT_EQ(Collate({}, options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(DataLoaderTest, RejectsBadOptions) {
  VectorDataset dataset(IndexedExamples(2));
  DataLoaderOptions options;
  options.batch_size = 0;
  EXPECT_EQ(DataLoader::Create(&dataset, options).status().message(),
            "DataLoaderOptions.batch_size must be positive, got 0");
  options = DataLoaderOptions();
  options.padding = "do_not_pad";
  EXPECT_EQ(DataLoader::Create(&dataset, options).status().message(),
            "DataLoaderOptions.padding is \"do_not_pad\"; expected \"longest\" or "
            "\"max_length\"");
  options = DataLoaderOptions();
  options.padding = "max_length";
  EXPECT_EQ(DataLoader::Create(&dataset, options).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      DataLoader::Create(static_cast<const Dataset*>(nullptr), DataLoaderOptions()).status().code(),
      absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace datasets
