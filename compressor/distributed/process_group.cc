#include "compressor/distributed/process_group.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <cstdlib>
#include <exception>
#include <utility>

#include <c10/util/Exception.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace compressor {
namespace {

// Reads an integer environment variable into `*value` when `*value` is unset (< 0).
absl::Status FromEnv(const char* name, int64_t* value) {
  if (*value >= 0) return absl::OkStatus();
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return absl::OkStatus();
  if (!absl::SimpleAtoi(text, value) || *value < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("environment variable ", name, "='", text, "' is not a non-negative integer"));
  }
  return absl::OkStatus();
}

// The first line of an exception's message (c10 appends a C++ backtrace after it).
std::string Reason(const std::exception& e) {
  const c10::Error* c10_error = dynamic_cast<const c10::Error*>(&e);
  std::string text = c10_error ? c10_error->what_without_backtrace() : e.what();
  const size_t newline = text.find('\n');
  if (newline != std::string::npos) text.resize(newline);
  return text;
}

std::chrono::milliseconds Millis(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000.0));
}

bool IsLoopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1";
}

// The address of this host's interface that leads to `host` (the source address of the
// route to it; a connected UDP socket sends nothing). Gloo listens on it and the peers
// connect to it, so a multi-host rank needs no GLOO_SOCKET_IFNAME as long as the route to
// rank 0 is also the way to the other hosts. (Gloo's own default, the address the
// hostname resolves to, is 127.0.0.1 on a stock Debian /etc/hosts: unreachable for peers.)
absl::StatusOr<std::string> LocalAddressToward(const std::string& host, int64_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  const std::string service = absl::StrCat(port);
  if (const int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    return absl::NotFoundError(
        absl::StrCat("cannot resolve master_addr '", host, "': ", gai_strerror(rc)));
  }
  std::string error = "no address";
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    sockaddr_storage local{};
    socklen_t length = sizeof(local);
    char text[INET6_ADDRSTRLEN] = {};
    const bool ok = connect(fd, a->ai_addr, a->ai_addrlen) == 0 &&
                    getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) == 0;
    if (!ok) error = std::strerror(errno);
    close(fd);
    if (!ok) continue;
    const void* raw =
        local.ss_family == AF_INET6
            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&local)->sin6_addr)
            : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&local)->sin_addr);
    if (inet_ntop(local.ss_family, raw, text, sizeof(text)) != nullptr) {
      freeaddrinfo(found);
      return std::string(text);
    }
  }
  freeaddrinfo(found);
  return absl::UnavailableError(
      absl::StrCat("no route from this host to master_addr ", host, ": ", error));
}

// "rank 1 at 10.0.0.2" (world size 2), "ranks 1 at A, 2 at B, ..." (at most 8 named).
std::string PeersText(int64_t rank, const std::vector<std::string>& addresses) {
  std::vector<std::string> peers;
  for (size_t r = 0; r < addresses.size(); ++r) {
    if (static_cast<int64_t>(r) == rank) continue;
    if (peers.size() == 8) {
      peers.push_back(absl::StrCat("and ", addresses.size() - 9, " more"));
      break;
    }
    peers.push_back(absl::StrCat(r, " at ", addresses[r]));
  }
  std::string text = peers.size() == 1 ? "rank " : "ranks ";
  for (size_t i = 0; i < peers.size(); ++i) absl::StrAppend(&text, i ? ", " : "", peers[i]);
  return text;
}

constexpr char kAddressKey[] = "compressor/rank_address/";

}  // namespace

absl::Status DistributedOptions::Validate(const std::string& source) const {
  auto error = [&](const auto&... parts) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", parts...));
  };
  if (world_size < 1) return error("world_size must be at least 1, got ", world_size);
  if (rank < 0 || rank >= world_size) {
    return error("rank ", rank, " is outside [0, world_size = ", world_size, ")");
  }
  if (local_rank < 0) return error("local_rank must not be negative, got ", local_rank);
  if (master_addr.empty()) return error("master_addr is empty");
  if (master_port < 1 || master_port > 65535) {
    return error("master_port must be in [1, 65535], got ", master_port);
  }
  if (!(timeout_seconds > 0)) return error("timeout_seconds must be positive, got ", timeout_seconds);
  if (!(bucket_cap_mb > 0)) return error("bucket_cap_mb must be positive, got ", bucket_cap_mb);
  return absl::OkStatus();
}

