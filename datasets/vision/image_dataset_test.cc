#include "datasets/vision/image_dataset.h"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <string>

#include "datasets/vision/idx_file.h"

namespace datasets {
namespace {

using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), bytes.size());
}

at::Tensor SmallImages() {
  return at::arange(5 * 3 * 2, at::kLong).mul(7).remainder(256).to(at::kByte).reshape({5, 3, 2});
}

TEST(IdxFileTest, RoundTripsPlainAndGzipped) {
  const at::Tensor images = SmallImages();
  for (bool gzip : {false, true}) {
    const std::string path = TempPath(gzip ? "rt.idx.gz" : "rt.idx");
    ASSERT_TRUE(WriteIdxFile(path, images, gzip).ok());
    absl::StatusOr<at::Tensor> read = ReadIdxFile(path, 3);
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(read->sizes(), images.sizes());
    EXPECT_TRUE(read->equal(images));
  }
}

TEST(IdxFileTest, RejectsBadMagicTypeAndDims) {
  const std::string path = TempPath("bad_magic.idx");
  WriteBytes(path, std::string("\x01\x00\x08\x01\x00\x00\x00\x01\x05", 9));
  absl::Status status = ReadIdxFile(path, 1).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr(path));
  EXPECT_THAT(status.message(), HasSubstr("magic"));

  WriteBytes(path, std::string("\x00\x00\x0d\x01\x00\x00\x00\x01\x05", 9));  // float type
  status = ReadIdxFile(path, 1).status();
  EXPECT_THAT(status.message(), HasSubstr("type code 0x0d"));

  ASSERT_TRUE(WriteIdxFile(path, SmallImages(), false).ok());
  status = ReadIdxFile(path, 1).status();  // A label file was expected.
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("3 dimensions, expected 1"));
}

