#include "base/safetensors.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <limits>
#include <new>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "base/atomic_file.h"
#include "base/mapped_file.h"
#include "base/status_macros.h"

// Tensor bytes are copied between memory and file as they are; the format stores them
// little-endian.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors I/O assumes a little-endian host");

namespace base {
namespace {

using Json = nlohmann::json;

// The reference implementation's limit; it bounds the memory the JSON parser may take.
constexpr uint64_t kMaxHeaderSize = 100'000'000;
constexpr char kMetadataKey[] = "__metadata__";

struct DtypeEntry {
  SafetensorsDtype dtype;
  const char* name;
  size_t size;
  at::ScalarType scalar_type;
};

// In enum order, so EntryOf() can index it.
constexpr DtypeEntry kDtypes[] = {
    {SafetensorsDtype::kF64, "F64", 8, at::kDouble},
    {SafetensorsDtype::kF32, "F32", 4, at::kFloat},
    {SafetensorsDtype::kF16, "F16", 2, at::kHalf},
    {SafetensorsDtype::kBF16, "BF16", 2, at::kBFloat16},
    {SafetensorsDtype::kI64, "I64", 8, at::kLong},
    {SafetensorsDtype::kI32, "I32", 4, at::kInt},
    {SafetensorsDtype::kI16, "I16", 2, at::kShort},
    {SafetensorsDtype::kI8, "I8", 1, at::kChar},
    {SafetensorsDtype::kU8, "U8", 1, at::kByte},
    {SafetensorsDtype::kBool, "BOOL", 1, at::kBool},
};

constexpr bool DtypesInEnumOrder() {
  for (size_t i = 0; i < std::size(kDtypes); ++i) {
    if (static_cast<size_t>(kDtypes[i].dtype) != i) return false;
  }
  return true;
}
static_assert(DtypesInEnumOrder());

const DtypeEntry& EntryOf(SafetensorsDtype dtype) {
  return kDtypes[static_cast<int>(dtype)];
}

// ASCII-only JSON text, so names with quotes, control characters or non-ASCII text read
// unambiguously in one-line messages. Invalid UTF-8 (a caller's tensor name) becomes
// U+FFFD instead of throwing.
std::string AsciiJson(const Json& value) {
  return value.dump(-1, ' ', /*ensure_ascii=*/true, Json::error_handler_t::replace);
}

std::string Quote(std::string_view text) { return AsciiJson(Json(std::string(text))); }

// An offending JSON value, shortened so a huge value cannot flood the message (large
// containers are summarized rather than serialized).
std::string Snippet(const Json& value) {
  if (value.is_structured() && value.size() > 8) {
    return absl::StrCat(value.type_name(), " of ", value.size(), " elements");
  }
  std::string text = AsciiJson(value);
  if (text.size() > 64) text = text.substr(0, 61) + "...";
  return text;
}

// nlohmann's parse errors quote the raw bytes last read, which may be invalid UTF-8.
std::string Printable(std::string_view text) {
  std::string out;
  for (const unsigned char c : text) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      absl::StrAppend(&out, "\\x", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

// Drops nlohmann's "[json.exception.parse_error.101] " prefix, which means nothing to a
// reader of the message.
std::string JsonErrorMessage(const Json::exception& e) {
  std::string_view what = e.what();
  const size_t prefix_end = what.find("] ");
  if (!what.empty() && what[0] == '[' && prefix_end != std::string_view::npos) {
    what.remove_prefix(prefix_end + 2);
  }
  return Printable(what);
}

// c10::Error's what() carries a multi-line backtrace; keep messages to one line.
std::string ExceptionMessage(const std::exception& e) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e)) {
    return Printable(c10_error->what_without_backtrace());
  }
  return Printable(e.what());
}

// Thrown by HeaderChecker to stop parsing a header nested deeper than any valid one:
// nlohmann's dump() (used for error messages) recurses, so a "[[[[..." header could
// otherwise overflow the stack.
struct TooDeep {};
constexpr int kMaxNesting = 8;  // Valid headers nest 3 deep: header, entry, shape.

// A parser callback that bounds nesting and catches duplicate keys, which nlohmann
// otherwise resolves silently by keeping the last. A file whose tensor names repeat is
// ambiguous (other readers may take the first), so Open() rejects it.
struct HeaderChecker {
  // Keys seen so far in each open object, outermost first.
  std::vector<std::set<std::string>> open_objects;
  // The top-level key (tensor name) being parsed, for messages.
  std::string entry;
  // Describes the first duplicate key; empty if none.
  std::string duplicate;

