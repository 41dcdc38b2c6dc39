#include "datasets/glue/glue.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "models/tokenizers/tokenizer.h"

namespace datasets {
namespace {

const std::string kTestdata = "datasets/glue/testdata/";

using Ids = std::vector<int64_t>;

// Splits on spaces and looks words up in a fixed vocabulary; enough to check how rows become
// model inputs without depending on the real WordPiece tokenizer.
class WhitespaceTokenizer : public tokenizers::Tokenizer {
 public:
  explicit WhitespaceTokenizer(std::vector<std::string> vocab) : vocab_(std::move(vocab)) {
    for (size_t i = 0; i < vocab_.size(); ++i) ids_[vocab_[i]] = static_cast<int64_t>(i);
  }

  tokenizers::Encoding Encode(absl::string_view text) const override {
    tokenizers::Encoding encoding;
    int64_t offset = 0;
    for (absl::string_view word : absl::StrSplit(text, ' ')) {
      if (!word.empty()) {
        encoding.tokens.emplace_back(word);
        encoding.ids.push_back(TokenToId(word));
        encoding.offsets.emplace_back(offset, offset + static_cast<int64_t>(word.size()));
      }
      offset += static_cast<int64_t>(word.size()) + 1;
    }
    return encoding;
  }
  std::string Decode(const std::vector<int64_t>& ids, bool /*skip_special_tokens*/) const override {
    std::vector<std::string> words;
    for (int64_t id : ids) words.push_back(IdToToken(id));
    return absl::StrJoin(words, " ");
  }
  int64_t vocab_size() const override { return static_cast<int64_t>(vocab_.size()); }
  int64_t TokenToId(absl::string_view token) const override {
    auto it = ids_.find(std::string(token));
    return it == ids_.end() ? unk_id() : it->second;
  }
  std::string IdToToken(int64_t id) const override {
    return id >= 0 && id < vocab_size() ? vocab_[id] : "";
  }
  int64_t cls_id() const override { return 2; }
  int64_t sep_id() const override { return 3; }
  int64_t pad_id() const override { return 0; }
  int64_t mask_id() const override { return 4; }
  int64_t unk_id() const override { return 1; }

