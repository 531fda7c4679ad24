// Tests of the data sources: the synthetic task's structure and determinism, llm.c token files, datasets.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <vector>

#include "config/config.hpp"
#include "core/error.hpp"
#include "data/dataset.hpp"
#include "data/synthetic.hpp"
#include "data/token_file.hpp"
#include "support/temp_dir.hpp"

using namespace mhc;
using mhc::test::TempDir;
namespace fs = std::filesystem;

namespace {

std::vector<std::int32_t> synthetic(std::uint64_t seed, const std::string& split, std::uint64_t index, std::int64_t n) {
  std::vector<std::int32_t> v(static_cast<std::size_t>(n));
  data::synthetic_sequence(seed, split, index, n, v.data());
  return v;
}

}  // namespace

TEST_CASE("synthetic sequences are deterministic and differ by seed, split and index", "[data]") {
  CHECK(synthetic(1, "train", 5, 200) == synthetic(1, "train", 5, 200));
  CHECK(synthetic(1, "train", 5, 200) != synthetic(2, "train", 5, 200));
  CHECK(synthetic(1, "train", 5, 200) != synthetic(1, "val", 5, 200));
  CHECK(synthetic(1, "train", 5, 200) != synthetic(1, "train", 6, 200));
  // A shorter row is a prefix of a longer one.
  const auto a = synthetic(3, "train", 9, 50), b = synthetic(3, "train", 9, 120);
  CHECK(std::equal(a.begin(), a.end(), b.begin()));
}

TEST_CASE("synthetic segments carry their answers", "[data]") {
  int copies = 0, recalls = 0, sums = 0;
  for (std::uint64_t index = 0; index < 50; ++index) {
    const auto s = synthetic(11, "train", index, 400);
    for (std::size_t i = 0; i < s.size(); ++i) {
      REQUIRE(s[i] >= 1);
      REQUIRE(s[i] < 240);
      if (s[i] == 1) {  // copy: 1 a.. 2 a.. 7
        std::size_t sep = i + 1;
        while (sep < s.size() && s[sep] != 2) ++sep;
        const std::size_t k = sep - i - 1;
        if (sep + k + 1 < s.size()) {
          for (std::size_t j = 0; j < k; ++j) CHECK(s[sep + 1 + j] == s[i + 1 + j]);
          CHECK(s[sep + k + 1] == 7);
          ++copies;
        }
      } else if (s[i] == 4 && i + 2 < s.size()) {  // recall: the queried key's value
        std::size_t start = i;
        while (s[start] != 3) --start;
        for (std::size_t j = start + 1; j < i; j += 2)
          if (s[j] == s[i + 1]) CHECK(s[j + 1] == s[i + 2]);
        ++recalls;
      } else if (s[i] == 5) {  // modular sum
        std::size_t eq = i + 1;
        int sum = 0;
        while (eq < s.size() && s[eq] != 6) sum += s[eq++] - 208;
        if (eq + 1 < s.size()) {
          CHECK(s[eq + 1] - 208 == sum % 32);
          ++sums;
        }
      }
    }
  }
  CHECK(copies > 50);
  CHECK(recalls > 50);
  CHECK(sums > 50);
}

TEST_CASE("token files round-trip and bad files are refused with the file name", "[data]") {
  TempDir dir("tokens");
  const std::vector<std::uint16_t> tokens{1, 2, 3, 65535, 0, 42};
  data::write_token_file(dir.file("a.bin"), tokens);
  CHECK(fs::file_size(dir.file("a.bin")) == 1024 + 2 * tokens.size());
  CHECK(data::read_token_file(dir.file("a.bin")) == tokens);

  // Wrong magic.
  {
    std::vector<char> bytes(1024 + 4, 0);
    std::ofstream(dir.file("magic.bin"), std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  CHECK_THROWS_WITH(data::read_token_file(dir.file("magic.bin")), Catch::Contains("magic.bin") && Catch::Contains("magic 0"));
  // Truncated: drop the last token.
  fs::copy_file(dir.file("a.bin"), dir.file("short.bin"));
  fs::resize_file(dir.file("short.bin"), 1024 + 2 * tokens.size() - 2);
  CHECK_THROWS_WITH(data::read_token_file(dir.file("short.bin")), Catch::Contains("short.bin") && Catch::Contains("truncated"));
  fs::resize_file(dir.file("short.bin"), 100);
  CHECK_THROWS_WITH(data::read_token_file(dir.file("short.bin")), Catch::Contains("shorter than its 1024-byte header"));
  CHECK_THROWS_AS(data::read_token_file(dir.file("missing.bin")), IoError);
  CHECK_THROWS_WITH(data::expand_shard_pattern(dir.file("nothing_*.bin")), Catch::Contains("no token files match"));
}

TEST_CASE("token datasets split train/val, check ids against the vocabulary, and address rows by index", "[data]") {
  TempDir dir("shards");
  std::vector<std::uint16_t> train(500), val(100);
  for (std::size_t i = 0; i < train.size(); ++i) train[i] = static_cast<std::uint16_t>(i % 200);
  for (std::size_t i = 0; i < val.size(); ++i) val[i] = static_cast<std::uint16_t>(200 + i % 50);
  data::write_token_file(dir.file("train_000000.bin"), train);
  data::write_token_file(dir.file("val_000000.bin"), val);

  config::Config cfg = config::default_config();
  cfg.data.source = config::DataSource::tokens;
  cfg.data.path = dir.str();
  cfg.model.seq_len = 16;
  const auto ds = data::make_dataset(cfg);
  std::vector<std::int32_t> row(17), again(17);
  ds->row(data::Split::val, 3, 17, row.data());
  for (auto t : row) CHECK(t >= 200);  // val rows come from the val shard
  ds->row(data::Split::train, 3, 17, again.data());
  for (std::size_t i = 1; i < again.size(); ++i) CHECK(again[i] == (again[i - 1] + 1) % 200);  // contiguous slice
  ds->row(data::Split::train, 3, 17, row.data());
  CHECK(row == again);

  cfg.model.vocab_size = 240;
  CHECK_THROWS_WITH(data::make_dataset(cfg), Catch::Contains("val_000000.bin") && Catch::Contains("token id 240") &&
                                                 Catch::Contains("model.vocab_size 240"));
}

TEST_CASE("text datasets read bytes and refuse files too short for one row", "[data]") {
  TempDir dir("text");
  std::ofstream(dir.file("tiny.txt")) << "hello";
  config::Config cfg = config::default_config();
  cfg.data.source = config::DataSource::text;
  cfg.data.path = dir.file("tiny.txt");
  CHECK_THROWS_WITH(data::make_dataset(cfg), Catch::Contains("tiny.txt") && Catch::Contains("fewer than one row"));
  cfg.data.path = dir.file("absent.txt");
  CHECK_THROWS_WITH(data::make_dataset(cfg), Catch::Contains("absent.txt"));
}
