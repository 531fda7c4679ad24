// Safetensors writer (atomic, core/atomic_file.hpp) and validating reader.
#include "io/safetensors.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/atomic_file.hpp"
#include "io/json_text.hpp"

namespace mhc::io {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors data is little-endian: the bytes are copied as is");

namespace {

constexpr const char* kMetadataKey = "__metadata__";
constexpr std::size_t kHeaderLengthBytes = 8;
constexpr std::size_t kDataAlignment = 8;
constexpr int kMaxHeaderDepth = 8;

const char* safetensors_dtype(DType t) {
  switch (t) {
    case DType::f32: return "F32";
    case DType::bf16: return "BF16";
    case DType::f64: return "F64";
    case DType::i32: return "I32";
  }
  return "?";
}

bool parse_dtype(const std::string& s, DType* out) {
  for (DType t : {DType::f32, DType::bf16, DType::f64, DType::i32}) {
    if (s == safetensors_dtype(t)) {
      *out = t;
      return true;
    }
  }
  return false;
}

template <typename... Parts>
[[noreturn]] void fail_io(const char* where, const std::string& path, const Parts&... parts) {
  throw IoError(detail::concat(where, ": ", path, ": ", parts...));
}

// Owns an open POSIX file descriptor.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

 private:
  int fd_;
};

// ---- writing ----

void check_tensors(const std::vector<NamedTensor>& tensors) {
  std::set<std::string> seen;
  for (const NamedTensor& nt : tensors) {
    MHC_CHECK(!nt.name.empty(), ShapeError, "a tensor has an empty name");
    MHC_CHECK(nt.name != kMetadataKey, ShapeError, "a tensor may not be named ", kMetadataKey);
    MHC_CHECK(seen.insert(nt.name).second, ShapeError, "tensor name '", nt.name, "' is used twice");
    expect_device(nt.tensor, Device::cpu, nt.name.c_str());
    if (nt.tensor.bytes() > 0) expect_defined(nt.tensor, nt.name.c_str());
  }
}

// The JSON header, padded with spaces so that the data starts 8-byte aligned.
std::string make_header(const std::vector<NamedTensor>& tensors, const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header[kMetadataKey] = metadata;
  std::int64_t offset = 0;
  for (const NamedTensor& nt : tensors) {
    nlohmann::ordered_json shape = nlohmann::ordered_json::array();
    for (int i = 0; i < nt.tensor.rank(); ++i) shape.push_back(nt.tensor.shape[i]);
    const std::int64_t end = offset + nt.tensor.bytes();
    header[nt.name] = {{"dtype", safetensors_dtype(nt.tensor.dtype)}, {"shape", shape}, {"data_offsets", {offset, end}}};
    offset = end;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::ordered_json::exception& e) {
    throw ShapeError(detail::concat("write_safetensors: a tensor name or metadata string is not valid UTF-8 (", e.what(), ")"));
  }
  text.append((kDataAlignment - (kHeaderLengthBytes + text.size()) % kDataAlignment) % kDataAlignment, ' ');
  return text;
}

// ---- reading ----

void read_exact(int fd, void* data, std::size_t size, std::size_t offset, const std::string& path) {
  char* p = static_cast<char*>(data);
  while (size > 0) {
    const ssize_t n = ::pread(fd, p, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_io("SafetensorsFile::read", path, "cannot read: ", std::strerror(errno));
    if (n == 0) fail_io("SafetensorsFile::read", path, "file ended early (changed while reading?)");
    p += n;
    offset += static_cast<std::size_t>(n);
    size -= static_cast<std::size_t>(n);
  }
}

template <typename... Parts>
[[noreturn]] void corrupt(const std::string& path, const Parts&... parts) {
  fail_io("SafetensorsFile::read", path, parts...);
}

// A non-negative JSON integer that fits std::int64_t, or -1.
std::int64_t as_extent(const nlohmann::ordered_json& v) {
  if (!v.is_number_unsigned()) return -1;
  const auto u = v.get<std::uint64_t>();
  return u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ? -1 : static_cast<std::int64_t>(u);
}

}  // namespace

void write_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  check_tensors(tensors);
  const std::string header = make_header(tensors, metadata);
  write_file_atomic(path, [&](AtomicFileWriter& out) {
    const std::uint64_t header_length = header.size();
    out.write(&header_length, sizeof header_length);
    out.write(header);
    for (const NamedTensor& nt : tensors) out.write(nt.tensor.data, static_cast<std::size_t>(nt.tensor.bytes()));
  });
}

