#include "datasets/squad/squad_metrics.h"

#include <map>
#include <string>

#include "datasets/squad/squad_data.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace datasets {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string kFixtures = "tests/fixtures/squad/";

SquadExample Question(std::string id, std::vector<std::string> answers) {
  SquadExample example;
  example.id = std::move(id);
  for (std::string& text : answers) example.answers.push_back({std::move(text), 0});
  example.is_impossible = example.answers.empty();
  return example;
}

TEST(SquadMetricsTest, NormalizesLikeTheOfficialScript) {
  // Expected values printed by the scripts' normalize_answer under Python 3.11.
  const std::pair<std::string, std::string> cases[] = {
      {"The  Quick, brown fox!", "quick brown fox"},
      {"an apple a day", "apple day"},
      {"Theatre anthem another", "theatre anthem another"},  // Articles only as words.
      {"ZÜRICH — The city", "zürich — city"},                // Unicode lower; "—" stays.
      {"a—the", "—"},                                        // "—" is a word boundary.
      {"l'amour", "lamour"},
      {"the_end", "theend"},  // "_" is punctuation, removed before the articles.
      {"x_a_y", "xay"},
      {"théâtre a", "théâtre"},
      {"anö an", "anö"},  // "ö" is a word character: "anö" is no article.
      {"ΟΔΟΣ ΟΔΟΣ", "\u03bf\u03b4\u03bf\u03c2 \u03bf\u03b4\u03bf\u03c2"},  // Final sigma.
      {"1\u00a0000", "1 000"},  // str.split() splits on no-break spaces.
      {"tab\tand\nnewline", "tab and newline"},
      {"A", ""},
      {" the ", ""},
      {"İstanbul", "i\u0307stanbul"},
      {"Ünter den Linden", "ünter den linden"},
  };
  for (const auto& [text, expected] : cases) {
    EXPECT_EQ(NormalizeAnswer(text), expected) << text;
  }
}

TEST(SquadMetricsTest, LowersFinalSigmaAsPython) {
  EXPECT_EQ(NormalizeAnswer("\u039f\u0394\u039f\u03a3"), "\u03bf\u03b4\u03bf\u03c2");
  EXPECT_EQ(NormalizeAnswer("\u03a3\u0391"), "\u03c3\u03b1");
  EXPECT_EQ(NormalizeAnswer("\u03a3"), "\u03c3");
}

TEST(SquadMetricsTest, ExactMatchComparesNormalizedStrings) {
  EXPECT_TRUE(SquadExactMatch("The Cat.", "cat"));
  EXPECT_TRUE(SquadExactMatch("1,230 km", "1230 km."));
  EXPECT_FALSE(SquadExactMatch("Zurich", "Zürich"));
  EXPECT_TRUE(SquadExactMatch("", "the"));
}

TEST(SquadMetricsTest, ComputesTokenF1) {
  // pred {cat, sat}, gold {cat, sat, down}: P = 1, R = 2/3.
  EXPECT_EQ(SquadF1V1("the cat sat", "a cat sat down"), 0.8);
  // Counter intersection: {cat: 3} & {cat: 2} shares 2 tokens; P = R = 2/3.
  EXPECT_EQ(SquadF1V1("the the cat cat cat", "cat cat dog"), 2.0 / 3.0);
  EXPECT_EQ(SquadF1V1("Einstein studied in Zürich", "in Zürich"), 2.0 / 3.0);
  EXPECT_EQ(SquadF1V1("red", "blue"), 0.0);
  EXPECT_EQ(SquadF1V2("the cat sat", "a cat sat down"), 0.8);
}

TEST(SquadMetricsTest, EmptyAnswersDifferBetweenVersions) {
  // v1.1: nothing shared means 0, even for two empty answers.
  EXPECT_EQ(SquadF1V1("", ""), 0.0);
  EXPECT_EQ(SquadF1V1("the", "a"), 0.0);
  // v2.0: both empty is a match, one empty is not.
  EXPECT_EQ(SquadF1V2("", ""), 1.0);
  EXPECT_EQ(SquadF1V2("the", ""), 1.0);
  EXPECT_EQ(SquadF1V2("cat", ""), 0.0);
  EXPECT_EQ(SquadF1V2("", "cat"), 0.0);
}

