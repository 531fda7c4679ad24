// The registered connection kinds that tests loop over, so that a new kind is covered without editing them.
#pragma once

#include <vector>

#include "model/connection_kind.hpp"

namespace mhc::test {

// The n-stream kinds: those whose layers keep x and H_res (everything but plain residual).
inline std::vector<model::ConnectionType> stream_kinds() {
  std::vector<model::ConnectionType> out;
  for (const model::ConnectionType kind : model::connection_kinds())
    if (kind->keeps_streams()) out.push_back(kind);
  return out;
}

}  // namespace mhc::test
