#include "recipes/tasks/example_scores.h"

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace recipes {

using Json = nlohmann::json;

std::string ExampleScoresToJson(const ExampleScores& scores) {
  // Compact arrays, one per line: dump(2) would put each of 10k numbers on its own line.
  std::string out = absl::StrCat("{\n  \"task\": ", Json(scores.task).dump(),
                                 ",\n  \"ids\": ", Json(scores.ids).dump(), ",\n  \"scores\": {");
  bool first = true;
  for (const auto& [key, values] : scores.scores) {
    absl::StrAppend(&out, first ? "\n" : ",\n", "    ", Json(key).dump(), ": ",
                    Json(values).dump());
    first = false;
  }
  absl::StrAppend(&out, first ? "}" : "\n  }");
  if (!scores.labels.empty()) absl::StrAppend(&out, ",\n  \"labels\": ", Json(scores.labels).dump());
  absl::StrAppend(&out, "\n}\n");
  return out;
}

absl::StatusOr<ExampleScores> ParseExampleScores(absl::string_view text,
                                                 absl::string_view source) {
  const Json json = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not a JSON object"));
  }
  auto field_error = [&](const std::string& field, const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", field, " ", what));
  };
  ExampleScores scores;
  scores.task = json.value("task", "");
  if (!json.contains("ids") || !json["ids"].is_array()) {
    return field_error("ids", "is missing or not an array");
  }
  for (const Json& id : json["ids"]) {
    if (!id.is_string()) return field_error("ids", absl::StrCat("holds a non-string ", id.dump()));
    scores.ids.push_back(id.get<std::string>());
  }
  const Json& by_key = json.contains("scores") ? json["scores"] : Json::object();
  if (!by_key.is_object()) return field_error("scores", "is not an object");
  for (const auto& [key, values] : by_key.items()) {
    if (!values.is_array() || values.size() != scores.ids.size()) {
      return field_error(absl::StrCat("scores.", key),
                         absl::StrCat("has ", values.is_array() ? values.size() : 0,
                                      " values for ", scores.ids.size(), " ids"));
    }
    std::vector<double>& out = scores.scores[key];
    for (const Json& value : values) {
      if (!value.is_number()) {
        return field_error(absl::StrCat("scores.", key), absl::StrCat("holds ", value.dump()));
      }
      out.push_back(value.get<double>());
    }
  }
  if (json.contains("labels")) {
    const Json& labels = json["labels"];
    if (!labels.is_array() || labels.size() != scores.ids.size()) {
      return field_error("labels", absl::StrCat("must be an array of ", scores.ids.size(),
                                                " label ids"));
    }
    for (const Json& label : labels) {
      if (!label.is_number_integer()) return field_error("labels", absl::StrCat("holds ", label.dump()));
      scores.labels.push_back(label.get<int64_t>());
    }
  }
  return scores;
}

}  // namespace recipes
