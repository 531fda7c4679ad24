// copy_tensor: host copies directly, anything touching a device through the device hook.
#include "core/copy.hpp"

#include <cstring>

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

}  // namespace mhc
