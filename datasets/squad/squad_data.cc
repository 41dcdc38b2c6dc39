#include "datasets/squad/squad_data.h"

#include <map>
#include <nlohmann/json.hpp>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/atomic_file.h"
#include "base/status_macros.h"
#include "datasets/squad/utf8_index.h"
#include "models/tokenizers/unicode.h"

namespace datasets {
namespace {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

// A JSON rendering of `value` short enough for a one-line message (newlines come out escaped).
std::string Shown(const Json& value) {
  std::string shown = value.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (shown.size() > 60) {
    size_t cut = 57;
    // Do not split a UTF-8 sequence.
    while (cut > 0 && (static_cast<unsigned char>(shown[cut]) & 0xC0) == 0x80) --cut;
    shown = shown.substr(0, cut) + "...";
  }
  return shown;
}

std::string Quote(absl::string_view text) { return Shown(Json(std::string(text))); }

std::string Location(size_t article, size_t paragraph, size_t question) {
  return absl::StrCat("data[", article, "].paragraphs[", paragraph, "].qas[", question, "]");
}

// Builds the messages of one file: "<source>: <where>: field '<field>' <problem>".
class Errors {
 public:
  explicit Errors(absl::string_view source) : source_(source) {}

  absl::Status Field(absl::string_view where, absl::string_view field,
                     absl::string_view problem) const {
    return absl::InvalidArgumentError(
        absl::StrCat(source_, ": ", where, ": field '", field, "' ", problem));
  }
  absl::Status Missing(absl::string_view where, absl::string_view field) const {
    return absl::InvalidArgumentError(
        absl::StrCat(source_, ": ", where, ": required field '", field, "' is missing"));
  }
  absl::Status WrongType(absl::string_view where, absl::string_view field,
                         absl::string_view expected, const Json& value) const {
    return Field(where, field, absl::StrCat("must be ", expected, ", got ", Shown(value)));
  }
  absl::string_view source() const { return source_; }

