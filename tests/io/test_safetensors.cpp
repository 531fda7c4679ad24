// Tests of the safetensors writer and reader: round trips, an independent parser, corrupt files, atomic writes.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/host_tensor.hpp"
#include "support/temp_dir.hpp"
#include "io/safetensors.hpp"

using namespace mhc;
using mhc::test::TempDir;
using namespace mhc::io;
namespace fs = std::filesystem;

namespace {

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out);
}

// The 8-byte little-endian header length.
std::string length_prefix(std::uint64_t n) {
  std::string bytes;
  for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  return bytes;
}

// A safetensors file image: header length, header text, data bytes.
std::string file_image(const std::string& header, const std::string& data) {
  return length_prefix(header.size()) + header + data;
}

// The message of the IoError thrown by f; fails the test if f throws anything else or nothing.
std::string io_error_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const IoError& e) {
    return e.what();
  } catch (const std::exception& e) {
    FAIL("expected IoError, got: " << e.what());
  }
  FAIL("expected IoError, nothing thrown");
  return "";
}

// Host tensors filled with deterministic pseudo-random bytes (byte-exact comparisons need no valid values).
struct TensorSet {
  std::vector<HostTensor> storage;
  std::vector<NamedTensor> named;

  void add(const std::string& name, DType dtype, Shape shape, unsigned seed) {
    storage.emplace_back(dtype, shape);
    std::mt19937 gen(seed);
    auto* bytes = static_cast<unsigned char*>(storage.back().view().data);
    for (std::int64_t k = 0; k < storage.back().view().bytes(); ++k) bytes[k] = static_cast<unsigned char>(gen());
    named.push_back({name, storage.back().view()});
  }
};

// Every dtype at ranks 0..3 plus an empty tensor, in an order that is not alphabetical.
TensorSet every_dtype_and_rank() {
  const Shape shapes[] = {Shape{}, Shape{5}, Shape{2, 3}, Shape{3, 1, 2}};
  TensorSet set;
  unsigned seed = 1;
  for (DType dtype : {DType::f64, DType::i32, DType::bf16, DType::f32}) {
    for (int rank = 3; rank >= 0; --rank) {
      set.add("layers." + std::string(dtype_name(dtype)) + ".rank" + std::to_string(rank), dtype, shapes[rank], seed++);
    }
  }
  set.add("empty", DType::f32, Shape{0, 3}, seed++);
  return set;
}

const std::map<std::string, std::string> kMetadata{
    {"format", "mhc"}, {"step", "1234"}, {"quote \" and\nnewline", "unicode \xc3\xbc"}, {"empty", ""}};

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.bytes() == b.bytes() && std::memcmp(a.data, b.data, static_cast<std::size_t>(a.bytes())) == 0;
}

}  // namespace

TEST_CASE("safetensors round trip of every dtype, ranks 0..3 and metadata", "[io]") {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  const TensorSet set = every_dtype_and_rank();
  write_safetensors(path, set.named, kMetadata);
  CHECK_FALSE(fs::exists(path + ".tmp"));

  const SafetensorsFile file = SafetensorsFile::read(path);
  CHECK(file.path() == path);
  CHECK(file.metadata() == kMetadata);
  std::vector<std::string> written;
  for (const NamedTensor& nt : set.named) written.push_back(nt.name);
  CHECK(file.names() == written);
  CHECK_FALSE(file.contains("missing"));
  for (const NamedTensor& nt : set.named) {
    INFO(nt.name);
    REQUIRE(file.contains(nt.name));
    CHECK(file.dtype(nt.name) == nt.tensor.dtype);
    CHECK(file.shape(nt.name) == nt.tensor.shape);
    HostTensor back(nt.tensor.dtype, nt.tensor.shape);
    file.read_into(nt.name, back);
    CHECK(same_bytes(back, nt.tensor));
  }

  SECTION("without metadata there is no __metadata__ entry") {
    write_safetensors(path, set.named);
    CHECK(SafetensorsFile::read(path).metadata().empty());
    const std::string bytes = read_bytes(path);
    CHECK(bytes.find("__metadata__") == std::string::npos);
  }
  SECTION("an empty file (no tensors) round trips") {
    write_safetensors(path, {}, {{"k", "v"}});
    const SafetensorsFile empty = SafetensorsFile::read(path);
    CHECK(empty.names().empty());
    CHECK(empty.metadata().at("k") == "v");
  }
}

