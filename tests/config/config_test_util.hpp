// Helpers shared by the config tests: parsing JSON text and capturing ConfigError messages.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "config/config.hpp"
#include "core/error.hpp"

namespace mhc::config::test {

// The message of the ConfigError that f throws, "" when it throws none (other exceptions propagate).
template <typename F>
std::string config_error(F&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

// parse_config of JSON text, naming the document "cfg.json".
inline Config parse_text(const std::string& text) { return parse_config(nlohmann::json::parse(text), "cfg.json"); }

// The ConfigError message of parse_text(text).
inline std::string parse_error(const std::string& text) {
  return config_error([&] { parse_text(text); });
}

}  // namespace mhc::config::test
