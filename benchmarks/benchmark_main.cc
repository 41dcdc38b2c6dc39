#include "benchmarks/benchmark_main.h"

#include <cstdio>

#include "base/blas_check.h"
#include "base/cli.h"

namespace benchmarks {

void RatioReporter::ReportRuns(const std::vector<Run>& runs) {
  for (const Run& run : runs) {
    if (run.error_occurred) continue;
    const std::string name = run.benchmark_name();
    times_[name] = run.GetAdjustedRealTime();
    for (const auto& [counter, value] : run.counters) counters_[name][counter] = value.value;
  }
  ConsoleReporter::ReportRuns(runs);
}

void RatioReporter::Finalize() {
  ConsoleReporter::Finalize();
  PrintRatios();
  std::fflush(stdout);
}

double RatioReporter::time(const std::string& name) const {
  const auto it = times_.find(name);
  return it == times_.end() ? 0.0 : it->second;
}

double RatioReporter::counter(const std::string& name, const std::string& counter) const {
  const auto it = counters_.find(name);
  if (it == counters_.end()) return 0.0;
  const auto value = it->second.find(counter);
  return value == it->second.end() ? 0.0 : value->second;
}

int RunBenchmarks(int argc, char** argv, benchmark::BenchmarkReporter* reporter) {
  base::UsePassiveOpenMpWaits(argc, argv);
  base::WarnIfReferenceBlas();
  const int threads = base::ConfigureThreads();
  std::printf("CPU: %s, %d threads; BLAS: %s\n", base::CpuModelName().c_str(), threads,
              base::BlasDescription().c_str());
  std::fflush(stdout);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  if (reporter == nullptr) {
    benchmark::RunSpecifiedBenchmarks();
  } else {
    benchmark::RunSpecifiedBenchmarks(reporter);
  }
  benchmark::Shutdown();
  return 0;
}

}  // namespace benchmarks
