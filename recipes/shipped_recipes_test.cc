// Every shipped recipe (recipes/*.yaml, combinations/, full_scale/) loads and dry-runs, so
// none of them rots: the local-data recipes against a tiny stand-in of data/ (same layout),
// the full-scale ones with ${model_dir} / ${teacher_dir} / ${data_dir} pointed at tiny
// stand-in checkpoints (random weights, 2 layers of width 32) and files in the official
// formats. A dry run builds every stage's model, data and components and checks them on a
// sample batch, without training.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/auto_model.h"
#include "models/bert_config.h"
#include "models/test_config.h"
#include "models/hf_checkpoint.h"
#include "recipes/pipeline.h"
#include "recipes/recipe.h"

namespace recipes {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string TmpDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

void WriteFile(const std::string& path, const std::string& contents) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << contents;
}

const char* const kWords[] = {
    "the", "a", "cat", "dog", "sat", "on", "mat", "ran", "to", "park", "who", "what", "when",
    "did", "study", "in", "zurich", "einstein", "from", "1896", "1900", "is", "good", "bad",
    "money", "free", "win", "now", "meeting", "today", "news", "story", "man", "city", ".",
    "?", ",", "it", "was", "and", "of", "he", "she", "they", "new", "old", "great", "film"};

std::string Vocab() {
  std::string vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
  for (const char* word : kWords) absl::StrAppend(&vocab, word, "\n");
  return vocab;
}

std::string Corpus() {
  std::string text;
  for (int document = 0; document < 6; ++document) {
    for (int sentence = 0; sentence < 5; ++sentence) {
      absl::StrAppend(&text, kWords[(document + sentence) % 10], " ",
                      kWords[(document * 3 + sentence) % 20], " the cat sat on the mat .\n");
    }
    text += "\n";
  }
  return text;
}

std::string Tsv(const std::vector<std::string>& labels, int rows_per_label) {
  std::string text = "text\tlabel\n";
  for (int r = 0; r < rows_per_label; ++r) {
    for (size_t l = 0; l < labels.size(); ++l) {
      absl::StrAppend(&text, kWords[(r + l) % 30], " ", kWords[(r * 7 + l) % 40], " news story\t",
                      labels[l], "\n");
    }
  }
  return text;
}

// A random tiny checkpoint with the stand-in vocabulary, like a Hugging Face directory.
void SaveStandIn(const std::string& dir, const std::string& model_type,
                 const std::string& architecture) {
  models::BertConfig config = models::TinyTestConfig(64, 512);
  config.model_type = model_type;
  if (model_type == "distilbert") {
    config.type_vocab_size = 0;
    config.tie_word_embeddings = true;
  }
  config.architectures = {architecture};
  auto model = models::CreateModel(config, architecture);
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_TRUE(models::SavePretrained(**model, dir).ok());
  WriteFile(dir + "/vocab.txt", Vocab());
}

class ShippedRecipesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new std::string(TmpDir() + "/shipped");
    const std::string data = *root_ + "/data";
    std::ifstream squad_file("tests/fixtures/squad/v1_small.json");
    std::stringstream squad;
    squad << squad_file.rdbuf();
    ASSERT_FALSE(squad.str().empty());
    // The local data's layout (data/README-data.md).
    WriteFile(data + "/vocab/bert-base-uncased-vocab.txt", Vocab());
    WriteFile(data + "/corpus/train.txt", Corpus());
    WriteFile(data + "/corpus/dev.txt", Corpus());
    WriteFile(data + "/cloze_qa/train-v1.1.json", squad.str());
    WriteFile(data + "/cloze_qa/dev-v1.1.json", squad.str());
    const std::vector<std::string> genres = {
        "adventure", "belles_lettres", "editorial", "fiction",  "government",
        "hobbies",   "humor",          "learned",   "lore",     "mystery",
        "news",      "religion",       "reviews",   "romance",  "science_fiction"};
    WriteFile(data + "/brown_genre/train.tsv", Tsv(genres, 3));
    WriteFile(data + "/brown_genre/dev.tsv", Tsv(genres, 1));
    WriteFile(data + "/spam/train.tsv", Tsv({"ham", "spam"}, 20));
    WriteFile(data + "/spam/dev.tsv", Tsv({"ham", "spam"}, 5));
    // The full-scale recipes' layout: Wikipedia text, SQuAD v1.1, GLUE TSVs.
    WriteFile(data + "/wikipedia/train.txt", Corpus());
    WriteFile(data + "/wikipedia/dev.txt", Corpus());
    WriteFile(data + "/squad/train-v1.1.json", squad.str());
    WriteFile(data + "/squad/dev-v1.1.json", squad.str());
    const std::string mnli =
        "index\tpromptID\tpairID\tgenre\tsentence1\tsentence2\tlabel1\tgold_label\n"
        "0\t1\t1n\tslate\tthe cat sat\ta dog ran\tneutral\tneutral\n"
        "1\t2\t2c\tslate\tthe dog ran\tthe dog sat\tcontradiction\tcontradiction\n"
        "2\t3\t3e\tslate\tthe man ran\ta man ran\tentailment\tentailment\n";
    WriteFile(data + "/glue/MNLI/train.tsv", mnli);
    WriteFile(data + "/glue/MNLI/dev_matched.tsv", mnli);
    const std::string qqp =
        "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
        "1\t1\t2\twho is the man ?\twho was the man ?\t1\n"
        "2\t3\t4\twhat is free money ?\twhen did he study ?\t0\n";
    WriteFile(data + "/glue/QQP/train.tsv", qqp);
    WriteFile(data + "/glue/QQP/dev.tsv", qqp);
    const std::string qnli =
        "index\tquestion\tsentence\tlabel\n"
        "0\twho sat ?\tthe cat sat\tentailment\n"
        "1\twhat ran ?\tit was good\tnot_entailment\n";
    WriteFile(data + "/glue/QNLI/train.tsv", qnli);
    WriteFile(data + "/glue/QNLI/dev.tsv", qnli);
    const std::string sst2 = "sentence\tlabel\na great film \t1\na bad film \t0\n";
    WriteFile(data + "/glue/SST-2/train.tsv", sst2);
    WriteFile(data + "/glue/SST-2/dev.tsv", sst2);
    // Stand-in checkpoints: pre-trained BERT / DistilBERT, and a fine-tuned QA model.
    SaveStandIn(*root_ + "/bert", "bert", "BertForPreTraining");
    SaveStandIn(*root_ + "/distilbert", "distilbert", "DistilBertForMaskedLM");
    SaveStandIn(*root_ + "/bert_qa", "bert", "BertForQuestionAnswering");
  }
  static void TearDownTestSuite() { delete root_; }

  // Loads `recipe` (a path under recipes/) with the stand-ins and dry-runs it.
  void DryRun(const std::string& recipe, RecipeOverrides overrides, const std::string& tag = "") {
    SCOPED_TRACE(recipe + " " + tag);
    overrides.data_dir = *root_ + "/data";
    if (overrides.model_dir.empty()) overrides.model_dir = *root_ + "/bert";
    if (overrides.teacher_dir.empty()) overrides.teacher_dir = *root_ + "/bert";
    overrides.output_dir =
        absl::StrCat(*root_, "/out/", fs::path(recipe).stem().string(), tag);
    absl::StatusOr<Recipe> loaded = LoadRecipe(recipe, overrides);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    RunOptions options;
    options.dry_run = true;
    options.progress = false;
    absl::StatusOr<RunSummary> run = RunRecipe(*loaded, options);
    ASSERT_TRUE(run.ok()) << run.status();
    for (const StageSpec& stage : loaded->stages) {
      EXPECT_THAT(run->plan, HasSubstr(stage.name));
    }
  }

  static std::string* root_;
};

std::string* ShippedRecipesTest::root_ = nullptr;

std::vector<std::string> ShippedRecipes() {
  std::vector<std::string> files;
  for (const char* dir : {"recipes", "recipes/combinations", "recipes/full_scale"}) {
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.path().extension() == ".yaml") files.push_back(entry.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST_F(ShippedRecipesTest, LocalRecipesDryRunWithTheirQuickProfiles) {
  int count = 0;
  for (const std::string& recipe : ShippedRecipes()) {
    if (recipe.find("full_scale") != std::string::npos) continue;
    ++count;
    RecipeOverrides overrides;
    overrides.profile = "quick";
    DryRun(recipe, overrides);
    // And as written (no profile), the full-length settings.
    DryRun(recipe, {}, "_full");
  }
  EXPECT_GE(count, 6);  // The six combinations, and the embedded default once it lands.
}

TEST_F(ShippedRecipesTest, FullScaleRecipesDryRunOnStandIns) {
  int count = 0;
  for (const std::string& recipe : ShippedRecipes()) {
    if (recipe.find("full_scale") == std::string::npos) continue;
    ++count;
    RecipeOverrides overrides;
    if (recipe.find("eval_released") != std::string::npos) {
      overrides.model_dir = *root_ + "/bert_qa";
    }
    DryRun(recipe, overrides);
  }
  EXPECT_EQ(count, 4);
  // The model families and tasks the full-scale files take as profiles.
  RecipeOverrides distilbert;
  distilbert.profile = "distilbert";
  distilbert.model_dir = *root_ + "/distilbert";
  distilbert.teacher_dir = *root_ + "/distilbert";
  DryRun("recipes/full_scale/squad.yaml", distilbert, "_distilbert");
  RecipeOverrides large;
  large.profile = "bert_large";
  DryRun("recipes/full_scale/squad.yaml", large, "_large");
  for (const char* task : {"qqp", "qnli", "sst2"}) {
    RecipeOverrides glue;
    glue.profile = task;
    DryRun("recipes/full_scale/glue.yaml", glue, absl::StrCat("_", task));
  }
  RecipeOverrides glue_distilbert;
  glue_distilbert.set = {{"defaults.model.architecture", "DistilBertForSequenceClassification"}};
  glue_distilbert.model_dir = *root_ + "/distilbert";
  glue_distilbert.teacher_dir = *root_ + "/distilbert";
  DryRun("recipes/full_scale/glue.yaml", glue_distilbert, "_distilbert");
}

}  // namespace
}  // namespace recipes
