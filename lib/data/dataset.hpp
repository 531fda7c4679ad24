// Datasets behind the `data` config section: rows of T + 1 tokens addressed by (split, global row index).
// A row depends only on (data.seed, split, index), so any split of a global batch over data-parallel replicas
// or micro-batches, and any resume point, reads exactly the same tokens.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace mhc::data {

enum class Split { train, val };

class Dataset {
 public:
  virtual ~Dataset() = default;
  // out (length): row `index` of `split`; inputs are out[0, length - 1), targets out[1, length).
  virtual void row(Split split, std::uint64_t index, std::int64_t length, std::int32_t* out) const = 0;
  // One line for logs, e.g. "text 'in.txt': 1003854 train / 111539 val tokens".
  virtual std::string describe() const = 0;
};

// Builds the dataset of cfg.data for rows of cfg.model.seq_len + 1 tokens; throws ConfigError or IoError naming
// the field or file when the data cannot serve that (missing file, too short, token id >= vocab_size, ...).
std::unique_ptr<Dataset> make_dataset(const config::Config& cfg);

// The train and val tokens of cfg.data for the "text" and "tokens" sources (the split make_dataset uses) and the
// describe() line; ConfigError for "synthetic", whose rows are generated.
struct SplitTokens {
  std::vector<std::uint16_t> train, val;
  std::string description;
};
SplitTokens split_tokens(const config::Config& cfg);

// The tokens of a file read as cfg.data reads its data: llm.c shards (a file, directory or glob) for data.source
// "tokens", else the bytes of a text file; IoError for an id >= model.vocab_size.
std::vector<std::uint16_t> read_tokens_like_data(const config::Config& cfg, const std::string& path);

// The bytes of a text file as token ids 0..255; IoError naming `what` (e.g. "data.path") and the file when it is a
// directory, missing or unreadable.
std::vector<std::uint16_t> read_byte_tokens(const std::string& path, const std::string& what);

// A dataset over an in-memory token array (text and token sources): train = first (1 - val_fraction) of the
// tokens, val = the rest, unless separate val tokens are given; rows start at offsets drawn from the counter RNG.
std::unique_ptr<Dataset> make_token_dataset(std::vector<std::uint16_t> train, std::vector<std::uint16_t> val,
                                            std::uint64_t seed, std::int64_t row_length, std::string description);

}  // namespace mhc::data
