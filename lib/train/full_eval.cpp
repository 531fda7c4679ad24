// Deterministic full pass in non-overlapping windows.
#include "train/full_eval.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace mhc::train {

FullPassLoss full_pass_loss(const std::vector<std::uint16_t>& tokens, std::int64_t T, std::int64_t batch,
                            const std::function<double(const std::int32_t* rows, std::int64_t n)>& summed_loss) {
  const auto n_tokens = static_cast<std::int64_t>(tokens.size());
  MHC_CHECK(n_tokens >= T + 1, ConfigError, "the data to evaluate has ", n_tokens,
            " tokens, fewer than one window of model.seq_len + 1 = ", T + 1);
  FullPassLoss r;
  r.windows = (n_tokens - 1) / T;
  r.tokens = r.windows * T;
  r.left_out = n_tokens - 1 - r.tokens;
  const std::int64_t L = T + 1;
  std::vector<std::int32_t> rows(static_cast<std::size_t>(batch * L));
  double sum = 0;
  for (std::int64_t first = 0; first < r.windows; first += batch) {
    const std::int64_t n = std::min(batch, r.windows - first);
    std::fill(rows.begin(), rows.end(), 0);
    for (std::int64_t w = 0; w < n; ++w) {
      const auto src = tokens.begin() + (first + w) * T;
      std::copy(src, src + L, rows.begin() + w * L);
    }
    sum += summed_loss(rows.data(), n);
  }
  r.loss = sum / static_cast<double>(r.tokens);
  return r;
}

}  // namespace mhc::train
