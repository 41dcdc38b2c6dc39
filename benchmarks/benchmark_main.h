// What every benchmark binary does around Google Benchmark: the start-up every program of
// ours needs (passive OpenMP waits, the reference-BLAS warning, the thread setting), and a
// console reporter that keeps each run's time so the binary can print ratios against a
// baseline measured in the same run.
//
//   class Ratios : public benchmarks::RatioReporter {
//     void PrintRatios() override {
//       std::printf("%.2fx\n", time("BM_Fp32/batch:1") / time("BM_Int8/batch:1"));
//     }
//   };
//   int main(int argc, char** argv) {
//     Ratios reporter;
//     return benchmarks::RunBenchmarks(argc, argv, &reporter);
//   }
#ifndef BENCHMARKS_BENCHMARK_MAIN_H_
#define BENCHMARKS_BENCHMARK_MAIN_H_

#include <benchmark/benchmark.h>

#include <map>
#include <string>
#include <vector>

namespace benchmarks {

// Console output as usual; after the last run, PrintRatios() with every run's adjusted
// real time (in the benchmark's unit) and counters at hand, keyed by benchmark name.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override;
  void Finalize() override;

 protected:
  virtual void PrintRatios() = 0;

  const std::map<std::string, double>& times() const { return times_; }
  // Time of `name`, 0 when it did not run (filtered out or failed).
  double time(const std::string& name) const;
  // Counter `counter` of benchmark `name`, 0 when absent.
  double counter(const std::string& name, const std::string& counter) const;

 private:
  std::map<std::string, double> times_;
  std::map<std::string, std::map<std::string, double>> counters_;
};

// Configures the process like our other programs, runs the benchmarks selected on the
// command line with `reporter` (the console reporter when null) and returns main's exit
// status (1 for unrecognised arguments).
int RunBenchmarks(int argc, char** argv, benchmark::BenchmarkReporter* reporter = nullptr);

}  // namespace benchmarks

#endif  // BENCHMARKS_BENCHMARK_MAIN_H_
