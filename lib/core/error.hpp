// Typed errors with context, and the always-on precondition check used by every library entry point.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace mhc {

// Base of every error the library throws; app/ maps the kind to an exit code.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Bad user input in a config file, a --set override or a command-line flag (exit code 2).
class ConfigError : public Error {
  using Error::Error;
};
// A shape, dtype or device that does not fit an op's contract: a programming error.
class ShapeError : public Error {
  using Error::Error;
};
// A file that cannot be read or written, or whose content is malformed.
class IoError : public Error {
  using Error::Error;
};
// A failed CUDA, cuBLAS or NCCL call.
class DeviceError : public Error {
  using Error::Error;
};
// Out of arena capacity or host memory.
class MemoryError : public Error {
  using Error::Error;
};

namespace detail {
// Builds the message "<where>: <what>" from streamed parts.
template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  return os.str();
}
}  // namespace detail

// A library exception's message without the leading "[tag] " some libraries put before it (nlohmann's
// "[json.exception.out_of_range.406] "), for messages of our own.
inline std::string without_library_tag(const std::string& what) {
  const std::size_t close = what.find("] ");
  return what.compare(0, 1, "[") == 0 && close != std::string::npos ? what.substr(close + 2) : what;
}

}  // namespace mhc

// Always-on check (never compiled out, unlike assert): throws ErrorType with the call site and message.
#define MHC_CHECK(cond, ErrorType, ...)                                                  \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      throw ErrorType(::mhc::detail::concat(__func__, ": ", __VA_ARGS__));               \
    }                                                                                    \
  } while (0)
