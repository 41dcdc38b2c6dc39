// The final table of a recipe run (its `report:` section): per row and column group the
// stage's task metrics, measured sparsity, model size on disk and inference latency of the
// saved model (through the deployment path: compressor::ConvertForInference), retention ratios against the baseline row, and beside them the published
// Prune Once for All BERT-Base rows with their own retention ratios. Written as
// results.json (machine-readable), results.md (human-readable) and SVG plots (sparsity and
// loss over the pruning stages' steps, metric vs sparsity) under the output directory.
//
//   ASSIGN_OR_RETURN(ReportFiles files, WriteReport(recipe, recipe.output_dir, true));
//   std::cout << files.table;
#ifndef RECIPES_REPORT_H_
#define RECIPES_REPORT_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "recipes/recipe.h"

namespace recipes {

// One published row (dev-set two-seed means); NaN where the paper gives no figure.
struct PaperRow {
  std::string name;  // What ReportRow::paper_row names, e.g. "85% BERT-Base".
  double squad_em;   // SQuAD v1.1 exact match.
  double squad_f1;   // SQuAD v1.1 F1.
  double mnli_m;     // MNLI matched accuracy (%).
};

// Where PaperRows() come from.
extern const char kPaperSource[];

// The paper's BERT-Base rows (dense as quoted by oBERT; 85% and 90% Prune OFA; 85% + QAT).
const std::vector<PaperRow>& PaperRows();
// The row named `name`, or null.
const PaperRow* FindPaperRow(const std::string& name);

struct ReportFiles {
  std::string results_json;        // <output_dir>/results.json
  std::string results_md;          // <output_dir>/results.md
  std::vector<std::string> plots;  // <output_dir>/plots/*.svg
  std::string table;               // The table as printed (plain text).
};

// Reads every stage's result.json, measures the row models' size and latency (loading each
// saved model, INT8 layers included; p50 of latency_iterations forwards after warm-up), and
// writes the report files. Fails, naming the stage, when a row's stage has no result.
absl::StatusOr<ReportFiles> WriteReport(const Recipe& recipe, const std::string& output_dir,
                                        bool progress);

struct ModelLatency {
  double p50_ms = 0;                   // Median of the timed forward passes.
  // Linear kernel name -> layers (compressor/deploy), plus "int8_requantizing": INT8 Linears
  // that requantize their output and so stay Int8LinearModules.
  std::map<std::string, int> kernels;
};

// Median time of `iterations` forward passes (compressor::TimeForward, after 3 warm-up passes)
// of the model saved in `model_dir` on a [batch, seq] input of ids, run the way it is deployed:
// every Linear converted by compressor::ConvertForInference (per layer the faster of dense
// oneDNN and the sparse kernels, timed at conversion; fp32 Linears stay fp32, INT8 ones INT8),
// as benchmarks:model_latency does.
absl::StatusOr<ModelLatency> MeasureLatencyMs(const std::string& model_dir, int64_t batch,
                                              int64_t seq, int64_t iterations);

}  // namespace recipes

#endif  // RECIPES_REPORT_H_
