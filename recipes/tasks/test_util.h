// Test helpers of the task adapters: a WordPiece tokenizer whose vocabulary is exactly the
// words of some texts (so tiny models memorise them quickly), a tiny BERT config, and
// scratch files under the test's temporary directory.
#ifndef RECIPES_TASKS_TEST_UTIL_H_
#define RECIPES_TASKS_TEST_UTIL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "models/bert_config.h"
#include "models/tokenizers/wordpiece_tokenizer.h"

namespace recipes::testing {

// [PAD] [UNK] [CLS] [SEP] [MASK] (ids 0..4), then every distinct word (BertTokenizer's basic
// tokenization, lower-cased) of `texts` in sorted order. Aborts the test on failure.
std::unique_ptr<tokenizers::BertTokenizer> TokenizerForTexts(const std::vector<std::string>& texts);

// Writes `contents` to $TEST_TMPDIR/<name> and returns the path.
std::string WriteTempFile(const std::string& name, const std::string& contents);

// $TEST_TMPDIR/<name> (not created).
std::string TempPath(const std::string& name);

}  // namespace recipes::testing

#endif  // RECIPES_TASKS_TEST_UTIL_H_
