// Typed reading of config values with errors that name the origin, the full key path and the offending value.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "config/enum_names.hpp"

namespace mhc::config::detail {

using nlohmann::json;

// Deepest nesting of arrays and objects accepted in a config document or a --set value (a config needs 3).
constexpr int kMaxJsonDepth = 64;

// Where each value came from: the document (a file name) or the --set override that replaced it.
struct Origins {
  std::string source;                             // "cfg.json"
  std::map<std::string, std::string> overridden;  // "train.lr" -> "--set train.lr=abc"

  // The origin of one key path.
  const std::string& of(const std::string& path) const;
  // The first overridden origin among paths, else source (for checks that involve several keys).
  const std::string& of_any(const std::vector<std::string>& paths) const;
};

// A value as JSON text for an error message ("abc" keeps its quotes), shortened when long.
std::string show(const json& value);

// Throws ConfigError "<origin of path>: <path> <what>".
[[noreturn]] void fail(const Origins& origins, const std::string& path, const std::string& what);

// Throws ConfigError unless value is a JSON object; name is "the top level" or a section path.
void expect_object(const json& value, const std::string& name, const std::string& origin);

// The value of a plain decimal text of digits when it is >= 1 and fits int64 ("4", "12"); nullopt otherwise.
std::optional<std::int64_t> parse_positive_integer(const std::string& text);

// Reads the keys of one section (which may be absent: every key then takes its fallback).
class SectionReader {
 public:
  SectionReader(const json& root, std::string section, const Origins& origins);

  bool has(const std::string& key) const;
  std::string path(const std::string& key) const { return section_ + "." + key; }

  std::int64_t integer(const std::string& key, std::int64_t fallback) const;
  std::uint64_t unsigned_integer(const std::string& key, std::uint64_t fallback) const;
  double number(const std::string& key, double fallback) const;
  bool boolean(const std::string& key, bool fallback) const;
  std::string string(const std::string& key, const std::string& fallback) const;
  std::vector<std::int64_t> integer_list(const std::string& key, const std::vector<std::int64_t>& fallback) const;
  // "auto", "stage", or a positive integer given as a JSON integer or as text; returned as canonical text.
  std::string block_layers(const std::string& key, const std::string& fallback) const;
  // The registered connection kind a JSON string names (model::connection_kinds).
  model::ConnectionType connection_type(const std::string& key, model::ConnectionType fallback) const;

  template <typename E>
  E choice(const std::string& key, E fallback) const {
    const json* v = find(key);
    if (v == nullptr) return fallback;
    if (v->is_string()) {
      for (const auto& [value, name] : enum_names<E>()) {
        if (v->get_ref<const std::string&>() == name) return value;
      }
    }
    fail(origins_, path(key), "must be one of " + enum_choices<E>() + ", got " + show(*v));
  }

 private:
  const json* find(const std::string& key) const;  // nullptr when absent
  std::int64_t to_integer(const json& v, const std::string& at) const;

  const json* section_json_ = nullptr;  // nullptr when the section is absent
  std::string section_;
  const Origins& origins_;
};

}  // namespace mhc::config::detail
