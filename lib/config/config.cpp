// The embedded default, enum spellings and derived values of a Config (equality and to_json: keys.cpp).
#include "config/config.hpp"

#include "config/enum_names.hpp"
#include "config/reader.hpp"
#include "core/error.hpp"

namespace mhc::config {

Config default_config() { return Config{}; }

std::int64_t ParallelConfig::num_stages() const { return schedule == dist::ScheduleKind::dualpipev ? 2 * pp : pp; }

std::int64_t RecomputeConfig::block_layers_value() const {
  if (block_layers == "auto" || block_layers == "stage") return 0;
  const auto value = detail::parse_positive_integer(block_layers);
  if (!value) {
    throw ConfigError("recompute.block_layers must be \"auto\", \"stage\" or a positive integer, got \"" +
                      block_layers + "\"");
  }
  return *value;
}

std::vector<std::int64_t> resolved_layout(const Config& c) {
  if (!c.parallel.layout.empty()) return c.parallel.layout;
  const std::int64_t stages = c.parallel.num_stages();
  std::vector<std::int64_t> layout(static_cast<std::size_t>(stages), c.model.n_blocks / stages);
  for (std::int64_t s = 0; s < c.model.n_blocks % stages; ++s) ++layout[static_cast<std::size_t>(s)];
  return layout;
}

std::string to_string(ops::MhcInit::Bias v) { return detail::enum_name(v); }
std::string to_string(HeadMerge v) { return detail::enum_name(v); }
std::string to_string(ops::MhcInit::Phi v) { return detail::enum_name(v); }
std::string to_string(DataSource v) { return detail::enum_name(v); }
std::string to_string(train::LrScheduleKind v) { return detail::enum_name(v); }
std::string to_string(ops::MatmulPrecision v) { return detail::enum_name(v); }
std::string to_string(Precision v) { return detail::enum_name(v); }

}  // namespace mhc::config
