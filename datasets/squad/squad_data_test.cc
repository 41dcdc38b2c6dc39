#include "datasets/squad/squad_data.h"

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "base/atomic_file.h"
#include "datasets/squad/utf8_index.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace datasets {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string kFixtures = "tests/fixtures/squad/";

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

// A one-paragraph file with the given "qas" entries (JSON text).
std::string OneParagraph(const std::string& context, const std::string& qas) {
  return R"({"version": "1.1", "data": [{"title": "T", "paragraphs": [{"context": )" +
         nlohmann::json(context).dump() + R"(, "qas": [)" + qas + "]}]}]}";
}

TEST(SquadDataTest, LoadsV11FixtureWithCharacterOffsets) {
  absl::StatusOr<SquadData> data = LoadSquadJson(kFixtures + "v1_small.json");
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->version, "1.1");
  EXPECT_FALSE(data->version_2);
  ASSERT_EQ(data->examples.size(), 4u);
  const SquadExample& q1 = data->examples[0];
  EXPECT_EQ(q1.id, "q1");
  EXPECT_EQ(q1.title, "Albert_Einstein");
  EXPECT_EQ(q1.question, "When did Einstein study in Zürich?");
  EXPECT_EQ(q1.context,
            "Albert Einstein studied in Zürich — at the Polytechnic — from 1896 to 1900.");
  ASSERT_EQ(q1.answers.size(), 3u);
  EXPECT_EQ(q1.answers[0].text, "from 1896 to 1900");
  EXPECT_EQ(q1.answers[0].answer_start, 57);
  EXPECT_EQ(q1.answers[1].text, "1896 to 1900");
  EXPECT_EQ(q1.answers[1].answer_start, 62);
  // "Zürich" and two em dashes come first: 62 characters are 67 bytes.
  EXPECT_EQ(q1.context.find("1896"), 67u);
  EXPECT_EQ(Utf8Index(q1.context).Substr(62, 74), "1896 to 1900");
  EXPECT_FALSE(q1.is_impossible);
  EXPECT_EQ(data->examples[2].id, "q3");
  EXPECT_EQ(data->examples[2].title, "Rivers");
  EXPECT_EQ(data->examples[3].context, "The Danube is the second-longest river in Europe.");
}

TEST(SquadDataTest, LoadsV20FixtureWithImpossibleQuestions) {
  absl::StatusOr<SquadData> data = LoadSquadJson(kFixtures + "v2_small.json");
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->version, "v2.0");
  EXPECT_TRUE(data->version_2);
  ASSERT_EQ(data->examples.size(), 4u);
  EXPECT_FALSE(data->examples[0].is_impossible);
  EXPECT_EQ(data->examples[0].answers[0].answer_start, 51);
  const SquadExample& impossible = data->examples[1];
  EXPECT_EQ(impossible.id, "v2q2");
  EXPECT_TRUE(impossible.is_impossible);
  EXPECT_TRUE(impossible.answers.empty());
  ASSERT_EQ(impossible.plausible_answers.size(), 1u);
  EXPECT_EQ(impossible.plausible_answers[0].text, "Zürich");
  EXPECT_EQ(impossible.plausible_answers[0].answer_start, 0);
}

TEST(SquadDataTest, DetectsVersion2FromIsImpossibleField) {
  absl::StatusOr<SquadData> data = ParseSquadJson(
      OneParagraph("abc", R"({"id": "a", "question": "?", "answers": [], "is_impossible": true})"),
      "x.json");
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_TRUE(data->version_2);
}

TEST(SquadDataTest, RejectsBadJson) {
  absl::StatusOr<SquadData> data = LoadSquadJson(kFixtures + "bad_json.json");
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(data.status().message(),
              HasSubstr("tests/fixtures/squad/bad_json.json: not valid JSON: "));
  EXPECT_EQ(std::string(data.status().message()).find('\n'), std::string::npos);
}

TEST(SquadDataTest, RejectsAnswerTextMismatch) {
  absl::StatusOr<SquadData> data = LoadSquadJson(kFixtures + "answer_mismatch.json");
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().message(),
            "tests/fixtures/squad/answer_mismatch.json: question \"q2\": field "
            "'answers[0].text' is \"Zurich\" but the context at answer_start 27 reads "
            "\"Zürich\"");
}

