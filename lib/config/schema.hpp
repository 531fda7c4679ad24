// The set of valid config keys (the resolved default, which the field tables of keys.hpp write) and unknown-key
// errors with nearest-key suggestions.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mhc::config::detail {

// Every section and key, with the default values: to_json(default_config()).
const nlohmann::json& schema();

// All key paths "section.key", in schema order.
const std::vector<std::string>& key_paths();

// Throws ConfigError for the first key or section of root (an object) that the schema does not know.
void check_known_keys(const nlohmann::json& root, const std::string& source);

// "unknown key 'a.b' in <where>; did you mean 'a.c'?" (or "unknown section ..."; lists the valid names when no
// key is close enough).
std::string unknown_key_message(const std::string& path, const std::string& where);

// Optimal string alignment distance: insertions, deletions, substitutions and adjacent transpositions cost 1.
std::size_t edit_distance(const std::string& a, const std::string& b);

}  // namespace mhc::config::detail
