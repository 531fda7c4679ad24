// Bad sizes and counts in a config: each refused by validation with one message, before anything is allocated
// (the examples of issue 12: sizes near 2^62, huge iteration and block counts, rank products, deep JSON, 1e999).
#include <catch2/catch.hpp>

#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "config/sizes.hpp"
#include "core/device_runtime.hpp"
#include "config_test_util.hpp"
#include "support/temp_dir.hpp"

using namespace mhc;
using config::test::config_error;

namespace {

std::string set_error(const std::vector<std::string>& sets) {
  return config_error([&] { config::load_config("", sets); });
}

}  // namespace

TEST_CASE("sizes near 2^62 are refused, not wrapped", "[config]") {
  const std::string big = "4611686018427387904";  // 2^62
  CHECK_THAT(set_error({"model.d_model=" + big, "model.n_heads=2"}),
             Catch::Contains("--set model.d_model=" + big + ": this model cannot be built: its parameter count does "
                             "not fit 64 bits"));
  CHECK_THAT(set_error({"model.seq_len=" + big}),
             Catch::Contains("this model cannot be built") && Catch::Contains("more than 2^63 bytes"));
  CHECK_THAT(set_error({"model.ffn_hidden=" + big}), Catch::Contains("this model cannot be built"));
  CHECK_THAT(set_error({"train.micro_batch=" + big}),
             Catch::Contains("--set train.micro_batch=" + big) && Catch::Contains("this model cannot be built"));
  CHECK_THAT(set_error({"model.vocab_size=" + big}),
             Catch::Contains("model.vocab_size must be <= 2147483647 (token ids are 32-bit), got " + big));
  // Large but representable: over the 1 PiB limit with an exact byte count.
  CHECK_THAT(set_error({"model.d_model=16777216"}),
             Catch::Contains("parameters and one micro-batch of activations need at least") &&
                 Catch::Contains("over the limit of 2^50 (1 PiB)"));
}

TEST_CASE("iteration and table counts have upper bounds with a reason", "[config]") {
  CHECK_THAT(set_error({"residual.sinkhorn_iters=1000000000"}),
             Catch::Contains("residual.sinkhorn_iters must be <= 1000 (Sinkhorn-Knopp converges"));
  CHECK_THAT(set_error({"residual.sinkhorn_iters=3000000000"}), Catch::Contains("got 3000000000"));
  CHECK(set_error({"residual.sinkhorn_iters=1000"}).empty());
  CHECK_THAT(set_error({"model.n_blocks=100000000"}), Catch::Contains("model.n_blocks must be <= 1024"));
  CHECK_THAT(set_error({"model.n_blocks=100000", "parallel.pp=100000"}), Catch::Contains("must be <= 1024"));
  CHECK_THAT(set_error({"parallel.pp=100000"}), Catch::Contains("parallel.pp must be <= 1024"));
  CHECK_THAT(set_error({"train.micro_batches=1000000"}), Catch::Contains("train.micro_batches must be <= 65536"));
  CHECK_THAT(set_error({"parallel.pp=1024", "model.n_blocks=1024", "train.micro_batches=65536"}),
             Catch::Contains("1024 pipeline stages x train.micro_batches 65536 is more than 262144"));
  CHECK(set_error({"parallel.pp=64", "model.n_blocks=64", "train.micro_batches=4096"}).empty());
  CHECK_THAT(set_error({"parallel.layout=[4611686018427387904]"}),
             Catch::Contains("--set parallel.layout=[4611686018427387904]: parallel.layout[0] must be <= 1024"));
}

TEST_CASE("validation refuses the synthetic task on a vocabulary too small for its tokens", "[config]") {
  CHECK_THAT(set_error({"model.vocab_size=100"}),
             Catch::Contains("--set model.vocab_size=100: data.source \"synthetic\" needs model.vocab_size >= 240 "
                             "(its token ids), got 100"));
  CHECK(set_error({"model.vocab_size=240"}).empty());
  CHECK(set_error({"model.vocab_size=100", "data.source=tokens", "data.path=x"}).empty());
}