TEST(SquadDataTest, RejectsAnswerStartPastTheEnd) {
  absl::StatusOr<SquadData> data = LoadSquadJson(kFixtures + "answer_start_past_end.json");
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().message(),
            "tests/fixtures/squad/answer_start_past_end.json: question \"q3\": field "
            "'answers[0].answer_start' is 500, past the end of the context (51 characters)");
}

TEST(SquadDataTest, RejectsMissingField) {
  absl::StatusOr<SquadData> data = LoadSquadJson(kFixtures + "missing_field.json");
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().message(),
            "tests/fixtures/squad/missing_field.json: question \"q4\": required field "
            "'question' is missing");
}

TEST(SquadDataTest, MissingFileIsNotFound) {
  absl::StatusOr<SquadData> data = LoadSquadJson(kFixtures + "no_such_file.json");
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(data.status().message(), HasSubstr("no_such_file.json"));
}

TEST(SquadDataTest, ReportsStructureErrorsWithTheirLocation) {
  struct Case {
    std::string json;
    std::string message;
  };
  const Case cases[] = {
      {"[]", "x.json: expected a JSON object with \"data\", got []"},
      {R"({"version": "1.1"})", "x.json: top level: required field 'data' is missing"},
      {R"({"data": {}})", "x.json: top level: field 'data' must be a list, got {}"},
      {R"({"data": [{"title": "T"}]})", "x.json: data[0]: required field 'paragraphs' is missing"},
      {R"({"data": [{"paragraphs": [{"qas": []}]}]})",
       "x.json: data[0].paragraphs[0]: required field 'context' is missing"},
      {R"({"data": [{"paragraphs": [{"context": 7, "qas": []}]}]})",
       "x.json: data[0].paragraphs[0]: field 'context' must be a string, got 7"},
      {OneParagraph("abc", R"({"question": "?", "answers": []})"),
       "x.json: data[0].paragraphs[0].qas[0]: required field 'id' is missing"},
      {OneParagraph("abc", R"({"id": "", "question": "?", "answers": []})"),
       "x.json: data[0].paragraphs[0].qas[0]: field 'id' is empty"},
      {OneParagraph("abc", R"({"id": "a", "question": "?"})"),
       "x.json: question \"a\": required field 'answers' is missing"},
      {OneParagraph("abc", R"({"id": "a", "question": "?", "answers": [{"text": "b"}]})"),
       "x.json: question \"a\": required field 'answers[0].answer_start' is missing"},
      {OneParagraph(
           "abc",
           R"({"id": "a", "question": "?", "answers": [{"text": "b", "answer_start": "1"}]})"),
       "x.json: question \"a\": field 'answers[0].answer_start' must be an integer, got \"1\""},
      {OneParagraph("abc",
                    R"({"id": "a", "question": "?", "answers": [{"text": 5, "answer_start": 1}]})"),
       "x.json: question \"a\": field 'answers[0].text' must be a string, got 5"},
      {OneParagraph("abc", R"({"id": "a", "question": "?", "answers": [], "is_impossible": 1})"),
       "x.json: question \"a\": field 'is_impossible' must be true or false, got 1"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<SquadData> data = ParseSquadJson(c.json, "x.json");
    ASSERT_FALSE(data.ok()) << c.json;
    EXPECT_EQ(data.status().message(), c.message) << c.json;
  }
}

TEST(SquadDataTest, RejectsInconsistentAnswers) {
  struct Case {
    std::string qas;
    std::string message;
  };
  const Case cases[] = {
      {R"({"id": "a", "question": "?", "answers": [{"text": "b", "answer_start": -1}]})",
       "x.json: question \"a\": field 'answers[0].answer_start' is -1, must not be negative"},
      {R"({"id": "a", "question": "?", "answers": [{"text": "ü—x", "answer_start": 1}]})",
       "x.json: question \"a\": field 'answers[0].text' \"ü—x\" (3 characters) at "
       "answer_start 1 runs past the end of the context (2 characters)"},
      {R"({"id": "a", "question": "?", "answers": [{"text": "", "answer_start": 0}]})",
       "x.json: question \"a\": field 'answers[0].text' is empty"},
      {R"({"id": "a", "question": "?", "answers": [{"text": "ü", "answer_start": 0}],
           "is_impossible": true})",
       "x.json: question \"a\": field 'answers' has 1 answer(s) but is_impossible is true"},
      {R"({"id": "a", "question": "?", "answers": [{"text": "ü", "answer_start": 0}]},
          {"id": "a", "question": "?", "answers": [{"text": "ü", "answer_start": 0}]})",
       "x.json: question \"a\": field 'id' duplicates the id of "
       "data[0].paragraphs[0].qas[0]"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<SquadData> data = ParseSquadJson(OneParagraph("üb", c.qas), "x.json");
    ASSERT_FALSE(data.ok()) << c.qas;
    EXPECT_EQ(data.status().message(), c.message) << c.qas;
  }
}

