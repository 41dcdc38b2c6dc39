#include "datasets/glue/glue.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/atomic_file.h"
#include "base/status_macros.h"
#include "models/tokenizers/model_inputs.h"

namespace datasets {
namespace {

using Json = nlohmann::json;

// A row before its label is interpreted, so TSV and JSONL share the label handling.
struct RawRow {
  std::string text;
  std::optional<std::string> text_pair;
  std::optional<std::string> label;    // As written (JSON numbers: their decimal form).
  std::optional<double> label_number;  // JSON numbers, kept exact for regression.
  int64_t line = 0;
};

struct RawFile {
  std::vector<RawRow> rows;
  bool has_labels = false;
};

// Header names to read from a TSV file; an empty name means "not wanted".
struct TsvColumns {
  std::string text;
  std::string text_pair;
  bool text_pair_required = false;
  std::string label;
};

const std::vector<GlueTask>& GlueTasks() {
  // Column names as in the GLUE distribution; label lists as Hugging Face's glue processors.
  static const auto* const kTasks = new std::vector<GlueTask>{
      {"sst-2", "sentence", "", "label", {"0", "1"}, false},
      {"mnli",
       "sentence1",
       "sentence2",
       "gold_label",
       {"contradiction", "entailment", "neutral"},
       false},
      {"qqp", "question1", "question2", "is_duplicate", {"0", "1"}, false},
      {"qnli", "question", "sentence", "label", {"entailment", "not_entailment"}, false},
      {"mrpc", "#1 String", "#2 String", "Quality", {"0", "1"}, false},
      {"rte", "sentence1", "sentence2", "label", {"entailment", "not_entailment"}, false},
      {"wnli", "sentence1", "sentence2", "label", {"0", "1"}, false},
      {"sts-b", "sentence1", "sentence2", "score", {}, true},
  };
  return *kTasks;
}

// Hugging Face datasets' config names and the mismatched MNLI name, to the legacy names.
absl::string_view CanonicalTaskName(absl::string_view name) {
  if (name == "sst2") return "sst-2";
  if (name == "stsb") return "sts-b";
  if (name == "mnli_matched") return "mnli";
  if (name == "mnli_mismatched") return "mnli-mm";
  return name;
}

std::string ShowHeader(const std::vector<absl::string_view>& header) {
  return absl::StrCat("[", absl::StrJoin(header, ", "), "]");
}

// Splits into lines, dropping a UTF-8 byte order mark and each line's trailing '\r' (files
// saved by Windows editors), which would otherwise hide the first column's name.
std::vector<absl::string_view> SplitLines(absl::string_view contents) {
  if (absl::StartsWith(contents, "\xEF\xBB\xBF")) contents.remove_prefix(3);
  std::vector<absl::string_view> lines = absl::StrSplit(contents, '\n');
  for (absl::string_view& line : lines) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  }
  return lines;
}

absl::StatusOr<RawFile> ParseTsv(const std::string& path, absl::string_view contents,
                                 const TsvColumns& columns) {
  const std::vector<absl::string_view> lines = SplitLines(contents);
  if (lines.empty() || lines[0].empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ":1: expected a header row of tab-separated column names"));
  }
  const std::vector<absl::string_view> header = absl::StrSplit(lines[0], '\t');
  auto find_column = [&](const std::string& name) -> std::optional<size_t> {
    auto it = std::find(header.begin(), header.end(), name);
    if (it == header.end()) return std::nullopt;
    return static_cast<size_t>(it - header.begin());
  };
  auto missing = [&](const std::string& name) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": no column \"", name, "\" in header ", ShowHeader(header)));
  };
  const std::optional<size_t> text_column = find_column(columns.text);
  if (!text_column) return missing(columns.text);
  std::optional<size_t> pair_column;
  if (!columns.text_pair.empty()) {
    pair_column = find_column(columns.text_pair);
    if (!pair_column && columns.text_pair_required) return missing(columns.text_pair);
  }
  std::optional<size_t> label_column;
  if (!columns.label.empty()) label_column = find_column(columns.label);

  RawFile file;
  file.has_labels = label_column.has_value();
  for (size_t i = 1; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;  // The final newline, or stray blank lines.
    const int64_t line_number = static_cast<int64_t>(i) + 1;
    const std::vector<absl::string_view> fields = absl::StrSplit(lines[i], '\t');
    if (fields.size() != header.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line_number, ": expected ", header.size(),
                       " tab-separated fields as in the header, got ", fields.size()));
    }
    RawRow row;
    row.line = line_number;
    row.text = std::string(fields[*text_column]);
    if (pair_column) row.text_pair = std::string(fields[*pair_column]);
    if (label_column) row.label = std::string(fields[*label_column]);
    file.rows.push_back(std::move(row));
  }
  return file;
}

std::string ShowJson(const Json& value) {
  std::string shown = value.dump();
  if (shown.size() > 60) shown = shown.substr(0, 57) + "...";
  return shown;
}