TEST(IdxFileTest, RejectsTruncatedAndTrailingData) {
  const std::string path = TempPath("full.idx");
  ASSERT_TRUE(WriteIdxFile(path, SmallImages(), false).ok());
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::string truncated = TempPath("truncated.idx");
  WriteBytes(truncated, bytes.substr(0, bytes.size() - 3));
  absl::Status status = ReadIdxFile(truncated, 3).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr(truncated));
  EXPECT_THAT(status.message(), HasSubstr("data: truncated, 27 of 30 bytes"));

  WriteBytes(truncated, bytes.substr(0, 10));  // Inside the sizes.
  status = ReadIdxFile(truncated, 3).status();
  EXPECT_THAT(status.message(), HasSubstr("size[1]: file ends in the header"));

  const std::string trailing = TempPath("trailing.idx");
  WriteBytes(trailing, bytes + "x");
  status = ReadIdxFile(trailing, 3).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("bytes after"));

  // A gzipped file cut in the middle of its stream.
  const std::string gz = TempPath("cut.idx.gz");
  ASSERT_TRUE(WriteIdxFile(gz, at::randint(0, 255, {50, 20, 20}, at::kByte), true).ok());
  std::string gz_bytes;
  {
    std::ifstream in(gz, std::ios::binary);
    gz_bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  WriteBytes(gz, gz_bytes.substr(0, gz_bytes.size() / 2));
  status = ReadIdxFile(gz, 3).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_THAT(status.message(), HasSubstr(gz));

  EXPECT_EQ(ReadIdxFile(TempPath("missing.idx"), 3).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(ImageDatasetTest, LoadsNormalisesAndValidatesLabels) {
  const std::string images = TempPath("img.idx.gz"), labels = TempPath("lbl.idx");
  ASSERT_TRUE(WriteIdxFile(images, SmallImages(), true).ok());
  ASSERT_TRUE(WriteIdxFile(labels, at::tensor({3, 0, 9, 1, 2}, at::kByte), false).ok());
  ImageLoadOptions options;
  options.mean = 0.5f;
  options.stddev = 0.25f;
  absl::StatusOr<ImageClassificationData> data =
      LoadIdxImageClassification(images, labels, options);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->images.sizes(), (std::vector<int64_t>{5, 1, 3, 2}));
  const float pixel = SmallImages()[1][2][1].item<uint8_t>();
  EXPECT_FLOAT_EQ(data->images[1][0][2][1].item<float>(), (pixel / 255.0f - 0.5f) / 0.25f);
  EXPECT_EQ(data->labels[2].item<int64_t>(), 9);

  options.limit = 2;
  EXPECT_EQ(LoadIdxImageClassification(images, labels, options)->size(), 2);

  ASSERT_TRUE(WriteIdxFile(labels, at::tensor({3, 0, 10, 1, 2}, at::kByte), false).ok());
  absl::Status status = LoadIdxImageClassification(images, labels, {}).status();
  EXPECT_THAT(status.message(), HasSubstr("label[2] = 10 is not in [0, 10)"));

  ASSERT_TRUE(WriteIdxFile(labels, at::tensor({3, 0, 1}, at::kByte), false).ok());
  status = LoadIdxImageClassification(images, labels, {}).status();
  EXPECT_THAT(status.message(), HasSubstr("3 labels for 5 images"));

  status = LoadFashionMnist(TempPath("nowhere"), "train", {}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("dataset-fashion-mnist"));
  EXPECT_THAT(LoadFashionMnist(kFashionMnistDir, "dev", {}).status().message(),
              HasSubstr("split \"dev\""));
}

TEST(ImageDatasetTest, BatchesCoverEveryExampleReproducibly) {
  ImageClassificationData data;
  data.images = at::arange(10, at::kFloat).reshape({10, 1, 1, 1});
  data.labels = at::arange(10, at::kLong);
  ImageBatches batches(data, 4, /*shuffle=*/true, /*seed=*/7);
  EXPECT_EQ(batches.num_batches(), 3);
  auto epoch_order = [&](uint64_t epoch) {
    batches.Restart(epoch);
    std::vector<int64_t> seen;
    std::map<std::string, at::Tensor> batch;
    while (batches.Next(&batch)) {
      EXPECT_TRUE(batch.at("pixel_values").flatten().to(at::kLong).equal(batch.at("labels")));
      for (int64_t i = 0; i < batch.at("labels").size(0); ++i) {
        seen.push_back(batch.at("labels")[i].item<int64_t>());
      }
    }
    return seen;
  };
  const std::vector<int64_t> first = epoch_order(0);
  EXPECT_EQ(std::set<int64_t>(first.begin(), first.end()).size(), 10u);
  EXPECT_EQ(epoch_order(0), first);
  EXPECT_NE(epoch_order(1), first);
}

TEST(ImageDatasetTest, CountsCorrectPredictions) {
  const at::Tensor logits = at::tensor({0.1f, 0.9f, 0.8f, 0.2f, 0.3f, 0.7f}).reshape({3, 2});
  EXPECT_EQ(CountCorrect(logits, at::tensor({1, 0, 0}, at::kLong)), 2);
}

// The installed data set, when present (tools/install_deps.sh installs it).
TEST(ImageDatasetTest, ReadsDebianFashionMnist) {
  if (!std::ifstream(std::string(kFashionMnistDir) + "/t10k-labels-idx1-ubyte.gz").good()) {
    GTEST_SKIP() << "dataset-fashion-mnist not installed";
  }
  absl::StatusOr<ImageClassificationData> test = LoadFashionMnist(kFashionMnistDir, "test", {});
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_EQ(test->images.sizes(), (std::vector<int64_t>{10000, 1, 28, 28}));
  // The test split is balanced: 1,000 images per class.
  EXPECT_TRUE(at::bincount(test->labels).equal(at::full({10}, 1000, at::kLong)));
  EXPECT_NEAR(test->images.mean().item<float>(), 0.0f, 0.05f);
}

}  // namespace
}  // namespace datasets
