#include "recipes/report.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/atomic_file.h"
#include "base/status_macros.h"
#include "compressor/deploy/inference_linear.h"
#include "compressor/deploy/latency.h"
#include "models/pretrained_model.h"
#include <nlohmann/json.hpp>
#include "recipes/report_stats.h"
#include "recipes/stage_model.h"
#include "recipes/svg_plot.h"
#include "recipes/tasks/example_scores.h"

namespace recipes {

const char kPaperSource[] =
    "Zafrir et al., \"Prune Once for All: Sparse Pre-Trained Language Models\" (arXiv "
    "2111.05754, 2021), dev-set two-seed means; the dense BERT-Base row as quoted by oBERT";

const std::vector<PaperRow>& PaperRows() {
  static const std::vector<PaperRow>* const rows = [] {
    const double nan = std::nan("");
    return new std::vector<PaperRow>{
        {"BERT-Base dense", nan, 88.54, 84.54},
        {"85% BERT-Base", 81.10, 88.42, 82.71},
        {"90% BERT-Base", 79.83, 87.25, 81.45},
        // QAT rows: the paper publishes MNLI only (SQuAD not found).
        {"85% BERT-Base + QAT (INT8)", nan, nan, 81.4},
        {"90% BERT-Base + QAT (INT8)", nan, nan, nan},
    };
  }();
  return *rows;
}

const PaperRow* FindPaperRow(const std::string& name) {
  for (const PaperRow& row : PaperRows()) {
    if (row.name == name) return &row;
  }
  return nullptr;
}

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

double Number(const Json& json, const std::string& key) {
  if (!json.is_object() || !json.contains(key) || !json[key].is_number()) return std::nan("");
  return json[key].get<double>();
}

Json Finite(double value) { return std::isfinite(value) ? Json(value) : Json(nullptr); }

std::string Fixed(double value, int decimals) {
  return std::isfinite(value) ? absl::StrFormat("%.*f", decimals, value) : "-";
}

// The metrics a task reports in the table, in order, with display names and scale to %.
struct ShownMetric {
  std::string key;
  std::string label;
  double scale;  // Multiplies the stored value for display (fractions -> %).
};
std::vector<ShownMetric> MetricsOf(const Json& result) {
  const std::string task = result.value("task", "");
  if (task == "question_answering") return {{"exact_match", "EM", 1.0}, {"f1", "F1", 1.0}};
  if (task == "classification") return {{"accuracy", "acc (%)", 100.0}};
  if (task == "masked_lm") return {{"mlm_accuracy", "MLM acc (%)", 100.0}};
  const std::string metric = result.value("metric", "");
  return {{metric, metric, 1.0}};
}

// The pruning stages (gradual pruning, not pattern lock): their logs become plots.
std::vector<std::string> PruningStages(const Recipe& recipe) {
  std::vector<std::string> stages;
  for (const StageSpec& stage : recipe.stages) {
    bool prunes = false;
    for (const ShotSpec& shot : stage.shots) {
      for (const ComponentSpec& component : shot.components) {
        prunes |= component.kind == "pruning" && component.pruning.pruning_type != "pattern_lock";
      }
    }
    if (prunes) stages.push_back(stage.name);
  }
  return stages;
}

// (step, value) of `key` from every training line of the stage's metrics.jsonl files,
// sorted by step (a resumed run's repeated steps keep their last value).
std::vector<std::pair<double, double>> LoggedSeries(const std::string& stage_dir,
                                                    const std::string& key, double scale) {
  std::map<int64_t, double> by_step;
  std::error_code error;
  const fs::path root = fs::path(stage_dir) / "checkpoints";
  if (!fs::exists(root, error)) return {};
  for (fs::recursive_directory_iterator it(root, error), end; !error && it != end;
       it.increment(error)) {
    if (it->path().filename() != "metrics.jsonl") continue;
    absl::StatusOr<std::string> text = base::ReadFileToString(it->path().string());
    if (!text.ok()) continue;
    size_t begin = 0;
    while (begin < text->size()) {
      size_t stop = text->find('\n', begin);
      if (stop == std::string::npos) stop = text->size();
      const Json line =
          Json::parse(text->substr(begin, stop - begin), nullptr, /*allow_exceptions=*/false);
      begin = stop + 1;
      if (!line.is_object() || line.contains("eval") || !line.contains("step")) continue;
      const double value = Number(line, key);
      if (std::isfinite(value)) by_step[line["step"].get<int64_t>()] = value * scale;
    }
  }
  std::vector<std::pair<double, double>> points;
  for (const auto& [step, value] : by_step) points.emplace_back(double(step), value);
  return points;
}

// A chart with a title and axis labels (ranges from the data).
SvgChart Chart(const std::string& title, const std::string& x_label, const std::string& y_label) {
  SvgChart chart;
  chart.title = title;
  chart.x_label = x_label;
  chart.y_label = y_label;
  return chart;
}

SvgSeries Series(const std::string& name, std::vector<std::pair<double, double>> points,
                 bool markers) {
  SvgSeries series;
  series.name = name;
  series.points = std::move(points);
  series.markers = markers;
  return series;
}

std::string RenderTable(const std::vector<std::vector<std::string>>& rows, bool markdown) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (size_t r = 0; r < rows.size(); ++r) {
    std::vector<std::string> cells;
    for (size_t i = 0; i < widths.size(); ++i) {
      std::string cell = i < rows[r].size() ? rows[r][i] : "";
      cell.resize(widths[i], ' ');
      cells.push_back(cell);
    }
    absl::StrAppend(&out, markdown ? "| " : "", absl::StrJoin(cells, markdown ? " | " : "  "),
                    markdown ? " |" : "", "\n");
    if (r == 0) {
      std::vector<std::string> rules;
      for (size_t width : widths) rules.push_back(std::string(std::max<size_t>(width, 3), '-'));
      absl::StrAppend(&out, markdown ? "| " : "", absl::StrJoin(rules, markdown ? " | " : "  "),
                      markdown ? " |" : "", "\n");
    }
  }
  return out;
}

