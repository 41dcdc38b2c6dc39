#include "datasets/mlm/document_reader.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace datasets::mlm {
namespace {

bool IsBlank(const char* data, size_t size) {
  for (size_t i = 0; i < size; ++i) {
    const char c = data[i];
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != '\v' && c != '\f') {
      return false;
    }
  }
  return true;
}

absl::Status OpenError(int error_number, const std::string& path) {
  return absl::ErrnoToStatus(error_number, absl::StrCat("cannot open corpus file '", path, "'"));
}

// A regular file we may read; directories open fine with fopen() but then read as
// errors, so they are rejected here with a clear message.
absl::Status CheckReadableFile(const std::string& path) {
  struct stat info;
  if (stat(path.c_str(), &info) != 0) return OpenError(errno, path);
  if (S_ISDIR(info.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("corpus path '", path, "' is a directory, expected a text file"));
  }
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return OpenError(errno, path);
  std::fclose(file);
  return absl::OkStatus();
}

}  // namespace

int64_t FindInvalidUtf8(const char* data, size_t size) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(data);
  size_t i = 0;
  while (i < size) {
    const unsigned char lead = bytes[i];
    if (lead < 0x80) {
      ++i;
      continue;
    }
    size_t length;
    uint32_t code_point;
    uint32_t smallest;  // Below it the encoding is overlong.
    if ((lead & 0xE0) == 0xC0) {
      length = 2, code_point = lead & 0x1F, smallest = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3, code_point = lead & 0x0F, smallest = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4, code_point = lead & 0x07, smallest = 0x10000;
    } else {
      return static_cast<int64_t>(i);
    }
    if (i + length > size) return static_cast<int64_t>(i);
    for (size_t k = 1; k < length; ++k) {
      if ((bytes[i + k] & 0xC0) != 0x80) return static_cast<int64_t>(i);
      code_point = (code_point << 6) | (bytes[i + k] & 0x3F);
    }
    if (code_point < smallest || code_point > 0x10FFFF ||
        (code_point >= 0xD800 && code_point <= 0xDFFF)) {
      return static_cast<int64_t>(i);
    }
    i += length;
  }
  return -1;
}

absl::StatusOr<std::unique_ptr<DocumentReader>> DocumentReader::Create(
    std::vector<std::string> paths, const tokenizers::Tokenizer* tokenizer,
    DocumentReaderOptions options) {
  if (tokenizer == nullptr) {
    return absl::InvalidArgumentError("DocumentReader: tokenizer is null");
  }
  if (paths.empty()) {
    return absl::InvalidArgumentError("DocumentReader: no corpus files given");
  }
  for (const std::string& path : paths) {
    absl::Status status = CheckReadableFile(path);
    if (!status.ok()) return status;
  }
  return std::unique_ptr<DocumentReader>(new DocumentReader(std::move(paths), tokenizer, options));
}

DocumentReader::DocumentReader(std::vector<std::string> paths,
                               const tokenizers::Tokenizer* tokenizer,
                               DocumentReaderOptions options)
    : paths_(std::move(paths)), tokenizer_(tokenizer), options_(options) {}

DocumentReader::~DocumentReader() {
  CloseFile();
  std::free(line_buffer_);
}

void DocumentReader::Restart() {
  CloseFile();
  file_index_ = 0;
  stats_ = DocumentReaderStats();
}

absl::Status DocumentReader::OpenFile() {
  const std::string& path = paths_[file_index_];
  // Checked again: the file may have been replaced by a directory since Create().
  struct stat info;
  if (stat(path.c_str(), &info) != 0) return OpenError(errno, path);
  if (S_ISDIR(info.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("corpus path '", path, "' is a directory, expected a text file"));
  }
  file_ = std::fopen(path.c_str(), "rb");
  if (file_ == nullptr) return OpenError(errno, path);
  line_number_ = 0;
  return absl::OkStatus();
}

void DocumentReader::CloseFile() {
  if (file_ != nullptr) std::fclose(file_);
  file_ = nullptr;
}

absl::StatusOr<bool> DocumentReader::Next(Document* document) {
  document->sentences.clear();
  auto finish_document = [&]() {
    ++stats_.documents;
    stats_.sentences += static_cast<int64_t>(document->sentences.size());
    for (const auto& sentence : document->sentences) {
      stats_.tokens += static_cast<int64_t>(sentence.size());
    }
    return true;
  };
  while (true) {
    if (file_ == nullptr) {
      if (file_index_ >= paths_.size()) return false;
      absl::Status status = OpenFile();
      if (!status.ok()) return status;
    }
    errno = 0;
    const ssize_t read = getline(&line_buffer_, &line_capacity_, file_);
    if (read < 0) {
      if (std::ferror(file_)) {
        const int error_number = errno;
        const std::string where = absl::StrCat(paths_[file_index_], ":", line_number_ + 1);
        CloseFile();
        return absl::ErrnoToStatus(error_number,
                                   absl::StrCat("cannot read corpus file at ", where));
      }
      CloseFile();
      ++file_index_;
      if (!document->sentences.empty()) return finish_document();
      continue;
    }
    ++line_number_;
    const char* data = line_buffer_;
    size_t size = static_cast<size_t>(read);
    while (size > 0 && (data[size - 1] == '\n' || data[size - 1] == '\r')) --size;
    if (line_number_ == 1 && size >= 3 && absl::string_view(data, 3) == "\xEF\xBB\xBF") {
      data += 3;
      size -= 3;
    }
    if (IsBlank(data, size)) {
      if (!document->sentences.empty()) return finish_document();
      continue;
    }
    const int64_t bad_byte = FindInvalidUtf8(data, size);
    if (bad_byte >= 0) {
      const std::string where = absl::StrCat(paths_[file_index_], ":", line_number_);
      if (!options_.skip_invalid_utf8) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": invalid UTF-8 at byte ", bad_byte + 1, " of the line (0x",
            absl::Hex(static_cast<unsigned char>(data[bad_byte]), absl::kZeroPad2), ")"));
      }
      if (stats_.invalid_utf8_lines == 0) stats_.first_invalid_utf8 = where;
      ++stats_.invalid_utf8_lines;
      continue;
    }
    tokenizers::Encoding encoding = tokenizer_->Encode(absl::string_view(data, size));
    if (encoding.ids.empty()) continue;
    document->sentences.push_back(std::move(encoding.ids));
  }
}

}  // namespace datasets::mlm
