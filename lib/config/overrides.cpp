// --set key=value overrides applied to a config document before it is parsed.
#include "config/overrides.hpp"

#include "config/schema.hpp"
#include "core/error.hpp"

namespace mhc::config::detail {

namespace {

const char* const kExample = "e.g. --set train.lr=1e-3";

// The JSON value of an override's text; default_value (the key's default) tells whether the key holds text.
// where names the override in errors (a number beyond double, nesting deeper than kMaxJsonDepth).
json override_value(const std::string& text, const json& default_value, const std::string& where) {
  const bool quoted = !text.empty() && text.front() == '"';
  if (default_value.is_string() && !quoted) return text;
  const json::parser_callback_t depth_limit = [&](int depth, json::parse_event_t event, json&) {
    if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) &&
        depth >= kMaxJsonDepth) {
      throw ConfigError(where + ": value nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    }
    return true;
  };
  try {
    json value = json::parse(text, depth_limit);
    if (!default_value.is_string() || value.is_string()) return value;
  } catch (const json::parse_error&) {
    // not JSON: plain text
  } catch (const json::out_of_range& e) {
    throw ConfigError(where + ": " + without_library_tag(e.what()) + " (beyond 64-bit floating point)");
  }
  return text;
}

}  // namespace

void apply_overrides(json& root, const std::vector<std::string>& overrides, Origins& origins) {
  const json& s = schema();
  for (const std::string& arg : overrides) {
    const std::string where = "--set " + arg;
    const std::size_t eq = arg.find('=');
    if (eq == std::string::npos) throw ConfigError(where + ": expected key=value, " + kExample);
    const std::string key = arg.substr(0, eq);
    if (key.empty()) throw ConfigError(where + ": missing the key before '=', " + kExample);
    const std::size_t dot = key.find('.');
    if (dot == std::string::npos && s.contains(key)) {
      throw ConfigError(where + ": '" + key + "' is a section; set one of its keys, e.g. --set " + key + "." +
                        s[key].begin().key() + "=...");
    }
    const std::string section = key.substr(0, dot);
    const std::string name = dot == std::string::npos ? "" : key.substr(dot + 1);
    if (!s.contains(section) || !s[section].contains(name)) throw ConfigError(unknown_key_message(key, where));

    expect_object(root, "the top level", origins.source);
    if (!root.contains(section)) root[section] = json::object();
    expect_object(root[section], section, origins.source);
    root[section][name] = override_value(arg.substr(eq + 1), s[section][name], where);
    origins.overridden[key] = where;
  }
}

}  // namespace mhc::config::detail
