// Sentence and sentence-pair classification data: the official GLUE TSV files, any local
// TSV/JSONL file with text / text_pair / label, and a Dataset that tokenizes the rows into
// model inputs for the DataLoader.
//
// Label ids follow Hugging Face's GLUE label lists, so a fine-tuned Hugging Face checkpoint's
// logits line up with our labels (MNLI: contradiction=0, entailment=1, neutral=2).
//
//   ASSIGN_OR_RETURN(TextClassificationData train, LoadGlueTsv("mnli", dir + "/train.tsv"));
//   ASSIGN_OR_RETURN(auto dataset, TextClassificationDataset::Create(
//                                      std::move(train), &tokenizer, /*max_seq_length=*/128));
//   ASSIGN_OR_RETURN(DataLoader loader, DataLoader::Create(dataset.get(), loader_options));
#ifndef DATASETS_GLUE_GLUE_H_
#define DATASETS_GLUE_GLUE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "datasets/dataset.h"
#include "datasets/example.h"
#include "models/tokenizers/tokenizer.h"

namespace datasets {

// One row of a single-sentence or sentence-pair task.
struct TextExample {
  std::string text;                      // First (or only) sentence.
  std::optional<std::string> text_pair;  // Second sentence; set only for pair tasks.
  int64_t label = -1;                    // Index into label_list; -1 if unlabeled or regression.
  float float_label = 0.0f;              // Regression target; used only when is_regression.
  int64_t line = 0;                      // 1-based line in the source file, for messages.
};

// The rows of one file plus what is needed to interpret their labels.
struct TextClassificationData {
  std::vector<TextExample> examples;    // In file order.
  std::vector<std::string> label_list;  // Label names by id; empty for regression.
  bool is_regression = false;           // Labels are float_label (STS-B style scores).
  bool has_labels = false;              // False for files without a label column (test sets).
};

// Where a GLUE task keeps its fields, by header name, and its labels in Hugging Face's order.
struct GlueTask {
  std::string name;                     // Hugging Face's legacy name: "sst-2", "mnli", ...
  std::string text_column;              // Header of the first sentence.
  std::string text_pair_column;         // Header of the second sentence; "" if single-sentence.
  std::string label_column;             // Header of the label (absent from test files).
  std::vector<std::string> label_list;  // Label names by id; empty for regression.
  bool is_regression = false;           // Float scores instead of label names (STS-B).
};

// The GLUE task called `name`: sst-2 (or sst2), mnli (also mnli-mm, mnli_matched,
// mnli_mismatched: same files format), qqp, qnli, mrpc, rte, wnli, sts-b (or stsb). CoLA is
// not supported: its train/dev files have no header row. NotFound lists the known names.
absl::StatusOr<GlueTask> GetGlueTask(absl::string_view name);

// Loads one official GLUE TSV file (train.tsv, dev.tsv, dev_matched.tsv, test.tsv, ...):
// a header row, then tab-separated rows without quoting. Columns are found by header name.
// Files without the label column (test sets) load with label -1 and has_labels false.
// Errors name the file and: the missing column and the header found; the line with a
// wrong number of fields; the line and value of an unknown label.
absl::StatusOr<TextClassificationData> LoadGlueTsv(absl::string_view task_name,
                                                   const std::string& path);

// How to read a local text classification file.
struct TextClassificationFileOptions {
  std::string format;                   // "tsv" or "jsonl"; "": from the path's extension.
  std::vector<std::string> label_list;  // Label names by id; empty: the file's labels, sorted.
  bool is_regression = false;           // Labels are numbers to regress on; no label_list.
};

// Loads a local task file with the keys `text`, optional `text_pair` and optional `label`:
// a TSV with those names in its header row (other columns ignored), or JSONL with one
// object per line ({"text": ..., "text_pair": ..., "label": ...}, label a string or a
// number). Without a given label_list the distinct labels are sorted (numerically when all
// are integers, as Hugging Face's run_glue sorts its label column); pass the training
// file's label_list when loading its dev or test file so the ids agree.
absl::StatusOr<TextClassificationData> LoadTextClassificationFile(
    const std::string& path, const TextClassificationFileOptions& options = {});

// A Dataset over TextClassificationData whose Get() tokenizes one row into input_ids,
// token_type_ids and attention_mask ([CLS] text [SEP] (text_pair [SEP]), truncated to
// max_seq_length, not padded) and labels (ints, one value; floats for regression; absent
// when the data is unlabeled). Tokenizes on every Get() rather than up front, so MNLI's
// 393k rows cost strings, not token vectors, in memory.
class TextClassificationDataset : public Dataset {
 public:
  // `tokenizer` must outlive the dataset. InvalidArgument when max_seq_length leaves no
  // room for a token besides the special tokens.
  static absl::StatusOr<std::unique_ptr<TextClassificationDataset>> Create(
      TextClassificationData data, const tokenizers::Tokenizer* tokenizer,
      int64_t max_seq_length = 128);

  size_t size() const override { return data_.examples.size(); }
  // An empty Example when index >= size().
  Example Get(size_t index) const override;

  const TextClassificationData& data() const { return data_; }

 private:
  TextClassificationDataset(TextClassificationData data, const tokenizers::Tokenizer* tokenizer,
                            int64_t max_seq_length);

  TextClassificationData data_;
  const tokenizers::Tokenizer* tokenizer_;
  int64_t max_seq_length_;
};

}  // namespace datasets

#endif  // DATASETS_GLUE_GLUE_H_
