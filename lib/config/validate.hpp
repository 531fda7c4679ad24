// Range and cross-field checks of a parsed Config, with errors that say which key to change.
#pragma once

#include "config/config.hpp"
#include "config/reader.hpp"

namespace mhc::config::detail {

// Throws ConfigError "<origin>: <path> ..." for the first value out of range or the first inconsistent combination.
void validate(const Config& c, const Origins& origins);

// Upper bounds of sizes and counts, and the products of sizes in checked 64-bit arithmetic (sizes.cpp); runs after
// the lower bounds, before any check that multiplies.
void check_sizes(const Config& c, const Origins& origins);

}  // namespace mhc::config::detail
