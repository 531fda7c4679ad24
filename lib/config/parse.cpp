// Reading a whole config document into a validated Config: unknown keys, typed values, defaults, then validation.
#include "config/parse.hpp"

#include "config/keys.hpp"
#include "config/schema.hpp"
#include "config/validate.hpp"

namespace mhc::config {
namespace detail {

Config parse_document(const json& root, const Origins& origins) {
  expect_object(root, "the top level", origins.source);
  check_known_keys(root, origins.source);
  Config c = read_keys(root, origins);
  validate(c, origins);
  return c;
}

}  // namespace detail

Config parse_config(const nlohmann::json& j, const std::string& source) {
  return detail::parse_document(j, detail::Origins{source, {}});
}

}  // namespace mhc::config
