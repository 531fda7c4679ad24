// The synthetic, text and token datasets.
#include "data/dataset.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <tuple>

#include "core/rng.hpp"
#include "data/synthetic.hpp"
#include "data/token_file.hpp"

namespace mhc::data {

namespace fs = std::filesystem;

namespace {

const char* split_name(Split s) { return s == Split::train ? "train" : "val"; }

class SyntheticDataset final : public Dataset {
 public:
  explicit SyntheticDataset(std::uint64_t seed) : seed_(seed) {}
  void row(Split split, std::uint64_t index, std::int64_t length, std::int32_t* out) const override {
    synthetic_sequence(seed_, split_name(split), index, length, out);
  }
  std::string describe() const override { return "synthetic copy/recall/modsum task, seed " + std::to_string(seed_); }

 private:
  std::uint64_t seed_;
};

class TokenDataset final : public Dataset {
 public:
  TokenDataset(std::vector<std::uint16_t> train, std::vector<std::uint16_t> val, std::uint64_t seed,
               std::string description)
      : train_(std::move(train)), val_(std::move(val)), train_rng_(seed, "rows/train"), val_rng_(seed, "rows/val"),
        description_(std::move(description)) {}

  void row(Split split, std::uint64_t index, std::int64_t length, std::int32_t* out) const override {
    const auto& tokens = split == Split::train ? train_ : val_;
    const auto& rng = split == Split::train ? train_rng_ : val_rng_;
    const auto n = static_cast<std::int64_t>(tokens.size());
    MHC_CHECK(n >= length, ConfigError, "the ", split_name(split), " split has ", n, " tokens, fewer than a row of ",
              length, " (model.seq_len + 1)");
    const auto start = static_cast<std::int64_t>(rng.below(index, static_cast<std::uint64_t>(n - length + 1)));
    for (std::int64_t t = 0; t < length; ++t) out[t] = tokens[static_cast<std::size_t>(start + t)];
  }
  std::string describe() const override { return description_; }

