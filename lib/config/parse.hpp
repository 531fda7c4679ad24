// Reading a whole config document into a validated Config (internal to lib/config).
#pragma once

#include "config/config.hpp"
#include "config/reader.hpp"

namespace mhc::config::detail {

// parse_config with the origin of every value known (the document, or the --set override that replaced it).
Config parse_document(const json& root, const Origins& origins);

}  // namespace mhc::config::detail