absl::StatusOr<RawFile> ParseJsonl(const std::string& path, absl::string_view contents) {
  const std::vector<absl::string_view> lines = SplitLines(contents);
  RawFile file;
  int64_t first_line = 0;  // Line of the first record, which decides whether labels exist.
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    const int64_t line_number = static_cast<int64_t>(i) + 1;
    const std::string where = absl::StrCat(path, ":", line_number, ": ");
    Json object;
    try {
      object = Json::parse(lines[i].begin(), lines[i].end());
    } catch (const Json::exception& e) {
      return absl::InvalidArgumentError(absl::StrCat(where, "not valid JSON: ", e.what()));
    }
    if (!object.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "expected a JSON object, got ", ShowJson(object)));
    }
    RawRow row;
    row.line = line_number;
    auto text = object.find("text");
    if (text == object.end() || !text->is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "field \"text\" must be a string, got ",
                       text == object.end() ? std::string("nothing") : ShowJson(*text)));
    }
    row.text = text->get<std::string>();
    auto pair = object.find("text_pair");
    if (pair != object.end() && !pair->is_null()) {
      if (!pair->is_string()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, "field \"text_pair\" must be a string, got ", ShowJson(*pair)));
      }
      row.text_pair = pair->get<std::string>();
    }
    auto label = object.find("label");
    const bool has_label = label != object.end() && !label->is_null();
    if (has_label) {
      if (label->is_string()) {
        row.label = label->get<std::string>();
      } else if (label->is_number()) {
        const double number = label->get<double>();
        row.label_number = number;
        // 1 and 1.0 name the same class.
        const bool integral_float =
            !label->is_number_integer() && std::abs(number) < 1e15 && number == std::floor(number);
        row.label = integral_float ? std::to_string(static_cast<int64_t>(number)) : label->dump();
      } else {
        return absl::InvalidArgumentError(absl::StrCat(
            where, "field \"label\" must be a string or a number, got ", ShowJson(*label)));
      }
    }
    if (first_line == 0) {
      first_line = line_number;
      file.has_labels = has_label;
    } else if (has_label != file.has_labels) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, has_label ? "has a \"label\" but line " : "has no \"label\" but line ", first_line,
          has_label ? " has none" : " has one"));
    }
    file.rows.push_back(std::move(row));
  }
  return file;
}

// Distinct labels sorted as run_glue sorts its label column: numerically when all are integers.
std::vector<std::string> CollectLabels(const std::vector<RawRow>& rows) {
  std::set<std::string> distinct;
  for (const RawRow& row : rows) distinct.insert(*row.label);
  std::vector<std::string> labels(distinct.begin(), distinct.end());
  const bool all_integers = std::all_of(labels.begin(), labels.end(), [](const std::string& s) {
    int64_t unused;
    return absl::SimpleAtoi(s, &unused);
  });
  if (all_integers) {
    std::sort(labels.begin(), labels.end(), [](const std::string& a, const std::string& b) {
      int64_t x = 0, y = 0;
      (void)absl::SimpleAtoi(a, &x);
      (void)absl::SimpleAtoi(b, &y);
      return x < y;
    });
  }
  return labels;
}

// Turns raw rows into TextExamples, interpreting labels against `label_list` (collected from
// the rows when empty and not regression).
absl::StatusOr<TextClassificationData> ResolveLabels(const std::string& path, RawFile file,
                                                     std::vector<std::string> label_list,
                                                     bool is_regression) {
  TextClassificationData data;
  data.is_regression = is_regression;
  data.has_labels = file.has_labels;
  if (file.has_labels && !is_regression && label_list.empty()) {
    label_list = CollectLabels(file.rows);
  }
  data.label_list = std::move(label_list);
  data.examples.reserve(file.rows.size());
  for (RawRow& row : file.rows) {
    TextExample example;
    example.text = std::move(row.text);
    example.text_pair = std::move(row.text_pair);
    example.line = row.line;
    if (file.has_labels && is_regression) {
      double value = 0.0;
      if (row.label_number) {
        value = *row.label_number;
      } else if (!absl::SimpleAtod(*row.label, &value)) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ":", row.line, ": label \"", *row.label, "\" is not a number"));
      }
      example.float_label = static_cast<float>(value);
    } else if (file.has_labels) {
      auto it = std::find(data.label_list.begin(), data.label_list.end(), *row.label);
      if (it == data.label_list.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ":", row.line, ": unknown label \"", *row.label,
                         "\"; expected one of: ", absl::StrJoin(data.label_list, ", ")));
      }
      example.label = static_cast<int64_t>(it - data.label_list.begin());
    }
    data.examples.push_back(std::move(example));
  }
  return data;
}

std::string FormatFromExtension(const std::string& path) {
  auto ends_with = [&](absl::string_view suffix) {
    return path.size() >= suffix.size() &&
           absl::string_view(path).substr(path.size() - suffix.size()) == suffix;
  };
  if (ends_with(".tsv")) return "tsv";
  if (ends_with(".jsonl") || ends_with(".json")) return "jsonl";
  return "";
}

}  // namespace