TEST(SquadMetricsTest, EvaluatesV11FixtureLikeTheScript) {
  absl::StatusOr<SquadData> data = LoadSquadJson(kFixtures + "v1_small.json");
  ASSERT_TRUE(data.ok()) << data.status();
  absl::StatusOr<std::map<std::string, std::string>> predictions =
      LoadSquadPredictions(kFixtures + "predictions_v1.json");
  ASSERT_TRUE(predictions.ok()) << predictions.status();
  absl::StatusOr<SquadMetrics> metrics = EvaluateSquad(*data, *predictions);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  // q1 matches its second answer (1, 1); q2 "in Zurich" vs "in Zürich" (0, 0.5); q3
  // "1230 km." vs "1,230 km" (1, 1); q4 "the river Danube" vs "Danube" (0, 2/3).
  EXPECT_FALSE(metrics->version_2);
  EXPECT_EQ(metrics->total, 4);
  EXPECT_EQ(metrics->exact, 50.0);
  EXPECT_EQ(metrics->f1, 79.16666666666666);
  EXPECT_TRUE(metrics->missing_ids.empty());
  // Per question in file order, in percent; their mean is the metric.
  ASSERT_EQ(metrics->per_question.size(), 4u);
  EXPECT_EQ(metrics->per_question[1].id, "q2");
  EXPECT_EQ(metrics->per_question[1].exact, 0.0);
  EXPECT_DOUBLE_EQ(metrics->per_question[1].f1, 50.0);
  EXPECT_DOUBLE_EQ(metrics->per_question[3].f1, 100.0 * 2 / 3);
  double f1_sum = 0;
  for (const SquadQuestionScore& score : metrics->per_question) f1_sum += score.f1;
  EXPECT_DOUBLE_EQ(f1_sum / 4, metrics->f1);
  EXPECT_EQ(SquadMetricsToJson(*metrics), "{\"exact_match\": 50.0, \"f1\": 79.16666666666666}\n");
}

TEST(SquadMetricsTest, MissingPredictionsScoreZero) {
  absl::StatusOr<SquadData> data = LoadSquadJson(kFixtures + "v1_small.json");
  ASSERT_TRUE(data.ok()) << data.status();
  absl::StatusOr<std::map<std::string, std::string>> predictions =
      LoadSquadPredictions(kFixtures + "predictions_v1_missing.json");
  ASSERT_TRUE(predictions.ok()) << predictions.status();
  absl::StatusOr<SquadMetrics> metrics = EvaluateSquad(*data, *predictions);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(metrics->total, 4);
  EXPECT_EQ(metrics->exact, 50.0);
  EXPECT_EQ(metrics->f1, 62.5);
  EXPECT_THAT(metrics->missing_ids, ElementsAre("q4"));
  ASSERT_EQ(metrics->per_question.size(), 4u);  // The missing question scores 0, not absent.
  EXPECT_EQ(metrics->per_question[3].id, "q4");
  EXPECT_EQ(metrics->per_question[3].f1, 0.0);
}

TEST(SquadMetricsTest, EvaluatesV20FixtureLikeTheScript) {
  absl::StatusOr<SquadData> data = LoadSquadJson(kFixtures + "v2_small.json");
  ASSERT_TRUE(data.ok()) << data.status();
  absl::StatusOr<std::map<std::string, std::string>> predictions =
      LoadSquadPredictions(kFixtures + "predictions_v2.json");
  ASSERT_TRUE(predictions.ok()) << predictions.status();
  absl::StatusOr<SquadMetrics> metrics = EvaluateSquad(*data, *predictions);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  // Answerable: "Lake Zurich" vs "Lake Zürich" (0, 0.5), "Zürich" (1, 1). Unanswerable:
  // "" (1, 1), "Zürich" (0, 0).
  EXPECT_TRUE(metrics->version_2);
  EXPECT_EQ(metrics->exact, 50.0);
  EXPECT_EQ(metrics->f1, 62.5);
  EXPECT_EQ(metrics->total, 4);
  EXPECT_EQ(metrics->has_ans_exact, 50.0);
  EXPECT_EQ(metrics->has_ans_f1, 75.0);
  EXPECT_EQ(metrics->has_ans_total, 2);
  EXPECT_EQ(metrics->no_ans_exact, 50.0);
  EXPECT_EQ(metrics->no_ans_f1, 50.0);
  EXPECT_EQ(metrics->no_ans_total, 2);
  EXPECT_EQ(SquadMetricsToJson(*metrics),
            "{\n"
            "  \"exact\": 50.0,\n"
            "  \"f1\": 62.5,\n"
            "  \"total\": 4,\n"
            "  \"HasAns_exact\": 50.0,\n"
            "  \"HasAns_f1\": 75.0,\n"
            "  \"HasAns_total\": 2,\n"
            "  \"NoAns_exact\": 50.0,\n"
            "  \"NoAns_f1\": 50.0,\n"
            "  \"NoAns_total\": 2\n"
            "}\n");
}

