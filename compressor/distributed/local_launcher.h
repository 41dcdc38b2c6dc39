// Starts a single-machine data-parallel job from inside a program, the way torchrun's
// standalone mode does: the program re-executes itself (/proc/self/exe, same arguments)
// as N ranks with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT set, waits
// for them, and exits like the job. A binary gets `--nproc_per_node=N` this way:
//
//   if (nproc_per_node > 1 && !compressor::IsLaunchedRank()) {
//     LocalLaunchOptions launch;
//     launch.nproc_per_node = nproc_per_node;
//     return *compressor::RunLocalRanks(launch, argc, argv);   // the job's exit status
//   }
//   // Here: one rank (or a plain single process); ResolveDistributedOptions reads the env.
//
// When a rank fails (non-zero exit or a signal), the others get `grace_seconds` to notice
// (a dead peer fails their next collective at once, a hung one after the process group's
// timeout) and report their own error; then they are stopped (SIGTERM, SIGKILL 5 s later).
// Multi-machine jobs start one launcher per host: tools/launch.sh.
#ifndef COMPRESSOR_DISTRIBUTED_LOCAL_LAUNCHER_H_
#define COMPRESSOR_DISTRIBUTED_LOCAL_LAUNCHER_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace compressor {

struct LocalLaunchOptions {
  int64_t nproc_per_node = 1;          // Ranks to start (world size of the job).
  std::string master_addr = "127.0.0.1";
  int64_t master_port = 0;             // 0: MASTER_PORT if set, else a free loopback port.
  // After the first rank fails, how long the others may take to report before being stopped.
  double grace_seconds = 30;
  // Each rank's OMP_NUM_THREADS when the environment does not set it: this machine's CPUs
  // divided by nproc_per_node (at least 1) when <= 0.
  int64_t threads_per_rank = 0;
};

// Whether this process was started as a rank of a job (RANK is set in the environment).
bool IsLaunchedRank();

// Runs `options.nproc_per_node` copies of this program with `argv` (argv[0] replaced by
// /proc/self/exe) and the torchrun environment; returns the job's exit status: 0 when every
// rank succeeded, else the first failing rank's status (128 + signal for a killed rank).
// Errors (bad options, spawn failures) name the field or the call.
absl::StatusOr<int> RunLocalRanks(const LocalLaunchOptions& options, int argc, char** argv);

// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0).
absl::StatusOr<int> FindFreePort();

}  // namespace compressor

#endif  // COMPRESSOR_DISTRIBUTED_LOCAL_LAUNCHER_H_
