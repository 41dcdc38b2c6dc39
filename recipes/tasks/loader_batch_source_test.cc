#include "recipes/tasks/loader_batch_source.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace recipes {
namespace {

// Rows i = 0..n-1 with input_ids {i, i, ...} of length 1 + i % 3 and labels {i}.
class CountingDataset : public datasets::Dataset {
 public:
  explicit CountingDataset(size_t n) : n_(n) {}
  size_t size() const override { return n_; }
  datasets::Example Get(size_t index) const override {
    datasets::Example example;
    const int64_t i = static_cast<int64_t>(index);
    example.ints["input_ids"] = std::vector<int64_t>(1 + index % 3, i + 1);
    example.ints["attention_mask"] = std::vector<int64_t>(1 + index % 3, 1);
    example.ints["labels"] = {i};
    return example;
  }

 private:
  size_t n_;
};

// Yields `count` one-token examples per epoch, then reports `status`.
class FailingStream : public datasets::ExampleStream {
 public:
  FailingStream(int count, absl::Status status) : count_(count), status_(std::move(status)) {}
  bool Next(datasets::Example* out) override {
    if (read_ >= count_) return false;
    out->ints["input_ids"] = {++read_};
    return true;
  }
  void Restart(uint64_t) override { read_ = 0; }
  const absl::Status& status() const { return status_; }

 private:
  int count_;
  int read_ = 0;
  absl::Status status_;
};

std::vector<int64_t> EpochLabels(LoaderBatchSource& source, uint64_t epoch) {
  source.Restart(epoch);
  std::vector<int64_t> labels;
  compressor::TensorMap batch;
  while (true) {
    absl::StatusOr<bool> has_batch = source.Next(&batch);
    EXPECT_TRUE(has_batch.ok()) << has_batch.status();
    if (!has_batch.ok() || !*has_batch) break;
    for (int64_t i = 0; i < batch.at("labels").size(0); ++i) {
      labels.push_back(batch.at("labels")[i].item<int64_t>());
    }
  }
  return labels;
}

TEST(LoaderBatchSourceTest, ServesTheLoadersPaddedBatches) {
  datasets::DataLoaderOptions options;
  options.batch_size = 4;
  options.pad_token_id = 7;
  auto source = LoaderBatchSource::Create(std::make_shared<CountingDataset>(10), options);
  ASSERT_TRUE(source.ok()) << source.status();
  ASSERT_EQ((*source)->num_batches(), 3);

  compressor::TensorMap batch;
  (*source)->Restart(0);
  ASSERT_TRUE(*(*source)->Next(&batch));
  ASSERT_EQ(batch.size(), 3u);
  EXPECT_EQ(batch.at("input_ids").sizes(), (std::vector<int64_t>{4, 3}));
  // Row 0 has one token, padded with the pad id; its mask with 0.
  EXPECT_TRUE(at::equal(batch.at("input_ids")[0], at::tensor({1, 7, 7}, at::kLong)));
  EXPECT_TRUE(at::equal(batch.at("attention_mask")[0], at::tensor({1, 0, 0}, at::kLong)));
  EXPECT_TRUE(at::equal(batch.at("labels"), at::tensor({0, 1, 2, 3}, at::kLong)));
  EXPECT_EQ(EpochLabels(**source, 0), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST(LoaderBatchSourceTest, RestartReplaysAShuffledEpoch) {
  datasets::DataLoaderOptions options;
  options.batch_size = 3;
  options.shuffle = true;
  options.seed = 5;
  auto source = LoaderBatchSource::Create(std::make_shared<CountingDataset>(12), options);
  ASSERT_TRUE(source.ok()) << source.status();
  const std::vector<int64_t> epoch0 = EpochLabels(**source, 0);
  const std::vector<int64_t> epoch1 = EpochLabels(**source, 1);
  EXPECT_EQ(epoch0.size(), 12u);
  EXPECT_NE(epoch0, epoch1);
  EXPECT_EQ(EpochLabels(**source, 0), epoch0);  // What resuming at epoch 0 relies on.
}

TEST(LoaderBatchSourceTest, WrapsALoaderOverCallerOwnedData) {
  CountingDataset dataset(5);
  datasets::DataLoaderOptions options;
  options.batch_size = 2;
  auto loader = datasets::DataLoader::Create(&dataset, options);
  ASSERT_TRUE(loader.ok()) << loader.status();
  LoaderBatchSource source(*std::move(loader));
  EXPECT_EQ(source.num_batches(), 3);
  EXPECT_EQ(EpochLabels(source, 0), (std::vector<int64_t>{0, 1, 2, 3, 4}));
}

TEST(LoaderBatchSourceTest, StreamsHaveNoLengthAndReportTheirErrorAtTheEnd) {
  auto stream =
      std::make_shared<FailingStream>(3, absl::DataLossError("corpus.txt:9: invalid UTF-8"));
  datasets::DataLoaderOptions options;
  options.batch_size = 2;
  auto source = LoaderBatchSource::Create(stream, options, [stream] { return stream->status(); });
  ASSERT_TRUE(source.ok()) << source.status();
  EXPECT_EQ((*source)->num_batches(), std::nullopt);
  (*source)->Restart(0);
  compressor::TensorMap batch;
  ASSERT_TRUE(*(*source)->Next(&batch));
  ASSERT_TRUE(*(*source)->Next(&batch));
  EXPECT_EQ(batch.at("input_ids").size(0), 1);  // The short last batch comes before the error.
  const absl::StatusOr<bool> end = (*source)->Next(&batch);
  ASSERT_FALSE(end.ok());
  EXPECT_EQ(end.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(end.status().message(), "epoch 0 ended early: corpus.txt:9: invalid UTF-8");

  // Without a status check the same stream just ends.
  auto quiet = LoaderBatchSource::Create(stream, options);
  ASSERT_TRUE(quiet.ok());
  (*quiet)->Restart(0);
  int batches = 0;
  absl::StatusOr<bool> has_batch;
  while ((has_batch = (*quiet)->Next(&batch)).ok() && *has_batch) ++batches;
  EXPECT_TRUE(has_batch.ok()) << has_batch.status();
  EXPECT_EQ(batches, 2);
}

TEST(LoaderBatchSourceTest, NullSourcesAreErrors) {
  EXPECT_EQ(
      LoaderBatchSource::Create(std::shared_ptr<const datasets::Dataset>(), {}).status().code(),
      absl::StatusCode::kInvalidArgument);
  datasets::DataLoaderOptions bad;
  bad.batch_size = 0;
  EXPECT_FALSE(LoaderBatchSource::Create(std::make_shared<CountingDataset>(2), bad).ok());
}

}  // namespace
}  // namespace recipes