absl::StatusOr<GlueTask> GetGlueTask(absl::string_view name) {
  const absl::string_view canonical = CanonicalTaskName(name);
  const absl::string_view files_of = canonical == "mnli-mm" ? "mnli" : canonical;
  std::vector<std::string> known;
  for (const GlueTask& task : GlueTasks()) {
    if (task.name == files_of) {
      GlueTask result = task;
      result.name = std::string(canonical);
      return result;
    }
    known.push_back(task.name);
  }
  return absl::NotFoundError(absl::StrCat("unknown GLUE task \"", name,
                                          "\"; known: ", absl::StrJoin(known, ", "),
                                          ", mnli-mm (CoLA is not supported)"));
}

absl::StatusOr<TextClassificationData> LoadGlueTsv(absl::string_view task_name,
                                                   const std::string& path) {
  ASSIGN_OR_RETURN(const GlueTask task, GetGlueTask(task_name));
  ASSIGN_OR_RETURN(const std::string contents, base::ReadFileToString(path));
  TsvColumns columns;
  columns.text = task.text_column;
  columns.text_pair = task.text_pair_column;
  columns.text_pair_required = true;
  columns.label = task.label_column;
  ASSIGN_OR_RETURN(RawFile file, ParseTsv(path, contents, columns));
  return ResolveLabels(path, std::move(file), task.label_list, task.is_regression);
}

absl::StatusOr<TextClassificationData> LoadTextClassificationFile(
    const std::string& path, const TextClassificationFileOptions& options) {
  const std::string format = options.format.empty() ? FormatFromExtension(path) : options.format;
  if (format != "tsv" && format != "jsonl") {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": unknown format \"", format,
                     "\"; expected \"tsv\" or \"jsonl\" (or a .tsv, .jsonl or .json extension)"));
  }
  if (options.is_regression && !options.label_list.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": label_list [", absl::StrJoin(options.label_list, ", "),
                     "] given for a regression task, which has no label names"));
  }
  ASSIGN_OR_RETURN(const std::string contents, base::ReadFileToString(path));
  RawFile file;
  if (format == "tsv") {
    TsvColumns columns;
    columns.text = "text";
    columns.text_pair = "text_pair";
    columns.label = "label";
    ASSIGN_OR_RETURN(file, ParseTsv(path, contents, columns));
  } else {
    ASSIGN_OR_RETURN(file, ParseJsonl(path, contents));
  }
  return ResolveLabels(path, std::move(file), options.label_list, options.is_regression);
}

absl::StatusOr<std::unique_ptr<TextClassificationDataset>> TextClassificationDataset::Create(
    TextClassificationData data, const tokenizers::Tokenizer* tokenizer, int64_t max_seq_length) {
  if (tokenizer == nullptr) {
    return absl::InvalidArgumentError("TextClassificationDataset: tokenizer is null");
  }
  const bool has_pairs = std::any_of(data.examples.begin(), data.examples.end(),
                                     [](const TextExample& e) { return e.text_pair.has_value(); });
  const int64_t num_special = has_pairs ? 3 : 2;
  if (max_seq_length <= num_special) {
    return absl::InvalidArgumentError(
        absl::StrCat("TextClassificationDataset: max_seq_length ", max_seq_length,
                     " leaves no room for text besides the ", num_special, " special tokens of ",
                     has_pairs ? "a sentence pair" : "a sentence"));
  }
  return std::unique_ptr<TextClassificationDataset>(
      new TextClassificationDataset(std::move(data), tokenizer, max_seq_length));
}

TextClassificationDataset::TextClassificationDataset(TextClassificationData data,
                                                     const tokenizers::Tokenizer* tokenizer,
                                                     int64_t max_seq_length)
    : data_(std::move(data)), tokenizer_(tokenizer), max_seq_length_(max_seq_length) {}

Example TextClassificationDataset::Get(size_t index) const {
  if (index >= data_.examples.size()) return Example();
  const TextExample& row = data_.examples[index];
  tokenizers::Encoding pair;
  if (row.text_pair) pair = tokenizer_->Encode(*row.text_pair);
  tokenizers::ModelInputsOptions options;
  options.max_length = max_seq_length_;
  options.truncation = tokenizers::Truncation::kLongestFirst;
  // Cannot fail: Create() checked that max_seq_length leaves room beyond the specials, and
  // longest_first can always cut down to it. An empty Example would surface in the loader.
  absl::StatusOr<tokenizers::ModelInputs> inputs = tokenizers::BuildModelInputs(
      *tokenizer_, tokenizer_->Encode(row.text), row.text_pair ? &pair : nullptr, options);
  Example example;
  if (!inputs.ok()) return example;
  example.ints["input_ids"] = std::move(inputs->input_ids);
  example.ints["token_type_ids"] = std::move(inputs->token_type_ids);
  example.ints["attention_mask"] = std::move(inputs->attention_mask);
  if (data_.has_labels && data_.is_regression) {
    example.floats["labels"] = {row.float_label};
  } else if (data_.has_labels) {
    example.ints["labels"] = {row.label};
  }
  return example;
}

}  // namespace datasets
