// What every *_main.cc does first and last: parse abseil flags, warn when LibTorch runs on
// the reference BLAS, and turn a failed Status or exception into one line on stderr and a
// non-zero exit code (never a stack trace or abort for bad input).
//
//   int main(int argc, char** argv) {
//     base::InitMain(argc, argv, "Usage: tool --model_dir=DIR");
//     return base::RunMain([&]() -> absl::Status { ...; return absl::OkStatus(); });
//   }
#ifndef BASE_CLI_H_
#define BASE_CLI_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace base {

// libgomp spins idle OpenMP threads for a while after each parallel region; LibTorch runs
// OpenBLAS GEMMs on OpenBLAS's own threads between such regions, so the spinning thread
// steals a core from the GEMM (measured here: BERT-mini forward 23 ms with passive waits,
// 304 ms spinning under load). libgomp reads its wait policy only at start-up, so when
// neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT is set this re-executes the program with
// OMP_WAIT_POLICY=PASSIVE. Call first thing in main(); returns only when no re-exec was
// needed (or it failed, in which case the program just runs with spinning waits).
void UsePassiveOpenMpWaits(int argc, char** argv);

// Parses flags (exits with a one-line message on unknown or malformed flags), warns on the
// reference BLAS, calls ConfigureThreads(), and returns the positional arguments (argv[0]
// excluded). Calls UsePassiveOpenMpWaits first.
std::vector<std::string> InitMain(int argc, char** argv, const char* usage);

// LibTorch defaults to one intra-op thread per *physical* core, which is 1 on a 2-vCPU
// machine with SMT; use every logical CPU unless OMP_NUM_THREADS says otherwise. Returns
// the thread count in effect.
int ConfigureThreads();

// Runs `body`, printing "error: <message>" on failure or on an escaped exception.
// Returns the process exit code (0 on success).
int RunMain(const std::function<absl::Status()>& body);

// Splits "1,2,3" into integers; the error names `flag` and the bad item.
absl::Status ParseIntList(const std::string& flag, const std::string& text,
                          std::vector<int64_t>* out);

}  // namespace base

#endif  // BASE_CLI_H_