  bool operator()(int depth, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
        if (depth >= kMaxNesting) throw TooDeep();
        open_objects.emplace_back();
        break;
      case Json::parse_event_t::array_start:
        if (depth >= kMaxNesting) throw TooDeep();
        break;
      case Json::parse_event_t::object_end:
        open_objects.pop_back();
        break;
      case Json::parse_event_t::key: {
        const std::string& key = parsed.get_ref<const std::string&>();
        const bool top_level = open_objects.size() == 1;
        if (!open_objects.back().insert(key).second && duplicate.empty()) {
          duplicate = top_level ? absl::StrCat("duplicate tensor name ", Quote(key))
                                : absl::StrCat("duplicate key ", Quote(key), " in entry ",
                                               Quote(entry));
        }
        if (top_level) entry = key;
        break;
      }
      default:
        break;
    }
    return true;
  }
};

absl::StatusOr<SafetensorsTensorInfo> ParseEntry(const std::string& path,
                                                 const std::string& name,
                                                 const Json& entry, uint64_t data_size) {
  const auto invalid = [&](const auto&... parts) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": tensor ", Quote(name), ": ", parts...));
  };
  if (!entry.is_object()) {
    return invalid("entry is not an object but ", entry.type_name(), " ", Snippet(entry));
  }
  for (auto it = entry.begin(); it != entry.end(); ++it) {
    if (it.key() != "dtype" && it.key() != "shape" && it.key() != "data_offsets") {
      return invalid("unknown key ", Quote(it.key()));
    }
  }
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!entry.contains(key)) return invalid("missing \"", key, "\"");
  }

  SafetensorsTensorInfo info;
  info.name = name;
  const Json& dtype = entry.at("dtype");
  if (!dtype.is_string()) return invalid("dtype ", Snippet(dtype), " is not a string");
  const absl::StatusOr<SafetensorsDtype> parsed_dtype =
      SafetensorsDtypeFromName(dtype.get_ref<const std::string&>());
  if (!parsed_dtype.ok()) return invalid("unknown dtype ", Snippet(dtype));
  info.dtype = *parsed_dtype;

  const Json& shape = entry.at("shape");
  if (!shape.is_array()) return invalid("shape ", Snippet(shape), " is not an array");
  for (const Json& dim : shape) {
    if (!dim.is_number_unsigned() ||
        dim.get<uint64_t>() >
            static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return invalid("shape entry ", Snippet(dim), " is not a non-negative integer");
    }
    info.shape.push_back(dim.get<int64_t>());
  }

  const Json& offsets = entry.at("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    return invalid("data_offsets ", Snippet(offsets), " is not two unsigned integers");
  }
  info.begin = offsets[0].get<uint64_t>();
  info.end = offsets[1].get<uint64_t>();
  if (info.begin > info.end) {
    return invalid("data_offsets begin ", info.begin, " is after end ", info.end);
  }
  if (info.end > data_size) {
    return absl::DataLossError(absl::StrCat(
        path, ": tensor ", Quote(name), ": data_offsets end ", info.end,
        " is beyond the data section of ", data_size, " bytes (truncated file?)"));
  }

  uint64_t bytes = EntryOf(info.dtype).size;
  for (const int64_t dim : info.shape) {
    if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(dim), &bytes)) {
      return invalid("shape ", Snippet(shape), " overflows 64 bits");
    }
  }
  if (bytes != info.end - info.begin) {
    return invalid("data_offsets [", info.begin, ", ", info.end, ") hold ",
                   info.end - info.begin, " bytes but shape ", Snippet(shape), " of ",
                   EntryOf(info.dtype).name, " needs ", bytes);
  }
  return info;
}

