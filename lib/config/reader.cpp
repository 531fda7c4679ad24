// Typed reading of config values with errors that name the origin, the full key path and the offending value.
#include "config/reader.hpp"

#include <cmath>
#include <limits>

#include "core/error.hpp"

namespace mhc::config::detail {

const std::string& Origins::of(const std::string& path) const {
  const auto it = overridden.find(path.substr(0, path.find('[')));  // "parallel.layout[0]" came with its list
  return it == overridden.end() ? source : it->second;
}

const std::string& Origins::of_any(const std::vector<std::string>& paths) const {
  for (const std::string& p : paths) {
    const auto it = overridden.find(p);
    if (it != overridden.end()) return it->second;
  }
  return source;
}

std::string show(const json& value) {
  constexpr std::size_t kMaxChars = 60;
  std::string text = value.dump();
  if (text.size() > kMaxChars) text = text.substr(0, kMaxChars - 3) + "...";
  return text;
}

void fail(const Origins& origins, const std::string& path, const std::string& what) {
  throw ConfigError(origins.of(path) + ": " + path + " " + what);
}

void expect_object(const json& value, const std::string& name, const std::string& origin) {
  if (!value.is_object()) throw ConfigError(origin + ": " + name + " must be a JSON object, got " + show(value));
}

std::optional<std::int64_t> parse_positive_integer(const std::string& text) {
  if (text.empty()) return std::nullopt;
  std::int64_t value = 0;
  for (const char ch : text) {
    if (ch < '0' || ch > '9') return std::nullopt;
    const int digit = ch - '0';
    if (value > (std::numeric_limits<std::int64_t>::max() - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  if (value < 1) return std::nullopt;
  return value;
}

SectionReader::SectionReader(const json& root, std::string section, const Origins& origins)
    : section_(std::move(section)), origins_(origins) {
  const auto it = root.find(section_);
  if (it == root.end()) return;
  expect_object(*it, section_, origins_.source);
  section_json_ = &*it;
}

const json* SectionReader::find(const std::string& key) const {
  if (section_json_ == nullptr) return nullptr;
  const auto it = section_json_->find(key);
  return it == section_json_->end() ? nullptr : &*it;
}

bool SectionReader::has(const std::string& key) const { return find(key) != nullptr; }

// Accepts JSON integers and floats with an integral value (1e4), within int64.
std::int64_t SectionReader::to_integer(const json& v, const std::string& at) const {
  constexpr double kTwoPow63 = 9223372036854775808.0;
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      fail(origins_, at, "must be an integer below 2^63, got " + show(v));
    }
    return static_cast<std::int64_t>(u);
  }
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_number_float()) {
    const double x = v.get<double>();
    if (x == std::floor(x) && x >= -kTwoPow63 && x < kTwoPow63) return static_cast<std::int64_t>(x);
  }
  fail(origins_, at, "must be an integer, got " + show(v));
}

std::int64_t SectionReader::integer(const std::string& key, std::int64_t fallback) const {
  const json* v = find(key);
  return v == nullptr ? fallback : to_integer(*v, path(key));
}

std::uint64_t SectionReader::unsigned_integer(const std::string& key, std::uint64_t fallback) const {
  constexpr double kTwoPow64 = 18446744073709551616.0;
  const json* v = find(key);
  if (v == nullptr) return fallback;
  if (v->is_number_unsigned()) return v->get<std::uint64_t>();
  if (v->is_number_float()) {
    const double x = v->get<double>();
    if (x == std::floor(x) && x >= 0.0 && x < kTwoPow64) return static_cast<std::uint64_t>(x);
  }
  fail(origins_, path(key), "must be a non-negative integer, got " + show(*v));
}

double SectionReader::number(const std::string& key, double fallback) const {
  const json* v = find(key);
  if (v == nullptr) return fallback;
  if (!v->is_number()) fail(origins_, path(key), "must be a number, got " + show(*v));
  const double x = v->get<double>();
  if (!std::isfinite(x)) fail(origins_, path(key), "must be a finite number, got " + show(*v));
  return x;
}

bool SectionReader::boolean(const std::string& key, bool fallback) const {
  const json* v = find(key);
  if (v == nullptr) return fallback;
  if (!v->is_boolean()) fail(origins_, path(key), "must be true or false, got " + show(*v));
  return v->get<bool>();
}

std::string SectionReader::string(const std::string& key, const std::string& fallback) const {
  const json* v = find(key);
  if (v == nullptr) return fallback;
  if (!v->is_string()) fail(origins_, path(key), "must be a string, got " + show(*v));
  return v->get<std::string>();
}

std::vector<std::int64_t> SectionReader::integer_list(const std::string& key,
                                                      const std::vector<std::int64_t>& fallback) const {
  const json* v = find(key);
  if (v == nullptr) return fallback;
  if (!v->is_array()) fail(origins_, path(key), "must be a list of integers, got " + show(*v));
  std::vector<std::int64_t> out;
  for (std::size_t i = 0; i < v->size(); ++i) {
    out.push_back(to_integer((*v)[i], path(key) + "[" + std::to_string(i) + "]"));
  }
  return out;
}

std::string SectionReader::block_layers(const std::string& key, const std::string& fallback) const {
  const json* v = find(key);
  if (v == nullptr) return fallback;
  if (v->is_string()) {
    const auto& text = v->get_ref<const std::string&>();
    if (text == "auto" || text == "stage") return text;
    if (const auto value = parse_positive_integer(text)) return std::to_string(*value);
  } else if (v->is_number_integer()) {
    if (const auto value = parse_positive_integer(v->dump())) return std::to_string(*value);
  }
  fail(origins_, path(key), "must be \"auto\", \"stage\" or a positive integer, got " + show(*v));
}

model::ConnectionType SectionReader::connection_type(const std::string& key, model::ConnectionType fallback) const {
  const json* v = find(key);
  if (v == nullptr) return fallback;
  if (v->is_string()) {
    if (const model::ConnectionType kind = model::find_connection_kind(v->get_ref<const std::string&>())) return kind;
  }
  fail(origins_, path(key), "must be one of " + model::connection_kind_choices() + ", got " + show(*v));
}

}  // namespace mhc::config::detail
