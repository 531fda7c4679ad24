// `mhc-train train`: one process, or parallel.pp x parallel.dp ranks under mpirun. A first SIGINT/SIGTERM/SIGUSR1
// finishes the current step on every rank, writes a checkpoint and RUN_DIR/stopped.json and exits 0; a second one
// ends the process at once by that signal (the newest complete checkpoint stays intact). SIGUSR1 is the one that
// mpirun forwards to its ranks at once and then lets the job end by itself (README.md, "Signals").
#include <fcntl.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <memory>

#include "commands.hpp"
#include "dist/communicator.hpp"
#include "train/run_dir.hpp"
#include "train/trainer.hpp"

namespace mhc::app {

namespace {

std::atomic<bool> g_stop{false};
std::atomic<int> g_signals{0};
std::atomic<std::int64_t> g_step_ms{-1};  // the trainer's last step time, -1 before the first
std::atomic<bool> g_under_launcher{false};  // stdout/stderr are pipes to an MPI launcher (set before the handler)
pthread_t g_main_thread;                     // the training thread (set before the handler)
static_assert(std::atomic<int>::is_always_lock_free && std::atomic<std::int64_t>::is_always_lock_free,
              "the signal handler reads lock-free atomics only");

void write_stderr(const char* text, std::size_t size) { (void)!::write(STDERR_FILENO, text, size); }

// After a stop request the console may have no reader any more: mpirun stops draining its ranks' stdout once it has
// forwarded a signal (a rank then blocks in write() with the step's log line and never reaches its checkpoint), and
// a `| tee` that got the same Ctrl-C is gone (the next write would raise SIGPIPE). So console lines may be lost from
// here on, never the checkpoint: SIGPIPE is ignored, and under a launcher stdout and stderr become non-blocking (a
// full pipe drops the line; not done on a terminal, whose file description the shell shares).
void detach_console() {
  std::signal(SIGPIPE, SIG_IGN);
  if (!g_under_launcher.load()) return;
  for (const int fd : {STDOUT_FILENO, STDERR_FILENO}) {
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0) (void)::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  }
}

// Async-signal-safe: atomics, fcntl, write, signal, raise, pthread_kill, and digits formatted by hand. The first signal states the
// wait (the rest of the current step, about as long as the last one), the second ends the process by that signal.
// A signal that lands on another thread (MPI's; the OpenMP pool blocks them, app/process_setup.cpp) is passed on to
// the training thread, so that a write() it is blocked in is interrupted and, restarted, sees the non-blocking console.
extern "C" void request_stop(int sig) {
  if (!pthread_equal(pthread_self(), g_main_thread)) {
    (void)pthread_kill(g_main_thread, sig);
    return;
  }
  if (g_signals.fetch_add(1) == 0) {
    g_stop.store(true);
    detach_console();
    static const char head[] = "mhc-train: stopping after the current step (the last one took ";
    static const char none[] = "mhc-train: stopping after the first step";
    static const char tail[] = ", then a checkpoint and stopped.json; a second signal exits at once\n";
    const std::int64_t ms = g_step_ms.load();
    if (ms < 0) {
      write_stderr(none, sizeof none - 1);
      write_stderr(tail, sizeof tail - 1);
      return;
    }
    char digits[24];
    std::size_t n = sizeof digits;
    std::int64_t v = ms;
    do {
      digits[--n] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v > 0 && n > 0);
    write_stderr(head, sizeof head - 1);
    write_stderr(digits + n, sizeof digits - n);
    write_stderr(" ms)", 4);
    write_stderr(tail, sizeof tail - 1);
    return;
  }
  static const char second[] = "mhc-train: second signal: exiting now; the newest complete checkpoint is intact\n";
  write_stderr(second, sizeof second - 1);
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

struct TrainFlags {
  CommonFlags common;
  std::string resume_dir;
  bool overwrite = false;
};

void run_train(const TrainFlags& f) {
  CommonFlags flags = f.common;
  std::string run_dir = flags.out_dir;
  if (!f.resume_dir.empty()) {
    MHC_CHECK(run_dir.empty() || run_dir == f.resume_dir, ConfigError, "--resume ", f.resume_dir, " and --out ", run_dir,
              " name different run directories; --resume continues the run in place");
    run_dir = f.resume_dir;
    const auto resolved = std::filesystem::path(run_dir) / "config.resolved.json";
    if (flags.config_path.empty()) {
      std::error_code ec;
      MHC_CHECK(std::filesystem::is_regular_file(resolved, ec), ConfigError, "--resume ", run_dir, ": no config.resolved.json there; ",
                "is it a run directory?");
      flags.config_path = resolved.string();
    }
  }
  if (run_dir.empty()) {
    const std::string stem =
        flags.config_path.empty() ? "default" : std::filesystem::path(flags.config_path).stem().string();
    run_dir = "runs/" + stem;
  }
  std::vector<std::string> notices;
  const config::Config cfg = load_config_from_flags(flags, &notices);
  // Every rank checks before any writes: the Trainer's construction is collective, so rank 0 cannot start writing
  // the new run before the others have looked.
  if (f.overwrite) {
    if (dist::world().rank() == 0) train::clear_run_dir(run_dir);
  } else if (f.resume_dir.empty()) {
    train::check_fresh_run_dir(run_dir);
  }
  g_under_launcher.store(dist::world_is_mpi());
  g_main_thread = pthread_self();
  for (const int sig : {SIGINT, SIGTERM, SIGUSR1}) std::signal(sig, request_stop);
  train::TrainOptions opts;
  opts.run_dir = run_dir;
  opts.resume = !f.resume_dir.empty();
  opts.stop_flag = &g_stop;
  opts.step_ms = &g_step_ms;
  opts.notices = notices;
  train::Trainer trainer(cfg, opts);
  const auto result = trainer.run();
  if (result.stopped_early && dist::world().rank() == 0)
    spdlog::info("stopped by signal after step {}; resume with --resume {}", result.steps_done, run_dir);
}

}  // namespace

void register_train(CLI::App& app) {
  auto flags = std::make_shared<TrainFlags>();
  auto* train = app.add_subcommand("train", "train a model (one process, or parallel.pp x parallel.dp ranks under mpirun)");
  add_common_flags(train, flags->common);
  add_out_flag(train, flags->common, "run directory (default: runs/CONFIG_STEM, runs/default without --config)");
  train->add_option("--resume", flags->resume_dir, "continue the run in RUN_DIR bitwise from its newest checkpoint")
      ->type_name("RUN_DIR")
      ->check(non_empty_path());
  train->add_flag("--overwrite", flags->overwrite,
                  "replace the run in --out: remove its config.resolved.json, metrics.jsonl, checkpoints/, "
                  "stopped.json, trace.json and run.json first (without it, train refuses a directory holding a run)")
      ->excludes("--resume");
  train->callback([flags] { run_train(*flags); });
}

}  // namespace mhc::app
