// One config key as data (its JSON name, the member it fills, its range, its derived default) and one section as a
// list of them; both know how to read, check, compare and write their values. The tables themselves: keys.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "config/config.hpp"
#include "config/enum_names.hpp"
#include "config/member_count.hpp"
#include "config/reader.hpp"

namespace mhc::config::detail {

// The single-value check of a key, run for every key before the checks of combinations (validate.cpp).
enum class Range {
  any,
  at_least,      // integers: "must be >= lo"
  between,       // integers: "must be between lo and hi"
  positive,      // numbers: "must be > 0"
  non_negative,  // numbers: "must be >= 0"
  fraction,      // numbers: "must be >= 0 and < 1"
};

// How a text key is spelt in JSON.
enum class TextForm {
  any,                    // any JSON string
  auto_stage_or_integer,  // "auto", "stage" or a positive integer (JSON number or text), held as canonical text
};

// Throw ConfigError "<origin>: <path> must be ..., got <value>" when value fails the check (field.cpp).
void check_integer_range(Range range, std::int64_t lo, std::int64_t hi, const Origins& origins,
                         const std::string& path, std::int64_t value);
void check_number_range(Range range, const Origins& origins, const std::string& path, double value);
void check_at_most(std::int64_t limit, const char* reason, const Origins& origins, const std::string& path,
                   std::int64_t value);

// The JSON of a TextForm::auto_stage_or_integer value: a number when it is one ("3" -> 3), else the text.
json auto_stage_or_integer_json(const std::string& text);

// "parallel.layout[2]".
std::string element_path(const std::string& path, std::size_t index);

template <typename T>
constexpr bool kHoldsIntegers = std::is_same_v<T, std::int64_t> || std::is_same_v<T, std::vector<std::int64_t>>;

// The key `key` of a section struct S, held in S::*member. Built with field() and the checks below, e.g.
// field("n_streams", &ResidualConfig::n_streams).between(1, 8). Its default is the member initialiser of S, or
// derived_default(s) of the keys read before it.
template <typename S, typename T>
struct Field {
  using Struct = S;

  constexpr Field(const char* key_name, T S::*member_pointer) : key(key_name), member(member_pointer) {}

  const char* key;
  T S::*member;
  Range range = Range::any;
  std::int64_t lo = 0, hi = 0;          // the bounds of Range::at_least and Range::between
  const char* limit_reason = nullptr;   // with limit: an upper bound checked with the sizes (sizes.cpp)
  std::int64_t limit = 0;
  T (*derived_default)(const S&) = nullptr;
  TextForm text_form = TextForm::any;

  constexpr Field at_least(std::int64_t bound) const {
    static_assert(kHoldsIntegers<T>, "at_least is for integer keys");
    return with_range(Range::at_least, bound, 0);
  }
  constexpr Field between(std::int64_t low, std::int64_t high) const {
    static_assert(std::is_same_v<T, std::int64_t>, "between is for integer keys");
    return with_range(Range::between, low, high);
  }
  constexpr Field positive() const { return with_number_range(Range::positive); }
  constexpr Field non_negative() const { return with_number_range(Range::non_negative); }
  constexpr Field fraction() const { return with_number_range(Range::fraction); }
  // An upper bound whose reason the message gives: "must be <= 1024 (the blocks of one stage), got 2000".
  constexpr Field at_most(std::int64_t bound, const char* reason) const {
    static_assert(kHoldsIntegers<T>, "at_most is for integer keys");
    Field f = *this;
    f.limit = bound;
    f.limit_reason = reason;
    return f;
  }
  constexpr Field default_from(T (*derive)(const S&)) const {
    Field f = *this;
    f.derived_default = derive;
    return f;
  }
  constexpr Field auto_stage_or_integer() const {
    static_assert(std::is_same_v<T, std::string>, "auto_stage_or_integer is for text keys");
    Field f = *this;
    f.text_form = TextForm::auto_stage_or_integer;
    return f;
  }

  // Reads the key into s; when it is absent s keeps its value (the initialiser) or takes the derived default.
  void read(const SectionReader& reader, S& s) const {
    const T fallback = derived_default != nullptr ? derived_default(s) : s.*member;
    s.*member = read_value(reader, fallback);
  }

  void check_range(const S& s, const Origins& origins, const std::string& path) const {
    if constexpr (std::is_same_v<T, std::int64_t>) {
      check_integer_range(range, lo, hi, origins, path, s.*member);
    } else if constexpr (std::is_same_v<T, std::vector<std::int64_t>>) {
      const std::vector<std::int64_t>& values = s.*member;
      for (std::size_t i = 0; i < values.size(); ++i) {
        check_integer_range(range, lo, hi, origins, element_path(path, i), values[i]);
      }
    } else if constexpr (std::is_same_v<T, double>) {
      check_number_range(range, origins, path, s.*member);
    }
  }