absl::StatusOr<DistributedOptions> ResolveDistributedOptions(DistributedOptions options) {
  if (absl::Status s = FromEnv("RANK", &options.rank); !s.ok()) return s;
  if (absl::Status s = FromEnv("WORLD_SIZE", &options.world_size); !s.ok()) return s;
  if (absl::Status s = FromEnv("LOCAL_RANK", &options.local_rank); !s.ok()) return s;
  if (absl::Status s = FromEnv("MASTER_PORT", &options.master_port); !s.ok()) return s;
  if (options.master_addr.empty()) {
    const char* addr = std::getenv("MASTER_ADDR");
    options.master_addr = addr && *addr ? addr : "127.0.0.1";
  }
  if (options.world_size < 0) options.world_size = 1;
  if (options.rank < 0) options.rank = options.world_size == 1 ? 0 : -1;
  if (options.rank < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "distributed: WORLD_SIZE=", options.world_size, " but RANK (or --rank) is not set"));
  }
  if (options.local_rank < 0) options.local_rank = options.rank;
  if (options.master_port < 0) options.master_port = 29500;
  if (absl::Status s = options.Validate("distributed"); !s.ok()) return s;
  return options;
}

struct ProcessGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
  std::string peers;  // "rank 1 at 10.0.0.2": named in every collective's error.
};

ProcessGroup::ProcessGroup(DistributedOptions options, std::unique_ptr<Impl> impl)
    : options_(std::move(options)), impl_(std::move(impl)) {}

ProcessGroup::~ProcessGroup() = default;

absl::StatusOr<std::unique_ptr<ProcessGroup>> ProcessGroup::Create(
    const DistributedOptions& options) {
  if (absl::Status s = options.Validate("distributed"); !s.ok()) return s;
  const std::string where = absl::StrCat("rank ", options.rank, " of ", options.world_size);
  auto impl = std::make_unique<Impl>();
  try {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<uint16_t>(options.master_port);
    store_options.isServer = options.rank == 0;
    store_options.numWorkers = static_cast<size_t>(options.world_size);
    store_options.waitWorkers = true;
    store_options.timeout = Millis(options.timeout_seconds);
    impl->store = c10::make_intrusive<c10d::TCPStore>(options.master_addr, store_options);
  } catch (const std::exception& e) {
    return absl::DeadlineExceededError(absl::StrFormat(
        "%s: cannot join the rendezvous at %s:%d within %g s (is every rank started, and "
        "MASTER_ADDR/MASTER_PORT the same for all?): %s",
        where, options.master_addr, options.master_port, options.timeout_seconds, Reason(e)));
  }
  // The address the peers reach this rank at (and name in their errors).
  std::string address = "127.0.0.1";
  if (!IsLoopback(options.master_addr)) {
    absl::StatusOr<std::string> local =
        LocalAddressToward(options.master_addr, options.master_port);
    if (!local.ok()) return absl::UnavailableError(absl::StrCat(where, ": ", local.status().message()));
    address = *local;
  }
  try {
    auto gloo_options = c10d::ProcessGroupGloo::Options::create(Millis(options.timeout_seconds));
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname) {
      gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    } else {
      gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(address));
    }
    gloo_options->threads = 2;
    impl->store->set(absl::StrCat(kAddressKey, options.rank),
                     std::vector<uint8_t>(address.begin(), address.end()));
    impl->gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(
        impl->store, static_cast<int>(options.rank), static_cast<int>(options.world_size),
        gloo_options);
    // Every rank set its key before connecting, so these are there at once.
    std::vector<std::string> addresses;
    for (int64_t r = 0; r < options.world_size; ++r) {
      const std::vector<uint8_t> bytes = impl->store->get(absl::StrCat(kAddressKey, r));
      addresses.emplace_back(bytes.begin(), bytes.end());
    }
    impl->peers = PeersText(options.rank, addresses);
  } catch (const std::exception& e) {
    return absl::DeadlineExceededError(absl::StrFormat(
        "%s: cannot connect to the other ranks (Gloo, from %s) within %g s (is every rank "
        "started, with the same WORLD_SIZE, MASTER_ADDR and MASTER_PORT?): %s",
        where, address, options.timeout_seconds, Reason(e)));
  }
  return std::unique_ptr<ProcessGroup>(new ProcessGroup(options, std::move(impl)));
}

