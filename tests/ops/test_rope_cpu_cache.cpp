// Tests of the CPU RoPE table cache (lib/ops/cpu/rope_cpu.cpp): the cached cos/sin give exactly the bits of tables
// built afresh, for interleaved shapes and thetas and for concurrent callers.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <thread>
#include <vector>

#include "ops/rope.hpp"
#include "support/gradcheck.hpp"
#include "support/op_testing.hpp"

using namespace mhc;
using namespace mhc::test;

namespace {

// The rotation with the table computed here, exactly as the uncached implementation did.
HostTensor expected_rotation(const HostTensor& x, double theta, bool inverse) {
  const Shape s = x.view().shape;
  const std::int64_t B = s[0], T = s[1], H = s[2], D = s[3], P = D / 2;
  HostTensor out(x.view().dtype, s);
  for (std::int64_t i = 0; i < P; ++i) {
    const double freq = std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(D));
    for (std::int64_t t = 0; t < T; ++t) {
      const double angle = static_cast<double>(t) * freq;
      const double c = std::cos(angle), sn = inverse ? -std::sin(angle) : std::sin(angle);
      for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t h = 0; h < H; ++h) {
          const std::int64_t e = ((b * T + t) * H + h) * D + 2 * i;
          const double x0 = x.get(e), x1 = x.get(e + 1);
          out.set(e, x0 * c - x1 * sn);
          out.set(e + 1, x0 * sn + x1 * c);
        }
    }
  }
  return out;
}

bool same_bits(const HostTensor& a, const HostTensor& b) {
  return a.view().bytes() == b.view().bytes() &&
         std::memcmp(a.view().data, b.view().data, static_cast<std::size_t>(a.view().bytes())) == 0;
}

}  // namespace

TEST_CASE("rope with cached tables is bitwise the freshly built rotation", "[cpu][rope]") {
  struct Case {
    Shape shape;
    double theta;
  };
  // The same (T, D, theta) repeated between others (cache hits), and keys differing only in T, D or theta.
  const std::vector<Case> cases{{{2, 9, 3, 8}, 10000},  {{1, 5, 2, 8}, 10000}, {{2, 9, 3, 8}, 500},
                                {{1, 9, 2, 6}, 10000},  {{3, 9, 1, 8}, 10000}, {{2, 9, 3, 8}, 10000},
                                {{1, 130, 2, 64}, 1e4}, {{1, 9, 2, 6}, 10000}};
  for (const DType dtype : {DType::f64, DType::f32}) {
    for (const Case& c : cases) {
      INFO("T " << c.shape[1] << " D " << c.shape[3] << " theta " << c.theta);
      const HostTensor x = converted(random_tensor(c.shape, "x"), dtype);
      HostTensor fwd(dtype, c.shape), inv(dtype, c.shape);
      ops::rope_forward(fwd, x, c.theta);
      ops::rope_backward(inv, x, c.theta);
      CHECK(same_bits(fwd, expected_rotation(x, c.theta, false)));
      CHECK(same_bits(inv, expected_rotation(x, c.theta, true)));
    }
  }
}

TEST_CASE("rope tables are shared safely by concurrent callers", "[cpu][rope][threads]") {
  const std::vector<Shape> shapes{{1, 17, 2, 8}, {1, 33, 1, 12}, {2, 17, 2, 8}, {1, 65, 1, 4}};
  std::vector<HostTensor> inputs, expected;
  for (const Shape& s : shapes) {
    inputs.push_back(random_tensor(s, "x"));
    expected.push_back(expected_rotation(inputs.back(), 321.0, false));
  }
  std::vector<HostTensor> outputs;
  for (int w = 0; w < 8; ++w) outputs.emplace_back(DType::f64, shapes[static_cast<std::size_t>(w) % shapes.size()]);
  std::vector<std::thread> workers;
  for (std::size_t w = 0; w < outputs.size(); ++w)
    workers.emplace_back([&, w] {
      for (int rep = 0; rep < 20; ++rep) ops::rope_forward(outputs[w], inputs[w % inputs.size()], 321.0);
    });
  for (std::thread& t : workers) t.join();
  for (std::size_t w = 0; w < outputs.size(); ++w) CHECK(same_bits(outputs[w], expected[w % expected.size()]));
}