// A stage's eval_scores.json, when it exists and belongs to its result.json: the mean of each
// score equals the stored metric (a file left from another run does not). Old runs have none.
std::optional<ExampleScores> ReadExampleScores(const std::string& stage_dir, const Json& result) {
  const std::string path = (fs::path(stage_dir) / kEvalScoresFile).string();
  absl::StatusOr<std::string> text = base::ReadFileToString(path);
  if (!text.ok()) return std::nullopt;
  absl::StatusOr<ExampleScores> scores = ParseExampleScores(*text, path);
  if (!scores.ok() || scores->empty()) return std::nullopt;
  const Json metrics = result.value("metrics_after", Json::object());
  for (const auto& [key, values] : scores->scores) {
    double sum = 0;
    for (double value : values) sum += value;
    const double metric = Number(metrics, key);
    if (!(std::fabs(sum / values.size() - metric) <= 1e-6 * std::max(1.0, std::fabs(metric)))) {
      return std::nullopt;
    }
  }
  return *std::move(scores);
}

Json IntervalJson(const std::optional<Interval>& ci) {
  return ci ? Json::array({ci->lo, ci->hi}) : Json(nullptr);
}

// Per metric key with per-example scores: {"metric": [lo, hi], "retention": [lo, hi]} (null
// where not computable), the retention resampled paired with the baseline's scores.
Json Intervals(const ExampleScores* row, const ExampleScores* base, const BootstrapOptions& options) {
  Json out = Json::object();
  if (row == nullptr || options.resamples < 1) return out;
  for (const auto& [key, values] : row->scores) {
    std::optional<Interval> retention;
    if (base != nullptr && base->scores.count(key)) {
      // Aligned to the row's order, so the same indices pick the same questions in both.
      if (std::optional<std::vector<double>> base_values =
              AlignToIds(base->ids, base->scores.at(key), row->ids)) {
        retention = PairedBootstrapRatioCi(values, *base_values, options);
      }
    }
    out[key] = {{"metric", IntervalJson(BootstrapMeanCi(values, options))},
                {"retention", IntervalJson(retention)}};
  }
  return out;
}

// The share of the most frequent label: the accuracy of always predicting it.
double MajorityRate(const std::vector<int64_t>& labels) {
  if (labels.empty()) return std::nan("");
  std::map<int64_t, int64_t> counts;
  int64_t most = 0;
  for (int64_t label : labels) most = std::max(most, ++counts[label]);
  return double(most) / double(labels.size());
}

// Bytes of the prunable (encoder) Linear weights from the stage's nonzero counts: dense fp32
// against the compact sparse INT8 form compressor/deploy/sparse_format.h stores (1-bit keep
// mask, int8 nonzero values, an fp32 scale per layer; biases, fp32 in both, left out).
constexpr char kEncoderBytesFormula[] =
    "dense = 4 B x weights; sparse INT8 = 1 B x nonzeros (int8 values) + ceil(weights / 8) B "
    "(1-bit keep mask, as compressor/deploy/sparse_format.h stores it) + 4 B per layer "
    "(per-tensor fp32 weight scale), from each saved model's measured nonzero counts";
