// The single-value checks and the JSON forms behind the field tables, with the messages the docs and tests quote.
#include "config/field.hpp"

namespace mhc::config::detail {

namespace {

std::string text(double v) { return show(json(v)); }
std::string text(std::int64_t v) { return std::to_string(v); }

}  // namespace

void check_integer_range(Range range, std::int64_t lo, std::int64_t hi, const Origins& origins,
                         const std::string& path, std::int64_t value) {
  if (range == Range::at_least && value < lo) fail(origins, path, "must be >= " + text(lo) + ", got " + text(value));
  if (range == Range::between && (value < lo || value > hi)) {
    fail(origins, path, "must be between " + text(lo) + " and " + text(hi) + ", got " + text(value));
  }
}

void check_number_range(Range range, const Origins& origins, const std::string& path, double value) {
  if (range == Range::positive && !(value > 0.0)) fail(origins, path, "must be > 0, got " + text(value));
  if (range == Range::non_negative && !(value >= 0.0)) fail(origins, path, "must be >= 0, got " + text(value));
  if (range == Range::fraction && !(value >= 0.0 && value < 1.0)) {
    fail(origins, path, "must be >= 0 and < 1, got " + text(value));
  }
}

void check_at_most(std::int64_t limit, const char* reason, const Origins& origins, const std::string& path,
                   std::int64_t value) {
  if (value > limit) {
    fail(origins, path, "must be <= " + text(limit) + " (" + reason + "), got " + text(value));
  }
}

json auto_stage_or_integer_json(const std::string& canonical) {
  if (const auto value = parse_positive_integer(canonical)) return *value;
  return canonical;
}

std::string element_path(const std::string& path, std::size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

}  // namespace mhc::config::detail