TEST(SquadDataTest, TrainingQuestionsNeedAnswers) {
  const std::string json = OneParagraph("abc", R"({"id": "a", "question": "?", "answers": []})");
  EXPECT_TRUE(ParseSquadJson(json, "x.json").ok());  // Unlabelled evaluation data.
  SquadLoadOptions options;
  options.is_training = true;
  absl::StatusOr<SquadData> data = ParseSquadJson(json, "x.json", options);
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().message(),
            "x.json: question \"a\": field 'answers' is empty but is_impossible is not true "
            "(a training question needs an answer)");
}

TEST(SquadDataTest, AnswerSpanCheckCanBeTurnedOff) {
  SquadLoadOptions options;
  options.check_answer_spans = false;
  absl::StatusOr<SquadData> data = LoadSquadJson(kFixtures + "answer_mismatch.json", options);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->examples[1].answers[0].text, "Zurich");
}

TEST(SquadDataTest, SkipsAndCountsBadExamples) {
  const std::string json = R"({"version": "1.1", "data": [
    {"title": "A", "paragraphs": [
      {"context": "abc def", "qas": [
        {"id": "ok1", "question": "?", "answers": [{"text": "def", "answer_start": 4}]},
        {"id": "bad1", "question": "?", "answers": [{"text": "xyz", "answer_start": 4}]},
        {"id": "ok1", "question": "?", "answers": [{"text": "abc", "answer_start": 0}]}]},
      {"qas": [{"id": "lost1"}, {"id": "lost2"}]},
      {"context": "ghi", "qas": [
        {"id": "ok2", "question": "?", "answers": [{"text": "ghi", "answer_start": 0}]}]}]},
    {"title": "B", "paragraphs": 5}]})";
  SquadLoadOptions options;
  options.skip_bad_examples = true;
  SquadLoadReport report;
  absl::StatusOr<SquadData> data = ParseSquadJson(json, "x.json", options, &report);
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_EQ(data->examples.size(), 2u);
  EXPECT_EQ(data->examples[0].id, "ok1");
  EXPECT_EQ(data->examples[1].id, "ok2");
  EXPECT_EQ(report.num_questions, 6);
  EXPECT_EQ(report.num_loaded, 2);
  EXPECT_EQ(report.num_skipped, 4);
  EXPECT_THAT(
      report.first_errors,
      ElementsAre(
          "x.json: question \"bad1\": field 'answers[0].text' is \"xyz\" but the context at "
          "answer_start 4 reads \"def\"",
          "x.json: question \"ok1\": field 'id' duplicates the id of "
          "data[0].paragraphs[0].qas[0]",
          "x.json: data[0].paragraphs[1]: required field 'context' is missing",
          "x.json: data[1]: field 'paragraphs' must be a list, got 5"));

  // Without the option the first problem fails the load.
  EXPECT_FALSE(ParseSquadJson(json, "x.json").ok());
}

