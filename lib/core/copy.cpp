// copy_tensor: host copies directly, anything touching a device through the device hook.
#include "core/copy.hpp"

#include <cstring>

#include "core/arena.hpp"

namespace mhc {

void copy_tensor(Tensor dst, Tensor src) {
  expect_shape(dst, src.shape, "copy destination");
  expect_same_dtype(dst, src, "copy destination", "source");
  if (dst.bytes() == 0) return;
  if (dst.device == Device::cpu && src.device == Device::cpu) {
    std::memmove(dst.data, src.data, static_cast<std::size_t>(dst.bytes()));
  } else {
    device_copy_bytes(dst.data, src.data, dst.bytes());
  }
}

void zero_tensor(Tensor t) {
  if (t.bytes() == 0) return;
  if (t.device == Device::cuda) {
    device_memset_zero(t.data, t.bytes());
  } else {
    std::memset(t.data, 0, static_cast<std::size_t>(t.bytes()));
  }
}

}  // namespace mhc