 private:
  std::vector<std::string> vocab_;
  std::map<std::string, int64_t> ids_;
};

WhitespaceTokenizer MakeTokenizer() {
  // the=5 cat=6 sat=7 on=8 mat=9 a=10 dog=11 b=12 c=13 d=14
  return WhitespaceTokenizer({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat",
                              "on", "mat", "a", "dog", "b", "c", "d"});
}

std::vector<int64_t> Labels(const TextClassificationData& data) {
  std::vector<int64_t> labels;
  for (const TextExample& example : data.examples) labels.push_back(example.label);
  return labels;
}

TEST(GlueTest, GetGlueTaskUsesHuggingFaceLabelOrder) {
  auto mnli = GetGlueTask("mnli");
  ASSERT_TRUE(mnli.ok()) << mnli.status();
  EXPECT_EQ(mnli->label_list, (std::vector<std::string>{"contradiction", "entailment", "neutral"}));
  EXPECT_EQ(mnli->text_column, "sentence1");
  EXPECT_EQ(mnli->text_pair_column, "sentence2");
  EXPECT_EQ(mnli->label_column, "gold_label");

  auto sst2 = GetGlueTask("sst2");
  ASSERT_TRUE(sst2.ok()) << sst2.status();
  EXPECT_EQ(sst2->name, "sst-2");
  EXPECT_EQ(sst2->text_pair_column, "");

  auto mismatched = GetGlueTask("mnli_mismatched");
  ASSERT_TRUE(mismatched.ok()) << mismatched.status();
  EXPECT_EQ(mismatched->name, "mnli-mm");
  EXPECT_EQ(mismatched->label_column, "gold_label");

  auto qnli = GetGlueTask("qnli");
  ASSERT_TRUE(qnli.ok());
  EXPECT_EQ(qnli->label_list, (std::vector<std::string>{"entailment", "not_entailment"}));

  auto cola = GetGlueTask("cola");
  EXPECT_EQ(cola.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(cola.status().message().find("CoLA is not supported"), std::string::npos);
}

TEST(GlueTest, LoadsSst2Train) {
  auto data = LoadGlueTsv("sst-2", kTestdata + "sst2_train.tsv");
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_EQ(data->examples.size(), 3u);
  EXPECT_EQ(data->examples[0].text, "hide new secretions from the parental units ");
  EXPECT_FALSE(data->examples[0].text_pair.has_value());
  EXPECT_EQ(data->examples[2].line, 4);
  EXPECT_EQ(Labels(*data), (std::vector<int64_t>{0, 1, 0}));
  EXPECT_EQ(data->label_list, (std::vector<std::string>{"0", "1"}));
  EXPECT_TRUE(data->has_labels);
  EXPECT_FALSE(data->is_regression);
}

TEST(GlueTest, LoadsTestFileWithoutLabelsAsMinusOne) {
  auto data = LoadGlueTsv("sst2", kTestdata + "sst2_test.tsv");
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_EQ(data->examples.size(), 2u);
  EXPECT_EQ(data->examples[1].text, "unflinchingly bleak ");
  EXPECT_EQ(Labels(*data), (std::vector<int64_t>{-1, -1}));
  EXPECT_FALSE(data->has_labels);
}

TEST(GlueTest, LoadsMnliColumnsByHeaderName) {
  auto data = LoadGlueTsv("mnli", kTestdata + "mnli_dev_matched.tsv");
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_EQ(data->examples.size(), 3u);
  EXPECT_EQ(data->examples[0].text, "the new rights are nice enough");
  EXPECT_EQ(data->examples[0].text_pair, "everyone really likes the newest benefits");
  // neutral, contradiction, entailment in Hugging Face's order.
  EXPECT_EQ(Labels(*data), (std::vector<int64_t>{2, 0, 1}));
}

TEST(GlueTest, LoadsQqpQnliAndMrpc) {
  auto qqp = LoadGlueTsv("qqp", kTestdata + "qqp_dev.tsv");
  ASSERT_TRUE(qqp.ok()) << qqp.status();
  EXPECT_EQ(qqp->examples[1].text, "you need a loan ?");
  EXPECT_EQ(qqp->examples[1].text_pair, "where can i get a loan ?");
  EXPECT_EQ(Labels(*qqp), (std::vector<int64_t>{0, 1}));

  auto qnli = LoadGlueTsv("qnli", kTestdata + "qnli_dev.tsv");
  ASSERT_TRUE(qnli.ok()) << qnli.status();
  EXPECT_EQ(qnli->examples[0].text, "what came into force ?");
  EXPECT_EQ(qnli->examples[0].text_pair, "the law came into force");
  EXPECT_EQ(Labels(*qnli), (std::vector<int64_t>{0, 1}));

  auto mrpc = LoadGlueTsv("mrpc", kTestdata + "mrpc_dev.tsv");
  ASSERT_TRUE(mrpc.ok()) << mrpc.status();
  EXPECT_EQ(mrpc->examples[0].text, "he said the foodservice pie business");
  EXPECT_EQ(mrpc->examples[0].text_pair, "the foodservice pie business");
  EXPECT_EQ(Labels(*mrpc), (std::vector<int64_t>{1, 0}));
}

TEST(GlueTest, LoadsStsbScoresAsRegression) {
  auto data = LoadGlueTsv("stsb", kTestdata + "stsb_dev.tsv");
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_EQ(data->examples.size(), 2u);
  EXPECT_TRUE(data->is_regression);
  EXPECT_TRUE(data->label_list.empty());
  EXPECT_EQ(data->examples[1].text, "a young child is riding a horse");
  EXPECT_FLOAT_EQ(data->examples[0].float_label, 5.0f);
  EXPECT_FLOAT_EQ(data->examples[1].float_label, 4.75f);
  EXPECT_EQ(data->examples[1].label, -1);
}

TEST(GlueTest, ReportsBadGlueFiles) {
  auto missing = LoadGlueTsv("sst-2", kTestdata + "no_such_file.tsv");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("no_such_file.tsv"), std::string::npos);

  auto fields = LoadGlueTsv("sst-2", kTestdata + "sst2_malformed.tsv");
  EXPECT_EQ(fields.status().message(),
            kTestdata +
                "sst2_malformed.tsv:3: expected 2 tab-separated fields as in the "
                "header, got 3");

  auto label = LoadGlueTsv("mnli", kTestdata + "mnli_unknown_label.tsv");
  EXPECT_EQ(label.status().message(),
            kTestdata +
                "mnli_unknown_label.tsv:3: unknown label \"maybe\"; expected one of: "
                "contradiction, entailment, neutral");

  auto column = LoadGlueTsv("qnli", kTestdata + "qnli_missing_column.tsv");
  EXPECT_EQ(column.status().message(),
            kTestdata +
                "qnli_missing_column.tsv: no column \"question\" in header [index, "
                "query, sentence, label]");

  auto task = LoadGlueTsv("squad", kTestdata + "sst2_train.tsv");
  EXPECT_EQ(task.status().code(), absl::StatusCode::kNotFound);
}

TEST(GlueTest, LocalTsvCollectsSortedLabels) {
  auto data = LoadTextClassificationFile(kTestdata + "local_train.tsv");
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->label_list, (std::vector<std::string>{"negative", "neutral", "positive"}));
  EXPECT_EQ(Labels(*data), (std::vector<int64_t>{2, 0, 1}));
  EXPECT_EQ(data->examples[0].text, "the cat sat");
  EXPECT_EQ(data->examples[0].text_pair, "on the mat");
}

TEST(GlueTest, LocalTsvUsesGivenLabelList) {
  TextClassificationFileOptions options;
  options.label_list = {"positive", "negative", "neutral"};
  auto data = LoadTextClassificationFile(kTestdata + "local_train.tsv", options);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(Labels(*data), (std::vector<int64_t>{0, 1, 2}));

  options.label_list = {"positive", "negative"};
  auto unknown = LoadTextClassificationFile(kTestdata + "local_train.tsv", options);
  EXPECT_EQ(unknown.status().message(),
            kTestdata +
                "local_train.tsv:4: unknown label \"neutral\"; expected one of: "
                "positive, negative");
}

TEST(GlueTest, LocalTsvToleratesByteOrderMarkAndCrlf) {
  auto data = LoadTextClassificationFile(kTestdata + "local_windows.tsv");
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_EQ(data->examples.size(), 2u);
  EXPECT_EQ(data->examples[0].text, "the cat");
  EXPECT_FALSE(data->examples[0].text_pair.has_value());
  EXPECT_EQ(data->label_list, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(Labels(*data), (std::vector<int64_t>{1, 0}));
}

TEST(GlueTest, LocalJsonlSortsIntegerLabelsNumerically) {
  auto data = LoadTextClassificationFile(kTestdata + "local_train.jsonl");
  ASSERT_TRUE(data.ok()) << data.status();
  // Labels 10, 2 and 2.0: "2" sorts before "10", and 2.0 is the class "2".
  EXPECT_EQ(data->label_list, (std::vector<std::string>{"2", "10"}));
  EXPECT_EQ(Labels(*data), (std::vector<int64_t>{1, 0, 0}));
  ASSERT_EQ(data->examples.size(), 3u);
  EXPECT_EQ(data->examples[2].text, "birds sing");
  EXPECT_EQ(data->examples[2].line, 4);  // Line 3 is blank.
}

TEST(GlueTest, LocalJsonlRegressionAndUnlabeled) {
  TextClassificationFileOptions options;
  options.is_regression = true;
  auto regression = LoadTextClassificationFile(kTestdata + "local_regression.jsonl", options);
  ASSERT_TRUE(regression.ok()) << regression.status();
  EXPECT_FLOAT_EQ(regression->examples[0].float_label, 0.25f);
  EXPECT_FLOAT_EQ(regression->examples[1].float_label, 3.5f);
  EXPECT_EQ(regression->examples[1].text_pair, "g h");

  auto unlabeled = LoadTextClassificationFile(kTestdata + "local_unlabeled.jsonl");
  ASSERT_TRUE(unlabeled.ok()) << unlabeled.status();
  EXPECT_FALSE(unlabeled->has_labels);
  EXPECT_TRUE(unlabeled->label_list.empty());
  EXPECT_EQ(Labels(*unlabeled), (std::vector<int64_t>{-1, -1}));
  EXPECT_FALSE(unlabeled->examples[0].text_pair.has_value());
}

TEST(GlueTest, ReportsBadLocalFiles) {
  auto malformed = LoadTextClassificationFile(kTestdata + "local_malformed.jsonl");
  EXPECT_EQ(malformed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(malformed.status().message().rfind(
                kTestdata + "local_malformed.jsonl:2: not valid JSON: ", 0),
            0u)
      << malformed.status();

  auto mixed = LoadTextClassificationFile(kTestdata + "local_mixed_labels.jsonl");
  EXPECT_EQ(mixed.status().message(),
            kTestdata + "local_mixed_labels.jsonl:2: has no \"label\" but line 1 has one");

  auto format = LoadTextClassificationFile(kTestdata + "local_train.csv");
  EXPECT_EQ(format.status().code(), absl::StatusCode::kInvalidArgument);

  TextClassificationFileOptions options;
  options.is_regression = true;
  auto regression = LoadTextClassificationFile(kTestdata + "local_train.tsv", options);
  EXPECT_EQ(regression.status().message(),
            kTestdata + "local_train.tsv:2: label \"positive\" is not a number");
  options.label_list = {"a"};
  auto both = LoadTextClassificationFile(kTestdata + "local_regression.jsonl", options);
  EXPECT_EQ(both.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(GlueTest, DatasetTokenizesPairsWithLabels) {
  const WhitespaceTokenizer tokenizer = MakeTokenizer();
  auto data = LoadTextClassificationFile(kTestdata + "local_train.tsv");
  ASSERT_TRUE(data.ok()) << data.status();
  auto dataset = TextClassificationDataset::Create(*data, &tokenizer, 128);
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  ASSERT_EQ((*dataset)->size(), 3u);

  const Example first = (*dataset)->Get(0);  // "the cat sat" / "on the mat", positive.
  EXPECT_EQ(first.ints.at("input_ids"), (Ids{2, 5, 6, 7, 3, 8, 5, 9, 3}));
  EXPECT_EQ(first.ints.at("token_type_ids"), (Ids{0, 0, 0, 0, 0, 1, 1, 1, 1}));
  EXPECT_EQ(first.ints.at("attention_mask"), (Ids{1, 1, 1, 1, 1, 1, 1, 1, 1}));
  EXPECT_EQ(first.ints.at("labels"), (Ids{2}));
  EXPECT_TRUE(first.floats.empty());

  const Example second = (*dataset)->Get(1);  // "a dog" / "barked loudly": unknown words.
  EXPECT_EQ(second.ints.at("input_ids"), (Ids{2, 10, 11, 3, 1, 1, 3}));
  EXPECT_EQ(second.ints.at("labels"), (Ids{0}));

  EXPECT_TRUE((*dataset)->Get(3).ints.empty());
}

TEST(GlueTest, DatasetTruncatesToMaxSeqLength) {
  const WhitespaceTokenizer tokenizer = MakeTokenizer();
  auto data = LoadTextClassificationFile(kTestdata + "local_train.tsv");
  ASSERT_TRUE(data.ok()) << data.status();
  auto dataset = TextClassificationDataset::Create(*data, &tokenizer, 7);
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  // 3 + 3 tokens into 4: "mat" goes first (tie), then "sat".
  EXPECT_EQ((*dataset)->Get(0).ints.at("input_ids"), (Ids{2, 5, 6, 3, 8, 5, 3}));

  auto too_short = TextClassificationDataset::Create(*data, &tokenizer, 3);
  EXPECT_EQ(too_short.status().message(),
            "TextClassificationDataset: max_seq_length 3 leaves no room for text besides the 3 "
            "special tokens of a sentence pair");
  auto no_tokenizer = TextClassificationDataset::Create(*data, nullptr, 128);
  EXPECT_EQ(no_tokenizer.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(GlueTest, DatasetEmitsFloatLabelsForRegressionAndNoneWhenUnlabeled) {
  const WhitespaceTokenizer tokenizer = MakeTokenizer();
  TextClassificationFileOptions options;
  options.is_regression = true;
  auto regression = LoadTextClassificationFile(kTestdata + "local_regression.jsonl", options);
  ASSERT_TRUE(regression.ok()) << regression.status();
  auto dataset = TextClassificationDataset::Create(*regression, &tokenizer);
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  const Example example = (*dataset)->Get(0);  // "a b" / "c d", 0.25.
  EXPECT_EQ(example.ints.at("input_ids"), (Ids{2, 10, 12, 3, 13, 14, 3}));
  EXPECT_EQ(example.ints.count("labels"), 0u);
  EXPECT_EQ(example.floats.at("labels"), (std::vector<float>{0.25f}));

  auto unlabeled = LoadTextClassificationFile(kTestdata + "local_unlabeled.jsonl");
  ASSERT_TRUE(unlabeled.ok()) << unlabeled.status();
  auto unlabeled_dataset = TextClassificationDataset::Create(*unlabeled, &tokenizer);
  ASSERT_TRUE(unlabeled_dataset.ok()) << unlabeled_dataset.status();
  const Example single = (*unlabeled_dataset)->Get(0);  // "first one": single sentence.
  EXPECT_EQ(single.ints.at("input_ids"), (Ids{2, 1, 1, 3}));
  EXPECT_EQ(single.ints.at("token_type_ids"), (Ids{0, 0, 0, 0}));
  EXPECT_EQ(single.ints.count("labels"), 0u);
  EXPECT_TRUE(single.floats.empty());
}

}  // namespace
}  // namespace datasets