Json EncoderLinearBytes(const Json& result) {
  const int64_t weights = result.value("linear_weights", int64_t{0});
  const int64_t zeros = result.value("zero_weights", int64_t{0});
  const int64_t layers = result.value("prunable_linears", int64_t{0});
  if (weights <= 0) return nullptr;
  const int64_t dense = 4 * weights;
  const int64_t sparse = (weights - zeros) + (weights + 7) / 8 + 4 * layers;
  return {{"weights", weights},          {"nonzeros", weights - zeros},
          {"layers", layers},            {"dense_fp32_bytes", dense},
          {"sparse_int8_bytes", sparse}, {"ratio", double(dense) / double(sparse)}};
}

// The paper's retention to hold this group's judging metric against: SQuAD F1 for QA, MNLI-m
// accuracy for classification (another task: the nearest published figure). Null otherwise.
Json PaperRetention(const std::string& task, const std::string& metric,
                    const std::string& paper_row) {
  const PaperRow* paper = FindPaperRow(paper_row);
  const PaperRow& dense = PaperRows()[0];
  if (paper == nullptr) return nullptr;
  double value = std::nan("");
  std::string what;
  if (task == "question_answering" && metric == "f1") {
    value = paper->squad_f1 / dense.squad_f1;
    what = paper_row + " SQuAD v1.1 F1";
  } else if (task == "classification" && metric == "accuracy") {
    value = paper->mnli_m / dense.mnli_m;
    what = paper_row + " MNLI-m accuracy, another task";
  }
  if (!std::isfinite(value)) return nullptr;
  return {{"value", value}, {"what", what}};
}

// For an INT8 row's stage: the fp32 row it was quantized from, found by following the
// stages' from_stage chain to a stage some fp32 row shows in the same group. "" if none.
std::string Fp32RowOf(const Recipe& recipe, const std::string& group, const std::string& stage,
                      const std::map<std::string, Json>& results) {
  std::map<std::string, std::string> fp32_row_of_stage;
  for (const ReportRow& row : recipe.report->rows) {
    auto it = row.stages.find(group);
    if (it == row.stages.end() || !results.count(it->second)) continue;
    if (!results.at(it->second).value("int8", false)) fp32_row_of_stage[it->second] = row.name;
  }
  std::string current = stage;
  for (size_t hops = 0; hops < recipe.stages.size(); ++hops) {
    const StageSpec* spec = nullptr;
    for (const StageSpec& candidate : recipe.stages) {
      if (candidate.name == current) spec = &candidate;
    }
    if (spec == nullptr || spec->model.from_stage.empty()) return "";
    current = spec->model.from_stage;
    if (auto it = fp32_row_of_stage.find(current); it != fp32_row_of_stage.end()) return it->second;
  }
  return "";
}

std::string WithInterval(const std::string& value, const Json& ci, double scale, int decimals) {
  if (!ci.is_array() || ci.size() != 2) return value;
  return absl::StrCat(value, " [", Fixed(ci[0].get<double>() * scale, decimals), ", ",
                      Fixed(ci[1].get<double>() * scale, decimals), "]");
}

}  // namespace

absl::StatusOr<ModelLatency> MeasureLatencyMs(const std::string& model_dir, int64_t batch,
                                              int64_t seq, int64_t iterations) {
  // fp32 stays fp32; INT8 Linears run INT8 kernels.
  ASSIGN_OR_RETURN(BuiltModel built, LoadDeployModel(model_dir));
  models::PreTrainedModel& model = *built.model;
  const models::BertConfig& config = model.config();
  seq = std::min(seq, config.max_position_embeddings);
  torch::manual_seed(0);
  models::ModelInput input;
  const int64_t low = std::min<int64_t>(1000, config.vocab_size - 1);
  input.input_ids = at::randint(low, config.vocab_size, {batch, seq}, at::kLong);
  input.attention_mask = at::ones({batch, seq}, at::kLong);
  if (config.type_vocab_size > 0) input.token_type_ids = at::zeros({batch, seq}, at::kLong);
  ModelLatency latency;
  latency.kernels = compressor::CountKernels(model);
  // INT8 Linears that requantize their output have no deploy kernel and keep running as
  // Int8LinearModules; counted so the column accounts for every INT8 Linear.
  if (const int64_t left = CountInt8Linears(model); left > 0) {
    latency.kernels["int8_requantizing"] = static_cast<int>(left);
  }
  try {
    at::NoGradGuard no_grad;
    latency.p50_ms =
        compressor::TimeForward([&] { model.forward(input); }, /*warmup=*/3, iterations).p50_ms;
  } catch (const c10::Error& error) {
    return absl::InvalidArgumentError(
        absl::StrCat(model_dir, ": forward failed: ", error.what_without_backtrace()));
  }
  return latency;
}

