#include "compressor/distributed/local_launcher.h"

#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace compressor {
namespace {

volatile sig_atomic_t g_stop_signal = 0;

void OnStopSignal(int signal) { g_stop_signal = signal; }

std::string Describe(int status) {
  if (WIFSIGNALED(status)) {
    return absl::StrCat("was killed by signal ", WTERMSIG(status), " (",
                        strsignal(WTERMSIG(status)), ")");
  }
  return absl::StrCat("exited with status ", WEXITSTATUS(status));
}

int ExitCode(int status) {
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

}  // namespace

bool IsLaunchedRank() {
  const char* rank = std::getenv("RANK");
  return rank != nullptr && *rank != '\0';
}

absl::StatusOr<int> FindFreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    const std::string error = std::strerror(errno);
    close(fd);
    return absl::InternalError(absl::StrCat("cannot find a free port on 127.0.0.1: ", error));
  }
  close(fd);
  return static_cast<int>(ntohs(address.sin_port));
}

absl::StatusOr<int> RunLocalRanks(const LocalLaunchOptions& options, int argc, char** argv) {
  if (options.nproc_per_node < 1 || options.nproc_per_node > 1024) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--nproc_per_node must be in [1, 1024], got ", options.nproc_per_node));
  }
  if (options.master_addr.empty()) {
    return absl::InvalidArgumentError("--master_addr is empty");
  }
  int64_t port = options.master_port;
  if (port <= 0) {
    const char* env = std::getenv("MASTER_PORT");
    if (env != nullptr && *env != '\0') {
      port = std::atoll(env);
    } else {
      absl::StatusOr<int> free_port = FindFreePort();
      if (!free_port.ok()) return free_port.status();
      port = *free_port;
    }
  }
  if (port < 1 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("master port must be in [1, 65535], got ", port));
  }
  int64_t threads = options.threads_per_rank;
  if (threads <= 0) {
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    threads = std::max<int64_t>(1, (cpus > 0 ? cpus : 1) / options.nproc_per_node);
  }
  const char* omp = std::getenv("OMP_NUM_THREADS");
  const bool omp_set = omp != nullptr && *omp != '\0';

  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  struct sigaction old_int {}, old_term {};
  sigaction(SIGINT, &action, &old_int);
  sigaction(SIGTERM, &action, &old_term);

  std::vector<pid_t> pids;
  std::vector<bool> running;
  std::vector<std::string> arguments = {"/proc/self/exe"};
  for (int i = 1; i < argc; ++i) arguments.push_back(argv[i]);
  std::vector<char*> child_argv;
  for (std::string& a : arguments) child_argv.push_back(a.data());
  child_argv.push_back(nullptr);
  auto stop_all = [&](int signal) {
    for (size_t r = 0; r < pids.size(); ++r) {
      if (running[r]) kill(pids[r], signal);
    }
  };
  for (int64_t rank = 0; rank < options.nproc_per_node; ++rank) {
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry = *e;
      bool replaced = false;
      for (const char* name : {"RANK=", "WORLD_SIZE=", "LOCAL_RANK=", "MASTER_ADDR=",
                               "MASTER_PORT="}) {
        replaced = replaced || entry.rfind(name, 0) == 0;
      }
      if (!replaced) env.push_back(entry);
    }
    env.push_back(absl::StrCat("RANK=", rank));
    env.push_back(absl::StrCat("WORLD_SIZE=", options.nproc_per_node));
    env.push_back(absl::StrCat("LOCAL_RANK=", rank));
    env.push_back(absl::StrCat("MASTER_ADDR=", options.master_addr));
    env.push_back(absl::StrCat("MASTER_PORT=", port));
    if (!omp_set) env.push_back(absl::StrCat("OMP_NUM_THREADS=", threads));
    std::vector<char*> envp;
    for (std::string& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_t pid = -1;
    const int error =
        posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, child_argv.data(), envp.data());
    if (error != 0) {
      stop_all(SIGTERM);
      for (pid_t p : pids) waitpid(p, nullptr, 0);
      sigaction(SIGINT, &old_int, nullptr);
      sigaction(SIGTERM, &old_term, nullptr);
      return absl::InternalError(
          absl::StrCat("cannot start rank ", rank, ": posix_spawn: ", std::strerror(error)));
    }
    pids.push_back(pid);
    running.push_back(true);
  }
  std::fprintf(stderr, "launcher: started %lld ranks on %s:%lld (OMP_NUM_THREADS=%s each)\n",
               static_cast<long long>(options.nproc_per_node), options.master_addr.c_str(),
               static_cast<long long>(port),
               omp_set ? omp : std::to_string(threads).c_str());

  using Clock = std::chrono::steady_clock;
  int job_status = 0;
  bool failed = false;
  bool terminated = false;
  Clock::time_point fail_time, term_time;
  int64_t remaining = options.nproc_per_node;
  while (remaining > 0) {
    for (size_t r = 0; r < pids.size(); ++r) {
      if (!running[r]) continue;
      int status = 0;
      const pid_t done = waitpid(pids[r], &status, WNOHANG);
      if (done == 0) continue;
      running[r] = false;
      --remaining;
      if (done < 0) continue;
      const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      if (!ok && !failed) {
        failed = true;
        job_status = ExitCode(status);
        fail_time = Clock::now();
        std::fprintf(stderr,
                     "launcher: rank %zu (pid %d) %s; the other ranks get %g s to report, then "
                     "are stopped\n",
                     r, static_cast<int>(pids[r]), Describe(status).c_str(),
                     options.grace_seconds);
      } else if (!ok) {
        std::fprintf(stderr, "launcher: rank %zu (pid %d) %s\n", r, static_cast<int>(pids[r]),
                     Describe(status).c_str());
      }
    }
    if (remaining == 0) break;
    if (g_stop_signal != 0 && !terminated) {
      std::fprintf(stderr, "launcher: %s received; stopping every rank\n",
                   strsignal(g_stop_signal));
      if (!failed) job_status = 128 + g_stop_signal;
      failed = true;
      stop_all(SIGTERM);
      terminated = true;
      term_time = Clock::now();
    }
    const auto now = Clock::now();
    if (failed && !terminated &&
        std::chrono::duration<double>(now - fail_time).count() > options.grace_seconds) {
      std::fprintf(stderr, "launcher: stopping the %lld remaining rank(s)\n",
                   static_cast<long long>(remaining));
      stop_all(SIGTERM);
      terminated = true;
      term_time = now;
    }
    if (terminated && std::chrono::duration<double>(now - term_time).count() > 5.0) {
      stop_all(SIGKILL);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  return job_status;
}

}  // namespace compressor
