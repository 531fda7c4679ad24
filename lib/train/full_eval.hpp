// `eval --full`: the loss over a whole token sequence (the held-out split, or a file) in non-overlapping windows.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace mhc::train {

struct FullPassLoss {
  double loss = 0;             // mean token loss over the evaluated targets
  std::int64_t windows = 0;    // windows of T + 1 tokens
  std::int64_t tokens = 0;     // targets evaluated: windows * T
  std::int64_t left_out = 0;   // trailing targets that do not fill a window (< T)
};

// Window k is tokens[k*T .. k*T + T] (T + 1 tokens; inputs the first T, targets the last T), so every token after the
// first is a target exactly once, in order, until fewer than T remain. Windows go in batches of `batch` rows laid
// out as (batch, T + 1); summed_loss(rows, n) returns the summed token loss of the first n rows (n <= batch; the
// last batch may be partial, its other rows are zeros). ConfigError when tokens has fewer than T + 1 tokens.
FullPassLoss full_pass_loss(const std::vector<std::uint16_t>& tokens, std::int64_t T, std::int64_t batch,
                            const std::function<double(const std::int32_t* rows, std::int64_t n)>& summed_loss);

}  // namespace mhc::train