TEST(SquadDataTest, ReportKeepsOnlyTheFirstErrors) {
  std::string qas;
  for (int i = 0; i < 8; ++i) {
    if (i > 0) qas += ",";
    qas += R"({"id": "q)" + std::to_string(i) + R"(", "answers": []})";
  }
  SquadLoadOptions options;
  options.skip_bad_examples = true;
  SquadLoadReport report;
  absl::StatusOr<SquadData> data =
      ParseSquadJson(OneParagraph("abc", qas), "x.json", options, &report);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(report.num_skipped, 8);
  ASSERT_EQ(report.first_errors.size(), 5u);
  EXPECT_EQ(report.first_errors[4],
            "x.json: question \"q4\": required field 'question' is missing");
}

TEST(SquadDataTest, WriterRoundTripsV2File) {
  absl::StatusOr<SquadData> data = LoadSquadJson(kFixtures + "v2_small.json");
  ASSERT_TRUE(data.ok()) << data.status();
  const std::string path = TempPath("round_trip.json");
  ASSERT_TRUE(WriteSquadJson(path, *data).ok());
  absl::StatusOr<SquadData> again = LoadSquadJson(path);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->version, "v2.0");
  EXPECT_TRUE(again->version_2);
  ASSERT_EQ(again->examples.size(), data->examples.size());
  for (size_t i = 0; i < data->examples.size(); ++i) {
    const SquadExample& a = data->examples[i];
    const SquadExample& b = again->examples[i];
    EXPECT_EQ(a.id, b.id);
    EXPECT_EQ(a.title, b.title);
    EXPECT_EQ(a.question, b.question);
    EXPECT_EQ(a.context, b.context);
    EXPECT_EQ(a.is_impossible, b.is_impossible);
    ASSERT_EQ(a.answers.size(), b.answers.size());
    for (size_t j = 0; j < a.answers.size(); ++j) {
      EXPECT_EQ(a.answers[j].text, b.answers[j].text);
      EXPECT_EQ(a.answers[j].answer_start, b.answers[j].answer_start);
    }
    ASSERT_EQ(a.plausible_answers.size(), b.plausible_answers.size());
  }
}

TEST(SquadDataTest, WriterGroupsArticlesAndParagraphs) {
  SquadData data;
  data.version = "1.1";
  data.examples = {
      {"a", "T1", "q?", "ctx one", {{"one", 4}}, {}, false},
      {"b", "T1", "q?", "ctx one", {{"ctx", 0}}, {}, false},
      {"c", "T1", "q?", "ctx two", {{"two", 4}}, {}, false},
      {"d", "T2", "q?", "ctx two", {{"two", 4}}, {}, false},
  };
  absl::StatusOr<std::string> text = SquadDataToJson(data);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text,
            R"({"version":"1.1","data":[{"title":"T1","paragraphs":[{"context":"ctx one","qas":[)"
            R"({"id":"a","question":"q?","answers":[{"text":"one","answer_start":4}]},)"
            R"({"id":"b","question":"q?","answers":[{"text":"ctx","answer_start":0}]}]},)"
            R"({"context":"ctx two","qas":[{"id":"c","question":"q?","answers":[{"text":"two",)"
            R"("answer_start":4}]}]}]},{"title":"T2","paragraphs":[{"context":"ctx two","qas":[)"
            R"({"id":"d","question":"q?","answers":[{"text":"two","answer_start":4}]}]}]}]})"
            "\n");
}

TEST(SquadDataTest, WriterRejectsWhatTheLoaderWould) {
  SquadData data;
  data.examples = {{"a", "T", "q?", "Zürich", {{"Zurich", 0}}, {}, false}};
  absl::StatusOr<std::string> text = SquadDataToJson(data, "out.json");
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().message(),
            "out.json: question \"a\": field 'answers[0].text' is \"Zurich\" but the context at "
            "answer_start 0 reads \"Zürich\"");

  data.examples = {{"a", "T", "q?", "abc", {{"a", 0}}, {}, false},
                   {"a", "T", "q?", "abc", {{"b", 1}}, {}, false}};
  text = SquadDataToJson(data, "out.json");
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().message(),
            "out.json: question \"a\": field 'id' duplicates the id of examples[0]");

  data.examples = {{"a", "T", "q?", "ab\xC3", {}, {}, true}};
  text = SquadDataToJson(data, "out.json");
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().message(),
            "out.json: question \"a\": field 'context' is not valid UTF-8");
}

}  // namespace
}  // namespace datasets
