// Reading, writing and locating llm.c-format token shards.
#include "data/token_file.hpp"

#include <glob.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/atomic_file.hpp"
#include "core/error.hpp"

namespace mhc::data {

namespace fs = std::filesystem;

std::vector<std::uint16_t> read_token_file(const std::string& path) {
  std::error_code ec;
  MHC_CHECK(fs::is_regular_file(path, ec), IoError, "token file '", path, "' is ",
            fs::exists(path, ec) ? "not a regular file" : "missing");
  std::ifstream f(path, std::ios::binary);
  MHC_CHECK(f.good(), IoError, "cannot open token file '", path, "': ", std::strerror(errno));
  std::array<std::int32_t, 256> header{};
  f.read(reinterpret_cast<char*>(header.data()), kTokenFileHeaderBytes);
  MHC_CHECK(f.gcount() == kTokenFileHeaderBytes, IoError, "token file '", path, "' is truncated: ", f.gcount(),
            " bytes, shorter than its 1024-byte header");
  MHC_CHECK(header[0] == kTokenFileMagic, IoError, "token file '", path, "' has magic ", header[0], ", expected ",
            kTokenFileMagic, " (llm.c token format)");
  MHC_CHECK(header[1] == kTokenFileVersion, IoError, "token file '", path, "' has version ", header[1],
            ", only version 1 (uint16 tokens) is supported");
  MHC_CHECK(header[2] >= 0, IoError, "token file '", path, "' declares a negative token count ", header[2]);
  const std::int64_t count = header[2];
  const auto file_bytes = static_cast<std::int64_t>(fs::file_size(path, ec));
  MHC_CHECK(!ec, IoError, "token file '", path, "': cannot read its size: ", ec.message());
  const std::int64_t want = kTokenFileHeaderBytes + 2 * count;
  MHC_CHECK(file_bytes == want, IoError, "token file '", path, "' is ", file_bytes, " bytes, but its header declares ",
            count, " tokens (", want, " bytes): truncated or corrupt");
  std::vector<std::uint16_t> tokens(static_cast<std::size_t>(count));
  f.read(reinterpret_cast<char*>(tokens.data()), 2 * count);
  MHC_CHECK(f.gcount() == 2 * count, IoError, "token file '", path, "': short read");
  return tokens;
}

void write_token_file(const std::string& path, const std::vector<std::uint16_t>& tokens) {
  MHC_CHECK(tokens.size() <= 0x7fffffffu, IoError, "token file '", path, "': ", tokens.size(),
            " tokens exceed the int32 header count; split into shards");
  std::array<std::int32_t, 256> header{};
  header[0] = kTokenFileMagic;
  header[1] = kTokenFileVersion;
  header[2] = static_cast<std::int32_t>(tokens.size());
  write_file_atomic(path, [&](AtomicFileWriter& out) {
    out.write(header.data(), static_cast<std::size_t>(kTokenFileHeaderBytes));
    out.write(tokens.data(), 2 * tokens.size());
  });
}

std::vector<std::string> expand_shard_pattern(const std::string& pattern) {
  std::vector<std::string> files;
  std::error_code ec;
  if (fs::is_directory(pattern, ec)) {
    fs::directory_iterator it(pattern, ec);
    MHC_CHECK(!ec, IoError, "cannot list the token directory '", pattern, "': ", ec.message());
    for (const auto& e : it)
      if (e.is_regular_file(ec) && e.path().extension() == ".bin") files.push_back(e.path().string());
  } else {
    glob_t g{};
    if (::glob(pattern.c_str(), 0, nullptr, &g) == 0)
      for (std::size_t i = 0; i < g.gl_pathc; ++i) files.emplace_back(g.gl_pathv[i]);
    globfree(&g);
  }
  std::sort(files.begin(), files.end());
  MHC_CHECK(!files.empty(), IoError, "no token files match '", pattern, "'");
  return files;
}

}  // namespace mhc::data