SafetensorsFile SafetensorsFile::read(const std::string& path) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) corrupt(path, "cannot open: ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) corrupt(path, "cannot stat: ", std::strerror(errno));
  if (!S_ISREG(st.st_mode)) corrupt(path, "not a regular file");
  const auto file_size = static_cast<std::uint64_t>(st.st_size);
  if (file_size < kHeaderLengthBytes) corrupt(path, "file of ", file_size, " bytes is too short for a header length");

  std::uint64_t header_length = 0;
  read_exact(fd.get(), &header_length, sizeof header_length, 0, path);
  if (header_length > file_size - kHeaderLengthBytes) {
    corrupt(path, "header length ", header_length, " runs beyond the end of the file (", file_size, " bytes)");
  }
  std::string header_text(static_cast<std::size_t>(header_length), '\0');
  read_exact(fd.get(), header_text.data(), header_text.size(), kHeaderLengthBytes, path);

  // ordered: keeps the header's order, so tensors at equal offsets stay in written order. A header nests 3 levels.
  const auto header = parse_json_text<nlohmann::ordered_json>(header_text, "SafetensorsFile::read: " + path + ": header",
                                                              kMaxHeaderDepth);
  if (!header.is_object()) corrupt(path, "header is not a JSON object");

  SafetensorsFile file;
  file.path_ = path;
  const auto data_size = static_cast<std::int64_t>(file_size - kHeaderLengthBytes - header_length);
  for (const auto& [name, value] : header.items()) {
    if (name == kMetadataKey) {
      if (!value.is_object()) corrupt(path, kMetadataKey, " is not an object");
      for (const auto& [key, text] : value.items()) {
        if (!text.is_string()) corrupt(path, kMetadataKey, " entry '", key, "' is not a string");
        file.metadata_[key] = text.get<std::string>();
      }
      continue;
    }
    if (!value.is_object()) corrupt(path, "entry of tensor '", name, "' is not an object");
    Entry e{};
    const auto dtype = value.find("dtype");
    if (dtype == value.end() || !dtype->is_string()) corrupt(path, "tensor '", name, "' has no dtype string");
    if (!parse_dtype(dtype->get<std::string>(), &e.dtype)) {
      corrupt(path, "tensor '", name, "' has unknown dtype ", dtype->dump(), " (supported: F32, BF16, F64, I32)");
    }

    const auto shape = value.find("shape");
    if (shape == value.end() || !shape->is_array() || shape->size() > static_cast<std::size_t>(kMaxRank)) {
      corrupt(path, "tensor '", name, "' needs a shape array of at most ", kMaxRank, " extents");
    }
    bool empty = false;
    for (const nlohmann::ordered_json& extent : *shape) {
      const std::int64_t d = as_extent(extent);
      if (d < 0) corrupt(path, "tensor '", name, "' has a bad extent ", extent.dump(), " in its shape");
      e.shape.dims[static_cast<std::size_t>(e.shape.rank++)] = d;
      empty = empty || d == 0;
    }

    const auto offsets = value.find("data_offsets");
    if (offsets == value.end() || !offsets->is_array() || offsets->size() != 2) {
      corrupt(path, "tensor '", name, "' needs data_offsets [begin, end]");
    }
    e.begin = as_extent((*offsets)[0]);
    e.end = as_extent((*offsets)[1]);
    if (e.begin < 0 || e.end < e.begin || e.end > data_size) {
      corrupt(path, "tensor '", name, "' has data_offsets ", offsets->dump(), " out of the data range [0, ", data_size, "]");
    }
    // Element count bounded so that the byte count never overflows.
    const std::int64_t max_elements = std::numeric_limits<std::int64_t>::max() / dtype_size(e.dtype);
    std::int64_t elements = empty ? 0 : 1;
    for (int i = 0; i < e.shape.rank && elements > 0; ++i) {
      if (elements > max_elements / e.shape[i]) corrupt(path, "tensor '", name, "' of shape ", e.shape.str(), " is too large");
      elements *= e.shape[i];
    }
    if (e.end - e.begin != elements * dtype_size(e.dtype)) {
      corrupt(path, "tensor '", name, "' has data_offsets ", offsets->dump(), " (", e.end - e.begin, " bytes) but ",
              dtype->get<std::string>(), " ", e.shape.str(), " needs ", elements * dtype_size(e.dtype), " bytes");
    }
    file.entries_.emplace(name, e);
    file.order_.push_back(name);
  }

  // The tensors must tile the data buffer exactly: no overlaps, no gaps, no trailing bytes.
  std::stable_sort(file.order_.begin(), file.order_.end(), [&](const std::string& a, const std::string& b) {
    const Entry& x = file.entries_.at(a);
    const Entry& y = file.entries_.at(b);
    return std::make_pair(x.begin, x.end) < std::make_pair(y.begin, y.end);
  });
  std::int64_t cursor = 0;
  const std::string* previous = nullptr;
  for (const std::string& name : file.order_) {
    const Entry& e = file.entries_.at(name);
    if (e.begin < cursor) corrupt(path, "tensors '", *previous, "' and '", name, "' overlap");
    if (e.begin > cursor) corrupt(path, "gap of ", e.begin - cursor, " bytes before tensor '", name, "'");
    cursor = e.end;
    previous = &name;
  }
  if (cursor != data_size) corrupt(path, data_size - cursor, " trailing bytes after the last tensor");

  file.data_.resize(static_cast<std::size_t>(data_size));
  read_exact(fd.get(), file.data_.data(), file.data_.size(), kHeaderLengthBytes + header_length, path);
  return file;
}