absl::StatusOr<std::map<std::string, std::string>> ParseMetadata(const std::string& path,
                                                                 const Json& value) {
  if (!value.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": \"", kMetadataKey, "\" is not an object but ",
                     value.type_name(), " ", Snippet(value)));
  }
  std::map<std::string, std::string> metadata;
  for (auto it = value.begin(); it != value.end(); ++it) {
    if (!it.value().is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": \"", kMetadataKey, "\" value for ", Quote(it.key()),
                       " is not a string: ", Snippet(it.value())));
    }
    metadata[it.key()] = it.value().get<std::string>();
  }
  return metadata;
}

// The reference implementation rejects files whose data section has bytes that belong
// to no tensor, or to two; `tensors` is sorted by (begin, end).
absl::Status CheckCoverage(const std::string& path,
                           const std::vector<SafetensorsTensorInfo>& tensors,
                           uint64_t data_size) {
  uint64_t covered = 0;  // The data section [0, covered) is accounted for.
  const SafetensorsTensorInfo* previous = nullptr;
  for (const SafetensorsTensorInfo& info : tensors) {
    if (info.begin < covered) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": tensors ", Quote(previous->name), " [", previous->begin,
                       ", ", previous->end, ") and ", Quote(info.name), " [", info.begin,
                       ", ", info.end, ") overlap"));
    }
    if (info.begin > covered) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": data bytes [", covered, ", ", info.begin,
                       ") before tensor ", Quote(info.name), " belong to no tensor"));
    }
    covered = info.end;
    previous = &info;
  }
  if (covered != data_size) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": data bytes [", covered, ", ", data_size,
                     ") after the last tensor belong to no tensor"));
  }
  return absl::OkStatus();
}

