// The set of valid config keys (the resolved default, which the field tables of keys.hpp write) and unknown-key
// errors with nearest-key suggestions.
#include "config/schema.hpp"

#include <algorithm>
#include <limits>

#include "config/config.hpp"
#include "core/error.hpp"

namespace mhc::config::detail {

using nlohmann::json;

const json& schema() {
  static const json s = to_json(default_config());
  return s;
}

const std::vector<std::string>& key_paths() {
  static const std::vector<std::string> paths = [] {
    std::vector<std::string> out;
    for (const auto& section : schema().items()) {
      for (const auto& key : section.value().items()) out.push_back(section.key() + "." + key.key());
    }
    return out;
  }();
  return paths;
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  const std::size_t n = a.size(), m = b.size();
  std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
  for (std::size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= n; ++i) {
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[n][m];
}

namespace {

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t dot = path.find('.'); dot != std::string::npos; dot = path.find('.', start)) {
    parts.push_back(path.substr(start, dot - start));
    start = dot + 1;
  }
  parts.push_back(path.substr(start));
  return parts;
}

std::string section_of(const std::string& key_path) { return key_path.substr(0, key_path.find('.')); }
std::string key_of(const std::string& key_path) { return key_path.substr(key_path.find('.') + 1); }

// How far a name may be from a valid one to be suggested.
std::size_t tolerance(const std::string& name) { return std::max<std::size_t>(1, name.size() / 3); }

// Whether valid is a plausible meaning of typed (d = their edit distance): a few edits apart, or one name contains
// the other ("warmup_steps" and "warmup").
bool plausible(const std::string& typed, const std::string& valid, std::size_t d) {
  if (d <= tolerance(typed)) return true;
  const std::string& shorter = typed.size() < valid.size() ? typed : valid;
  const std::string& longer = typed.size() < valid.size() ? valid : typed;
  return shorter.size() >= 4 && longer.find(shorter) != std::string::npos;
}

// Keeps the candidate with the lowest score; ties go to the first one seen.
class Nearest {
 public:
  void consider(const std::string& candidate, std::size_t score) {
    if (score < best_score_) {
      best_score_ = score;
      best_ = candidate;
    }
  }
  std::vector<std::string> result() const {
    return best_.empty() ? std::vector<std::string>{} : std::vector<std::string>{best_};
  }

 private:
  std::size_t best_score_ = std::numeric_limits<std::size_t>::max();
  std::string best_;
};

// Key paths whose key equals name, in another section ("model.seed" -> data.seed, train.seed; "lr" -> train.lr).
std::vector<std::string> same_key_elsewhere(const std::string& name) {
  std::vector<std::string> out;
  for (const std::string& p : key_paths()) {
    if (key_of(p) == name) out.push_back(p);
  }
  return out;
}

// Nearest key path by the distance of the whole path ("trian.seed" -> train.seed).
std::vector<std::string> nearest_path(const std::string& path) {
  Nearest nearest;
  for (const std::string& p : key_paths()) {
    const std::size_t d = edit_distance(path, p);
    if (plausible(path, p, d)) nearest.consider(p, d);
  }
  return nearest.result();
}

std::vector<std::string> suggestions(const std::vector<std::string>& parts, const std::string& path) {
  const json& s = schema();
  if (parts.size() == 1) {  // a top-level name: a flat key ("lr") or a misspelt section
    auto same = same_key_elsewhere(parts[0]);
    if (!same.empty()) return same;
    Nearest nearest;
    for (const auto& section : s.items()) {
      const std::size_t d = edit_distance(parts[0], section.key());
      if (plausible(parts[0], section.key(), d)) nearest.consider(section.key(), d);
    }
    return nearest.result();
  }
  if (parts.size() == 2 && s.contains(parts[0])) {  // unknown key in a known section
    auto same = same_key_elsewhere(parts[1]);
    if (!same.empty()) return same;
    Nearest nearest;
    for (const std::string& p : key_paths()) {
      const std::size_t d = edit_distance(parts[1], key_of(p));
      if (plausible(parts[1], key_of(p), d)) nearest.consider(p, 2 * d + (section_of(p) == parts[0] ? 0 : 1));
    }
    return nearest.result();
  }
  auto near = nearest_path(path);
  if (near.empty() && parts.size() == 2) near = same_key_elsewhere(parts[1]);
  return near;
}

std::string join(const std::vector<std::string>& names, const std::string& separator, const std::string& quote) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : separator) + quote + n + quote;
  return out;
}

}  // namespace

std::string unknown_key_message(const std::string& path, const std::string& where) {
  const auto parts = split_path(path);
  std::string message =
      std::string("unknown ") + (parts.size() == 1 ? "section" : "key") + " '" + path + "' in " + where;
  const auto near = suggestions(parts, path);
  if (!near.empty()) return message + "; did you mean " + join(near, " or ", "'") + "?";
  const json& s = schema();
  std::vector<std::string> names;
  if (parts.size() == 2 && s.contains(parts[0])) {
    for (const auto& key : s[parts[0]].items()) names.push_back(key.key());
    return message + "; valid keys in '" + parts[0] + "': " + join(names, ", ", "");
  }
  for (const auto& section : s.items()) names.push_back(section.key());
  return message + "; valid sections: " + join(names, ", ", "");
}

void check_known_keys(const json& root, const std::string& source) {
  const json& s = schema();
  for (const auto& section : root.items()) {
    if (!s.contains(section.key())) throw ConfigError(unknown_key_message(section.key(), source));
    if (!section.value().is_object()) continue;  // the reader reports the wrong type
    for (const auto& key : section.value().items()) {
      if (!s[section.key()].contains(key.key())) {
        throw ConfigError(unknown_key_message(section.key() + "." + key.key(), source));
      }
    }
  }
}

}  // namespace mhc::config::detail