TEST(SquadMetricsTest, V2OmitsEmptyGroupsAndDropsEmptyGoldAnswers) {
  SquadData data;
  data.version_2 = true;
  // "q2"'s only answer normalises to nothing, so its gold becomes [""], yet it still counts
  // as a has-answer question (the script tests the raw answer list).
  data.examples = {Question("q1", {"the cat", "dog"}), Question("q2", {"The"})};
  absl::StatusOr<SquadMetrics> metrics = EvaluateSquad(data, {{"q1", "a black cat"}, {"q2", ""}});
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  // q1: "black cat" vs "cat": P = 1/2, R = 1 -> 2/3.
  EXPECT_EQ(metrics->f1, 100.0 * (2.0 / 3.0 + 1.0) / 2);
  EXPECT_EQ(metrics->exact, 50.0);
  EXPECT_EQ(metrics->has_ans_total, 2);
  EXPECT_EQ(metrics->no_ans_total, 0);
  EXPECT_EQ(SquadMetricsToJson(*metrics),
            "{\n"
            "  \"exact\": 50.0,\n"
            "  \"f1\": 83.33333333333333,\n"
            "  \"total\": 2,\n"
            "  \"HasAns_exact\": 50.0,\n"
            "  \"HasAns_f1\": 83.33333333333333,\n"
            "  \"HasAns_total\": 2\n"
            "}\n");
}

TEST(SquadMetricsTest, TakesTheBestGroundTruth) {
  SquadData data;
  data.examples = {Question("q", {"Denver Broncos", "the Broncos", "Broncos of Denver"})};
  absl::StatusOr<SquadMetrics> metrics = EvaluateSquad(data, {{"q", "Broncos"}});
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(metrics->exact, 100.0);  // "the Broncos" normalises to "broncos".
  EXPECT_EQ(metrics->f1, 100.0);
  metrics = EvaluateSquad(data, {{"q", "Denver"}});
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(metrics->exact, 0.0);
  // "denver" vs "denver broncos": P = 1, R = 1/2 -> 2/3; vs "broncos of denver": 1/2.
  EXPECT_EQ(metrics->f1, 100.0 * (2.0 / 3.0) / 1);
}

TEST(SquadMetricsTest, RejectsWhatTheScriptsCannotScore) {
  SquadData data;
  absl::StatusOr<SquadMetrics> metrics = EvaluateSquad(data, {});
  ASSERT_FALSE(metrics.ok());
  EXPECT_EQ(metrics.status().message(), "SQuAD evaluation: the dataset has no questions");

  data.examples = {Question("q", {})};
  metrics = EvaluateSquad(data, {{"q", ""}});
  ASSERT_FALSE(metrics.ok());
  EXPECT_EQ(metrics.status().message(),
            "SQuAD v1.1 evaluation: question \"q\" has no answers to compare with");
}

TEST(SquadMetricsTest, ParsesPredictionFiles) {
  absl::StatusOr<std::map<std::string, std::string>> predictions =
      ParseSquadPredictions(R"({"a": "x", "b": ""})", "p.json");
  ASSERT_TRUE(predictions.ok()) << predictions.status();
  EXPECT_EQ(*predictions, (std::map<std::string, std::string>{{"a", "x"}, {"b", ""}}));

  predictions = ParseSquadPredictions(R"(["x"])", "p.json");
  ASSERT_FALSE(predictions.ok());
  EXPECT_EQ(predictions.status().message(),
            "p.json: expected a JSON object mapping question ids to answer strings, got [\"x\"]");
  predictions = ParseSquadPredictions(R"({"a": ["x"]})", "p.json");
  ASSERT_FALSE(predictions.ok());
  EXPECT_EQ(predictions.status().message(),
            "p.json: question \"a\": prediction must be a string, got [\"x\"]");
  predictions = ParseSquadPredictions("{", "p.json");
  ASSERT_FALSE(predictions.ok());
  EXPECT_THAT(predictions.status().message(), HasSubstr("p.json: not valid JSON: "));
  predictions = LoadSquadPredictions(kFixtures + "no_such_predictions.json");
  EXPECT_EQ(predictions.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace datasets