TEST_CASE("rank and row products are checked, not wrapped", "[config]") {
  CHECK_THAT(set_error({"parallel.pp=4", "parallel.dp=4611686018427387904"}),
             Catch::Contains("parallel.pp x parallel.dp = 4 x 4611686018427387904 ranks is more than 2147483647"));
  CHECK_THAT(set_error({"train.steps=4611686018427387904", "train.warmup=0"}),
             Catch::Contains("do not fit 64 bits"));
  CHECK_THAT(set_error({"train.eval_batches=4611686018427387904"}), Catch::Contains("do not fit 64 bits"));
  // 2^55 steps of 8 rows fit 64 bits, their 129 tokens each do not.
  CHECK_THAT(set_error({"train.steps=36028797018963968", "train.warmup=0"}),
             Catch::Contains("the tokens of the run") && Catch::Contains("do not fit 64 bits"));
  CHECK(set_error({"train.steps=36028797018963968", "train.warmup=0", "model.seq_len=7"}).empty());
}

TEST_CASE("min_run_bytes is a lower bound in checked arithmetic", "[config]") {
  const config::Config c = config::default_config();
  const std::int64_t params = config::parameter_count(c);
  const std::int64_t activations =
      4 * c.train.micro_batch * c.model.seq_len * (c.model.vocab_size + 2 * 4 * c.model.d_model);
  CHECK(config::min_run_bytes(c, 16, c.train.micro_batch) == 16 * params + activations);
  config::Config huge = c;
  huge.model.d_model = std::int64_t{1} << 40;
  CHECK(config::parameter_count(huge) == std::numeric_limits<std::int64_t>::max());
  CHECK(config::min_run_bytes(huge, 16, 1) == std::numeric_limits<std::int64_t>::max());
}

TEST_CASE("memory: a model larger than the machine is a MemoryError before allocation", "[config]") {
  config::Config c = config::default_config();
  c.model.d_model = 1 << 20;  // about 1.7e13 parameters: valid, but no test machine holds 256 TiB
  c.model.n_heads = 4;
  CHECK_NOTHROW(config::load_config("", {"model.d_model=1048576"}));
  REQUIRE(config::host_memory_bytes() > 0);
  CHECK_THROWS_WITH(config::check_memory(c, "train", 16, c.train.micro_batch, 1),
                    Catch::Contains("train needs at least") && Catch::Contains("but this machine has"));
  CHECK_NOTHROW(config::check_memory(config::default_config(), "train", 16, 8, 1));
  c.parallel.device = Device::cuda;  // the GPU's free memory: tests/cuda/test_memory_check_cuda.cpp
  if (cuda_device_count() == 0) CHECK_THROWS_AS(config::check_memory(c, "train", 16, 8, 1), DeviceError);
}

TEST_CASE("JSON nesting depth and out-of-range numbers are config errors", "[config]") {
  const test::TempDir dir("config_sizes");
  const std::string deep = dir.file("deep.json");
  std::ofstream(deep) << "{\"model\": " << std::string(100000, '[') << std::string(100000, ']') << "}";
  CHECK_THAT(config_error([&] { config::load_config(deep, {}); }),
             Catch::Contains(deep + ": JSON nested deeper than 64 levels at key 'model'"));
  const std::string big = dir.file("big.json");
  std::ofstream(big) << "{\"train\": {\"lr\": 1e999}}";
  CHECK_THAT(config_error([&] { config::load_config(big, {}); }),
             Catch::Contains(big + ": JSON number overflow parsing '1e999'"));
  CHECK_THAT(set_error({"train.lr=1e999"}), Catch::Contains("--set train.lr=1e999: number overflow parsing '1e999'"));
  CHECK_THAT(set_error({"parallel.layout=" + std::string(1000, '[') + std::string(1000, ']')}),
             Catch::Contains("value nested deeper than 64 levels"));
}

TEST_CASE("a non-finite number in a parsed document is refused", "[config]") {
  nlohmann::json j = {{"train", {{"lr", std::numeric_limits<double>::quiet_NaN()}}}};
  CHECK_THAT(config_error([&] { config::parse_config(j, "doc"); }),
             Catch::Contains("doc: train.lr must be a finite number"));
  j = {{"model", {{"rope_theta", std::numeric_limits<double>::infinity()}}}};
  CHECK_THAT(config_error([&] { config::parse_config(j, "doc"); }), Catch::Contains("model.rope_theta must be a finite"));
}