 private:
  std::vector<std::uint16_t> train_, val_;
  CounterRng train_rng_, val_rng_;
  std::string description_;
};

// Splits `all` into train (first part) and val (last val_fraction).
std::pair<std::vector<std::uint16_t>, std::vector<std::uint16_t>> split_tail(std::vector<std::uint16_t> all,
                                                                              double val_fraction) {
  const auto n_val = static_cast<std::size_t>(static_cast<double>(all.size()) * val_fraction);
  std::vector<std::uint16_t> val(all.end() - static_cast<std::ptrdiff_t>(n_val), all.end());
  all.resize(all.size() - n_val);
  return {std::move(all), std::move(val)};
}

// The tokens of the shards named by `pattern` (one list per file), each id checked against model.vocab_size.
std::vector<std::pair<std::string, std::vector<std::uint16_t>>> read_shards(const std::string& pattern,
                                                                           std::int64_t vocab_size) {
  std::vector<std::pair<std::string, std::vector<std::uint16_t>>> shards;
  for (const auto& f : expand_shard_pattern(pattern)) {
    auto tokens = read_token_file(f);
    for (std::size_t i = 0; i < tokens.size(); ++i)
      MHC_CHECK(tokens[i] < vocab_size, IoError, "token file '", f, "': token id ", tokens[i], " at position ", i,
                " is >= model.vocab_size ", vocab_size);
    shards.emplace_back(f, std::move(tokens));
  }
  return shards;
}

// Reads the shards of data.path; shards whose file name contains "val" form the val split when there are
// both val and non-val shards, otherwise the tail val_fraction of all tokens is the val split.
SplitTokens load_token_shards(const config::Config& cfg) {
  SplitTokens s;
  const auto shards = read_shards(cfg.data.path, cfg.model.vocab_size);
  std::size_t n_val_files = 0;
  for (const auto& [f, tokens] : shards)
    if (f.find("val") != std::string::npos) ++n_val_files;
  const bool named_split = n_val_files > 0 && n_val_files < shards.size();
  for (const auto& [f, tokens] : shards) {
    auto& dst = named_split && f.find("val") != std::string::npos ? s.val : s.train;
    dst.insert(dst.end(), tokens.begin(), tokens.end());
  }
  if (!named_split) std::tie(s.train, s.val) = split_tail(std::move(s.train), cfg.data.val_fraction);
  s.description = "tokens '" + cfg.data.path + "' (" + std::to_string(shards.size()) + " files): " +
                  std::to_string(s.train.size()) + " train / " + std::to_string(s.val.size()) + " val tokens";
  return s;
}

}  // namespace

std::vector<std::uint16_t> read_byte_tokens(const std::string& path, const std::string& what) {
  std::error_code ec;
  MHC_CHECK(!fs::is_directory(path, ec), IoError, what, " '", path, "' is a directory; give a text file");
  std::ifstream f(path, std::ios::binary);
  MHC_CHECK(f.good(), IoError, "cannot open ", what, " '", path, "': ", std::strerror(errno));
  std::vector<std::uint16_t> tokens;
  std::vector<char> chunk(1 << 16);
  while (f) {
    f.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    for (std::streamsize i = 0; i < f.gcount(); ++i)
      tokens.push_back(static_cast<std::uint16_t>(static_cast<unsigned char>(chunk[static_cast<std::size_t>(i)])));
  }
  MHC_CHECK(!f.bad(), IoError, "cannot read ", what, " '", path, "': ", std::strerror(errno));
  return tokens;
}

std::unique_ptr<Dataset> make_token_dataset(std::vector<std::uint16_t> train, std::vector<std::uint16_t> val,
                                            std::uint64_t seed, std::int64_t row_length, std::string description) {
  MHC_CHECK(static_cast<std::int64_t>(train.size()) >= row_length, ConfigError, description, ": the train split has ",
            train.size(), " tokens, fewer than one row of model.seq_len + 1 = ", row_length);
  MHC_CHECK(static_cast<std::int64_t>(val.size()) >= row_length, ConfigError, description, ": the val split has ",
            val.size(), " tokens, fewer than one row of model.seq_len + 1 = ", row_length,
            "; raise data.val_fraction or use more data");
  return std::make_unique<TokenDataset>(std::move(train), std::move(val), seed, std::move(description));
}

SplitTokens split_tokens(const config::Config& cfg) {
  switch (cfg.data.source) {
    case config::DataSource::synthetic: break;
    case config::DataSource::text: {
      SplitTokens s;
      std::tie(s.train, s.val) = split_tail(read_byte_tokens(cfg.data.path, "data.path"), cfg.data.val_fraction);
      s.description = "text '" + cfg.data.path + "': " + std::to_string(s.train.size()) + " train / " +
                      std::to_string(s.val.size()) + " val bytes";
      return s;
    }
    case config::DataSource::tokens: return load_token_shards(cfg);
  }
  throw ConfigError("data.source \"synthetic\" has no token split (its rows are generated)");
}

std::vector<std::uint16_t> read_tokens_like_data(const config::Config& cfg, const std::string& path) {
  if (cfg.data.source == config::DataSource::tokens) {
    std::vector<std::uint16_t> all;
    for (const auto& [f, tokens] : read_shards(path, cfg.model.vocab_size)) all.insert(all.end(), tokens.begin(), tokens.end());
    return all;
  }
  auto bytes = read_byte_tokens(path, "the file");
  for (std::size_t i = 0; i < bytes.size(); ++i)
    MHC_CHECK(bytes[i] < cfg.model.vocab_size, IoError, "'", path, "': byte ", bytes[i], " at position ", i,
              " is >= model.vocab_size ", cfg.model.vocab_size);
  return bytes;
}

std::unique_ptr<Dataset> make_dataset(const config::Config& cfg) {
  if (cfg.data.source == config::DataSource::synthetic) {
    MHC_CHECK(cfg.model.vocab_size >= config::kSyntheticMinVocab, ConfigError, "data.source \"synthetic\" needs ",
              "model.vocab_size >= ", config::kSyntheticMinVocab, ", got ", cfg.model.vocab_size);
    return std::make_unique<SyntheticDataset>(cfg.data.seed);
  }
  SplitTokens s = split_tokens(cfg);
  return make_token_dataset(std::move(s.train), std::move(s.val), cfg.data.seed, cfg.model.seq_len + 1,
                            std::move(s.description));
}

}  // namespace mhc::data
