// CPU stand-in for CUB's cub::DeviceRadixSort::SortPairs in the CUDA simulator (a library boundary the simulator
// does not run as kernels): a stable sort of (key, value) pairs by the key bits [begin_bit, end_bit), queued on the
// stream like the real one, with its arguments checked against device memory.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

namespace cub {

struct DeviceRadixSort {
  template <typename Key, typename Value, typename NumItems>
  static cudaError_t SortPairs(void* temp, std::size_t& temp_bytes, const Key* keys_in, Key* keys_out,
                               const Value* values_in, Value* values_out, NumItems num_items, int begin_bit = 0,
                               int end_bit = static_cast<int>(sizeof(Key) * 8), cudaStream_t stream = nullptr) {
    const auto n = static_cast<std::size_t>(num_items);
    if (temp == nullptr) {  // the size query
      temp_bytes = n * (sizeof(Key) + sizeof(Value)) + 256;
      return cudaSuccess;
    }
    if (begin_bit < 0 || end_bit > static_cast<int>(sizeof(Key) * 8) || begin_bit >= end_bit || num_items < 0)
      return cudaErrorInvalidValue;
    if (n == 0) return cudaSuccess;
    using ::cuda_sim::detail::is_device_range;
    if (!is_device_range(temp, temp_bytes) || !is_device_range(keys_in, n * sizeof(Key)) ||
        !is_device_range(keys_out, n * sizeof(Key)) || !is_device_range(values_in, n * sizeof(Value)) ||
        !is_device_range(values_out, n * sizeof(Value)))
      return cudaErrorInvalidValue;
    ::cuda_sim::detail::enqueue_work(stream, [=] {
      using Bits = std::uint64_t;
      const Bits mask = (end_bit - begin_bit >= 64 ? ~Bits(0) : ((Bits(1) << (end_bit - begin_bit)) - 1));
      std::vector<std::size_t> order(n);
      std::iota(order.begin(), order.end(), std::size_t(0));
      auto digits = [&](std::size_t k) { return (static_cast<Bits>(keys_in[k]) >> begin_bit) & mask; };
      std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return digits(a) < digits(b); });
      std::vector<Key> keys(n);
      std::vector<Value> values(n);
      for (std::size_t k = 0; k < n; ++k) keys[k] = keys_in[order[k]], values[k] = values_in[order[k]];
      std::copy(keys.begin(), keys.end(), keys_out);
      std::copy(values.begin(), values.end(), values_out);
    });
    return cudaSuccess;
  }
};

}  // namespace cub
