// [cuda] The memory check before a GPU run compares the estimate with the GPU's free memory.
#include <catch2/catch.hpp>

#include "config/config.hpp"
#include "config/sizes.hpp"
#include "core/device_runtime.hpp"
#include "core/error.hpp"

using namespace mhc;

TEST_CASE("a model larger than the GPU's free memory is a MemoryError before allocation", "[cuda][memory]") {
  config::Config c = config::default_config();
  c.parallel.device = Device::cuda;
  const std::int64_t free = cuda_free_memory(local_device_index());
  REQUIRE(free > 0);
  CHECK_NOTHROW(config::check_memory(c, "train", 16, c.train.micro_batch, 1));
  c.model.d_model = 1 << 16;  // about 8e10 parameters, 1.3 TB at 16 bytes each: more than any single GPU
  c.model.n_heads = 4;
  REQUIRE(config::min_run_bytes(c, 16, c.train.micro_batch) > free);
  CHECK_THROWS_WITH(config::check_memory(c, "train", 16, c.train.micro_batch, 1),
                    Catch::Contains("train needs at least") && Catch::Contains("but its GPU has") &&
                        Catch::Contains("free"));
}
