#include "datasets/squad/squad_postprocess.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "base/atomic_file.h"
#include "datasets/squad/fake_tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace datasets {
namespace {

using ::testing::ElementsAre;

constexpr float kLow = -100.0f;

// Ten tokens in four windows of four ([CLS] q [SEP] t t t t [SEP]) stepping by two:
// tokens 0-3, 2-5, 4-7, 6-9. "Zürich" is tokens 1 and 4; "Gamma" token 3 (char 15).
// Max-context owners: tokens 0-2 window 0, 3-4 window 1, 5-6 window 2, 7-9 window 3.
constexpr char kContext[] = "Alpha Zürich — Gamma Zürich Delta Eta Theta Iota Kappa";

SquadExample MakeExample(std::string id, std::string context) {
  SquadExample example;
  example.id = std::move(id);
  example.question = "q";
  example.context = std::move(context);
  example.is_impossible = true;  // Answers are irrelevant to post-processing.
  return example;
}

std::vector<SquadFeature> Convert(const std::vector<SquadExample>& examples, int64_t max_seq_length,
                                  int64_t doc_stride) {
  std::vector<std::string> texts = {"q"};
  for (const SquadExample& example : examples) texts.push_back(example.context);
  FakeTokenizer tokenizer(texts);
  SquadFeatureConfig config;
  config.max_seq_length = max_seq_length;
  config.doc_stride = doc_stride;
  absl::StatusOr<std::vector<SquadFeature>> features =
      ConvertSquadExamplesToFeatures(examples, tokenizer, config);
  EXPECT_TRUE(features.ok()) << features.status();
  return features.ok() ? *features : std::vector<SquadFeature>();
}

SquadLogits Flat(size_t length, float value) {
  return {std::vector<float>(length, value), std::vector<float>(length, value)};
}

std::string TempDir(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
  mkdir(path.c_str(), 0755);
  return path;
}

// One window, "[CLS] q [SEP] alpha beta gamma [SEP] [PAD]", with spans scoring
// "Alpha Beta" 3+2, "Alpha Beta Gamma" 3+1, "Beta" 1+2, "Beta Gamma" 1+1 and [CLS] 0+0.
struct OneWindow {
  std::vector<SquadExample> examples = {MakeExample("a", "Alpha Beta Gamma")};
  std::vector<SquadFeature> features = Convert(examples, 8, 128);
  std::vector<SquadLogits> logits = {
      {{0, kLow, kLow, 3, 1, kLow, kLow, kLow}, {0, kLow, kLow, kLow, 2, 1, kLow, kLow}}};
};

TEST(SquadPostprocessTest, RanksSpansAndComputesProbabilities) {
  OneWindow input;
  SquadPostprocessConfig config;
  config.n_best_size = 3;
  absl::StatusOr<std::vector<SquadPrediction>> predictions =
      PostprocessSquadPredictions(input.examples, input.features, input.logits, config);
  ASSERT_TRUE(predictions.ok()) << predictions.status();
  ASSERT_EQ(predictions->size(), 1u);
  const SquadPrediction& prediction = (*predictions)[0];
  EXPECT_EQ(prediction.id, "a");
  EXPECT_EQ(prediction.text, "Alpha Beta");
  ASSERT_EQ(prediction.nbest.size(), 3u);
  EXPECT_EQ(prediction.nbest[0].text, "Alpha Beta");
  EXPECT_EQ(prediction.nbest[1].text, "Alpha Beta Gamma");
  EXPECT_EQ(prediction.nbest[2].text, "Beta");
  EXPECT_DOUBLE_EQ(prediction.nbest[0].probability, 0.6652409557748218);
  EXPECT_DOUBLE_EQ(prediction.nbest[1].probability, 0.24472847105479764);
  EXPECT_DOUBLE_EQ(prediction.nbest[2].probability, 0.09003057317038046);
  EXPECT_EQ(prediction.nbest[1].start_logit, 3.0);
  EXPECT_EQ(prediction.nbest[1].end_logit, 1.0);
}

TEST(SquadPostprocessTest, SkipsSpansLongerThanMaxAnswerLength) {
  OneWindow input;
  SquadPostprocessConfig config;
  config.n_best_size = 3;
  config.max_answer_length = 2;
  absl::StatusOr<std::vector<SquadPrediction>> predictions =
      PostprocessSquadPredictions(input.examples, input.features, input.logits, config);
  ASSERT_TRUE(predictions.ok()) << predictions.status();
  const SquadPrediction& prediction = (*predictions)[0];
  ASSERT_EQ(prediction.nbest.size(), 3u);
  EXPECT_EQ(prediction.nbest[0].text, "Alpha Beta");
  EXPECT_EQ(prediction.nbest[1].text, "Beta");
  EXPECT_EQ(prediction.nbest[2].text, "Beta Gamma");
  EXPECT_DOUBLE_EQ(prediction.nbest[0].probability, 0.8437947344813395);
  EXPECT_DOUBLE_EQ(prediction.nbest[2].probability, 0.04201006613406605);
}

TEST(SquadPostprocessTest, Version2ComparesNullScoreWithThreshold) {
  OneWindow input;
  SquadPostprocessConfig config;
  config.n_best_size = 3;
  config.version_2_with_negative = true;
  absl::StatusOr<std::vector<SquadPrediction>> predictions =
      PostprocessSquadPredictions(input.examples, input.features, input.logits, config);
  ASSERT_TRUE(predictions.ok()) << predictions.status();
  SquadPrediction prediction = (*predictions)[0];
  // null 0 - best span 5 = -5, not above the threshold 0.
  EXPECT_EQ(prediction.null_score_diff, -5.0);
  EXPECT_EQ(prediction.text, "Alpha Beta");
  // The null answer did not make the top 3, so it is appended.
  ASSERT_EQ(prediction.nbest.size(), 4u);
  EXPECT_EQ(prediction.nbest[3].text, "");
  EXPECT_EQ(prediction.nbest[3].start_logit, 0.0);
  EXPECT_DOUBLE_EQ(prediction.nbest[0].probability, 0.6622724135241204);
  EXPECT_DOUBLE_EQ(prediction.nbest[3].probability, 0.004462356421281936);

  config.null_score_diff_threshold = -6.0;  // -5 > -6: no answer.
  predictions = PostprocessSquadPredictions(input.examples, input.features, input.logits, config);
  ASSERT_TRUE(predictions.ok()) << predictions.status();
  EXPECT_EQ((*predictions)[0].text, "");
  EXPECT_EQ((*predictions)[0].null_score_diff, -5.0);

  config.null_score_diff_threshold = -5.0;  // Only strictly greater predicts "".
  predictions = PostprocessSquadPredictions(input.examples, input.features, input.logits, config);
  ASSERT_TRUE(predictions.ok()) << predictions.status();
  EXPECT_EQ((*predictions)[0].text, "Alpha Beta");
}

TEST(SquadPostprocessTest, PicksTheMaxContextSpanAcrossWindowsWithOriginalText) {
  const std::vector<SquadExample> examples = {MakeExample("z", kContext)};
  const std::vector<SquadFeature> features = Convert(examples, 8, 2);
  ASSERT_EQ(features.size(), 4u);
  std::vector<SquadLogits> logits(4, Flat(8, -10.0f));
  // Window 0: "Zürich —" (tokens 1-2) scores 3 + 2.
  logits[0].start_logits[4] = 3;
  logits[0].end_logits[5] = 2;
  // Window 1: "Gamma Zürich" (tokens 3-4 at positions 4-5) scores 5 + 4.
  logits[1].start_logits[4] = 5;
  logits[1].end_logits[5] = 4;
  // Windows 2 and 3: "Zürich" (token 4) and "Eta" (token 6) at position 3 score 40, but
  // windows 1 and 2 own those tokens: skipped.
  logits[2].start_logits[3] = 20;
  logits[2].end_logits[3] = 20;
  logits[3].start_logits[3] = 20;
  logits[3].end_logits[3] = 20;
  // [CLS] scores per window: 2, 1, 3, 4; the null score is the minimum, 1 (window 1).
  const float null_halves[] = {1.0f, 0.5f, 1.5f, 2.0f};
  for (int i = 0; i < 4; ++i) {
    logits[i].start_logits[0] = null_halves[i];
    logits[i].end_logits[0] = null_halves[i];
  }
  SquadPostprocessConfig config;
  absl::StatusOr<std::vector<SquadPrediction>> predictions =
      PostprocessSquadPredictions(examples, features, logits, config);
  ASSERT_TRUE(predictions.ok()) << predictions.status();
  const SquadPrediction& prediction = (*predictions)[0];
  EXPECT_EQ(prediction.text, "Gamma Zürich");  // Cased and with its "ü": not detokenized.
  ASSERT_GE(prediction.nbest.size(), 2u);
  EXPECT_EQ(prediction.nbest[1].text, "Zürich —");
  EXPECT_EQ(prediction.nbest[1].start_logit, 3.0);

  config.version_2_with_negative = true;
  predictions = PostprocessSquadPredictions(examples, features, logits, config);
  ASSERT_TRUE(predictions.ok()) << predictions.status();
  EXPECT_EQ((*predictions)[0].null_score_diff, 1.0 - 9.0);
  EXPECT_EQ((*predictions)[0].text, "Gamma Zürich");
  const auto null_entry =
      std::find_if((*predictions)[0].nbest.begin(), (*predictions)[0].nbest.end(),
                   [](const SquadNbestEntry& e) { return e.text.empty(); });
  ASSERT_NE(null_entry, (*predictions)[0].nbest.end());
  EXPECT_EQ(null_entry->start_logit, 0.5);
  EXPECT_EQ(null_entry->end_logit, 0.5);

  config.null_score_diff_threshold = -8.5;
  predictions = PostprocessSquadPredictions(examples, features, logits, config);
  ASSERT_TRUE(predictions.ok()) << predictions.status();
  EXPECT_EQ((*predictions)[0].text, "");
}

TEST(SquadPostprocessTest, KeepsOneEntryPerDistinctText) {
  const std::vector<SquadExample> examples = {MakeExample("d", "Zürich and Zürich")};
  const std::vector<SquadFeature> features = Convert(examples, 8, 128);
  std::vector<SquadLogits> logits = {Flat(8, kLow)};
  logits[0].start_logits[3] = 2.0f;
  logits[0].start_logits[5] = 1.5f;
  logits[0].end_logits[3] = 2.0f;
  logits[0].end_logits[5] = 1.5f;
  SquadPostprocessConfig config;
  config.n_best_size = 3;
  absl::StatusOr<std::vector<SquadPrediction>> predictions =
      PostprocessSquadPredictions(examples, features, logits, config);
  ASSERT_TRUE(predictions.ok()) << predictions.status();
  const SquadPrediction& prediction = (*predictions)[0];
  // The second "Zürich" (1.5 + 1.5) repeats the text of the first (2 + 2).
  ASSERT_EQ(prediction.nbest.size(), 2u);
  EXPECT_EQ(prediction.nbest[0].text, "Zürich");
  EXPECT_EQ(prediction.nbest[1].text, "Zürich and Zürich");
  EXPECT_DOUBLE_EQ(prediction.nbest[0].probability, 0.6224593312018546);
}

TEST(SquadPostprocessTest, ExampleWithoutFeaturesPredictsEmpty) {
  const std::vector<SquadExample> examples = {MakeExample("empty", ""),
                                              MakeExample("b", "Alpha Beta Gamma")};
  const std::vector<SquadFeature> features = Convert(examples, 8, 128);
  ASSERT_EQ(features.size(), 1u);
  std::vector<SquadLogits> logits = {Flat(8, 0.0f)};
  logits[0].start_logits[4] = 1.0f;
  logits[0].end_logits[4] = 1.0f;
  for (bool version_2 : {false, true}) {
    SquadPostprocessConfig config;
    config.version_2_with_negative = version_2;
    absl::StatusOr<std::vector<SquadPrediction>> predictions =
        PostprocessSquadPredictions(examples, features, logits, config);
    ASSERT_TRUE(predictions.ok()) << predictions.status();
    ASSERT_EQ(predictions->size(), 2u);
    EXPECT_EQ((*predictions)[0].id, "empty");
    EXPECT_EQ((*predictions)[0].text, "");
    ASSERT_EQ((*predictions)[0].nbest.size(), 1u);
    EXPECT_EQ((*predictions)[0].nbest[0].probability, 1.0);
    EXPECT_EQ((*predictions)[1].text, "Beta");
  }
}

TEST(SquadPostprocessTest, WritesPredictionFiles) {
  OneWindow input;
  SquadPostprocessConfig config;
  config.n_best_size = 1;
  config.version_2_with_negative = true;
  absl::StatusOr<std::vector<SquadPrediction>> predictions =
      PostprocessSquadPredictions(input.examples, input.features, input.logits, config);
  ASSERT_TRUE(predictions.ok()) << predictions.status();
  EXPECT_EQ(PredictionTexts(*predictions),
            (std::map<std::string, std::string>{{"a", "Alpha Beta"}}));

  const std::string dir = TempDir("v2");
  ASSERT_TRUE(WriteSquadPredictions(*predictions, dir, config).ok());
  absl::StatusOr<std::string> text = base::ReadFileToString(dir + "/predictions.json");
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "{\n    \"a\": \"Alpha Beta\"\n}\n");
  text = base::ReadFileToString(dir + "/null_odds.json");
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "{\n    \"a\": -5.0\n}\n");
  text = base::ReadFileToString(dir + "/nbest_predictions.json");
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text,
            "{\n"
            "    \"a\": [\n"
            "        {\n"
            "            \"text\": \"Alpha Beta\",\n"
            "            \"probability\": 0.9933071490757153,\n"
            "            \"start_logit\": 3.0,\n"
            "            \"end_logit\": 2.0\n"
            "        },\n"
            "        {\n"
            "            \"text\": \"\",\n"
            "            \"probability\": 0.006692850924284856,\n"
            "            \"start_logit\": 0.0,\n"
            "            \"end_logit\": 0.0\n"
            "        }\n"
            "    ]\n"
            "}\n");

  config.version_2_with_negative = false;
  const std::string v1_dir = TempDir("v1");
  ASSERT_TRUE(WriteSquadPredictions(*predictions, v1_dir, config).ok());
  EXPECT_TRUE(base::ReadFileToString(v1_dir + "/predictions.json").ok());
  EXPECT_EQ(base::ReadFileToString(v1_dir + "/null_odds.json").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(SquadPostprocessTest, RejectsMismatchedOrNonFiniteLogits) {
  OneWindow input;
  SquadPostprocessConfig config;
  absl::StatusOr<std::vector<SquadPrediction>> predictions =
      PostprocessSquadPredictions(input.examples, input.features, {}, config);
  ASSERT_FALSE(predictions.ok());
  EXPECT_EQ(predictions.status().message(), "SQuAD post-processing: got 0 logits for 1 features");

  std::vector<SquadLogits> logits = input.logits;
  logits[0].end_logits.pop_back();
  predictions = PostprocessSquadPredictions(input.examples, input.features, logits, config);
  ASSERT_FALSE(predictions.ok());
  EXPECT_EQ(predictions.status().message(),
            "SQuAD post-processing: feature 0 (question \"a\"): end_logits has 7 values, "
            "expected 8");

  logits = input.logits;
  logits[0].start_logits[2] = std::numeric_limits<float>::quiet_NaN();
  predictions = PostprocessSquadPredictions(input.examples, input.features, logits, config);
  ASSERT_FALSE(predictions.ok());
  EXPECT_EQ(predictions.status().message(),
            "SQuAD post-processing: feature 0 (question \"a\"): start_logits[2] is nan");

  config.n_best_size = 0;
  predictions = PostprocessSquadPredictions(input.examples, input.features, input.logits, config);
  ASSERT_FALSE(predictions.ok());
  EXPECT_EQ(predictions.status().message(),
            "SquadPostprocessConfig: n_best_size (0) and max_answer_length (30) must be positive");
}

}  // namespace
}  // namespace datasets
