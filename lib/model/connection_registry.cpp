// The registry of connection kinds: one line per kind (each kind's file in connections/ defines its descriptor).
#include "core/error.hpp"
#include "model/connection_kind.hpp"

// X(name) for every kind; `name` is the suffix of the descriptor function connections/<name>.cpp defines.
#define MHC_CONNECTION_KINDS(X) \
  X(residual)                   \
  X(hc)                         \
  X(mhc)                        \
  X(mhc_static)                 \
  /* the list ends here */

namespace mhc::model {

#define MHC_DECLARE_KIND(name) const ConnectionKind& name##_connection_kind();
MHC_CONNECTION_KINDS(MHC_DECLARE_KIND)
#undef MHC_DECLARE_KIND

const std::vector<ConnectionType>& connection_kinds() {
#define MHC_LIST_KIND(name) &name##_connection_kind(),
  static const std::vector<ConnectionType> kinds{MHC_CONNECTION_KINDS(MHC_LIST_KIND)};
#undef MHC_LIST_KIND
  return kinds;
}

ConnectionType find_connection_kind(std::string_view name) {
  for (const ConnectionType kind : connection_kinds())
    if (kind->name() == name) return kind;
  return nullptr;
}

ConnectionType connection_kind(std::string_view name) {
  const ConnectionType kind = find_connection_kind(name);
  MHC_CHECK(kind != nullptr, ConfigError, "unknown connection type \"", std::string(name), "\"; the types are ",
            connection_kind_choices());
  return kind;
}

std::string connection_kind_choices() {
  std::string out;
  for (const ConnectionType kind : connection_kinds()) {
    if (!out.empty()) out += ", ";
    out += "\"" + std::string(kind->name()) + "\"";
  }
  return out;
}

}  // namespace mhc::model