std::vector<std::string> SafetensorsFile::names() const { return order_; }

bool SafetensorsFile::contains(const std::string& name) const { return entries_.count(name) > 0; }

const SafetensorsFile::Entry& SafetensorsFile::entry(const std::string& name) const {
  const auto it = entries_.find(name);
  if (it == entries_.end()) fail_io("SafetensorsFile", path_, "no tensor named '", name, "'");
  return it->second;
}

DType SafetensorsFile::dtype(const std::string& name) const { return entry(name).dtype; }

Shape SafetensorsFile::shape(const std::string& name) const { return entry(name).shape; }

std::int64_t SafetensorsFile::first_non_finite(const std::string& name) const {
  const Entry& e = entry(name);
  const char* bytes = data_.data() + e.begin;
  const std::int64_t n = (e.end - e.begin) / dtype_size(e.dtype);
  for (std::int64_t i = 0; i < n; ++i) {
    double v = 0;
    switch (e.dtype) {
      case DType::f32: {
        float f;
        std::memcpy(&f, bytes + 4 * i, 4);
        v = f;
        break;
      }
      case DType::f64: std::memcpy(&v, bytes + 8 * i, 8); break;
      case DType::bf16: {  // the top 16 bits of an f32
        std::uint32_t u = 0;
        std::memcpy(reinterpret_cast<char*>(&u) + 2, bytes + 2 * i, 2);
        float f;
        std::memcpy(&f, &u, 4);
        v = f;
        break;
      }
      case DType::i32: return -1;
    }
    if (!std::isfinite(v)) return i;
  }
  return -1;
}

void SafetensorsFile::read_into(const std::string& name, Tensor dst) const {
  const Entry& e = entry(name);
  expect_device(dst, Device::cpu, "dst");
  if (dst.dtype != e.dtype || dst.shape != e.shape) {
    fail_io("SafetensorsFile::read_into", path_, "tensor '", name, "' is ", dtype_name(e.dtype), " ", e.shape.str(),
            " but the destination is ", dtype_name(dst.dtype), " ", dst.shape.str());
  }
  if (e.end == e.begin) return;
  expect_defined(dst, "dst");
  std::memcpy(dst.data, data_.data() + e.begin, static_cast<std::size_t>(e.end - e.begin));
}

}  // namespace mhc::io
