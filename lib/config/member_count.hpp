// The number of members of an aggregate struct, at compile time (lets each field table prove it lists every member).
#pragma once

#include <cstddef>
#include <utility>

namespace mhc::config::detail {

// Converts to any member type; only named in unevaluated brace initialisers.
struct AnyMember {
  template <typename T>
  operator T() const;
};
template <std::size_t>
using AnyMemberAt = AnyMember;

template <typename S, std::size_t... I>
constexpr auto brace_initialisable(std::index_sequence<I...>) -> decltype(S{AnyMemberAt<I>{}...}, true) {
  return true;
}
template <typename S>
constexpr bool brace_initialisable(...) {
  return false;
}

// The most initialisers S{...} takes, which for an aggregate (every config struct is one) is its member count.
template <typename S, std::size_t N = 0>
constexpr std::size_t member_count() {
  if constexpr (brace_initialisable<S>(std::make_index_sequence<N + 1>{})) {
    return member_count<S, N + 1>();
  } else {
    return N;
  }
}

}  // namespace mhc::config::detail