 private:
  absl::string_view source_;
};

// Looks up `key` in `object`; nullptr when absent.
const Json* Find(const Json& object, const char* key) {
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

absl::Status ReadString(const Errors& errors, const Json& object, const char* key,
                        absl::string_view where, bool required, std::string* out) {
  const Json* value = Find(object, key);
  if (value == nullptr) {
    return required ? errors.Missing(where, key) : absl::OkStatus();
  }
  if (!value->is_string()) return errors.WrongType(where, key, "a string", *value);
  *out = value->get<std::string>();
  return absl::OkStatus();
}

absl::StatusOr<const Json*> ReadArray(const Errors& errors, const Json& object, const char* key,
                                      absl::string_view where) {
  const Json* value = Find(object, key);
  if (value == nullptr) return errors.Missing(where, key);
  if (!value->is_array()) return errors.WrongType(where, key, "a list", *value);
  return value;
}

// Parses an "answers" / "plausible_answers" list (types only; spans are checked later).
absl::Status ReadAnswers(const Errors& errors, const Json& list, const char* key,
                         absl::string_view where, std::vector<SquadAnswer>* out) {
  for (size_t i = 0; i < list.size(); ++i) {
    const Json& item = list[i];
    const std::string field = absl::StrCat(key, "[", i, "]");
    if (!item.is_object()) return errors.WrongType(where, field, "an object", item);
    SquadAnswer answer;
    const Json* text = Find(item, "text");
    if (text == nullptr) return errors.Missing(where, absl::StrCat(field, ".text"));
    if (!text->is_string()) {
      return errors.WrongType(where, absl::StrCat(field, ".text"), "a string", *text);
    }
    answer.text = text->get<std::string>();
    const Json* start = Find(item, "answer_start");
    if (start == nullptr) return errors.Missing(where, absl::StrCat(field, ".answer_start"));
    if (!start->is_number_integer()) {
      return errors.WrongType(where, absl::StrCat(field, ".answer_start"), "an integer", *start);
    }
    answer.answer_start = start->get<int64_t>();
    out->push_back(std::move(answer));
  }
  return absl::OkStatus();
}

// Checks that each answer span lies inside the context and reads the answer text there.
absl::Status CheckSpans(const Errors& errors, absl::string_view where, const SquadExample& example,
                        const Utf8Index& context) {
  for (size_t i = 0; i < example.answers.size(); ++i) {
    const SquadAnswer& answer = example.answers[i];
    const std::string field = absl::StrCat("answers[", i, "]");
    if (answer.text.empty()) return errors.Field(where, field + ".text", "is empty");
    if (answer.answer_start < 0) {
      return errors.Field(where, field + ".answer_start",
                          absl::StrCat("is ", answer.answer_start, ", must not be negative"));
    }
    if (answer.answer_start >= context.num_chars()) {
      return errors.Field(
          where, field + ".answer_start",
          absl::StrCat("is ", answer.answer_start, ", past the end of the context (",
                       context.num_chars(), " characters)"));
    }
    const int64_t length = Utf8Index(answer.text).num_chars();
    const int64_t end = answer.answer_start + length;
    if (end > context.num_chars()) {
      return errors.Field(
          where, field + ".text",
          absl::StrCat(Quote(answer.text), " (", length, " characters) at answer_start ",
                       answer.answer_start, " runs past the end of the context (",
                       context.num_chars(), " characters)"));
    }
    const absl::string_view actual = context.Substr(answer.answer_start, end);
    if (actual != answer.text) {
      return errors.Field(
          where, field + ".text",
          absl::StrCat("is ", Quote(answer.text), " but the context at answer_start ",
                       answer.answer_start, " reads ", Quote(actual)));
    }
  }
  return absl::OkStatus();
}

// The checks that do not depend on JSON types, shared by the loader and the writer.
absl::Status ValidateExample(const Errors& errors, absl::string_view where,
                             const SquadExample& example, const Utf8Index& context,
                             const SquadLoadOptions& options) {
  if (example.is_impossible && !example.answers.empty()) {
    return errors.Field(
        where, "answers",
        absl::StrCat("has ", example.answers.size(), " answer(s) but is_impossible is true"));
  }
  if (options.is_training && !example.is_impossible && example.answers.empty()) {
    return errors.Field(where, "answers",
                        "is empty but is_impossible is not true (a training question needs "
                        "an answer)");
  }
  if (options.check_answer_spans) RETURN_IF_ERROR(CheckSpans(errors, where, example, context));
  return absl::OkStatus();
}

// Parses one entry of "qas"; `location` is its JSON path, used until the id is known.
absl::StatusOr<SquadExample> ReadQuestion(const Errors& errors, const Json& qa,
                                          const std::string& location, const std::string& title,
                                          const std::string& context,
                                          const Utf8Index& context_index,
                                          const SquadLoadOptions& options) {
  if (!qa.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(errors.source(), ": ", location, ": must be an object, got ", Shown(qa)));
  }
  SquadExample example;
  RETURN_IF_ERROR(ReadString(errors, qa, "id", location, /*required=*/true, &example.id));
  if (example.id.empty()) return errors.Field(location, "id", "is empty");
  const std::string where = absl::StrCat("question ", Quote(example.id));
  RETURN_IF_ERROR(ReadString(errors, qa, "question", where, /*required=*/true, &example.question));
  if (const Json* impossible = Find(qa, "is_impossible"); impossible != nullptr) {
    if (!impossible->is_boolean()) {
      return errors.WrongType(where, "is_impossible", "true or false", *impossible);
    }
    example.is_impossible = impossible->get<bool>();
  }
  ASSIGN_OR_RETURN(const Json* answers, ReadArray(errors, qa, "answers", where));
  RETURN_IF_ERROR(ReadAnswers(errors, *answers, "answers", where, &example.answers));
  if (const Json* plausible = Find(qa, "plausible_answers"); plausible != nullptr) {
    if (!plausible->is_array()) {
      return errors.WrongType(where, "plausible_answers", "a list", *plausible);
    }
    RETURN_IF_ERROR(
        ReadAnswers(errors, *plausible, "plausible_answers", where, &example.plausible_answers));
  }
  example.title = title;
  example.context = context;
  RETURN_IF_ERROR(ValidateExample(errors, where, example, context_index, options));
  return example;
}

// Number of "qas" entries below `value` (an article or a paragraph), for counting what a
// structural error makes us skip.
int64_t CountQuestions(const Json& value) {
  if (!value.is_object()) return 0;
  if (const Json* qas = Find(value, "qas"); qas != nullptr) {
    return qas->is_array() ? static_cast<int64_t>(qas->size()) : 0;
  }
  int64_t count = 0;
  if (const Json* paragraphs = Find(value, "paragraphs");
      paragraphs != nullptr && paragraphs->is_array()) {
    for (const Json& paragraph : *paragraphs) count += CountQuestions(paragraph);
  }
  return count;
}

class Loader {
 public:
  Loader(absl::string_view source, const SquadLoadOptions& options, SquadLoadReport* report)
      : errors_(source), options_(options), report_(report) {}

