#include "base/atomic_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace base {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

// A fresh, empty directory per test, so stray temporary files are easy to spot.
std::string FreshDir(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::filesystem::path dir =
      std::filesystem::path(tmp != nullptr ? tmp : "/tmp") / ("atomic_file_" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  return names;
}

TEST(AtomicFileTest, CommitWritesContent) {
  const std::string dir = FreshDir("commit");
  const std::string path = dir + "/out.bin";
  auto writer = AtomicFileWriter::Create(path);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->Write("hello, ", 7).ok());
  ASSERT_TRUE((*writer)->Write(std::string_view("world\0!", 7)).ok());
  // Nothing is visible under the final name before Commit().
  EXPECT_FALSE(std::filesystem::exists(path));
  ASSERT_TRUE((*writer)->Commit().ok());
  EXPECT_EQ(ReadFileToString(path).value(), std::string("hello, world\0!", 14));
  EXPECT_EQ(ListDir(dir), std::vector<std::string>{"out.bin"});
  // A second Commit() is a caller bug, reported rather than ignored.
  EXPECT_EQ((*writer)->Commit().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(AtomicFileTest, UncommittedWriterLeavesNothingBehind) {
  const std::string dir = FreshDir("uncommitted");
  {
    auto writer = AtomicFileWriter::Create(dir + "/out.bin");
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE((*writer)->Write("partial", 7).ok());
    EXPECT_TRUE(std::filesystem::exists((*writer)->temp_path()));
  }
  EXPECT_THAT(ListDir(dir), IsEmpty());
}

TEST(AtomicFileTest, MissingDirectoryFailsNamingThePath) {
  const std::string path = FreshDir("missing") + "/no/such/dir/out.bin";
  auto writer = AtomicFileWriter::Create(path);
  ASSERT_FALSE(writer.ok());
  EXPECT_EQ(writer.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(writer.status().message(), HasSubstr(path));
  EXPECT_THAT(writer.status().message(), HasSubstr("No such file or directory"));

  const absl::Status status = WriteStringToFileAtomically(path, "x");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr(path));
}

TEST(AtomicFileTest, ExistingFileIsReplacedWhole) {
  const std::string dir = FreshDir("replace");
  const std::string path = dir + "/config.txt";
  ASSERT_TRUE(WriteStringToFileAtomically(path, std::string(1000, 'a')).ok());
  ASSERT_TRUE(WriteStringToFileAtomically(path, "short").ok());
  EXPECT_EQ(ReadFileToString(path).value(), "short");

  // An abandoned rewrite leaves the previous version intact.
  {
    auto writer = AtomicFileWriter::Create(path);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Write("garbage", 7).ok());
  }
  EXPECT_EQ(ReadFileToString(path).value(), "short");
  EXPECT_EQ(ListDir(dir), std::vector<std::string>{"config.txt"});
}

TEST(AtomicFileTest, ReadMissingFileIsNotFound) {
  const std::string path = FreshDir("read_missing") + "/absent.txt";
  const absl::StatusOr<std::string> contents = ReadFileToString(path);
  EXPECT_EQ(contents.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(contents.status().message(), HasSubstr(path));
}

TEST(AtomicFileTest, ReadsEmptyFile) {
  const std::string path = FreshDir("empty") + "/empty";
  ASSERT_TRUE(WriteStringToFileAtomically(path, "").ok());
  EXPECT_EQ(ReadFileToString(path).value(), "");
}

}  // namespace
}  // namespace base
