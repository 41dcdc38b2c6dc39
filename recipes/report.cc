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
#include "recipes/stage_model.h"
#include "recipes/svg_plot.h"

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

}  // namespace

absl::StatusOr<ModelLatency> MeasureLatencyMs(const std::string& model_dir, int64_t batch,
                                              int64_t seq, int64_t iterations) {
  ASSIGN_OR_RETURN(BuiltModel built, LoadStageModel(model_dir));
  models::PreTrainedModel& model = *built.model;
  model.eval();
  compressor::InferenceOptions options;  // fp32 stays fp32; INT8 Linears run INT8 kernels.
  if (absl::StatusOr<std::vector<std::string>> converted =
          compressor::ConvertForInference(model, options);
      !converted.ok()) {
    return absl::Status(converted.status().code(),
                        absl::StrCat(model_dir, ": ", converted.status().message()));
  }
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

absl::StatusOr<ReportFiles> WriteReport(const Recipe& recipe, const std::string& output_dir,
                                        bool progress) {
  if (!recipe.report) return absl::InvalidArgumentError("the recipe has no report section");
  const ReportSpec& spec = *recipe.report;
  // Every finished stage's result.
  std::map<std::string, Json> results;
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
    accuracy[0].push_back(absl::StrCat(group, " ret."));
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
        acc.push_back(Fixed(Number(g["metrics"], metric.key) * metric.scale, 2));
      }
      acc.push_back(Fixed(Number(g["retention"], g.value("metric", "")), 4));
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
  ReportFiles files;
  files.table = absl::StrCat("\n", title, "\n\n", RenderTable(accuracy, false), "\n",
                             RenderTable(efficiency, false), "\n", latency_note, "\nPaper: ",
                             kPaperSource, "\n");

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
  SvgChart retention_chart = Chart("Retention vs sparsity: this run and the paper's BERT-Base",
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
          const std::string name =
              absl::StrCat(group, " ", metric.label.substr(0, metric.label.find(' ')),
                           int8 ? " INT8" : "");
          by_metric[name].name = name;
          by_metric[name].markers = true;
          by_metric[name].points.emplace_back(x, Number(g["metrics"], metric.key) * metric.scale);
          retention_by_metric[name].name = name;
          retention_by_metric[name].markers = true;
          retention_by_metric[name].points.emplace_back(x, Number(g["retention"], metric.key));
        }
      }
      for (auto& [name, series] : by_metric) {
        std::sort(series.points.begin(), series.points.end());
        if (!series.points.empty()) metric_chart.series.push_back(series);
      }
      for (auto& [name, series] : retention_by_metric) {
        std::sort(series.points.begin(), series.points.end());
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
               {"rows", rows_json},
               {"stages", stages_json},
               {"plots", files.plots}};
  files.results_json = (fs::path(output_dir) / "results.json").string();
  RETURN_IF_ERROR(base::WriteStringToFileAtomically(files.results_json, json.dump(2) + "\n"));

  std::string md = absl::StrCat("# ", title, "\n\nRecipe `", recipe.source, "`, output `",
                                output_dir, "`; stages took ", Fixed(total_seconds / 60.0, 1),
                                " min in total.\n\n## Accuracy\n\n", RenderTable(accuracy, true),
                                "\n## Size and speed\n\n", RenderTable(efficiency, true), "\n",
                                latency_note, "\n\nPaper figures: ", kPaperSource,
                                ". Retention ratios (sparse / dense) are what a scaled-down "
                                "reproduction can compare.\n\n## Stages\n\n");
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

}  // namespace recipes