  absl::StatusOr<SquadData> Load(absl::string_view json_text) {
    Json root;
    try {
      root = Json::parse(json_text.begin(), json_text.end());
    } catch (const Json::exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat(errors_.source(), ": not valid JSON: ", e.what()));
    }
    if (!root.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(
          errors_.source(), ": expected a JSON object with \"data\", got ", Shown(root)));
    }
    SquadData data;
    RETURN_IF_ERROR(
        ReadString(errors_, root, "version", "top level", /*required=*/false, &data.version));
    data.version_2 = absl::StartsWith(data.version, "v2") || absl::StartsWith(data.version, "2");
    ASSIGN_OR_RETURN(const Json* articles, ReadArray(errors_, root, "data", "top level"));
    for (size_t a = 0; a < articles->size(); ++a) {
      const Json& article = (*articles)[a];
      absl::Status status = ReadArticle(article, a, &data);
      // Questions of a readable article are counted (and skipped) where they are read.
      if (!status.ok()) report_->num_questions += CountQuestions(article);
      RETURN_IF_ERROR(Skippable(std::move(status), CountQuestions(article)));
    }
    report_->num_loaded = static_cast<int64_t>(data.examples.size());
    return data;
  }

 private:
  // Passes `status` through, or with skip_bad_examples records it and drops `questions`.
  absl::Status Skippable(absl::Status status, int64_t questions) {
    if (status.ok() || !options_.skip_bad_examples) return status;
    report_->num_skipped += questions;
    if (static_cast<int>(report_->first_errors.size()) < SquadLoadReport::kMaxErrors) {
      report_->first_errors.emplace_back(status.message());
    }
    return absl::OkStatus();
  }

  absl::Status ReadArticle(const Json& article, size_t a, SquadData* data) {
    const std::string where = absl::StrCat("data[", a, "]");
    if (!article.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(errors_.source(), ": ", where, ": must be an object, got ", Shown(article)));
    }
    std::string title;
    RETURN_IF_ERROR(ReadString(errors_, article, "title", where, /*required=*/false, &title));
    ASSIGN_OR_RETURN(const Json* paragraphs, ReadArray(errors_, article, "paragraphs", where));
    for (size_t p = 0; p < paragraphs->size(); ++p) {
      const Json& paragraph = (*paragraphs)[p];
      const int64_t count = CountQuestions(paragraph);
      absl::Status status = ReadParagraph(paragraph, a, p, title, data);
      if (!status.ok()) report_->num_questions += count;
      RETURN_IF_ERROR(Skippable(std::move(status), count));
    }
    return absl::OkStatus();
  }

  absl::Status ReadParagraph(const Json& paragraph, size_t a, size_t p, const std::string& title,
                             SquadData* data) {
    const std::string where = absl::StrCat("data[", a, "].paragraphs[", p, "]");
    if (!paragraph.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(
          errors_.source(), ": ", where, ": must be an object, got ", Shown(paragraph)));
    }
    std::string context;
    RETURN_IF_ERROR(ReadString(errors_, paragraph, "context", where, /*required=*/true, &context));
    ASSIGN_OR_RETURN(const Json* qas, ReadArray(errors_, paragraph, "qas", where));
    const Utf8Index context_index(context);
    for (size_t q = 0; q < qas->size(); ++q) {
      ++report_->num_questions;
      const Json& qa = (*qas)[q];
      if (qa.is_object() && qa.contains("is_impossible")) data->version_2 = true;
      const std::string location = Location(a, p, q);
      absl::StatusOr<SquadExample> example =
          ReadQuestion(errors_, qa, location, title, context, context_index, options_);
      if (example.ok()) {
        auto [it, inserted] = first_location_.emplace(example->id, location);
        if (!inserted) {
          example = errors_.Field(absl::StrCat("question ", Quote(example->id)), "id",
                                  absl::StrCat("duplicates the id of ", it->second));
        }
      }
      if (example.ok()) {
        data->examples.push_back(*std::move(example));
      } else {
        RETURN_IF_ERROR(Skippable(example.status(), 1));
      }
    }
    return absl::OkStatus();
  }

  Errors errors_;
  const SquadLoadOptions& options_;
  SquadLoadReport* report_;
  std::map<std::string, std::string> first_location_;  // id -> where it first appeared.
};