// at::kBool must hold only 0 and 1; other bytes make comparisons and sums misbehave.
absl::Status CheckBools(const std::string& path, const SafetensorsTensorInfo& info,
                        const uint8_t* data) {
  if (info.dtype != SafetensorsDtype::kBool) return absl::OkStatus();
  for (uint64_t i = 0; i < info.end - info.begin; ++i) {
    if (data[i] > 1) {
      return absl::DataLossError(absl::StrCat(path, ": tensor ", Quote(info.name),
                                              ": BOOL element ", i, " holds byte ",
                                              static_cast<int>(data[i]), ", not 0 or 1"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

const char* SafetensorsDtypeName(SafetensorsDtype dtype) { return EntryOf(dtype).name; }

size_t SafetensorsDtypeSize(SafetensorsDtype dtype) { return EntryOf(dtype).size; }

at::ScalarType ToScalarType(SafetensorsDtype dtype) { return EntryOf(dtype).scalar_type; }

absl::StatusOr<SafetensorsDtype> SafetensorsDtypeFromName(std::string_view name) {
  for (const DtypeEntry& entry : kDtypes) {
    if (name == entry.name) return entry.dtype;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported safetensors dtype ", Quote(name)));
}

absl::StatusOr<SafetensorsDtype> SafetensorsDtypeFromScalarType(at::ScalarType type) {
  for (const DtypeEntry& entry : kDtypes) {
    if (type == entry.scalar_type) return entry.dtype;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("scalar type ", c10::toString(type), " has no safetensors dtype"));
}

SafetensorsReader::SafetensorsReader(std::string path,
                                     std::shared_ptr<const MappedFile> file,
                                     uint64_t data_start,
                                     std::vector<SafetensorsTensorInfo> tensors,
                                     std::map<std::string, std::string> metadata)
    : path_(std::move(path)),
      file_(std::move(file)),
      data_start_(data_start),
      tensors_(std::move(tensors)),
      metadata_(std::move(metadata)) {
  for (size_t i = 0; i < tensors_.size(); ++i) index_.emplace(tensors_[i].name, i);
}

SafetensorsReader::~SafetensorsReader() = default;

absl::StatusOr<std::unique_ptr<SafetensorsReader>> SafetensorsReader::Open(
    const std::string& path) {
  ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> file, MappedFile::Open(path));
  const uint64_t file_size = file->size();
  if (file_size < 8) {
    return absl::DataLossError(absl::StrCat(
        path, ": file is ", file_size, " bytes, shorter than the 8-byte header size"));
  }
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | file->data()[i];
  // Checked before the file size so a corrupt size field reads as such, not truncation.
  if (header_size > kMaxHeaderSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": header size ", header_size, " exceeds the limit of ", kMaxHeaderSize));
  }
  if (header_size > file_size - 8) {
    return absl::DataLossError(absl::StrCat(path, ": header size ", header_size,
                                            " runs past the end of the ", file_size,
                                            "-byte file"));
  }

  const char* header_begin = reinterpret_cast<const char*>(file->data()) + 8;
  HeaderChecker checker;
  Json header;
  try {
    // The parser rejects invalid UTF-8 in strings, so names and metadata are valid text.
    header = Json::parse(header_begin, header_begin + header_size, std::ref(checker));
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": header is not valid JSON: ", JsonErrorMessage(e)));
  } catch (const TooDeep&) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": header nests deeper than ", kMaxNesting, " levels"));
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(
        absl::StrCat(path, ": out of memory parsing the ", header_size, "-byte header"));
  }
  if (!checker.duplicate.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", checker.duplicate));
  }
  if (!header.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": header is not a JSON object but ", header.type_name(), " ",
                     Snippet(header)));
  }

  const uint64_t data_size = file_size - 8 - header_size;
  std::vector<SafetensorsTensorInfo> tensors;
  std::map<std::string, std::string> metadata;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == kMetadataKey) {
      ASSIGN_OR_RETURN(metadata, ParseMetadata(path, it.value()));
    } else {
      ASSIGN_OR_RETURN(SafetensorsTensorInfo info,
                       ParseEntry(path, it.key(), it.value(), data_size));
      tensors.push_back(std::move(info));
    }
  }
  std::sort(tensors.begin(), tensors.end(),
            [](const SafetensorsTensorInfo& a, const SafetensorsTensorInfo& b) {
              return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
            });
  RETURN_IF_ERROR(CheckCoverage(path, tensors, data_size));
  return std::unique_ptr<SafetensorsReader>(new SafetensorsReader(
      path, std::move(file), 8 + header_size, std::move(tensors), std::move(metadata)));
}

const SafetensorsTensorInfo* SafetensorsReader::Find(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

absl::StatusOr<const SafetensorsTensorInfo*> SafetensorsReader::Lookup(
    std::string_view name) const {
  const SafetensorsTensorInfo* info = Find(name);
  if (info == nullptr) {
    return absl::NotFoundError(absl::StrCat(path_, ": no tensor named ", Quote(name)));
  }
  return info;
}

const uint8_t* SafetensorsReader::DataOf(const SafetensorsTensorInfo& info) const {
  return file_->data() + data_start_ + info.begin;
}

absl::StatusOr<at::Tensor> SafetensorsReader::View(std::string_view name) const {
  ASSIGN_OR_RETURN(const SafetensorsTensorInfo* info, Lookup(name));
  const uint8_t* data = DataOf(*info);
  const size_t element_size = SafetensorsDtypeSize(info->dtype);
  // Misaligned typed access is undefined behaviour that vectorized kernels may trip on.
  if (info->end > info->begin && reinterpret_cast<uintptr_t>(data) % element_size != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_, ": tensor ", Quote(info->name), ": data at file offset ",
                     data_start_ + info->begin, " is not aligned to its ", element_size,
                     "-byte elements; use Load()"));
  }
  RETURN_IF_ERROR(CheckBools(path_, *info, data));
  try {
    // The deleter's copy of file_ keeps the mapping alive as long as the tensor.
    return at::from_blob(
        const_cast<uint8_t*>(data), info->shape, [file = file_](void*) {},
        at::TensorOptions().dtype(ToScalarType(info->dtype)));
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat(path_, ": tensor ", Quote(info->name),
                     ": cannot wrap the mapping: ", ExceptionMessage(e)));
  }
}

