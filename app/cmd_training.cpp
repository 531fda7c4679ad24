// train, eval and sample: their flags, and a clear refusal until the trainer exists.
#include "commands.hpp"

#include <memory>

#include "core/error.hpp"

namespace mhc::app {

namespace {

[[noreturn]] void not_available(const std::string& what) {
  throw Error("'" + what + "' is not available in this build yet: it arrives with the model and trainer");
}

}  // namespace

void register_training_commands(CLI::App& app) {
  auto flags = std::make_shared<CommonFlags>();
  auto* train = app.add_subcommand("train", "train a model (one process, or many under mpirun)");
  add_common_flags(train, *flags);
  auto resume = std::make_shared<std::string>();
  train->add_option("--resume", *resume, "continue the run in RUN_DIR from its newest checkpoint");
  train->callback([flags] {
    load_config_from_flags(*flags);  // bad configs are reported before anything else
    not_available("train");
  });

  auto checkpoint = std::make_shared<std::string>();
  auto* eval = app.add_subcommand("eval", "validation loss of a checkpoint");
  eval->add_option("--checkpoint", *checkpoint, "checkpoint directory")->required();
  eval->callback([] { not_available("eval"); });

  auto prompt = std::make_shared<std::string>();
  auto* sample = app.add_subcommand("sample", "generate text from a checkpoint");
  sample->add_option("--checkpoint", *checkpoint, "checkpoint directory")->required();
  sample->add_option("--prompt", *prompt, "text to continue");
  sample->callback([] { not_available("sample"); });
}

}  // namespace mhc::app
