#include "datasets/squad/squad_metrics.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/atomic_file.h"
#include "base/status_macros.h"
#include "models/tokenizers/unicode.h"

namespace datasets {
namespace {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

struct CodePointRange {
  uint32_t first;
  uint32_t last;
};

struct LowercaseRun {
  uint32_t first;
  uint32_t last;
  int32_t delta;
  uint32_t stride;
};

#include "datasets/squad/normalize_tables.inc"

template <size_t N>
bool InRanges(const CodePointRange (&ranges)[N], uint32_t c) {
  const auto* it = std::upper_bound(
      std::begin(ranges), std::end(ranges), c,
      [](uint32_t value, const CodePointRange& range) { return value < range.first; });
  return it != std::begin(ranges) && c <= (it - 1)->last;
}

uint32_t ToLower(uint32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 0x20 : c;
  const auto* it =
      std::upper_bound(std::begin(kLowercaseRuns), std::end(kLowercaseRuns), c,
                       [](uint32_t value, const LowercaseRun& run) { return value < run.first; });
  if (it == std::begin(kLowercaseRuns)) return c;
  const LowercaseRun& run = *(it - 1);
  if (c > run.last || (c - run.first) % run.stride != 0) return c;
  return static_cast<uint32_t>(static_cast<int64_t>(c) + run.delta);
}

// Python's re \w for str patterns: str.isalnum() or "_".
bool IsWordChar(uint32_t c) { return c == '_' || InRanges(kWordRanges, c); }

// str.isspace(), which str.split() splits on (wider than C's isspace: the no-break spaces,
// U+001C..U+001F, U+0085).
bool IsPythonSpace(uint32_t c) { return InRanges(kSpaceRanges, c); }

// Python's string.punctuation.
bool IsAsciiPunctuation(uint32_t c) {
  return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
         (c >= '{' && c <= '~');
}

std::vector<uint32_t> Decode(absl::string_view text) {
  const std::u32string chars = tokenizers::DecodeUtf8(text);
  return std::vector<uint32_t>(chars.begin(), chars.end());
}

// str.lower(): the one-code-point mappings plus Python's two special cases, U+0130 (->
// "i" + U+0307) and the Final_Sigma rule: a capital sigma preceded by a cased letter and
// not followed by one (case-ignorable characters in between are skipped) becomes U+03C2.
std::vector<uint32_t> PythonLower(const std::vector<uint32_t>& chars) {
  std::vector<uint32_t> lower;
  lower.reserve(chars.size());
  for (size_t i = 0; i < chars.size(); ++i) {
    const uint32_t c = chars[i];
    if (c == 0x130) {
      lower.push_back('i');
      lower.push_back(0x307);
    } else if (c == 0x3A3) {
      size_t before = i;
      while (before > 0 && InRanges(kCaseIgnorableRanges, chars[before - 1])) --before;
      bool final_sigma = before > 0 && InRanges(kCasedRanges, chars[before - 1]);
      size_t after = i + 1;
      while (after < chars.size() && InRanges(kCaseIgnorableRanges, chars[after])) ++after;
      if (after < chars.size() && InRanges(kCasedRanges, chars[after])) final_sigma = false;
      lower.push_back(final_sigma ? 0x3C2 : 0x3C3);
    } else {
      lower.push_back(ToLower(c));
    }
  }
  return lower;
}

bool IsArticle(const std::vector<uint32_t>& chars, size_t begin, size_t end) {
  static const std::vector<std::vector<uint32_t>> kArticles = {{'a'}, {'a', 'n'}, {'t', 'h', 'e'}};
  for (const auto& article : kArticles) {
    if (end - begin == article.size() &&
        std::equal(article.begin(), article.end(), chars.begin() + begin)) {
      return true;
    }
  }
  return false;
}

// Whitespace-separated tokens of the normalised text (get_tokens / normalize_answer().split()).
std::vector<std::string> NormalizedTokens(absl::string_view text) {
  std::vector<uint32_t> chars = PythonLower(Decode(text));
  chars.erase(std::remove_if(chars.begin(), chars.end(), IsAsciiPunctuation), chars.end());
  // re.sub(r'\b(a|an|the)\b', ' ', ...): a match is a maximal run of word characters that
  // is exactly one of the articles.
  for (size_t i = 0; i < chars.size();) {
    if (!IsWordChar(chars[i])) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < chars.size() && IsWordChar(chars[end])) ++end;
    if (IsArticle(chars, i, end)) {
      chars.erase(chars.begin() + i + 1, chars.begin() + end);
      chars[i] = ' ';
      end = i + 1;
    }
    i = end;
  }
  std::vector<std::string> tokens;
  std::string token;
  for (uint32_t c : chars) {
    if (IsPythonSpace(c)) {
      if (!token.empty()) tokens.push_back(std::move(token));
      token.clear();
    } else {
      tokenizers::AppendUtf8(c, &token);
    }
  }
  if (!token.empty()) tokens.push_back(std::move(token));
  return tokens;
}

// sum((Counter(a) & Counter(b)).values()).
int64_t SharedTokens(std::vector<std::string> a, std::vector<std::string> b) {
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  std::vector<std::string> common;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(common));
  return static_cast<int64_t>(common.size());
}

