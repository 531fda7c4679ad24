// Support for the [cuda] tests: host <-> device copies through an arena, and the kernel-vs-oracle comparison.
#pragma once

#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "core/arena.hpp"
#include "core/copy.hpp"
#include "core/host_tensor.hpp"

namespace mhc::test {

// A device arena large enough for `bytes` of tensors (plus alignment slack for a few dozen of them).
inline Arena device_arena(std::int64_t bytes) {
  return Arena("cuda-test", ArenaKind::scratch, Device::cuda, bytes + 64 * kArenaAlignment);
}

// A device copy of a host tensor.
inline Tensor upload(Arena& arena, const HostTensor& host, const std::string& what) {
  Tensor d = arena.alloc(host.view().dtype, host.view().shape, what);
  copy_tensor(d, host);
  return d;
}

// A host copy of a device tensor (copy_tensor is synchronous).
inline HostTensor download(const Tensor& d) {
  HostTensor h(d.dtype, d.shape);
  copy_tensor(h, d);
  return h;
}

// A host tensor of NaNs: the initial content of kernel outputs, so a kernel that skips an element fails.
inline HostTensor nan_tensor(DType dtype, Shape shape) {
  HostTensor t(dtype, shape);
  for (std::int64_t k = 0; k < t.numel(); ++k) t.set(k, std::nan(""));
  return t;
}

// Every element within atol + rtol * |ref|; reports the first mismatches.
inline void check_close(const std::string& what, const HostTensor& got, const HostTensor& ref, double atol,
                        double rtol) {
  REQUIRE(got.numel() == ref.numel());
  std::int64_t failures = 0;
  double worst = 0;
  for (std::int64_t k = 0; k < ref.numel(); ++k) {
    const double g = got.get(k), r = ref.get(k), err = std::fabs(g - r);
    worst = std::fmax(worst, err);
    if (!(err <= atol + rtol * std::fabs(r)) && failures++ < 5)
      UNSCOPED_INFO(what << "[" << k << "]: " << g << " vs " << r);
  }
  INFO(what << ": " << failures << " of " << ref.numel() << " elements off, max abs error " << worst);
  CHECK(failures == 0);
}

}  // namespace mhc::test
