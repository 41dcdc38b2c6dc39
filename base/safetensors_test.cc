#include "base/safetensors.h"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "base/atomic_file.h"

namespace base {
namespace {

using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

// The raw bytes of a tensor, for bit-exact comparisons (NaN payloads, -0.0, ...).
std::string Bytes(const at::Tensor& tensor) {
  const at::Tensor contiguous = tensor.contiguous();
  return std::string(static_cast<const char*>(contiguous.data_ptr()),
                     contiguous.nbytes());
}

// A tensor whose bytes follow a fixed pattern, covering arbitrary bit patterns of every
// dtype (BOOL only holds 0 and 1).
at::Tensor PatternTensor(at::IntArrayRef shape, at::ScalarType type, int seed) {
  at::Tensor tensor = at::empty(shape, at::TensorOptions().dtype(type));
  auto* bytes = static_cast<uint8_t*>(tensor.data_ptr());
  for (size_t i = 0; i < tensor.nbytes(); ++i) {
    const uint8_t value = static_cast<uint8_t>(i * 37 + seed * 11 + 5);
    bytes[i] = type == at::kBool ? value % 2 : value;
  }
  return tensor;
}

// Assembles a file as the spec describes: u64 little-endian header size, header, data.
std::string SizeField(uint64_t size) {
  std::string field(8, '\0');
  for (int i = 0; i < 8; ++i) field[i] = static_cast<char>(size >> (8 * i));
  return field;
}

std::string FileBytes(const std::string& header, const std::string& data = "") {
  return SizeField(header.size()) + header + data;
}

absl::StatusOr<std::unique_ptr<SafetensorsReader>> OpenBytes(const std::string& name,
                                                             const std::string& bytes) {
  const std::string path = TempPath(name + ".safetensors");
  const absl::Status written = WriteStringToFileAtomically(path, bytes);
  if (!written.ok()) return written;
  return SafetensorsReader::Open(path);
}

constexpr SafetensorsDtype kAllDtypes[] = {
    SafetensorsDtype::kF64, SafetensorsDtype::kI64, SafetensorsDtype::kF32,
    SafetensorsDtype::kI32, SafetensorsDtype::kF16, SafetensorsDtype::kBF16,
    SafetensorsDtype::kI16, SafetensorsDtype::kI8,  SafetensorsDtype::kU8,
    SafetensorsDtype::kBool};

TEST(SafetensorsDtypeTest, NamesSizesAndScalarTypesRoundTrip) {
  for (const SafetensorsDtype dtype : kAllDtypes) {
    SCOPED_TRACE(SafetensorsDtypeName(dtype));
    EXPECT_EQ(SafetensorsDtypeFromName(SafetensorsDtypeName(dtype)).value(), dtype);
    EXPECT_EQ(SafetensorsDtypeFromScalarType(ToScalarType(dtype)).value(), dtype);
    EXPECT_EQ(SafetensorsDtypeSize(dtype), c10::elementSize(ToScalarType(dtype)));
  }
  EXPECT_EQ(ToScalarType(SafetensorsDtype::kBF16), at::kBFloat16);
  EXPECT_EQ(SafetensorsDtypeFromName("F8_E4M3").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SafetensorsDtypeFromName("f32").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(SafetensorsDtypeFromScalarType(at::kComplexFloat).status().message(),
              HasSubstr("ComplexFloat"));
}

TEST(SafetensorsTest, RoundTripsEveryDtypeBitExact) {
  // Per dtype: a 3x5 tensor, a 0-d scalar and a tensor with a zero dimension. Wide dtypes
  // first and 16 elements per dtype keep every tensor aligned for View().
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  int seed = 0;
  for (const SafetensorsDtype dtype : kAllDtypes) {
    const std::string name = SafetensorsDtypeName(dtype);
    const at::ScalarType type = ToScalarType(dtype);
    tensors.emplace_back(name, PatternTensor({3, 5}, type, ++seed));
    tensors.emplace_back(name + "_scalar", PatternTensor({}, type, ++seed));
    tensors.emplace_back(name + "_empty", PatternTensor({2, 0, 3}, type, ++seed));
  }
  const std::string path = TempPath("every_dtype.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, tensors).ok());
  auto reader = SafetensorsReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  ASSERT_EQ((*reader)->tensors().size(), tensors.size());
  EXPECT_TRUE((*reader)->metadata().empty());

  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& [name, expected] = tensors[i];
    SCOPED_TRACE(name);
    EXPECT_EQ((*reader)->tensors()[i].name, name);  // Data keeps the given order.
    for (const bool view : {false, true}) {
      absl::StatusOr<at::Tensor> actual =
          view ? (*reader)->View(name) : (*reader)->Load(name);
      ASSERT_TRUE(actual.ok()) << actual.status();
      EXPECT_EQ(actual->scalar_type(), expected.scalar_type());
      EXPECT_EQ(actual->sizes(), expected.sizes());
      EXPECT_EQ(Bytes(*actual), Bytes(expected));
    }
  }
  EXPECT_EQ((*reader)->Load("F32_scalar")->dim(), 0);
  EXPECT_EQ((*reader)->Load("BOOL_empty")->numel(), 0);
}

TEST(SafetensorsTest, ExactZerosStayExactlyZero) {
  at::Tensor sparse_weights = at::zeros({64, 64});
  sparse_weights[3][5].fill_(1.5);
  sparse_weights[60][1].fill_(-0.0);  // Negative zero keeps its sign bit too.
  const std::string path = TempPath("zeros.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"w", sparse_weights}}).ok());
  auto reader = SafetensorsReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  const at::Tensor loaded = (*reader)->Load("w").value();
  EXPECT_EQ(loaded.eq(0).sum().item<int64_t>(), 64 * 64 - 1);
  EXPECT_EQ(Bytes(loaded), Bytes(sparse_weights));
}

TEST(SafetensorsTest, WritesNonContiguousTensorsInLogicalOrder) {
  const at::Tensor transposed = at::arange(12, at::kInt).reshape({3, 4}).t();
  ASSERT_FALSE(transposed.is_contiguous());
  const at::Tensor strided = at::arange(20, at::kDouble).slice(0, 1, 20, 3);
  const std::string path = TempPath("non_contiguous.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"t", transposed}, {"s", strided}}).ok());
  auto reader = SafetensorsReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_TRUE(at::equal((*reader)->Load("t").value(), transposed));
  EXPECT_TRUE(at::equal((*reader)->Load("s").value(), strided));
}

TEST(SafetensorsTest, MetadataRoundTrips) {
  const std::map<std::string, std::string> metadata = {
      {"format", "pt"},
      {"note", "quotes \" and \\ and\nnewline, \xc3\xbcnicode"},
      {"", ""}};
  const std::string path = TempPath("metadata.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"x", at::ones({2})}}, metadata).ok());
  auto reader = SafetensorsReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->metadata(), metadata);
  EXPECT_EQ((*reader)->path(), path);
}

TEST(SafetensorsTest, ParsesHandBuiltFileFromSpec) {
  // Written from the format description alone, so it pins the format independently of
  // WriteSafetensors. Entries are deliberately not in data order.
  const std::string header = R"({"__metadata__":{"framework":"hand"},)"
                             R"("b":{"dtype":"I16","shape":[2],"data_offsets":[8,12]},)"
                             R"("a":{"dtype":"F32","shape":[2,1],"data_offsets":[0,8]}})";
  ASSERT_LT(header.size(), 256u);
  const std::string size_field = {static_cast<char>(header.size()), 0, 0, 0, 0, 0, 0, 0};
  const char data[] =
      "\x00\x00\x80\x3f"   // 1.0f
      "\x00\x00\x20\xc0"   // -2.5f
      "\x02\x01\xff\xff";  // int16 258, -1
  auto reader = OpenBytes("hand_built", size_field + header + std::string(data, 12));
  ASSERT_TRUE(reader.ok()) << reader.status();

  const std::vector<SafetensorsTensorInfo>& tensors = (*reader)->tensors();
  ASSERT_EQ(tensors.size(), 2u);
  EXPECT_EQ(tensors[0].name, "a");  // Ordered by offset, not by header order.
  EXPECT_EQ(tensors[0].dtype, SafetensorsDtype::kF32);
  EXPECT_EQ(tensors[0].shape, (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(tensors[0].begin, 0u);
  EXPECT_EQ(tensors[0].end, 8u);
  EXPECT_EQ(tensors[1].name, "b");
  EXPECT_EQ((*reader)->Find("b"), &tensors[1]);
  EXPECT_EQ((*reader)->Find("c"), nullptr);
  EXPECT_EQ((*reader)->metadata().at("framework"), "hand");

  const at::Tensor a = (*reader)->Load("a").value();
  EXPECT_EQ(a[0][0].item<float>(), 1.0f);
  EXPECT_EQ(a[1][0].item<float>(), -2.5f);
  const at::Tensor b = (*reader)->Load("b").value();
  EXPECT_EQ(b[0].item<int16_t>(), 258);
  EXPECT_EQ(b[1].item<int16_t>(), -1);
}

TEST(SafetensorsTest, WriterFollowsTheSpecLayout) {
  const std::string path = TempPath("layout.safetensors");
  const at::Tensor x = at::tensor({1.0f, -2.5f});
  ASSERT_TRUE(WriteSafetensors(path, {{"x", x}}, {{"k", "v"}}).ok());
  const std::string bytes = ReadFileToString(path).value();
  ASSERT_GE(bytes.size(), 8u);
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i)
    header_size = header_size << 8 | static_cast<uint8_t>(bytes[i]);
  EXPECT_EQ((8 + header_size) % 8, 0u);
  ASSERT_EQ(bytes.size(), 8 + header_size + 8);
  const std::string header = bytes.substr(8, header_size);
  EXPECT_EQ(header.substr(0, header.find_last_not_of(' ') + 1),
            R"({"__metadata__":{"k":"v"},"x":{"dtype":"F32","shape":[2],)"
            R"("data_offsets":[0,8]}})");
  EXPECT_EQ(bytes.substr(8 + header_size),
            std::string("\x00\x00\x80\x3f\x00\x00\x20\xc0", 8));
}

TEST(SafetensorsTest, ViewAliasesTheMapping) {
  const std::string path = TempPath("view.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"x", at::arange(6, at::kFloat)}}).ok());
  auto reader = SafetensorsReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  const at::Tensor view1 = (*reader)->View("x").value();
  const at::Tensor view2 = (*reader)->View("x").value();
  EXPECT_EQ(view1.data_ptr(), view2.data_ptr());  // No copy: both point into the mapping.
  EXPECT_NE((*reader)->Load("x")->data_ptr(), view1.data_ptr());
  reader->reset();  // The safety net: the view keeps the mapping alive.
  EXPECT_TRUE(at::equal(view1, at::arange(6, at::kFloat)));
}

TEST(SafetensorsTest, MisalignedTensorCanBeLoadedButNotViewed) {
  std::string header = R"({"u":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                       R"("f":{"dtype":"F32","shape":[1],"data_offsets":[1,5]}})";
  header.append((8 - header.size() % 8) % 8, ' ');  // Data section 8-aligned.
  auto reader =
      OpenBytes("misaligned", FileBytes(header, std::string("\x07\x00\x00\x80\x3f", 5)));
  ASSERT_TRUE(reader.ok()) << reader.status();
  const absl::StatusOr<at::Tensor> view = (*reader)->View("f");
  EXPECT_EQ(view.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(view.status().message(), HasSubstr("\"f\""));
  EXPECT_EQ((*reader)->Load("f")->item<float>(), 1.0f);
  EXPECT_EQ((*reader)->View("u")->item<uint8_t>(), 7);
}

TEST(SafetensorsTest, BoolBytesOtherThanZeroOrOneAreDataLoss) {
  auto reader = OpenBytes(
      "bad_bool", FileBytes(R"({"b":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}})",
                            "\x01\x02"));
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->Load("b").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT((*reader)->View("b").status().message(),
              HasSubstr("element 1 holds byte 2"));
}

TEST(SafetensorsTest, MissingTensorIsNotFound) {
  const std::string path = TempPath("missing_tensor.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"x", at::ones({1})}}).ok());
  auto reader = SafetensorsReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  for (const auto& result : {(*reader)->Load("nope"), (*reader)->View("nope")}) {
    EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
    EXPECT_THAT(result.status().message(), HasSubstr(path));
    EXPECT_THAT(result.status().message(), HasSubstr("\"nope\""));
  }
}

TEST(SafetensorsTest, MissingFileIsNotFound) {
  const std::string path = TempPath("does_not_exist.safetensors");
  const auto reader = SafetensorsReader::Open(path);
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(reader.status().message(), HasSubstr(path));
}

TEST(SafetensorsTest, WriterRejectsBadInput) {
  const at::Tensor ok = at::ones({2});
  const struct {
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    std::map<std::string, std::string> metadata;
    std::string message;
  } cases[] = {
      {{{"a", ok}, {"a", ok}}, {}, "duplicate tensor name"},
      {{{"__metadata__", ok}}, {}, "reserved"},
      {{{"u", at::Tensor()}}, {}, "undefined"},
      {{{"m", at::empty({2}, at::TensorOptions().device(at::kMeta))}}, {}, "device meta"},
      {{{"c", at::zeros({2}, at::kComplexFloat)}}, {}, "ComplexFloat"},
      {{{"s", at::eye(3).to_sparse()}}, {}, "not strided"},
      {{{"bad\xff", ok}}, {}, "valid UTF-8"},
      {{{"a", ok}}, {{"k", "\xc3\x28"}}, "valid UTF-8"},
  };
  const std::string path = TempPath("rejected.safetensors");
  for (const auto& c : cases) {
    SCOPED_TRACE(c.message);
    const absl::Status status = WriteSafetensors(path, c.tensors, c.metadata);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(status.message(), HasSubstr(c.message));
    EXPECT_THAT(status.message(), HasSubstr(path));
    EXPECT_EQ(ReadFileToString(path).status().code(), absl::StatusCode::kNotFound);
  }
}

TEST(SafetensorsTest, EveryTruncatedPrefixFails) {
  const std::string path = TempPath("full.safetensors");
  ASSERT_TRUE(WriteSafetensors(path,
                               {{"w", PatternTensor({2, 3}, at::kFloat, 1)},
                                {"b", PatternTensor({5}, at::kChar, 2)}},
                               {{"k", "v"}})
                  .ok());
  const std::string bytes = ReadFileToString(path).value();
  ASSERT_TRUE(SafetensorsReader::Open(path).ok());
  for (size_t size = 0; size < bytes.size(); ++size) {
    const auto reader = OpenBytes("prefix", bytes.substr(0, size));
    EXPECT_EQ(reader.status().code(), absl::StatusCode::kDataLoss) << "prefix " << size;
  }
}

// One malformed file per validation rule of SafetensorsReader::Open().
struct CorruptCase {
  std::string name;
  std::string bytes;
  absl::StatusCode code;
  std::string message;
};

std::string F32Entry(const std::string& name, const std::string& shape, int begin,
                     int end) {
  return "\"" + name + R"(":{"dtype":"F32","shape":)" + shape + R"(,"data_offsets":[)" +
         std::to_string(begin) + "," + std::to_string(end) + "]}";
}

std::vector<CorruptCase> CorruptCases() {
  using absl::StatusCode;
  const std::string a = F32Entry("a", "[1]", 0, 4);
  const std::string four(4, '\0');
  const auto entry = [&](const std::string& body) {
    return FileBytes(R"({"a":)" + body + "}", four);
  };
  return {
      {"TooShort", std::string("\x01\x00\x00", 3), StatusCode::kDataLoss,
       "3 bytes, shorter than"},
      {"HeaderPastEndOfFile", SizeField(100) + "{}", StatusCode::kDataLoss,
       "header size 100 runs past the end of the 10-byte file"},
      {"HeaderTooLarge", SizeField(200'000'000) + "{}", StatusCode::kInvalidArgument,
       "header size 200000000 exceeds the limit"},
      {"EmptyHeader", FileBytes(""), StatusCode::kInvalidArgument, "not valid JSON"},
      {"TruncatedJson", FileBytes(R"({"a":{"dtype":"F32")"), StatusCode::kInvalidArgument,
       "not valid JSON"},
      {"TrailingGarbage", FileBytes("{} x"), StatusCode::kInvalidArgument,
       "not valid JSON"},
      {"NonUtf8Name", FileBytes("{\"\xff\":{}}"), StatusCode::kInvalidArgument, "UTF-8"},
      {"OverlongUtf8", FileBytes("{\"\xc0\xaf\":{}}"), StatusCode::kInvalidArgument,
       "UTF-8"},
      {"NonUtf8Metadata", FileBytes("{\"__metadata__\":{\"k\":\"\xc3\x28\"}}"),
       StatusCode::kInvalidArgument, "UTF-8"},
      {"HeaderNotObject", FileBytes("[1,2]"), StatusCode::kInvalidArgument,
       "header is not a JSON object but array"},
      {"DeeplyNested", FileBytes(std::string(100000, '[') + std::string(100000, ']')),
       StatusCode::kInvalidArgument, "header nests deeper than 8 levels"},
      {"DeeplyNestedEntry",
       FileBytes(R"({"a":{"dtype":"F32","shape":)" + std::string(100000, '[') +
                 std::string(100000, ']') + "}}"),
       StatusCode::kInvalidArgument, "header nests deeper than 8 levels"},
      {"NestedShape", entry(R"({"dtype":"F32","shape":[[1]],"data_offsets":[0,4]})"),
       StatusCode::kInvalidArgument, "shape entry [1] is not"},
      {"EntryNotObject", entry("[0,4]"), StatusCode::kInvalidArgument,
       "tensor \"a\": entry is not an object but array"},
      {"MissingDtype", entry(R"({"shape":[1],"data_offsets":[0,4]})"),
       StatusCode::kInvalidArgument, "missing \"dtype\""},
      {"MissingShape", entry(R"({"dtype":"F32","data_offsets":[0,4]})"),
       StatusCode::kInvalidArgument, "missing \"shape\""},
      {"MissingDataOffsets", entry(R"({"dtype":"F32","shape":[1]})"),
       StatusCode::kInvalidArgument, "missing \"data_offsets\""},
      {"UnknownKey", entry(R"({"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":0})"),
       StatusCode::kInvalidArgument, "unknown key \"x\""},
      {"UnknownDtype", entry(R"({"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]})"),
       StatusCode::kInvalidArgument, "unknown dtype \"F8_E4M3\""},
      {"DtypeNotString", entry(R"({"dtype":4,"shape":[1],"data_offsets":[0,4]})"),
       StatusCode::kInvalidArgument, "dtype 4 is not a string"},
      {"ShapeNotArray", entry(R"({"dtype":"F32","shape":1,"data_offsets":[0,4]})"),
       StatusCode::kInvalidArgument, "shape 1 is not an array"},
      {"NegativeDim", entry(R"({"dtype":"F32","shape":[-1],"data_offsets":[0,4]})"),
       StatusCode::kInvalidArgument, "shape entry -1 is not a non-negative integer"},
      {"FractionalDim", entry(R"({"dtype":"F32","shape":[1.5],"data_offsets":[0,4]})"),
       StatusCode::kInvalidArgument, "shape entry 1.5 is not"},
      {"StringDim", entry(R"({"dtype":"F32","shape":["1"],"data_offsets":[0,4]})"),
       StatusCode::kInvalidArgument, "shape entry \"1\" is not"},
      {"DimBeyondInt64",
       entry(R"({"dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,4]})"),
       StatusCode::kInvalidArgument, "shape entry 9223372036854775808 is not"},
      {"ShapeOverflows",
       entry(R"({"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]})"),
       StatusCode::kInvalidArgument, "overflows 64 bits"},
      {"OffsetsNotPair", entry(R"({"dtype":"F32","shape":[1],"data_offsets":[4]})"),
       StatusCode::kInvalidArgument, "data_offsets [4] is not two unsigned integers"},
      {"OffsetsNegative", entry(R"({"dtype":"F32","shape":[1],"data_offsets":[-4,0]})"),
       StatusCode::kInvalidArgument, "is not two unsigned integers"},
      {"OffsetsNotNumbers",
       entry(R"({"dtype":"F32","shape":[1],"data_offsets":["0","4"]})"),
       StatusCode::kInvalidArgument, "is not two unsigned integers"},
      {"OffsetsReversed", entry(R"({"dtype":"F32","shape":[0],"data_offsets":[4,0]})"),
       StatusCode::kInvalidArgument, "data_offsets begin 4 is after end 0"},
      {"EndBeyondData", FileBytes("{" + F32Entry("a", "[2]", 0, 8) + "}", four),
       StatusCode::kDataLoss, "data_offsets end 8 is beyond the data section of 4 bytes"},
      {"SizeMismatch", FileBytes("{" + F32Entry("a", "[2]", 0, 4) + "}", four),
       StatusCode::kInvalidArgument, "[0, 4) hold 4 bytes but shape [2] of F32 needs 8"},
      {"Overlap",
       FileBytes(
           "{" + F32Entry("a", "[2]", 0, 8) + "," + F32Entry("b", "[2]", 4, 12) + "}",
           std::string(12, '\0')),
       StatusCode::kInvalidArgument, "\"a\" [0, 8) and \"b\" [4, 12) overlap"},
      {"DuplicateName", FileBytes("{" + a + "," + a + "}", four),
       StatusCode::kInvalidArgument, "duplicate tensor name \"a\""},
      {"DuplicateKeyInEntry",
       entry(R"({"dtype":"F32","dtype":"I32","shape":[1],"data_offsets":[0,4]})"),
       StatusCode::kInvalidArgument, "duplicate key \"dtype\" in entry \"a\""},
      {"MetadataNotObject", FileBytes(R"({"__metadata__":"x",)" + a + "}", four),
       StatusCode::kInvalidArgument, "\"__metadata__\" is not an object but string"},
      {"MetadataValueNotString", FileBytes(R"({"__metadata__":{"k":1},)" + a + "}", four),
       StatusCode::kInvalidArgument,
       "\"__metadata__\" value for \"k\" is not a string: 1"},
      {"GapBetweenTensors",
       FileBytes("{" + a + "," + F32Entry("b", "[1]", 8, 12) + "}",
                 std::string(12, '\0')),
       StatusCode::kInvalidArgument,
       "data bytes [4, 8) before tensor \"b\" belong to no"},
      {"TrailingData", FileBytes("{" + a + "}", std::string(8, '\0')),
       StatusCode::kInvalidArgument, "data bytes [4, 8) after the last tensor"},
  };
}

class CorruptFileTest : public ::testing::TestWithParam<CorruptCase> {};

TEST_P(CorruptFileTest, OpenFailsWithSpecificError) {
  const CorruptCase& c = GetParam();
  const auto reader = OpenBytes(c.name, c.bytes);
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), c.code) << reader.status();
  EXPECT_THAT(reader.status().message(), HasSubstr(c.message));
  EXPECT_THAT(reader.status().message(), HasSubstr(c.name + ".safetensors"));
}

INSTANTIATE_TEST_SUITE_P(AllRules, CorruptFileTest, ::testing::ValuesIn(CorruptCases()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace base
