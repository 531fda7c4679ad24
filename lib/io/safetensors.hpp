// Safetensors files (the checkpoint weight format): atomic writer and validating reader with lookup by name.
//
// Layout: 8-byte little-endian uint64 N, N bytes of JSON header (padded with spaces so that the data starts
// 8-byte aligned), then the tensors' bytes, row-major little-endian. Header:
//   {"NAME": {"dtype": "F32"|"BF16"|"F64"|"I32", "shape": [..], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"key": "value", ...}}
// with offsets relative to the first byte after the header. Only the four dtypes of mhc::DType are supported.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace mhc::io {

// A CPU tensor with the name it is stored under.
struct NamedTensor {
  std::string name;
  Tensor tensor;
};

// Writes `tensors` (CPU, any dtype, rank 0..kMaxRank) in the order given, plus optional string metadata.
// Atomic with the guarantees of write_file_atomic (core/atomic_file.hpp): on failure no temporary file is left
// behind and an existing `path` is untouched.
// Throws ShapeError for bad arguments (a name that is empty, "__metadata__" or repeated; a tensor not on the CPU
// or without data) and IoError naming the file when the file system refuses.
void write_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// A parsed, fully validated safetensors file held in memory (header entries plus the raw data bytes).
class SafetensorsFile {
 public:
  // Throws IoError naming the file when it is missing or unreadable, shorter than 8 bytes, its header length runs
  // beyond the file, the header is not valid JSON of the layout above, a dtype is unknown, or the data offsets
  // are out of range, overlap, leave gaps, do not match dtype * shape, or do not end at the end of the file.
  static SafetensorsFile read(const std::string& path);

  const std::string& path() const { return path_; }
  // Tensor names in the order of their data in the file (for files from write_safetensors: the order written).
  std::vector<std::string> names() const;
  bool contains(const std::string& name) const;
  // dtype and shape of a stored tensor; IoError when the file has no tensor of that name.
  DType dtype(const std::string& name) const;
  Shape shape(const std::string& name) const;
  // Copies the named tensor into dst (overwritten). dst must be a CPU tensor of exactly the stored dtype and
  // shape, else IoError naming the tensor, the file and both dtypes/shapes.
  void read_into(const std::string& name, Tensor dst) const;
  // Index of the first NaN or infinite element of the named tensor, -1 when every element is finite (always for I32).
  std::int64_t first_non_finite(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  struct Entry {
    DType dtype;
    Shape shape;
    std::int64_t begin;  // byte offsets into data_
    std::int64_t end;
  };

  SafetensorsFile() = default;
  const Entry& entry(const std::string& name) const;

  std::string path_;
  std::map<std::string, Entry> entries_;
  std::vector<std::string> order_;  // names by ascending data offset
  std::map<std::string, std::string> metadata_;
  std::vector<char> data_;  // the byte buffer after the header
};

}  // namespace mhc::io
