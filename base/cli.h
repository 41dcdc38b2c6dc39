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

// libgomp spins idle OpenMP threads for a while after each parallel region. With the
// pthread build of OpenBLAS, LibTorch's GEMMs run on OpenBLAS's own threads between such
// regions and the spinning thread steals a core (BERT-mini forward 304 ms spinning vs 23 ms
// passive under load). With the OpenMP build (what tools/install_deps.sh selects) all
// share one pool and spinning helps (BERT-base INT8 encoder 58 ms vs 125 ms passive).
// libgomp reads its wait policy only at start-up, so when the process runs on the pthread
// OpenBLAS and neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT is set, this re-executes the
// program with OMP_WAIT_POLICY=PASSIVE. Call first thing in main(); returns when no
// re-exec was needed (or it failed: the program then runs with spinning waits).
void UsePassiveOpenMpWaits(int argc, char** argv);

// Parses flags (exits with a one-line message on unknown or malformed flags), warns on the
// reference BLAS, calls ConfigureThreads(), and returns the positional arguments (argv[0]
// excluded). Calls UsePassiveOpenMpWaits first.
std::vector<std::string> InitMain(int argc, char** argv, const char* usage);

// LibTorch defaults to one intra-op thread per *physical* core, which is 1 on a 2-vCPU
// machine with SMT; use every logical CPU unless OMP_NUM_THREADS says otherwise. Also calls
// KeepFreedMemoryForReuse(). Returns the thread count in effect.
int ConfigureThreads();

// The CPU's "model name" from /proc/cpuinfo ("unknown" when absent): every speed figure a
// program prints names the CPU it was measured on.
std::string CpuModelName();

// glibc serves every allocation above 32 MB (attention scores at batch 8 x seq 384 are 56 MB
// a layer) with a fresh mmap and unmaps it on free, so each such tensor pays a page fault per
// 4 KB page on first touch: a BERT-mini batch-8 seq-384 forward took 1,077 ms that way and
// 387 ms with freed memory kept for reuse. This keeps it (mallopt: no mmap for large blocks,
// no trimming of the heap), so a process holds on to its peak memory until it exits. Skipped
// when the user set MALLOC_MMAP_MAX_ or MALLOC_TRIM_THRESHOLD_ (glibc's own tunables).
void KeepFreedMemoryForReuse();

// Runs `body`, printing "error: <message>" on failure or on an escaped exception.
// Returns the process exit code (0 on success).
int RunMain(const std::function<absl::Status()>& body);

// Splits "1,2,3" into integers; the error names `flag` and the bad item.
absl::Status ParseIntList(const std::string& flag, const std::string& text,
                          std::vector<int64_t>* out);

}  // namespace base

#endif  // BASE_CLI_H_
