#include "base/cli.h"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <limits>
#include <thread>

#include <malloc.h>
#include <unistd.h>

#include <ATen/Parallel.h>

#include <c10/util/Exception.h>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/blas_check.h"

namespace base {

void UsePassiveOpenMpWaits(int argc, char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("GOMP_SPINCOUNT") != nullptr) {
    return;
  }
  if (DetectBlas().library_path.find("openblas-pthread") == std::string::npos) return;
  if (setenv("OMP_WAIT_POLICY", "PASSIVE", /*overwrite=*/0) != 0 || argc < 1) return;
  std::vector<char*> args(argv, argv + argc);
  args.push_back(nullptr);
  execv("/proc/self/exe", args.data());
  // execv only returns on failure: carry on in this process.
}

std::vector<std::string> InitMain(int argc, char** argv, const char* usage) {
  UsePassiveOpenMpWaits(argc, argv);
  absl::SetProgramUsageMessage(usage);
  const std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  WarnIfReferenceBlas();
  ConfigureThreads();
  return std::vector<std::string>(rest.begin() + 1, rest.end());
}

void KeepFreedMemoryForReuse() {
  if (std::getenv("MALLOC_MMAP_MAX_") != nullptr ||
      std::getenv("MALLOC_TRIM_THRESHOLD_") != nullptr) {
    return;
  }
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
}

int ConfigureThreads() {
  KeepFreedMemoryForReuse();
  const char* env = std::getenv("OMP_NUM_THREADS");
  if (env == nullptr || *env == '\0') {
    const unsigned cpus = std::thread::hardware_concurrency();
    if (cpus > 0) at::set_num_threads(static_cast<int>(cpus));
  }
  return at::get_num_threads();
}

int RunMain(const std::function<absl::Status()>& body) {
  absl::Status status;
  try {
    status = body();
  } catch (const c10::Error& e) {
    status = absl::InternalError(e.what_without_backtrace());
  } catch (const std::exception& e) {
    status = absl::InternalError(e.what());
  }
  if (status.ok()) return 0;
  std::string message(status.message());
  // LibTorch messages can span lines; the contract is one line.
  for (char& c : message) {
    if (c == '\n') c = ' ';
  }
  std::fprintf(stderr, "error: %s\n", message.c_str());
  return 1;
}

absl::Status ParseIntList(const std::string& flag, const std::string& text,
                          std::vector<int64_t>* out) {
  out->clear();
  if (absl::StripAsciiWhitespace(text).empty()) return absl::OkStatus();
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    int64_t value = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(item), &value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, ": '", item, "' is not an integer"));
    }
    out->push_back(value);
  }
  return absl::OkStatus();
}

std::string CpuModelName() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon != std::string::npos) return std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  }
  return "unknown";
}

}  // namespace base
