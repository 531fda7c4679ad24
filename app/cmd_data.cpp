// `mhc-train data prepare`: byte-level tokenisation of a text file into llm.c train/val token shards.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "core/error.hpp"
#include "data/dataset.hpp"
#include "data/token_file.hpp"

namespace mhc::app {

namespace {

struct PrepareOptions {
  std::string text_path;
  std::string out_dir;
  double val_fraction = 0.1;
  std::int64_t shard_tokens = 100'000'000;
};

// Writes tokens[begin, end) as shards DIR/<split>_000000.bin, ... of at most opt.shard_tokens each.
void write_split(const PrepareOptions& opt, const std::string& split, const std::vector<std::uint16_t>& tokens,
                 std::size_t begin, std::size_t end) {
  const auto per = static_cast<std::size_t>(opt.shard_tokens);
  for (std::size_t s = begin, k = 0; s < end || k == 0; s += per, ++k) {
    const std::size_t e = std::min(end, s + per);
    char name[64];
    std::snprintf(name, sizeof name, "%s_%06zu.bin", split.c_str(), k);
    const auto path = (std::filesystem::path(opt.out_dir) / name).string();
    data::write_token_file(path, std::vector<std::uint16_t>(tokens.begin() + static_cast<std::ptrdiff_t>(s),
                                                            tokens.begin() + static_cast<std::ptrdiff_t>(e)));
    std::cout << path << ": " << e - s << " tokens\n";
  }
}

void prepare(const PrepareOptions& opt) {
  const std::vector<std::uint16_t> tokens = data::read_byte_tokens(opt.text_path, "--text");
  MHC_CHECK(tokens.size() >= 2, IoError, "--text '", opt.text_path, "' has ", tokens.size(), " bytes; need at least 2");
  std::error_code ec;
  std::filesystem::create_directories(opt.out_dir, ec);
  MHC_CHECK(!ec, IoError, "cannot create --out '", opt.out_dir, "': ", ec.message());
  const auto n_val = std::max<std::size_t>(1, static_cast<std::size_t>(static_cast<double>(tokens.size()) * opt.val_fraction));
  const std::size_t n_train = tokens.size() - n_val;
  write_split(opt, "train", tokens, 0, n_train);
  write_split(opt, "val", tokens, n_train, tokens.size());
}

}  // namespace

void register_data(CLI::App& app) {
  auto opt = std::make_shared<PrepareOptions>();
  auto* data = app.add_subcommand("data", "data tools");
  data->require_subcommand(1);
  auto* prep = data->add_subcommand("prepare", "tokenise a text file (bytes, vocab 256) into train/val token shards");
  prep->add_option("--text", opt->text_path, "input text file")->required();
  prep->add_option("--out", opt->out_dir, "output directory (train_000000.bin, val_000000.bin, ...)")
      ->required()
      ->check(non_empty_path());
  prep->add_option("--val-fraction", opt->val_fraction, "share of the text, from its end, for validation")
      ->check(finite_number() & CLI::Range(0.0, 0.5));
  prep->add_option("--shard-tokens", opt->shard_tokens, "tokens per shard file")->check(CLI::PositiveNumber);
  prep->callback([opt] { prepare(*opt); });
}

}  // namespace mhc::app
