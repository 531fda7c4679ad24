// mhc-train entry point: parses the command line, runs the subcommand, maps errors to exit codes.
//   0 success, 1 runtime failure, 2 bad usage or bad config.
#include <CLI/CLI.hpp>

#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "commands.hpp"
#include "core/error.hpp"

int main(int argc, char** argv) {
  // libgomp reads OMP_WAIT_POLICY when it loads; its default spinning after each parallel region takes the cores
  // that OpenBLAS's own threads need (training steps measured 2.3x slower). Unless the user chose a policy,
  // re-execute once with the passive one (on failure, carry on with the default).
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
    setenv("OMP_WAIT_POLICY", "passive", 1);
    execv("/proc/self/exe", argv);
  }
  CLI::App app{"mhc-train: train Transformers with residual, Hyper-Connection (hc) or mHC residual streams"};
  app.set_version_flag("--version", std::string("mhc-train ") + MHC_VERSION);
  app.require_subcommand(1);
  mhc::app::register_plan(app);
  mhc::app::register_bench(app);
  mhc::app::register_bench_step(app);
  mhc::app::register_data(app);
  mhc::app::register_train(app);
  mhc::app::register_inference(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  } catch (const mhc::ConfigError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
