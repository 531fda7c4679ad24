// Compile-time dispatch on the number of residual streams n (1..8) for the launchers of templated kernels.
#pragma once

#include <type_traits>

namespace mhc::kernels {

// Calls fn(std::integral_constant<int, n>{}) for the runtime n in 1..8 (the caller has checked the range).
template <typename Fn>
void with_stream_count(int n, Fn&& fn) {
  switch (n) {
    case 1: fn(std::integral_constant<int, 1>{}); break;
    case 2: fn(std::integral_constant<int, 2>{}); break;
    case 3: fn(std::integral_constant<int, 3>{}); break;
    case 4: fn(std::integral_constant<int, 4>{}); break;
    case 5: fn(std::integral_constant<int, 5>{}); break;
    case 6: fn(std::integral_constant<int, 6>{}); break;
    case 7: fn(std::integral_constant<int, 7>{}); break;
    default: fn(std::integral_constant<int, 8>{}); break;
  }
}

}  // namespace mhc::kernels
