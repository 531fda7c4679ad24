// Parsing JSON read from a file (safetensors headers, checkpoint state.json) into our IoError: bounded nesting, and
// the reason without the JSON library's "[json.exception...]" prefix.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace mhc::io {

// Parses `text` (nlohmann::json or nlohmann::ordered_json); throws IoError "<what>: not valid JSON: <reason>" or
// "<what>: JSON nested deeper than <max_depth> levels" (what names the file).
template <typename Json>
Json parse_json_text(const std::string& text, const std::string& what, int max_depth) {
  const typename Json::parser_callback_t depth_limit = [&](int depth, typename Json::parse_event_t event, Json&) {
    if ((event == Json::parse_event_t::object_start || event == Json::parse_event_t::array_start) &&
        depth >= max_depth) {
      throw IoError(what + ": JSON nested deeper than " + std::to_string(max_depth) + " levels");
    }
    return true;
  };
  try {
    return Json::parse(text, depth_limit);
  } catch (const nlohmann::json::exception& e) {
    throw IoError(what + ": not valid JSON: " + without_library_tag(e.what()));
  }
}

}  // namespace mhc::io
