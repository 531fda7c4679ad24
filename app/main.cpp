// mhc-train entry point: parses the command line, runs the subcommand, maps errors to exit codes.
//   0 success, 1 runtime failure, 2 bad usage or bad config. Under an MPI launcher a failure on one rank ends them all.
#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "core/error.hpp"
#include "process_setup.hpp"

int main(int argc, char** argv) {
  mhc::app::prepare_process();
  CLI::App app{"mhc-train: train Transformers with residual, Hyper-Connection (hc) or mHC residual streams"};
  app.set_version_flag("--version", std::string("mhc-train ") + MHC_VERSION);
  app.require_subcommand(1);
  app.option_defaults()->always_capture_default();  // every --help shows the defaults
  mhc::app::register_plan(app);
  mhc::app::register_bench(app);
  mhc::app::register_bench_step(app);
  mhc::app::register_data(app);
  mhc::app::register_train(app);
  mhc::app::register_inference(app);
  mhc::app::register_types(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  } catch (const mhc::ConfigError& e) {
    return mhc::app::report_failure(e.what(), 2);
  } catch (const std::exception& e) {
    return mhc::app::report_failure(e.what(), 1);
  }
  return 0;
}
