#include "datasets/vision/idx_file.h"

#include <ATen/ATen.h>
#include <zlib.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace datasets {
namespace {

constexpr int kUnsignedByte = 0x08;

struct GzCloser {
  void operator()(gzFile_s* file) const { gzclose(file); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

// Reads up to `size` bytes; returns the count, or -1 on a stream error (*error set).
int64_t ReadFully(gzFile file, void* out, int64_t size, std::string* error) {
  int64_t done = 0;
  char* bytes = static_cast<char*>(out);
  while (done < size) {
    const unsigned chunk = static_cast<unsigned>(std::min<int64_t>(size - done, 1 << 30));
    const int got = gzread(file, bytes + done, chunk);
    if (got < 0) {
      int code = 0;
      const char* message = gzerror(file, &code);
      *error = message != nullptr ? message : "read error";
      return -1;
    }
    if (got == 0) break;
    done += got;
  }
  return done;
}

}  // namespace

absl::StatusOr<at::Tensor> ReadIdxFile(const std::string& path, int expected_dims) {
  {
    std::ifstream probe(path, std::ios::binary);
    if (!probe) {
      return absl::NotFoundError(
          absl::StrCat(path, ": cannot open IDX file: ", std::strerror(errno)));
    }
  }
  // gzread reads plain files transparently, so one path serves .gz and uncompressed files.
  GzFile file(gzopen(path.c_str(), "rb"));
  if (file == nullptr) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open IDX file"));
  }
  std::string error;
  unsigned char magic[4];
  const int64_t got = ReadFully(file.get(), magic, 4, &error);
  if (got < 0) return absl::DataLossError(absl::StrCat(path, ": corrupt gzip stream: ", error));
  if (got < 4) {
    return absl::DataLossError(
        absl::StrCat(path, ": magic: file ends after ", got, " bytes (need 4)"));
  }
  if (magic[0] != 0 || magic[1] != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: magic: bytes 0x%02x%02x%02x%02x are not an IDX magic number (00 00 type dims)",
        path, magic[0], magic[1], magic[2], magic[3]));
  }
  if (magic[2] != kUnsignedByte) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: magic: type code 0x%02x is not supported (only 0x08, unsigned byte)", path,
        magic[2]));
  }
  if (magic[3] != expected_dims) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": magic: ", int(magic[3]),
                                                   " dimensions, expected ", expected_dims));
  }
  std::vector<int64_t> sizes(expected_dims);
  int64_t numel = 1;
  for (int i = 0; i < expected_dims; ++i) {
    unsigned char b[4];
    const int64_t n = ReadFully(file.get(), b, 4, &error);
    if (n < 0) return absl::DataLossError(absl::StrCat(path, ": corrupt gzip stream: ", error));
    if (n < 4) {
      return absl::DataLossError(absl::StrCat(path, ": size[", i, "]: file ends in the header"));
    }
    const uint32_t size = (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) |
                          (uint32_t(b[2]) << 8) | uint32_t(b[3]);
    if (size == 0 || size > (1u << 31) - 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": size[", i, "]: ", size, " is not a valid dimension size"));
    }
    sizes[i] = size;
    // Checked before multiplying: the product of the sizes can overflow int64 (found by
    // //fuzz:idx_fuzzer: 7656781062 * 1872017886).
    if (size > (int64_t(1) << 34) / numel) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": sizes [", absl::StrJoin(sizes.begin(), sizes.begin() + i + 1, ", "),
          "] describe more than 16 GiB"));
    }
    numel *= size;
  }
  // Read in chunks, growing the buffer only as data arrives: a few bytes of header (or of
  // gzip stream) may claim gigabytes, which must not be allocated before they are there
  // (found by //fuzz:idx_fuzzer: a 26-byte .gz file asked for 2.2 GB).
  constexpr int64_t kChunk = int64_t(1) << 24;
  std::vector<uint8_t> bytes;
  int64_t read = 0;
  while (read < numel) {
    const int64_t want = std::min(kChunk, numel - read);
    bytes.resize(static_cast<size_t>(read + want));
    const int64_t got = ReadFully(file.get(), bytes.data() + read, want, &error);
    if (got < 0) return absl::DataLossError(absl::StrCat(path, ": corrupt gzip stream: ", error));
    read += got;
    if (got < want) break;
  }
  if (read < numel) {
    return absl::DataLossError(absl::StrCat(path, ": data: truncated, ", read, " of ", numel,
                                            " bytes for sizes [", absl::StrJoin(sizes, ", "),
                                            "]"));
  }
  char extra;
  const int64_t more = ReadFully(file.get(), &extra, 1, &error);
  if (more < 0) return absl::DataLossError(absl::StrCat(path, ": corrupt gzip stream: ", error));
  if (more > 0) {
    return absl::DataLossError(absl::StrCat(path, ": data: bytes after the ", numel,
                                            " that sizes [", absl::StrJoin(sizes, ", "),
                                            "] describe"));
  }
  at::Tensor data = at::empty(sizes, at::kByte);
  std::memcpy(data.data_ptr<uint8_t>(), bytes.data(), static_cast<size_t>(numel));
  return data;
}

absl::Status WriteIdxFile(const std::string& path, const at::Tensor& data, bool gzip) {
  if (data.scalar_type() != at::kByte || data.dim() < 1 || data.dim() > 255) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": WriteIdxFile takes a uint8 tensor of 1..255 dims"));
  }
  const at::Tensor contiguous = data.contiguous();
  std::string bytes = {0, 0, char(kUnsignedByte), char(data.dim())};
  for (int64_t size : data.sizes()) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(char((size >> shift) & 0xff));
  }
  bytes.append(reinterpret_cast<const char*>(contiguous.data_ptr<uint8_t>()),
               static_cast<size_t>(contiguous.numel()));
  if (gzip) {
    GzFile file(gzopen(path.c_str(), "wb"));
    if (file == nullptr ||
        gzwrite(file.get(), bytes.data(), static_cast<unsigned>(bytes.size())) !=
            static_cast<int>(bytes.size())) {
      return absl::InternalError(absl::StrCat(path, ": cannot write gzipped IDX file"));
    }
    return absl::OkStatus();
  }
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) return absl::InternalError(absl::StrCat(path, ": cannot write IDX file"));
  return absl::OkStatus();
}

}  // namespace datasets