absl::StatusOr<at::Tensor> SafetensorsReader::Load(std::string_view name) const {
  ASSIGN_OR_RETURN(const SafetensorsTensorInfo* info, Lookup(name));
  const uint8_t* data = DataOf(*info);
  RETURN_IF_ERROR(CheckBools(path_, *info, data));
  const uint64_t bytes = info->end - info->begin;
  try {
    at::Tensor tensor =
        at::empty(info->shape, at::TensorOptions().dtype(ToScalarType(info->dtype)));
    if (bytes > 0) std::memcpy(tensor.data_ptr(), data, bytes);
    return tensor;
  } catch (const std::exception& e) {
    return absl::ResourceExhaustedError(
        absl::StrCat(path_, ": tensor ", Quote(info->name), ": cannot allocate ", bytes,
                     " bytes: ", ExceptionMessage(e)));
  }
}

absl::Status WriteSafetensors(
    const std::string& path,
    const std::vector<std::pair<std::string, at::Tensor>>& tensors,
    const std::map<std::string, std::string>& metadata) {
  // ordered_json keeps the header in the caller's order, which also reads naturally.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header[kMetadataKey] = metadata;
  std::set<std::string_view> names;
  uint64_t offset = 0;
  for (const auto& entry : tensors) {
    // Not a structured binding: clang 14 (the fuzz/sanitizer builds) cannot capture one.
    const std::string& name = entry.first;
    const at::Tensor& tensor = entry.second;
    const auto invalid = [&](const auto&... parts) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": tensor ", Quote(name), ": ", parts...));
    };
    if (name == kMetadataKey) return invalid("the name is reserved for the metadata");
    if (!names.insert(name).second) return invalid("duplicate tensor name");
    if (!tensor.defined()) return invalid("tensor is undefined");
    if (!tensor.device().is_cpu()) {
      return invalid("tensor is on device ", tensor.device().str(),
                     "; only CPU tensors can be written");
    }
    if (tensor.layout() != at::kStrided) return invalid("tensor is not strided (dense)");
    const absl::StatusOr<SafetensorsDtype> dtype =
        SafetensorsDtypeFromScalarType(tensor.scalar_type());
    if (!dtype.ok()) return invalid(dtype.status().message());
    const uint64_t bytes =
        static_cast<uint64_t>(tensor.numel()) * SafetensorsDtypeSize(*dtype);
    header[name] = {
        {"dtype", SafetensorsDtypeName(*dtype)},
        {"shape", tensor.sizes().vec()},
        {"data_offsets", nlohmann::ordered_json::array({offset, offset + bytes})}};
    offset += bytes;
  }

  std::string json;
  try {
    json = header.dump();
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": tensor names and metadata must be valid UTF-8: ", JsonErrorMessage(e)));
  }
  // Spaces are valid trailing JSON whitespace; they make the data section start
  // 8-aligned.
  json.append((8 - json.size() % 8) % 8, ' ');
  char size_field[8];
  for (int i = 0; i < 8; ++i) size_field[i] = static_cast<char>(json.size() >> (8 * i));

  ASSIGN_OR_RETURN(std::unique_ptr<AtomicFileWriter> writer,
                   AtomicFileWriter::Create(path));
  RETURN_IF_ERROR(writer->Write(size_field, sizeof(size_field)));
  RETURN_IF_ERROR(writer->Write(json));
  for (const auto& [name, tensor] : tensors) {
    if (tensor.numel() == 0) continue;
    at::Tensor contiguous;
    try {
      // resolve_neg(): a lazily negated view would otherwise be written un-negated.
      contiguous = tensor.resolve_neg().contiguous();
    } catch (const std::exception& e) {
      return absl::ResourceExhaustedError(
          absl::StrCat(path, ": tensor ", Quote(name),
                       ": cannot make it contiguous: ", ExceptionMessage(e)));
    }
    RETURN_IF_ERROR(writer->Write(contiguous.data_ptr(), contiguous.nbytes()));
  }
  return writer->Commit();
}

}  // namespace base