TEST_CASE("safetensors files parse with an independent minimal parser", "[io]") {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  TensorSet set = every_dtype_and_rank();
  set.add("endian", DType::i32, Shape{1}, 0);
  *set.storage.back().ptr<std::int32_t>() = 0x01020304;
  write_safetensors(path, set.named, kMetadata);

  const std::string bytes = read_bytes(path);
  REQUIRE(bytes.size() >= 8);
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  REQUIRE(8 + n <= bytes.size());
  CHECK((8 + n) % 8 == 0);  // data 8-byte aligned
  const std::string header_text = bytes.substr(8, n);
  CHECK(header_text.front() == '{');
  const nlohmann::json header = nlohmann::json::parse(header_text);
  const std::string data = bytes.substr(8 + n);

  CHECK(header.size() == set.named.size() + 1);
  CHECK(header.at("__metadata__") == nlohmann::json(kMetadata));
  const std::map<DType, std::string> dtype_names{
      {DType::f32, "F32"}, {DType::bf16, "BF16"}, {DType::f64, "F64"}, {DType::i32, "I32"}};
  std::uint64_t cursor = 0;
  for (const NamedTensor& nt : set.named) {
    INFO(nt.name);
    const nlohmann::json& entry = header.at(nt.name);
    CHECK(entry.at("dtype") == dtype_names.at(nt.tensor.dtype));
    std::vector<std::int64_t> shape(nt.tensor.shape.dims.begin(), nt.tensor.shape.dims.begin() + nt.tensor.rank());
    CHECK(entry.at("shape").get<std::vector<std::int64_t>>() == shape);
    const auto size = static_cast<std::uint64_t>(nt.tensor.bytes());
    CHECK(entry.at("data_offsets").get<std::vector<std::uint64_t>>() == std::vector<std::uint64_t>{cursor, cursor + size});
    REQUIRE(cursor + size <= data.size());
    CHECK(std::memcmp(data.data() + cursor, nt.tensor.data, size) == 0);
    cursor += size;
  }
  CHECK(cursor == data.size());
  CHECK(data.substr(data.size() - 4) == std::string("\x04\x03\x02\x01", 4));  // little-endian
}

TEST_CASE("corrupt safetensors files give an IoError naming the file", "[io]") {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  const std::string tensor_a = R"("a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]})";
  const std::string eight(8, '\x11');
  struct Case {
    const char* what;
    std::string image;
    const char* message;
  };
  const std::vector<Case> cases{
      {"shorter than 8 bytes", "\x05\x00\x00", "too short"},
      {"header length beyond the file", length_prefix(100) + "{}", "runs beyond the end"},
      {"invalid JSON", file_image(R"({"a": {"dtype": )", ""), "not valid JSON"},
      {"header not an object", file_image("[1, 2]", ""), "not a JSON object"},
      {"unknown dtype", file_image(R"({"a": {"dtype": "F16", "shape": [4], "data_offsets": [0, 8]}})", eight),
       "unknown dtype \"F16\""},
      {"missing dtype", file_image(R"({"a": {"shape": [2], "data_offsets": [0, 8]}})", eight), "no dtype"},
      {"negative extent", file_image(R"({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})", eight),
       "bad extent -2"},
      {"rank beyond the maximum",
       file_image(R"({"a": {"dtype": "F32", "shape": [1,1,1,1,1,1,2], "data_offsets": [0, 8]}})", eight),
       "at most 6 extents"},
      {"missing data_offsets", file_image(R"({"a": {"dtype": "F32", "shape": [2]}})", eight), "needs data_offsets"},
      {"offsets out of range", file_image(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", eight),
       "out of the data range"},
      {"offsets reversed", file_image(R"({"a": {"dtype": "F32", "shape": [0], "data_offsets": [8, 0]}})", eight),
       "out of the data range"},
      {"offsets not matching dtype * shape",
       file_image(R"({"a": {"dtype": "F64", "shape": [2], "data_offsets": [0, 8]}})", eight), "needs 16 bytes"},
      {"shape far beyond the file",
       file_image(R"({"a": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 8]}})", eight),
       "is too large"},
      {"overlapping tensors",
       file_image("{" + tensor_a + R"(, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                  eight + "1234"),
       "tensors 'a' and 'b' overlap"},
      {"gap before a tensor",
       file_image(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})", eight + "1234"),
       "gap of 4 bytes before tensor 'a'"},
      {"trailing garbage", file_image("{" + tensor_a + "}", eight + "junk"), "4 trailing bytes"},
      {"metadata not strings", file_image(R"({"__metadata__": {"step": 3}})", ""), "'step' is not a string"},
      {"nesting beyond 8 levels",
       file_image(R"({"__metadata__": {"a": )" + std::string(100000, '[') + std::string(100000, ']') + "}}", ""),
       "JSON nested deeper than 8 levels"},
      {"number beyond double", file_image(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 1e999]}})", eight),
       "not valid JSON: number overflow parsing '1e999'"},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    write_bytes(path, c.image);
    const std::string message = io_error_message([&] { SafetensorsFile::read(path); });
    CHECK_THAT(message, Catch::Contains(path) && Catch::Contains(c.message) && !Catch::Contains("json.exception"));
  }

  // The well-formed variant of the cases above reads fine (so each case fails for its own reason).
  write_bytes(path, file_image("{" + tensor_a + "}    ", eight));
  CHECK(SafetensorsFile::read(path).shape("a") == Shape{2});

  const std::string missing = dir.file("missing.safetensors");
  CHECK_THAT(io_error_message([&] { SafetensorsFile::read(missing); }),
             Catch::Contains(missing) && Catch::Contains("cannot open"));
  CHECK_THAT(io_error_message([&] { SafetensorsFile::read(dir.file("")); }), Catch::Contains("not a regular file"));
}