namespace {

// WriteReport without its guard against result.json files whose fields have another type.
absl::StatusOr<ReportFiles> BuildReport(const Recipe& recipe, const std::string& output_dir,
                                        bool progress) {
  if (!recipe.report) return absl::InvalidArgumentError("the recipe has no report section");
  const ReportSpec& spec = *recipe.report;
  // Every finished stage's result.
  std::map<std::string, Json> results;
  std::map<std::string, ExampleScores> example_scores;  // Stages with eval_scores.json.
  Json stages_json = Json::object();
  double total_seconds = 0;
  for (const StageSpec& stage : recipe.stages) {
    const std::string path = (fs::path(output_dir) / stage.name / "result.json").string();
    absl::StatusOr<std::string> text = base::ReadFileToString(path);
    if (!text.ok()) continue;
    Json json = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (!json.is_object()) return absl::InvalidArgumentError(absl::StrCat(path, ": not JSON"));
    total_seconds += json.value("seconds", 0.0);
    stages_json[stage.name] = json;
    if (std::optional<ExampleScores> scores =
            ReadExampleScores((fs::path(output_dir) / stage.name).string(), json)) {
      example_scores[stage.name] = *std::move(scores);
    }
    results[stage.name] = std::move(json);
  }
  // Column groups in order of first appearance.
  std::vector<std::string> groups;
  for (const ReportRow& row : spec.rows) {
    for (const auto& [group, stage] : row.stages) {
      if (std::find(groups.begin(), groups.end(), group) == groups.end()) groups.push_back(group);
      if (!results.count(stage)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "report row '", row.name, "' (", group, "): stage '", stage,
            "' has no result.json under ", output_dir, "; run it first"));
      }
    }
  }
  // Latency and size of each row model.
  std::map<std::string, ModelLatency> latency;  // By model_dir.
  Json rows_json = Json::array();
  const ReportRow* baseline = nullptr;
  for (const ReportRow& row : spec.rows) {
    if (row.name == spec.baseline_row) baseline = &row;
  }
  if (!spec.baseline_row.empty() && baseline == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("report baseline_row '", spec.baseline_row, "' names no row"));
  }
  BootstrapOptions bootstrap;
  bootstrap.resamples = spec.bootstrap_resamples;
  bootstrap.seed = spec.bootstrap_seed;
  auto value_of = [&](const ReportRow& row, const std::string& group, const std::string& key) {
    auto it = row.stages.find(group);
    if (it == row.stages.end()) return std::nan("");
    return Number(results[it->second].value("metrics_after", Json::object()), key);
  };
  for (const ReportRow& row : spec.rows) {
    Json row_json = {{"name", row.name}, {"paper_row", row.paper_row}};
    Json groups_json = Json::object();
    for (const auto& [group, stage] : row.stages) {
      const Json& result = results[stage];
      const std::string model_dir = result.value("model_dir", "");
      if (!latency.count(model_dir)) {
        if (progress) {
          std::fprintf(stderr, "[%s] report: timing %s (%s)\n", recipe.name.c_str(), stage.c_str(),
                       model_dir.c_str());
        }
        absl::StatusOr<ModelLatency> measured = MeasureLatencyMs(
            model_dir, spec.latency_batch_size, spec.latency_seq_length, spec.latency_iterations);
        if (!measured.ok()) return measured.status();
        latency[model_dir] = *measured;
      }
      Json metrics = result.value("metrics_after", Json::object());
      Json retention = Json::object();
      if (baseline != nullptr) {
        for (const auto& [key, value] : metrics.items()) {
          const double base = value_of(*baseline, group, key);
          if (value.is_number() && std::isfinite(base) && base != 0) {
            retention[key] = value.get<double>() / base;
          }
        }
      }
      groups_json[group] = {{"stage", stage},
                            {"task", result.value("task", "")},
                            {"metric", result.value("metric", "")},
                            {"metrics", metrics},
                            {"retention", retention},
                            {"sparsity", result.value("sparsity", 0.0)},
                            {"int8", result.value("int8", false)},
                            {"int8_linears", result.value("int8_linears", 0)},
                            {"model_dir", model_dir},
                            {"model_bytes", ModelBytesOnDisk(model_dir)},
                            {"latency_ms_p50", latency[model_dir].p50_ms},
                            {"linear_kernels", latency[model_dir].kernels}};
      Json& g = groups_json[group];
      const std::string metric = g["metric"].get<std::string>();
      auto scores_of = [&](const std::string& name) -> const ExampleScores* {
        auto it = example_scores.find(name);
        return it == example_scores.end() ? nullptr : &it->second;
      };
      const ExampleScores* base_scores = nullptr;
      if (baseline != nullptr && baseline->stages.count(group)) {
        base_scores = scores_of(baseline->stages.at(group));
      }
      g["ci95"] = Intervals(scores_of(stage), base_scores, bootstrap);
      const Json no_interval = {{"metric", nullptr}, {"retention", nullptr}};
      const Json& own = g["ci95"].contains(metric) ? g["ci95"][metric] : no_interval;
      g["metric_ci95"] = own["metric"];
      g["retention_ci95"] = own["retention"];
      if (const ExampleScores* scores = scores_of(stage); scores && !scores->labels.empty()) {
        g["majority_rate"] = MajorityRate(scores->labels);
      }
      g["encoder_linear"] = EncoderLinearBytes(result);
      g["paper_retention"] = PaperRetention(g["task"].get<std::string>(), metric, row.paper_row);
      if (g["int8"].get<bool>()) g["fp32_row"] = Fp32RowOf(recipe, group, stage, results);
    }
    row_json["groups"] = groups_json;
    if (const PaperRow* paper = FindPaperRow(row.paper_row)) {
      const PaperRow* dense = FindPaperRow(PaperRows()[0].name);
      row_json["paper"] = {{"squad_em", Finite(paper->squad_em)},
                           {"squad_f1", Finite(paper->squad_f1)},
                           {"mnli_m", Finite(paper->mnli_m)},
                           {"squad_f1_retention", Finite(paper->squad_f1 / dense->squad_f1)},
                           {"mnli_m_retention", Finite(paper->mnli_m / dense->mnli_m)}};
    }
    rows_json.push_back(row_json);
  }

  // Tables.
  std::vector<std::vector<std::string>> accuracy = {{"Model"}};
  std::vector<std::vector<std::string>> efficiency = {{"Model"}};
  std::map<std::string, std::vector<ShownMetric>> shown;
  for (const std::string& group : groups) {
    for (const ReportRow& row : spec.rows) {
      if (auto it = row.stages.find(group); it != row.stages.end()) {
        shown[group] = MetricsOf(results[it->second]);
        break;
      }
    }
    for (const ShownMetric& metric : shown[group]) {
      accuracy[0].push_back(absl::StrCat(group, " ", metric.label));
    }
    accuracy[0].push_back(absl::StrCat(group, " ret. [95% CI]"));
    for (const char* column : {"sparsity", "size MB", "ms p50", "INT8 lin.", "kernels"}) {
      efficiency[0].push_back(absl::StrCat(group, " ", column));
    }
  }
  for (const char* column : {"paper row (BERT-Base)", "paper SQuAD EM/F1", "paper F1 ret.",
                             "paper MNLI-m", "paper MNLI-m ret."}) {
    accuracy[0].push_back(column);
  }
  for (size_t r = 0; r < spec.rows.size(); ++r) {
    const ReportRow& row = spec.rows[r];
    const Json& row_json = rows_json[r];
    std::vector<std::string> acc = {row.name};
    std::vector<std::string> eff = {row.name};
    for (const std::string& group : groups) {
      if (!row_json["groups"].contains(group)) {
        for (size_t i = 0; i <= shown[group].size(); ++i) acc.push_back("");
        for (int i = 0; i < 5; ++i) eff.push_back("");
        continue;
      }
      const Json& g = row_json["groups"][group];
      for (const ShownMetric& metric : shown[group]) {
        std::string cell = Fixed(Number(g["metrics"], metric.key) * metric.scale, 2);
        // The judging metric carries its interval (the others' are in results.json).
        if (metric.key == g.value("metric", "")) {
          cell = WithInterval(cell, g["metric_ci95"], metric.scale, 2);
        }
        acc.push_back(cell);
      }
      acc.push_back(WithInterval(Fixed(Number(g["retention"], g.value("metric", "")), 3),
                                 g["retention_ci95"], 1.0, 3));
      eff.push_back(Fixed(100.0 * g.value("sparsity", 0.0), 2) + "%");
      eff.push_back(Fixed(g.value("model_bytes", 0) / 1e6, 2));
      eff.push_back(Fixed(g.value("latency_ms_p50", 0.0), 2));
      eff.push_back(absl::StrCat(g.value("int8_linears", 0)));
      eff.push_back(compressor::KernelSummary(
          g.value("linear_kernels", Json::object()).get<std::map<std::string, int>>()));
    }
    if (row_json.contains("paper")) {
      const Json& paper = row_json["paper"];
      acc.push_back(row.paper_row);
      acc.push_back(absl::StrCat(Fixed(Number(paper, "squad_em"), 2), "/",
                                 Fixed(Number(paper, "squad_f1"), 2)));
      acc.push_back(Fixed(Number(paper, "squad_f1_retention"), 4));
      acc.push_back(Fixed(Number(paper, "mnli_m"), 2));
      acc.push_back(Fixed(Number(paper, "mnli_m_retention"), 4));
    } else {
      acc.insert(acc.end(), {row.paper_row.empty() ? "-" : row.paper_row, "-", "-", "-", "-"});
    }
    accuracy.push_back(acc);
    efficiency.push_back(eff);
  }
  // The headline size figure, per row and group.
  std::vector<std::vector<std::string>> encoder = {
      {"Model", "group", "Linear weights", "nonzeros", "dense fp32 MB", "sparse INT8 MB", "ratio"}};
  for (size_t r = 0; r < spec.rows.size(); ++r) {
    for (const std::string& group : groups) {
      if (!rows_json[r]["groups"].contains(group)) continue;
      const Json& size = rows_json[r]["groups"][group]["encoder_linear"];
      if (!size.is_object()) continue;
      encoder.push_back({spec.rows[r].name, group, absl::StrCat(size["weights"].get<int64_t>()),
                         absl::StrCat(size["nonzeros"].get<int64_t>()),
                         Fixed(size["dense_fp32_bytes"].get<double>() / 1e6, 3),
                         Fixed(size["sparse_int8_bytes"].get<double>() / 1e6, 3),
                         Fixed(size["ratio"].get<double>(), 2) + "x"});
    }
  }
  const std::string encoder_note = absl::StrFormat(
      "Encoder Linear weights (the Linears Prune Once for All prunes: embeddings, heads and "
      "pooler excluded), computed by formula, not from a written file: %s. At 90%% sparsity "
      "the formula gives 4 / (0.1 + 0.125) = %.1fx whatever the model's size. The paper's "
      "\"40x\" compression counts BERT-Large's encoder, not the model of this run.",
      kEncoderBytesFormula, 4.0 / (0.1 + 0.125));
  const std::string title = spec.title.empty() ? recipe.name : spec.title;
  const std::string latency_note = absl::StrFormat(
      "Latency: p50 of %d forward passes (after 3 warm-up) of the saved model (fp32 safetensors, "
      "or INT8 layers rebuilt from the INT8 file) with every Linear converted by "
      "compressor::ConvertForInference (per layer the faster of dense oneDNN and our sparse "
      "kernel, timed at load; 'kernels' counts the layers on each, int8_requantizing the INT8 "
      "Linears left on their own path), as benchmarks:model_latency runs it, batch %d x seq %d, %d threads. Retention: "
      "metric / the '%s' row's. Size: the weight file on disk.",
      spec.latency_iterations, spec.latency_batch_size, spec.latency_seq_length,
      at::get_num_threads(), spec.baseline_row);
  const std::string interval_note =
      spec.bootstrap_resamples > 0
          ? absl::StrFormat(
                "Intervals: 95%% percentile bootstrap over the dev examples (QA by question), "
                "%d resamples, seed %d; a retention's resamples are paired (the same examples "
                "for the row and the '%s' row). Rows whose stages have no %s (older runs), or "
                "whose baseline can resample to 0, have none.",
                spec.bootstrap_resamples, spec.bootstrap_seed, spec.baseline_row,
                kEvalScoresFile)
          : std::string("Intervals: off (report.bootstrap_resamples is 0).");
  const std::string shows = WhatThisRunShows(rows_json, groups, spec.baseline_row);
  ReportFiles files;
  files.table = absl::StrCat("\n", title, "\n\n", RenderTable(accuracy, false), "\n",
                             RenderTable(efficiency, false), "\n", RenderTable(encoder, false),
                             "\n", latency_note, "\n", interval_note, "\n", encoder_note,
                             "\nPaper: ", kPaperSource, "\n\nWhat this run shows: ", shows,
                             "\n");

  // Plots.
  const fs::path plots_dir = fs::path(output_dir) / "plots";
  std::error_code error;
  fs::create_directories(plots_dir, error);
  auto write_plot = [&](const std::string& name, const SvgChart& chart) -> absl::Status {
    const std::string path = (plots_dir / name).string();
    RETURN_IF_ERROR(base::WriteStringToFileAtomically(path, RenderSvg(chart)));
    files.plots.push_back(path);
    return absl::OkStatus();
  };
  const std::vector<std::string> pruning_stages = PruningStages(recipe);
  if (!pruning_stages.empty()) {
    SvgChart sparsity = Chart("Sparsity during gradual pruning", "training step", "sparsity (%)");
    SvgChart loss = Chart("Training loss of the pruning stages", "training step", "loss");
    for (const std::string& stage : pruning_stages) {
      const std::string dir = (fs::path(output_dir) / stage).string();
      sparsity.series.push_back(Series(stage, LoggedSeries(dir, "sparsity", 100.0), false));
      loss.series.push_back(Series(stage, LoggedSeries(dir, "loss", 1.0), false));
    }
    sparsity.y_min = 0;
    sparsity.y_max = 100;
    RETURN_IF_ERROR(write_plot("sparsity_over_steps.svg", sparsity));
    RETURN_IF_ERROR(write_plot("loss_over_steps.svg", loss));
  }
  SvgChart metric_chart = Chart("Task metric vs measured sparsity",
                                "sparsity of the Linear weights (%)", "metric (%: EM/F1, accuracy)");
  SvgChart retention_chart =
      Chart("Retention vs sparsity: this run (95% CI) and the paper's BERT-Base",
            "sparsity of the Linear weights (%)", "metric / dense metric");
  for (const std::string& group : groups) {
    for (bool int8 : {false, true}) {
      std::map<std::string, SvgSeries> by_metric;
      std::map<std::string, SvgSeries> retention_by_metric;
      for (const Json& row : rows_json) {
        if (!row["groups"].contains(group)) continue;
        const Json& g = row["groups"][group];
        if (g.value("int8", false) != int8) continue;
        const double x = 100.0 * g.value("sparsity", 0.0);
        for (const ShownMetric& metric : shown[group]) {
          std::pair<double, double> interval(std::nan(""), std::nan(""));
          if (g["ci95"].contains(metric.key) && g["ci95"][metric.key]["retention"].is_array()) {
            const Json& ci = g["ci95"][metric.key]["retention"];
            interval = {ci[0].get<double>(), ci[1].get<double>()};
          }
          const std::string name =
              absl::StrCat(group, " ", metric.label.substr(0, metric.label.find(' ')),
                           int8 ? " INT8" : "");
          by_metric[name].name = name;
          by_metric[name].markers = true;
          by_metric[name].points.emplace_back(x, Number(g["metrics"], metric.key) * metric.scale);
          retention_by_metric[name].name = name;
          retention_by_metric[name].markers = true;
          retention_by_metric[name].points.emplace_back(x, Number(g["retention"], metric.key));
          retention_by_metric[name].y_intervals.push_back(interval);
        }
      }
      for (auto& [name, series] : by_metric) {
        std::sort(series.points.begin(), series.points.end());
        if (!series.points.empty()) metric_chart.series.push_back(series);
      }
      for (auto& [name, series] : retention_by_metric) {
        // Sorted by sparsity with each point's interval.
        std::vector<std::pair<std::pair<double, double>, std::pair<double, double>>> sorted;
        for (size_t i = 0; i < series.points.size(); ++i) {
          sorted.emplace_back(series.points[i], series.y_intervals[i]);
        }
        std::sort(sorted.begin(), sorted.end(),
                  [](const auto& a, const auto& b) { return a.first < b.first; });
        series.points.clear();
        series.y_intervals.clear();
        for (const auto& [point, interval] : sorted) {
          series.points.push_back(point);
          series.y_intervals.push_back(interval);
        }
        if (!series.points.empty()) retention_chart.series.push_back(series);
      }
    }
  }
  const PaperRow& dense = PaperRows()[0];
  SvgSeries paper_f1 = Series("paper SQuAD F1", {}, true);
  SvgSeries paper_mnli = Series("paper MNLI-m", {}, true);
  for (const auto& [sparsity, name] : std::vector<std::pair<double, std::string>>{
           {0.0, "BERT-Base dense"}, {85.0, "85% BERT-Base"}, {90.0, "90% BERT-Base"}}) {
    const PaperRow* row = FindPaperRow(name);
    paper_f1.points.emplace_back(sparsity, row->squad_f1 / dense.squad_f1);
    paper_mnli.points.emplace_back(sparsity, row->mnli_m / dense.mnli_m);
  }
  retention_chart.series.push_back(paper_f1);
  retention_chart.series.push_back(paper_mnli);
  RETURN_IF_ERROR(write_plot("metric_vs_sparsity.svg", metric_chart));
  RETURN_IF_ERROR(write_plot("retention_vs_sparsity.svg", retention_chart));

  // results.json and results.md.
  Json json = {{"recipe", recipe.name},
               {"title", title},
               {"source", recipe.source},
               {"output_dir", output_dir},
               {"stages_seconds", total_seconds},
               {"latency", {{"batch_size", spec.latency_batch_size},
                            {"seq_length", spec.latency_seq_length},
                            {"iterations", spec.latency_iterations},
                            {"threads", at::get_num_threads()}}},
               {"baseline_row", spec.baseline_row},
               {"paper_source", kPaperSource},
               {"bootstrap", {{"resamples", spec.bootstrap_resamples},
                              {"seed", spec.bootstrap_seed},
                              {"level", bootstrap.level},
                              {"method", "percentile; retention paired with the baseline row"}}},
               {"encoder_bytes_formula", kEncoderBytesFormula},
               {"what_this_run_shows", shows},
               {"rows", rows_json},
               {"stages", stages_json},
               {"plots", files.plots}};
  files.results_json = (fs::path(output_dir) / "results.json").string();
  RETURN_IF_ERROR(base::WriteStringToFileAtomically(files.results_json, json.dump(2) + "\n"));

  std::string md = absl::StrCat("# ", title, "\n\nRecipe `", recipe.source, "`, output `",
                                output_dir, "`; stages took ", Fixed(total_seconds / 60.0, 1),
                                " min in total.\n\n## Accuracy\n\n", RenderTable(accuracy, true),
                                "\n## Size and speed\n\n", RenderTable(efficiency, true), "\n",
                                latency_note, "\n\n", interval_note, "\n\nPaper figures: ",
                                kPaperSource,
                                ". Retention ratios (sparse / dense) are what a scaled-down "
                                "reproduction can compare.\n\n## Encoder size\n\n",
                                RenderTable(encoder, true), "\n", encoder_note,
                                "\n\n## What this run shows\n\n", shows,
                                "\n\n## Stages\n\n");
  std::vector<std::vector<std::string>> stage_rows = {
      {"stage", "task", "steps", "seconds", "metrics before", "metrics after", "sparsity", "INT8"}};
  for (const StageSpec& stage : recipe.stages) {
    if (!results.count(stage.name)) continue;
    const Json& r = results[stage.name];
    int64_t steps = r.value("training", Json::object()).value("steps", 0);
    for (const Json& shot : r.value("shots", Json::array())) steps += shot.value("steps", 0);
    auto metrics_text = [](const Json& metrics) {
      std::vector<std::string> parts;
      for (const auto& [key, value] : metrics.items()) {
        if (value.is_number()) parts.push_back(absl::StrFormat("%s %.4g", key, value.get<double>()));
      }
      return parts.empty() ? std::string("-") : absl::StrJoin(parts, ", ");
    };
    stage_rows.push_back({stage.name, r.value("task", ""), absl::StrCat(steps),
                          Fixed(r.value("seconds", 0.0), 1),
                          metrics_text(r.value("metrics_before", Json::object())),
                          metrics_text(r.value("metrics_after", Json::object())),
                          Fixed(100.0 * r.value("sparsity", 0.0), 2) + "%",
                          absl::StrCat(r.value("int8_linears", 0))});
  }
  absl::StrAppend(&md, RenderTable(stage_rows, true), "\n## Plots\n\n");
  for (const std::string& plot : files.plots) {
    const std::string name = fs::path(plot).filename().string();
    absl::StrAppend(&md, "![", name, "](plots/", name, ")\n");
  }
  files.results_md = (fs::path(output_dir) / "results.md").string();
  RETURN_IF_ERROR(base::WriteStringToFileAtomically(files.results_md, md));
  return files;
}

}  // namespace

absl::StatusOr<ReportFiles> WriteReport(const Recipe& recipe, const std::string& output_dir,
                                        bool progress) {
  // The report reads many result.json fields with nlohmann's value() / get(), which throw when
  // a field has another type ({"seconds": "x"}); one guard here covers every such read.
  try {
    return BuildReport(recipe, output_dir, progress);
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        output_dir, ": a stage's result.json or eval_scores.json is malformed: ", e.what()));
  }
}

}  // namespace recipes