namespace {

// The one-line error of a collective that failed: which one, on which rank, after how
// long, and the peers it waited for (with two ranks: the peer).
absl::Status CollectiveError(const DistributedOptions& options, const std::string& peers,
                             const std::string& collective, const std::string& what,
                             std::chrono::steady_clock::time_point start,
                             const std::exception& e) {
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return absl::UnavailableError(absl::StrFormat(
      "rank %d of %d: %s of %s failed after %.1f s (timeout %g s): a peer rank died, hung "
      "or left the job (%s): %s",
      options.rank, options.world_size, collective, what, waited, options.timeout_seconds,
      peers, Reason(e)));
}

template <typename Launch>
absl::Status RunCollective(const DistributedOptions& options, const std::string& peers,
                           const std::string& collective, const std::string& what,
                           Launch launch) {
  const auto start = std::chrono::steady_clock::now();
  try {
    std::vector<c10::intrusive_ptr<c10d::Work>> works = launch();
    for (auto& work : works) work->wait();
  } catch (const std::exception& e) {
    return CollectiveError(options, peers, collective, what, start, e);
  }
  return absl::OkStatus();
}

}  // namespace

struct PendingCollective::State {
  DistributedOptions options;
  std::string peers;
  std::string collective;
  std::string what;
  std::chrono::steady_clock::time_point start;
  std::vector<at::Tensor> tensors;  // Kept alive until the collective finished.
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
};

PendingCollective::PendingCollective() = default;
PendingCollective::PendingCollective(std::unique_ptr<State> state) : state_(std::move(state)) {}
PendingCollective::PendingCollective(PendingCollective&&) noexcept = default;
PendingCollective& PendingCollective::operator=(PendingCollective&&) noexcept = default;
PendingCollective::~PendingCollective() = default;

absl::Status PendingCollective::Wait() {
  if (state_ == nullptr) return absl::OkStatus();
  std::unique_ptr<State> state = std::move(state_);
  try {
    for (auto& work : state->works) work->wait();
  } catch (const std::exception& e) {
    return CollectiveError(state->options, state->peers, state->collective, state->what,
                           state->start, e);
  }
  return absl::OkStatus();
}

namespace {

c10d::AllreduceOptions ReduceOptions(ReduceKind kind) {
  c10d::AllreduceOptions reduce;
  reduce.reduceOp = kind == ReduceKind::kSum   ? c10d::ReduceOp::SUM
                    : kind == ReduceKind::kMin ? c10d::ReduceOp::MIN
                                               : c10d::ReduceOp::MAX;
  return reduce;
}

}  // namespace

absl::StatusOr<PendingCollective> ProcessGroup::StartAllReduce(std::vector<at::Tensor> tensors,
                                                               ReduceKind kind,
                                                               const std::string& what) {
  auto state = std::make_unique<PendingCollective::State>();
  state->options = options_;
  state->peers = impl_->peers;
  state->collective = "all-reduce";
  state->what = what;
  state->start = std::chrono::steady_clock::now();
  state->tensors = std::move(tensors);
  const c10d::AllreduceOptions reduce = ReduceOptions(kind);
  try {
    for (at::Tensor& tensor : state->tensors) {
      std::vector<at::Tensor> one = {tensor};
      state->works.push_back(impl_->gloo->allreduce(one, reduce));
    }
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrFormat(
        "rank %d of %d: cannot start the all-reduce of %s (%s): %s", options_.rank,
        options_.world_size, what, impl_->peers, Reason(e)));
  }
  return PendingCollective(std::move(state));
}

absl::Status ProcessGroup::AllReduce(std::vector<at::Tensor>& tensors, ReduceKind kind,
                                     const std::string& what) {
  const c10d::AllreduceOptions reduce = ReduceOptions(kind);
  return RunCollective(options_, impl_->peers, "all-reduce", what, [&] {
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    for (at::Tensor& tensor : tensors) {
      std::vector<at::Tensor> one = {tensor};
      works.push_back(impl_->gloo->allreduce(one, reduce));
    }
    return works;
  });
}

absl::Status ProcessGroup::Broadcast(std::vector<at::Tensor>& tensors, int64_t root,
                                     const std::string& what) {
  c10d::BroadcastOptions broadcast;
  broadcast.rootRank = root;
  return RunCollective(options_, impl_->peers, "broadcast", what, [&] {
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    for (at::Tensor& tensor : tensors) {
      std::vector<at::Tensor> one = {tensor};
      works.push_back(impl_->gloo->broadcast(one, broadcast));
    }
    return works;
  });
}

absl::Status ProcessGroup::Barrier(const std::string& what) {
  return RunCollective(options_, impl_->peers, "barrier", what, [&] {
    return std::vector<c10::intrusive_ptr<c10d::Work>>{impl_->gloo->barrier()};
  });
}

}  // namespace compressor