double F1FromCounts(int64_t num_same, size_t prediction_tokens, size_t ground_truth_tokens) {
  if (num_same == 0) return 0.0;
  const double precision = 1.0 * num_same / prediction_tokens;
  const double recall = 1.0 * num_same / ground_truth_tokens;
  return (2 * precision * recall) / (precision + recall);
}

// A JSON rendering of `value` short enough for a one-line message.
std::string Shown(const Json& value) {
  std::string shown = value.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (shown.size() > 60) {
    size_t cut = 57;
    while (cut > 0 && (static_cast<unsigned char>(shown[cut]) & 0xC0) == 0x80) --cut;
    shown = shown.substr(0, cut) + "...";
  }
  return shown;
}

// Percentages exactly as the scripts compute them: 100.0 * sum / total.
double Percent(double sum, int64_t total) { return 100.0 * sum / total; }

}  // namespace

std::string NormalizeAnswer(absl::string_view text) {
  std::string joined;
  for (const std::string& token : NormalizedTokens(text)) {
    if (!joined.empty()) joined += ' ';
    joined += token;
  }
  return joined;
}

bool SquadExactMatch(absl::string_view prediction, absl::string_view ground_truth) {
  return NormalizeAnswer(prediction) == NormalizeAnswer(ground_truth);
}

double SquadF1V1(absl::string_view prediction, absl::string_view ground_truth) {
  const std::vector<std::string> prediction_tokens = NormalizedTokens(prediction);
  const std::vector<std::string> ground_truth_tokens = NormalizedTokens(ground_truth);
  return F1FromCounts(SharedTokens(prediction_tokens, ground_truth_tokens),
                      prediction_tokens.size(), ground_truth_tokens.size());
}

double SquadF1V2(absl::string_view prediction, absl::string_view ground_truth) {
  const std::vector<std::string> prediction_tokens = NormalizedTokens(prediction);
  const std::vector<std::string> ground_truth_tokens = NormalizedTokens(ground_truth);
  if (prediction_tokens.empty() || ground_truth_tokens.empty()) {
    return prediction_tokens == ground_truth_tokens ? 1.0 : 0.0;
  }
  return F1FromCounts(SharedTokens(prediction_tokens, ground_truth_tokens),
                      prediction_tokens.size(), ground_truth_tokens.size());
}