TEST_CASE("safetensors first_non_finite finds NaN and infinity in every float dtype", "[io]") {
  TempDir dir;
  const std::string path = dir.file("nonfinite.safetensors");
  HostTensor f32(DType::f32, Shape{4}), f64(DType::f64, Shape{3}), bf16(DType::bf16, Shape{2}), i32(DType::i32, Shape{1});
  float* a = f32.view().ptr<float>();
  a[0] = 1.f, a[1] = 2.f, a[2] = std::numeric_limits<float>::quiet_NaN(), a[3] = 0.f;
  double* b = f64.view().ptr<double>();
  b[0] = 0.0, b[1] = 0.0, b[2] = -std::numeric_limits<double>::infinity();
  auto* c = static_cast<std::uint16_t*>(bf16.view().data);
  c[0] = 0x3f80, c[1] = 0x7f80;  // 1.0 and +infinity
  i32.view().ptr<std::int32_t>()[0] = -1;  // all bits set: a NaN pattern, but an integer
  write_safetensors(path, {{"f32", f32.view()}, {"f64", f64.view()}, {"bf16", bf16.view()}, {"i32", i32.view()}});
  const auto file = SafetensorsFile::read(path);
  CHECK(file.first_non_finite("f32") == 2);
  CHECK(file.first_non_finite("f64") == 2);
  CHECK(file.first_non_finite("bf16") == 1);
  CHECK(file.first_non_finite("i32") == -1);
  a[2] = 3.f;
  write_safetensors(path, {{"f32", f32.view()}});
  CHECK(SafetensorsFile::read(path).first_non_finite("f32") == -1);
}

TEST_CASE("safetensors read_into checks the name, dtype and shape", "[io]") {
  TempDir dir;
  const std::string path = dir.file("w.safetensors");
  TensorSet set;
  set.add("blocks.0.w", DType::f32, Shape{2, 3}, 7);
  write_safetensors(path, set.named);
  const SafetensorsFile file = SafetensorsFile::read(path);

  HostTensor transposed(DType::f32, Shape{3, 2});
  CHECK_THAT(io_error_message([&] { file.read_into("blocks.0.w", transposed); }),
             Catch::Contains("'blocks.0.w'") && Catch::Contains(path) && Catch::Contains("f32 (2, 3)") &&
                 Catch::Contains("f32 (3, 2)"));
  HostTensor wrong_dtype(DType::f64, Shape{2, 3});
  CHECK_THAT(io_error_message([&] { file.read_into("blocks.0.w", wrong_dtype); }),
             Catch::Contains("'blocks.0.w'") && Catch::Contains(path) && Catch::Contains("f64 (2, 3)"));
  HostTensor right(DType::f32, Shape{2, 3});
  CHECK_THAT(io_error_message([&] { file.read_into("blocks.1.w", right); }),
             Catch::Contains("'blocks.1.w'") && Catch::Contains(path));
  CHECK_THAT(io_error_message([&] { file.shape("nope"); }), Catch::Contains("'nope'") && Catch::Contains(path));
  CHECK_THAT(io_error_message([&] { file.dtype("nope"); }), Catch::Contains("'nope'"));
  const Tensor on_gpu(right.view().data, DType::f32, Shape{2, 3}, Device::cuda);
  CHECK_THROWS_AS(file.read_into("blocks.0.w", on_gpu), ShapeError);
  file.read_into("blocks.0.w", right);
  CHECK(same_bytes(right, set.named[0].tensor));
}

