// Loading a config file: reading, JSON syntax errors with line:column, duplicate keys, overrides, validation.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>

#include "config/config.hpp"
#include "config/overrides.hpp"
#include "config/parse.hpp"
#include "core/error.hpp"

namespace mhc::config {

namespace {

using detail::json;

std::string read_file(const std::string& path) {
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) throw ConfigError("cannot open config file '" + path + "': " + std::strerror(errno));
  std::string text;
  char buffer[1 << 16];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, file.get())) > 0) text.append(buffer, n);
  if (std::ferror(file.get())) throw ConfigError("cannot read config file '" + path + "': " + std::strerror(errno));
  return text;
}

// "line:column" (1-based, column in bytes) of the 1-based byte position nlohmann reports for a parse error.
std::string line_column(const std::string& text, std::size_t byte) {
  const std::size_t offset = std::min(byte == 0 ? 0 : byte - 1, text.size());
  std::size_t line = 1, line_start = 0;
  for (std::size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  return std::to_string(line) + ":" + std::to_string(offset - line_start + 1);
}

// The reason part of nlohmann's message, without its prefix and its own position:
// "[json.exception.parse_error.101] parse error at line 3, column 9: syntax error while parsing value - invalid
// literal; last read: 'x'" -> "invalid literal; last read: 'x'".
std::string short_reason(const std::string& what) {
  std::string reason = what;
  const std::size_t colon = what.find(": ", what.find("parse error"));
  if (colon != std::string::npos) reason = what.substr(colon + 2);
  const std::string syntax = "syntax error while parsing ";
  const std::size_t dash = reason.find(" - ");
  if (reason.compare(0, syntax.size(), syntax) == 0 && dash != std::string::npos) reason = reason.substr(dash + 3);
  return reason;
}

// Parser callback that rejects a key given twice in one object (plain nlohmann keeps the last silently).
class DuplicateKeyCheck {
 public:
  explicit DuplicateKeyCheck(std::string source) : source_(std::move(source)) {}

  bool operator()(int depth, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (depth >= detail::kMaxJsonDepth) {
          throw ConfigError(source_ + ": JSON nested deeper than " + std::to_string(detail::kMaxJsonDepth) +
                            " levels at key '" + current_path() + "'; a config has sections of plain values");
        }
        break;
      default:
        break;
    }
    switch (event) {
      case json::parse_event_t::object_start:
        frames_.push_back({true, {}, {}});
        break;
      case json::parse_event_t::array_start:
        frames_.push_back({false, {}, {}});
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        frames_.pop_back();
        break;
      case json::parse_event_t::key: {
        Frame& frame = frames_.back();
        frame.key = parsed.get<std::string>();
        if (!frame.keys.insert(frame.key).second) {
          throw ConfigError(source_ + ": duplicate key '" + current_path() + "'; each key may appear only once");
        }
        break;
      }
      case json::parse_event_t::value:
        break;
    }
    return true;
  }

 private:
  struct Frame {
    bool is_object;
    std::set<std::string> keys;
    std::string key;  // the key being read in this object
  };

  std::string current_path() const {
    std::string path;
    for (const Frame& f : frames_) {
      if (f.is_object) path += (path.empty() ? "" : ".") + f.key;
    }
    return path;
  }

  std::string source_;
  std::vector<Frame> frames_;
};

// Parses config text (comments allowed) into JSON; source names the file in errors.
json parse_json_text(const std::string& text, const std::string& source) {
  try {
    return json::parse(text, DuplicateKeyCheck(source), /*allow_exceptions=*/true, /*ignore_comments=*/true);
  } catch (const json::parse_error& e) {
    throw ConfigError(source + ":" + line_column(text, e.byte) + ": JSON syntax error: " + short_reason(e.what()));
  } catch (const json::out_of_range& e) {  // a number beyond double, e.g. 1e999
    throw ConfigError(source + ": JSON " + without_library_tag(e.what()) + " (beyond 64-bit floating point)");
  }
}

// A run shortened with --set train.steps=N below the document's own train.warmup: the warm-up is clamped to N (the
// schedule then warms up over the whole run) with a notice, instead of refused. An explicit --set train.warmup, or a
// document that is inconsistent by itself, is still validated as given.
void clamp_warmup_to_overridden_steps(json& root, const detail::Origins& origins, std::vector<std::string>* notices) {
  if (origins.overridden.count("train.steps") == 0 || origins.overridden.count("train.warmup") != 0) return;
  json& train = root["train"];
  if (!train.contains("warmup") || !train["warmup"].is_number_integer() || !train["steps"].is_number_integer()) return;
  const auto warmup = train["warmup"].get<std::int64_t>(), steps = train["steps"].get<std::int64_t>();
  if (steps < 0 || warmup <= steps) return;
  train["warmup"] = steps;
  if (notices != nullptr) {
    notices->push_back("train.warmup " + std::to_string(warmup) + " of " + origins.source + " is more than " +
                       origins.overridden.at("train.steps").substr(6) + "; clamped to train.warmup=" +
                       std::to_string(steps));
  }
}

}  // namespace

Config load_config(const std::string& path, const std::vector<std::string>& overrides,
                   std::vector<std::string>* notices) {
  if (path.empty()) return load_config_json(json::object(), "the embedded default config", overrides, notices);
  return load_config_json(parse_json_text(read_file(path), path), path, overrides, notices);
}

Config load_config_json(json root, const std::string& source, const std::vector<std::string>& overrides,
                        std::vector<std::string>* notices) {
  detail::Origins origins;
  origins.source = source;
  detail::apply_overrides(root, overrides, origins);
  clamp_warmup_to_overridden_steps(root, origins, notices);
  return detail::parse_document(root, origins);
}

}  // namespace mhc::config