absl::StatusOr<SquadMetrics> EvaluateSquad(const SquadData& data,
                                           const std::map<std::string, std::string>& predictions) {
  if (data.examples.empty()) {
    return absl::InvalidArgumentError("SQuAD evaluation: the dataset has no questions");
  }
  SquadMetrics metrics;
  metrics.version_2 = data.version_2;
  double exact_sum = 0.0, f1_sum = 0.0;
  double has_ans_exact = 0.0, has_ans_f1 = 0.0, no_ans_exact = 0.0, no_ans_f1 = 0.0;
  for (const SquadExample& example : data.examples) {
    const bool has_answers = !example.answers.empty();
    ++metrics.total;
    ++(has_answers ? metrics.has_ans_total : metrics.no_ans_total);
    std::vector<std::string> gold;
    for (const SquadAnswer& answer : example.answers) {
      // v2.0 drops gold answers that normalise to nothing; v1.1 keeps every answer.
      if (!data.version_2 || !NormalizeAnswer(answer.text).empty()) gold.push_back(answer.text);
    }
    if (gold.empty()) {
      if (!data.version_2) {
        return absl::InvalidArgumentError(absl::StrCat(
            "SQuAD v1.1 evaluation: question \"", example.id, "\" has no answers to compare with"));
      }
      gold.push_back("");  // The only correct answer to an unanswerable question.
    }
    auto prediction = predictions.find(example.id);
    if (prediction == predictions.end()) {
      metrics.missing_ids.push_back(example.id);
      metrics.per_question.push_back({example.id, 0.0, 0.0});
      continue;
    }
    double exact = 0.0, f1 = 0.0;
    for (const std::string& answer : gold) {
      exact = std::max(exact, SquadExactMatch(prediction->second, answer) ? 1.0 : 0.0);
      f1 = std::max(f1, data.version_2 ? SquadF1V2(prediction->second, answer)
                                       : SquadF1V1(prediction->second, answer));
    }
    exact_sum += exact;
    f1_sum += f1;
    metrics.per_question.push_back({example.id, 100.0 * exact, 100.0 * f1});
    (has_answers ? has_ans_exact : no_ans_exact) += exact;
    (has_answers ? has_ans_f1 : no_ans_f1) += f1;
  }
  metrics.exact = Percent(exact_sum, metrics.total);
  metrics.f1 = Percent(f1_sum, metrics.total);
  if (metrics.has_ans_total > 0) {
    metrics.has_ans_exact = Percent(has_ans_exact, metrics.has_ans_total);
    metrics.has_ans_f1 = Percent(has_ans_f1, metrics.has_ans_total);
  }
  if (metrics.no_ans_total > 0) {
    metrics.no_ans_exact = Percent(no_ans_exact, metrics.no_ans_total);
    metrics.no_ans_f1 = Percent(no_ans_f1, metrics.no_ans_total);
  }
  return metrics;
}

std::string SquadMetricsToJson(const SquadMetrics& metrics) {
  if (!metrics.version_2) {
    // json.dumps's default separators (", " and ": "), which nlohmann's compact dump lacks.
    return absl::StrCat("{\"exact_match\": ", Json(metrics.exact).dump(),
                        ", \"f1\": ", Json(metrics.f1).dump(), "}\n");
  }
  OrderedJson out;
  out["exact"] = metrics.exact;
  out["f1"] = metrics.f1;
  out["total"] = metrics.total;
  if (metrics.has_ans_total > 0) {
    out["HasAns_exact"] = metrics.has_ans_exact;
    out["HasAns_f1"] = metrics.has_ans_f1;
    out["HasAns_total"] = metrics.has_ans_total;
  }
  if (metrics.no_ans_total > 0) {
    out["NoAns_exact"] = metrics.no_ans_exact;
    out["NoAns_f1"] = metrics.no_ans_f1;
    out["NoAns_total"] = metrics.no_ans_total;
  }
  return out.dump(2) + "\n";
}

absl::StatusOr<std::map<std::string, std::string>> ParseSquadPredictions(
    absl::string_view json_text, absl::string_view source) {
  Json root;
  try {
    root = Json::parse(json_text.begin(), json_text.end());
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not valid JSON: ", e.what()));
  }
  if (!root.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": expected a JSON object mapping question ids to answer strings, got ",
        Shown(root)));
  }
  std::map<std::string, std::string> predictions;
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (!it.value().is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": question \"", it.key(),
                                                     "\": prediction must be a string, got ",
                                                     Shown(it.value())));
    }
    predictions[it.key()] = it.value().get<std::string>();
  }
  return predictions;
}

absl::StatusOr<std::map<std::string, std::string>> LoadSquadPredictions(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, base::ReadFileToString(path));
  return ParseSquadPredictions(text, path);
}

}  // namespace datasets
