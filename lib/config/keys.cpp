// What the field tables drive: reading every key, its single-value checks, operator== of every section and to_json.
#include "config/keys.hpp"

#include <cstdio>
#include <cstdlib>

namespace mhc::config {

namespace detail {

std::int64_t n_streams_for_type(const ResidualConfig& r) {
  return r.type->default_streams();
}

// Rounded to 15 significant digits, so that the default prints as typed: lr 3e-3 gives 0.0003.
double tenth_of_lr(const TrainConfig& t) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.15g", t.lr / 10.0);
  return std::strtod(buffer, nullptr);
}

std::int64_t tenth_of_steps(const TrainConfig& t) { return t.steps / 10; }

Config read_keys(const json& root, const Origins& origins) {
  Config c;
  for_each_section([&](const auto& section) { c.*section.member = section.read(root, origins); });
  return c;
}

void check_key_ranges(const Config& c, const Origins& origins) {
  for_each_section([&](const auto& section) { section.check_ranges(c.*section.member, origins); });
}

void check_key_limits(const Config& c, const Origins& origins) {
  for_each_section([&](const auto& section) { section.check_limits(c.*section.member, origins); });
}

}  // namespace detail

bool operator==(const ModelConfig& a, const ModelConfig& b) { return detail::kModelKeys.same(a, b); }
bool operator==(const ResidualConfig& a, const ResidualConfig& b) { return detail::kResidualKeys.same(a, b); }
bool operator==(const DataConfig& a, const DataConfig& b) { return detail::kDataKeys.same(a, b); }
bool operator==(const TrainConfig& a, const TrainConfig& b) { return detail::kTrainKeys.same(a, b); }
bool operator==(const ParallelConfig& a, const ParallelConfig& b) { return detail::kParallelKeys.same(a, b); }
bool operator==(const RecomputeConfig& a, const RecomputeConfig& b) { return detail::kRecomputeKeys.same(a, b); }
bool operator==(const CheckpointConfig& a, const CheckpointConfig& b) { return detail::kCheckpointKeys.same(a, b); }

bool operator==(const Config& a, const Config& b) {
  bool same = true;
  detail::for_each_section(
      [&](const auto& section) { same = same && section.same(a.*section.member, b.*section.member); });
  return same;
}
bool operator!=(const Config& a, const Config& b) { return !(a == b); }

nlohmann::json to_json(const Config& c) {
  nlohmann::json out = nlohmann::json::object();
  detail::for_each_section([&](const auto& section) { out[section.name] = section.write(c.*section.member); });
  return out;
}

}  // namespace mhc::config
