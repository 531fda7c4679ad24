// `mhc-train types`: the registered connection types (the values of residual.type), for people and for scripts.
#include <iostream>

#include "commands.hpp"
#include "model/connection_kind.hpp"

namespace mhc::app {

void register_types(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "types", "List the connection types residual.type accepts, one per line: the name and its default "
               "residual.n_streams (1: one stream, the plain residual; otherwise an n-stream type). "
               "scripts/sweep.sh reads this list.");
  cmd->callback([]() {
    for (const model::ConnectionType kind : model::connection_kinds())
      std::cout << kind->name() << ' ' << kind->default_streams() << '\n';
  });
}

}  // namespace mhc::app
