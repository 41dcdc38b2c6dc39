// Process-group setup for data-parallel training on PyTorch's c10d: a TCPStore rendezvous
// at MASTER_ADDR:MASTER_PORT and a ProcessGroupGloo (the engine torchrun / DDP use on
// CPU), behind a small Status-returning wrapper so a dead or hung peer is a clear error
// after `timeout_seconds`, never an exception, an abort or a hang.
//
//   ASSIGN_OR_RETURN(DistributedOptions options, ResolveDistributedOptions(flag_values));
//   ASSIGN_OR_RETURN(std::unique_ptr<ProcessGroup> group, ProcessGroup::Create(options));
//   RETURN_IF_ERROR(group->AllReduce(tensors, ReduceKind::kSum, "gradients"));
//
// Processes are started like torchrun starts them: every one reads RANK, WORLD_SIZE,
// LOCAL_RANK, MASTER_ADDR and MASTER_PORT (tools/launch.sh sets them for N local
// processes; a multi-machine run starts one launcher per host). Flags override them.
// With a MASTER_ADDR other than loopback, each rank's Gloo endpoint is the address of its
// interface on the route to MASTER_ADDR (GLOO_SOCKET_IFNAME=NAME picks an interface
// instead), and a failed collective's error names the peers by rank and that address
// ("... a peer rank died, hung or left the job (rank 1 at 10.0.0.2): ...").
#ifndef COMPRESSOR_DISTRIBUTED_PROCESS_GROUP_H_
#define COMPRESSOR_DISTRIBUTED_PROCESS_GROUP_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace compressor {

struct DistributedOptions {
  int64_t rank = -1;         // This process, 0 .. world_size - 1; -1: from RANK.
  int64_t world_size = -1;   // Processes in the job; -1: from WORLD_SIZE (unset: 1).
  int64_t local_rank = -1;   // Rank on this machine; -1: from LOCAL_RANK (unset: rank).
  std::string master_addr;   // Rank 0's host; "": from MASTER_ADDR (unset: 127.0.0.1).
  int64_t master_port = -1;  // Rank 0's TCPStore port; -1: from MASTER_PORT (unset: 29500).
  // Rendezvous and every collective fail after this long without all peers.
  double timeout_seconds = 300;
  // Gradients are all-reduced in buckets of at most this size (DDP's bucket_cap_mb).
  double bucket_cap_mb = 25;

  bool enabled() const { return world_size > 1; }
  // Errors name the field (or variable) and the value; `source` prefixes them.
  absl::Status Validate(const std::string& source) const;
};

// Fills every unset field of `options` from the torchrun environment variables, then the
// defaults above, and validates. Errors name the variable and its value.
absl::StatusOr<DistributedOptions> ResolveDistributedOptions(DistributedOptions options);

enum class ReduceKind { kSum, kMin, kMax };

// A collective that was started and not yet awaited (ProcessGroup::StartAllReduce). Wait()
// blocks until it finished on every rank or failed (dead peer, timeout); the tensors hold
// the result only after a successful Wait(). Move-only; waits are not required before
// destruction (an abandoned collective is left to the process group).
class PendingCollective {
 public:
  struct State;
  PendingCollective();
  explicit PendingCollective(std::unique_ptr<State> state);
  PendingCollective(PendingCollective&&) noexcept;
  PendingCollective& operator=(PendingCollective&&) noexcept;
  ~PendingCollective();

  bool valid() const { return state_ != nullptr; }
  absl::Status Wait();

 private:
  std::unique_ptr<State> state_;
};

// One process group (Gloo over a TCPStore). Collectives block until every rank joined or
// the timeout passed; errors say which collective, on which rank, and why.
class ProcessGroup {
 public:
  // Joins the rendezvous (rank 0 serves the store) and connects the Gloo group.
  static absl::StatusOr<std::unique_ptr<ProcessGroup>> Create(const DistributedOptions& options);
  ~ProcessGroup();

  int64_t rank() const { return options_.rank; }
  int64_t world_size() const { return options_.world_size; }
  const DistributedOptions& options() const { return options_; }

  // In place over every rank; tensors must be contiguous CPU tensors of the same shapes
  // on every rank. `what` names the data in errors ("gradients", "observer ranges").
  // Several tensors are launched together and then awaited (Gloo overlaps them).
  absl::Status AllReduce(std::vector<at::Tensor>& tensors, ReduceKind kind,
                         const std::string& what);
  // The same, started and returned without waiting (Gloo runs it on its own threads), so
  // the caller can go on computing: how gradient buckets overlap with backward. Every rank
  // must start its collectives in the same order.
  absl::StatusOr<PendingCollective> StartAllReduce(std::vector<at::Tensor> tensors,
                                                   ReduceKind kind, const std::string& what);
  // Rank `root`'s values into every rank's tensors (contiguous CPU), in place.
  absl::Status Broadcast(std::vector<at::Tensor>& tensors, int64_t root, const std::string& what);
  absl::Status Barrier(const std::string& what);

 private:
  struct Impl;
  ProcessGroup(DistributedOptions options, std::unique_ptr<Impl> impl);

  DistributedOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace compressor

#endif  // COMPRESSOR_DISTRIBUTED_PROCESS_GROUP_H_