TEST_CASE("safetensors writes are atomic and check their arguments", "[io]") {
  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  TensorSet first;
  first.add("w", DType::f32, Shape{4}, 1);
  TensorSet second;
  second.add("w", DType::f32, Shape{4}, 2);
  second.add("b", DType::f64, Shape{2}, 3);

  SECTION("names must be unique and not reserved") {
    TensorSet twice;
    twice.add("w", DType::f32, Shape{4}, 1);
    twice.add("w", DType::i32, Shape{1}, 4);
    CHECK_THROWS_AS(write_safetensors(path, twice.named), ShapeError);
    CHECK_THROWS_WITH(write_safetensors(path, twice.named), Catch::Contains("'w' is used twice"));
    TensorSet reserved;
    reserved.add("__metadata__", DType::f32, Shape{1}, 5);
    CHECK_THROWS_AS(write_safetensors(path, reserved.named), ShapeError);
    CHECK_THROWS_AS(write_safetensors(path, {{"", first.named[0].tensor}}), ShapeError);
    CHECK_FALSE(fs::exists(path));
    CHECK_FALSE(fs::exists(path + ".tmp"));
  }
  SECTION("a write into a missing directory leaves no file behind") {
    const std::string nowhere = dir.file("missing/ckpt.safetensors");
    CHECK_THAT(io_error_message([&] { write_safetensors(nowhere, first.named); }), Catch::Contains(nowhere));
    CHECK_FALSE(fs::exists(dir.file("missing")));
  }
  SECTION("a failed rename removes the temporary file") {
    fs::create_directory(path);  // a directory cannot be replaced by a file
    CHECK_THAT(io_error_message([&] { write_safetensors(path, first.named); }), Catch::Contains("cannot rename"));
    CHECK(fs::is_directory(path));
    CHECK_FALSE(fs::exists(path + ".tmp"));
  }
  SECTION("a failed write leaves an existing file untouched") {
    write_safetensors(path, first.named);
    const std::string before = read_bytes(path);
    fs::create_directory(path + ".tmp");  // the temporary file cannot be created
    CHECK_THAT(io_error_message([&] { write_safetensors(path, second.named); }), Catch::Contains("cannot create"));
    CHECK(read_bytes(path) == before);
  }
  SECTION("a write replaces an existing file") {
    write_safetensors(path, first.named);
    write_safetensors(path, second.named);
    const SafetensorsFile file = SafetensorsFile::read(path);
    CHECK(file.names() == std::vector<std::string>{"w", "b"});
    HostTensor w(DType::f32, Shape{4});
    file.read_into("w", w);
    CHECK(same_bytes(w, second.named[0].tensor));
    CHECK_FALSE(fs::exists(path + ".tmp"));
  }
}

// Hidden: run by the ctest safetensors_python (tests/io/check_python_reader.cmake), which compares the output of
// tests/io/read_safetensors.py on this file with the values below.
TEST_CASE("safetensors fixture for the Python reader", "[.][safetensors_python]") {
  const char* out = std::getenv("MHC_SAFETENSORS_OUT");
  REQUIRE(out != nullptr);
  HostTensor weights(DType::f32, Shape{2, 3});
  for (std::int64_t k = 0; k < 6; ++k) weights.set(k, 0.5 * static_cast<double>(k));  // sum 7.5
  HostTensor scale(DType::f32, Shape{});
  scale.set(0, 2.25);
  HostTensor empty(DType::f32, Shape{0, 4});
  HostTensor tokens(DType::i32, Shape{4});
  HostTensor norm(DType::bf16, Shape{3});
  for (std::int64_t k = 0; k < 3; ++k) norm.ptr<bf16_t>()[k] = float_to_bf16(1.0f + static_cast<float>(k));
  HostTensor moments(DType::f64, Shape{2, 1, 2});
  write_safetensors(out,
                    {{"weights", weights}, {"scale", scale}, {"empty", empty}, {"tokens", tokens}, {"norm", norm},
                     {"moments", moments}},
                    {{"step", "42"}});
}
