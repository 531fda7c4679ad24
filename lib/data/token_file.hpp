// llm.c token shards: a 1024-byte header of 256 int32 (magic 20240520, version 1, token count), then uint16 tokens.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mhc::data {

constexpr std::int32_t kTokenFileMagic = 20240520;
constexpr std::int32_t kTokenFileVersion = 1;
constexpr std::int64_t kTokenFileHeaderBytes = 1024;

// Reads one shard; throws IoError naming the file for a missing file, wrong magic or version, or a size that
// does not match the header's token count.
std::vector<std::uint16_t> read_token_file(const std::string& path);

// Writes one shard atomically (core/atomic_file.hpp).
void write_token_file(const std::string& path, const std::vector<std::uint16_t>& tokens);

// Shards named by `pattern`: a file, a directory (every *.bin inside) or a glob; sorted by name.
// Throws IoError when nothing matches.
std::vector<std::string> expand_shard_pattern(const std::string& pattern);

}  // namespace mhc::data
