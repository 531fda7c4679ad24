// --set key=value overrides applied to a config document before it is parsed (internal to lib/config).
#pragma once

#include <string>
#include <vector>

#include "config/reader.hpp"

namespace mhc::config::detail {

// Applies each "section.key=value" in order (a later one wins) to root and records in origins which --set
// replaced each key. The value is taken as JSON when it parses as JSON (numbers, true/false, arrays, "quoted"),
// else as plain text; keys whose default is a string always take the text (unquoted when given "quoted").
// Throws ConfigError for a malformed override, an unknown key (with the nearest valid key) or a section name.
void apply_overrides(json& root, const std::vector<std::string>& overrides, Origins& origins);

}  // namespace mhc::config::detail