  void check_limit(const S& s, const Origins& origins, const std::string& path) const {
    if constexpr (kHoldsIntegers<T>) {
      if (limit_reason == nullptr) return;
      if constexpr (std::is_same_v<T, std::int64_t>) {
        check_at_most(limit, limit_reason, origins, path, s.*member);
      } else {
        const std::vector<std::int64_t>& values = s.*member;
        for (std::size_t i = 0; i < values.size(); ++i) {
          check_at_most(limit, limit_reason, origins, element_path(path, i), values[i]);
        }
      }
    }
  }

  bool same(const S& a, const S& b) const { return a.*member == b.*member; }

  json write(const S& s) const {
    const T& value = s.*member;
    if constexpr (std::is_enum_v<T>) {
      return enum_name(value);
    } else if constexpr (std::is_same_v<T, model::ConnectionType>) {
      return json(std::string(value->name()));
    } else if constexpr (std::is_same_v<T, std::string>) {
      return text_form == TextForm::auto_stage_or_integer ? auto_stage_or_integer_json(value) : json(value);
    } else {
      return json(value);
    }
  }

 private:
  constexpr Field with_range(Range r, std::int64_t low, std::int64_t high) const {
    Field f = *this;
    f.range = r;
    f.lo = low;
    f.hi = high;
    return f;
  }
  constexpr Field with_number_range(Range r) const {
    static_assert(std::is_same_v<T, double>, "positive, non_negative and fraction are for number keys");
    return with_range(r, 0, 0);
  }

  T read_value(const SectionReader& reader, const T& fallback) const {
    if constexpr (std::is_same_v<T, std::int64_t>) {
      return reader.integer(key, fallback);
    } else if constexpr (std::is_same_v<T, std::uint64_t>) {
      return reader.unsigned_integer(key, fallback);
    } else if constexpr (std::is_same_v<T, double>) {
      return reader.number(key, fallback);
    } else if constexpr (std::is_same_v<T, bool>) {
      return reader.boolean(key, fallback);
    } else if constexpr (std::is_same_v<T, std::string>) {
      return text_form == TextForm::auto_stage_or_integer ? reader.block_layers(key, fallback)
                                                          : reader.string(key, fallback);
    } else if constexpr (std::is_same_v<T, std::vector<std::int64_t>>) {
      return reader.integer_list(key, fallback);
    } else if constexpr (std::is_same_v<T, model::ConnectionType>) {
      return reader.connection_type(key, fallback);
    } else {
      static_assert(std::is_enum_v<T>,
                    "a config key holds an integer, number, bool, text, integer list, connection type or enum");
      return reader.choice(key, fallback);
    }
  }
};

template <typename S, typename T>
constexpr Field<S, T> field(const char* key, T S::*member) {
  return Field<S, T>(key, member);
}

// One section of Config: its JSON name, the member of Config that holds it, and a field per member of S.
template <typename S, typename... Fields>
struct Section {
  using Struct = S;

  const char* name;
  S Config::*member;
  std::tuple<Fields...> fields;

  // Every key of the section in root (absent keys and an absent section take their defaults), unchecked.
  S read(const json& root, const Origins& origins) const {
    const SectionReader reader(root, name, origins);
    S s;
    for_each([&](const auto& f) { f.read(reader, s); });
    return s;
  }
  void check_ranges(const S& s, const Origins& origins) const {
    for_each([&](const auto& f) { f.check_range(s, origins, path(f)); });
  }
  void check_limits(const S& s, const Origins& origins) const {
    for_each([&](const auto& f) { f.check_limit(s, origins, path(f)); });
  }
  bool same(const S& a, const S& b) const {
    return std::apply([&](const auto&... f) { return (f.same(a, b) && ...); }, fields);
  }
  json write(const S& s) const {
    json out = json::object();
    for_each([&](const auto& f) { out[f.key] = f.write(s); });
    return out;
  }

 private:
  template <typename F>
  void for_each(F&& visit) const {
    std::apply([&](const auto&... f) { (visit(f), ...); }, fields);
  }
  template <typename F>
  std::string path(const F& f) const {
    return std::string(name) + "." + f.key;
  }
};

template <typename S, typename... Fields>
constexpr Section<S, Fields...> section(const char* name, S Config::*member, Fields... fields) {
  static_assert((std::is_same_v<typename Fields::Struct, S> && ...), "a section's fields are members of its struct");
  static_assert(member_count<S>() == sizeof...(Fields),
                "every member of a config section struct needs its field in the section's table (keys.hpp)");
  return Section<S, Fields...>{name, member, std::tuple<Fields...>(fields...)};
}

}  // namespace mhc::config::detail
