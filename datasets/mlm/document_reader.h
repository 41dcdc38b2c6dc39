// Streams documents of token ids out of plain-text pre-training corpora, one document in
// memory at a time, for building MLM/NSP instances over corpora larger than RAM.
//
// Input format (what the corpus converters write, the convention of Google's
// create_pretraining_data.py): UTF-8 text files, one sentence per line, documents
// separated by blank lines.
//   - A line holding only ASCII whitespace ends the current document; runs of them are one
//     separator. The end of a file also ends a document (unlike the reference, which lets
//     a document run on into the next file).
//   - Trailing "\r" (CRLF files) and a UTF-8 byte-order mark on line 1 are ignored.
//   - Every other line is one sentence, tokenized with Tokenizer::Encode (no special
//     tokens). Lines that tokenize to nothing are dropped; documents left with no
//     sentence are skipped.
//   - Invalid UTF-8: by default the line is skipped and counted (stats() keeps the count
//     and the first offending "path:line"), because one stray byte should not end a
//     multi-day pre-training run; with skip_invalid_utf8 = false, Next() fails naming the
//     file, the line and the byte.
//
//   ASSIGN_OR_RETURN(auto reader, DocumentReader::Create({"wiki.txt"}, &tokenizer));
//   Document document;
//   while (true) {
//     ASSIGN_OR_RETURN(bool more, reader->Next(&document));
//     if (!more) break;
//     ... document.sentences ...
//   }
//   reader->Restart();  // Next epoch.
#ifndef DATASETS_MLM_DOCUMENT_READER_H_
#define DATASETS_MLM_DOCUMENT_READER_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "models/tokenizers/tokenizer.h"

namespace datasets::mlm {

struct Document {
  std::vector<std::vector<int64_t>> sentences;  // Token ids per line; none empty.
};

struct DocumentReaderOptions {
  bool skip_invalid_utf8 = true;  // false: an invalid UTF-8 line fails Next().
};

// Counts for the current pass (reset by Restart()).
struct DocumentReaderStats {
  int64_t documents = 0;           // Documents returned.
  int64_t sentences = 0;           // Sentences in them.
  int64_t tokens = 0;              // Token ids in them.
  int64_t invalid_utf8_lines = 0;  // Lines skipped for invalid UTF-8.
  std::string first_invalid_utf8;  // "path:line" of the first skipped line, or "".
};

class DocumentReader {
 public:
  // Checks that every path is a readable regular file (NotFound / PermissionDenied /
  // InvalidArgument naming the path otherwise), so a typo fails at start-up rather than
  // hours into an epoch. `tokenizer` must outlive the reader.
  static absl::StatusOr<std::unique_ptr<DocumentReader>> Create(
      std::vector<std::string> paths, const tokenizers::Tokenizer* tokenizer,
      DocumentReaderOptions options = {});

  ~DocumentReader();
  DocumentReader(const DocumentReader&) = delete;
  DocumentReader& operator=(const DocumentReader&) = delete;

  // Replaces *document with the next document: true when one was read, false at the end
  // of the last file. Errors (a file that vanished since Create, a read error, invalid
  // UTF-8 in strict mode) name the file and, where there is one, the line.
  absl::StatusOr<bool> Next(Document* document);

  // Rewinds to the first line of the first file and resets stats().
  void Restart();

  const DocumentReaderStats& stats() const { return stats_; }
  const tokenizers::Tokenizer& tokenizer() const { return *tokenizer_; }

 private:
  DocumentReader(std::vector<std::string> paths, const tokenizers::Tokenizer* tokenizer,
                 DocumentReaderOptions options);

  absl::Status OpenFile();
  void CloseFile();

  const std::vector<std::string> paths_;
  const tokenizers::Tokenizer* const tokenizer_;
  const DocumentReaderOptions options_;

  size_t file_index_ = 0;  // Index into paths_ of the open (or next) file.
  std::FILE* file_ = nullptr;
  int64_t line_number_ = 0;      // 1-based number of the last line read from file_.
  char* line_buffer_ = nullptr;  // getline()'s malloc()ed buffer, reused across lines.
  size_t line_capacity_ = 0;
  DocumentReaderStats stats_;
};

// Byte offset of the first byte that does not start a well-formed UTF-8 sequence
// (overlong forms, surrogates and code points above U+10FFFF are ill-formed), or -1.
int64_t FindInvalidUtf8(const char* data, size_t size);

}  // namespace datasets::mlm

#endif  // DATASETS_MLM_DOCUMENT_READER_H_