OrderedJson AnswersToJson(const std::vector<SquadAnswer>& answers) {
  OrderedJson list = OrderedJson::array();
  for (const SquadAnswer& answer : answers) {
    OrderedJson item;
    item["text"] = answer.text;
    item["answer_start"] = answer.answer_start;
    list.push_back(std::move(item));
  }
  return list;
}

absl::Status CheckUtf8(const Errors& errors, absl::string_view where, absl::string_view field,
                       absl::string_view text) {
  if (!tokenizers::FindInvalidUtf8(text).has_value()) return absl::OkStatus();
  return errors.Field(where, field, "is not valid UTF-8");
}

}  // namespace

absl::StatusOr<SquadData> ParseSquadJson(absl::string_view json_text, absl::string_view source,
                                         const SquadLoadOptions& options, SquadLoadReport* report) {
  SquadLoadReport local_report;
  if (report == nullptr) report = &local_report;
  *report = SquadLoadReport();
  return Loader(source, options, report).Load(json_text);
}

absl::StatusOr<SquadData> LoadSquadJson(const std::string& path, const SquadLoadOptions& options,
                                        SquadLoadReport* report) {
  ASSIGN_OR_RETURN(std::string text, base::ReadFileToString(path));
  return ParseSquadJson(text, path, options, report);
}

absl::StatusOr<std::string> SquadDataToJson(const SquadData& data, absl::string_view source) {
  const Errors errors(source);
  std::map<std::string, size_t> seen;  // id -> index of the example that used it.
  OrderedJson articles = OrderedJson::array();
  OrderedJson* article = nullptr;
  OrderedJson* paragraph = nullptr;
  const SquadExample* previous = nullptr;
  for (size_t i = 0; i < data.examples.size(); ++i) {
    const SquadExample& example = data.examples[i];
    const std::string where = example.id.empty() ? absl::StrCat("examples[", i, "]")
                                                 : absl::StrCat("question ", Quote(example.id));
    if (example.id.empty()) return errors.Field(where, "id", "is empty");
    for (const auto& [field, text] : {std::pair<const char*, const std::string*>{"id", &example.id},
                                      {"title", &example.title},
                                      {"question", &example.question},
                                      {"context", &example.context}}) {
      RETURN_IF_ERROR(CheckUtf8(errors, where, field, *text));
    }
    for (const auto* list : {&example.answers, &example.plausible_answers}) {
      for (const SquadAnswer& answer : *list) {
        RETURN_IF_ERROR(CheckUtf8(errors, where, "answers.text", answer.text));
      }
    }
    if (auto [it, inserted] = seen.emplace(example.id, i); !inserted) {
      return errors.Field(where, "id",
                          absl::StrCat("duplicates the id of examples[", it->second, "]"));
    }
    RETURN_IF_ERROR(
        ValidateExample(errors, where, example, Utf8Index(example.context), SquadLoadOptions()));
    if (previous == nullptr || previous->title != example.title) {
      OrderedJson new_article;
      new_article["title"] = example.title;
      new_article["paragraphs"] = OrderedJson::array();
      articles.push_back(std::move(new_article));
      article = &articles.back();
      paragraph = nullptr;
    }
    if (paragraph == nullptr || previous->context != example.context) {
      OrderedJson new_paragraph;
      new_paragraph["context"] = example.context;
      new_paragraph["qas"] = OrderedJson::array();
      (*article)["paragraphs"].push_back(std::move(new_paragraph));
      paragraph = &(*article)["paragraphs"].back();
    }
    OrderedJson qa;
    qa["id"] = example.id;
    qa["question"] = example.question;
    qa["answers"] = AnswersToJson(example.answers);
    if (data.version_2 || example.is_impossible) {
      qa["is_impossible"] = example.is_impossible;
    }
    if (!example.plausible_answers.empty()) {
      qa["plausible_answers"] = AnswersToJson(example.plausible_answers);
    }
    (*paragraph)["qas"].push_back(std::move(qa));
    previous = &example;
  }
  OrderedJson root;
  root["version"] = data.version;
  root["data"] = std::move(articles);
  try {
    return root.dump() + "\n";
  } catch (const OrderedJson::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": cannot serialise: ", e.what()));
  }
}

absl::Status WriteSquadJson(const std::string& path, const SquadData& data) {
  ASSIGN_OR_RETURN(std::string text, SquadDataToJson(data, path));
  return base::WriteStringToFileAtomically(path, text);
}

}  // namespace datasets
