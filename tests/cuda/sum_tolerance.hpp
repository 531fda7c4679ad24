// [cuda] test support: comparing outputs that are sums computed in a different order (and with FMA) on the GPU.
#pragma once

#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "core/host_tensor.hpp"

namespace mhc::test {

// For a sum of L terms evaluated in any order in fp32, the rounding error is at most about L * u * sum|terms|
// (u = 2^-24) and behaves like sqrt(L) * u * sum|terms| or less for the random inputs of the tests. The kernel and
// the CPU oracle each carry such an error, so element k may differ by
//   8 * sqrt(L) * u * abs_sum[k]   (abs_sum[k] = the sum of the absolute values of the terms of element k),
// a margin of several times the observed errors, yet small enough that one wrong or missing term (about
// abs_sum / L for these inputs) fails for every L used here (L < 10^4).
inline double sum_tolerance(double abs_sum, double terms) {
  return 8.0 * std::sqrt(terms) * std::ldexp(1.0, -24) * abs_sum;
}

// Every element within its own tolerance tol[k] (tolerances derived per element by the caller); reports the first
// mismatches.
inline void check_within(const std::string& what, const HostTensor& got, const HostTensor& ref,
                         const HostTensor& tol) {
  REQUIRE(got.numel() == ref.numel());
  REQUIRE(tol.numel() == ref.numel());
  std::int64_t failures = 0;
  for (std::int64_t k = 0; k < ref.numel(); ++k) {
    const double err = std::fabs(got.get(k) - ref.get(k));
    if (!(err <= tol.get(k)) && failures++ < 5)
      UNSCOPED_INFO(what << "[" << k << "]: " << got.get(k) << " vs " << ref.get(k) << " (tolerance " << tol.get(k)
                         << ")");
  }
  INFO(what << ": " << failures << " of " << ref.numel() << " elements off");
  CHECK(failures == 0);
}

inline void check_sum_close(const std::string& what, const HostTensor& got, const HostTensor& ref,
                            const HostTensor& abs_sum, double terms) {
  REQUIRE(got.numel() == ref.numel());
  REQUIRE(abs_sum.numel() == ref.numel());
  std::int64_t failures = 0;
  double worst = 0;  // largest error as a fraction of the tolerance
  for (std::int64_t k = 0; k < ref.numel(); ++k) {
    const double g = got.get(k), r = ref.get(k), err = std::fabs(g - r);
    const double tol = sum_tolerance(abs_sum.get(k), terms);
    worst = std::fmax(worst, tol > 0 ? err / tol : (err > 0 ? 1e30 : 0.0));
    if (!(err <= tol) && failures++ < 5)
      UNSCOPED_INFO(what << "[" << k << "]: " << g << " vs " << r << " (tolerance " << tol << ")");
  }
  INFO(what << ": " << failures << " of " << ref.numel() << " elements off, worst error " << worst
            << " of the tolerance");
  CHECK(failures == 0);
}

}  // namespace mhc::test
