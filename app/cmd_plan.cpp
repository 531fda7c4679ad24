// `mhc-train plan`: the resolved config, parameter counts per component, a static memory estimate, with
// pipeline parallelism the schedule's simulated per-rank timeline and bubble (with unit costs, and with measured
// ones when given: --costs, or a run's trace.json with --costs-from), and the command that trains it.
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "dist/calibration.hpp"
#include "dist/schedule.hpp"
#include "dist/simulator.hpp"
#include "model/model.hpp"
#include "model/param_specs.hpp"
#include "model/parameters.hpp"
#include "train/memory_plan.hpp"
#include "train/optimizer.hpp"

namespace mhc::app {

namespace {

// The flags of measured costs (plan --costs / --costs-from).
struct CostFlags {
  std::vector<double> costs_ms;  // --costs F,B,W[,comm]
  std::string trace_path;        // --costs-from RUN/trace.json
};

// Measured costs to simulate the schedule with besides the unit costs, and where they come from.
struct GivenCosts {
  dist::Calibration calibration;  // measured_bubble empty for --costs
  std::string source;
};

// The costs of the flags, checked (ConfigError naming --costs, IoError naming the trace); nullopt without either.
std::optional<GivenCosts> given_costs(const CostFlags& flags) {
  if (!flags.trace_path.empty()) {
    GivenCosts g{dist::calibrate(dist::read_chrome_trace(flags.trace_path), flags.trace_path), ""};
    g.source = "measured in " + flags.trace_path + " (median spans of every rank, " +
               std::to_string(g.calibration.steps) + " traced step(s); a receive: its shortest wait)";
    return g;
  }
  if (flags.costs_ms.empty()) return std::nullopt;
  const std::vector<double>& c = flags.costs_ms;
  if (!(c[0] > 0 && c[1] > 0 && c[2] > 0))
    throw ConfigError(detail::concat("--costs: F, B and W must be > 0 ms, got ", c[0], ",", c[1], ",", c[2]));
  GivenCosts g;
  g.calibration.costs = dist::Costs{c[0], c[1], c[2], c.size() > 3 ? c[3] : 0.0};
  g.source = "given with --costs";
  return g;
}

std::string human_bytes(std::int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", v, units[u]);
  return buf;
}

// The bubble fraction (idle time / makespan) per rank and over ranks; with `measured` (one per rank) beside it.
void print_bubble(const dist::SimResult& sim, const char* unit, const std::vector<double>& measured) {
  const bool beside = measured.size() == sim.bubble_per_rank.size();
  std::printf("bubble (time a rank does not compute / makespan %g%s):%s\n", sim.makespan, unit,
              beside ? "  simulated  measured" : "");
  double measured_sum = 0;
  for (std::size_t r = 0; r < sim.bubble_per_rank.size(); ++r) {
    std::printf("  rank %-3zu %6.3f", r, sim.bubble_per_rank[r] / sim.makespan);
    if (beside) std::printf("     %6.3f", measured[r]);
    if (beside) measured_sum += measured[r];
    std::printf("\n");
  }
  std::printf("  overall  %6.3f", sim.bubble_mean / sim.makespan);
  if (beside) std::printf("     %6.3f", measured_sum / static_cast<double>(measured.size()));
  std::printf(" (mean over ranks)\n");
  if (!measured.empty() && !beside) {
    std::printf("  measured per traced rank (the trace has %zu ranks, the schedule %zu):", measured.size(),
                sim.bubble_per_rank.size());
    for (double b : measured) std::printf(" %.3f", b);
    std::printf("\n");
  }
}

// The schedule simulated with the given costs (with a trace's measured bubble beside).
void print_calibrated(const dist::Schedule& schedule, const GivenCosts& given) {
  const dist::Costs& k = given.calibration.costs;
  const dist::SimResult sim = dist::simulate(schedule, k);
  std::printf("\n  simulated with measured costs F %.3g ms, B %.3g ms, W %.3g ms (F:B:W = 1 : %.2f : %.2f) and "
              "%.3g ms a receive,\n  %s:\n",
              k.F, k.B, k.W, k.B / k.F, k.W / k.F, k.comm, given.source.c_str());
  std::cout << dist::render_timeline(sim, k);
  print_bubble(sim, " ms", given.calibration.measured_bubble);
}

// The schedule simulated with unit costs: per-rank timeline and bubble fraction (idle time / makespan); then with
// measured costs when given.
void print_pipeline(const config::Config& cfg, const std::optional<GivenCosts>& given) {
  const auto& p = cfg.parallel;
  const dist::ScheduleKind kind = cfg.parallel.schedule;
  const int ranks = static_cast<int>(p.pp), micro_batches = static_cast<int>(cfg.train.micro_batches);
  // F, B and W cost the same: every linear layer's forward is one GEMM and its backward two of the same size, one
  // for the input gradient (B) and one for the weight gradient (W). Communication is taken as free.
  const dist::Costs costs{1.0, 1.0, 1.0, 0.0};
  const auto schedule = dist::build_schedule(kind, ranks, micro_batches);
  const dist::SimResult sim = dist::simulate(schedule, costs);
  bool two_stage_ranks = false;  // the timeline writes a rank's second stage in lower case (DualPipe, DualPipeV)
  for (const auto& list : schedule) two_stage_ranks = two_stage_ranks || dist::peak_in_flight(list).size() > 1;
  std::string layout;
  for (std::int64_t blocks : config::resolved_layout(cfg)) {
    layout += (layout.empty() ? "" : ", ") + std::to_string(blocks);
  }
  std::cout << "\npipeline schedule \"" << dist::to_string(p.schedule) << "\": " << ranks << " pipeline ranks, "
            << dist::stage_count(kind, ranks) << " stages (blocks per stage: " << layout << "), " << micro_batches
            << " micro-batches per step";
  if (p.dp > 1) std::cout << ", the same on each of the " << p.dp << " data-parallel replicas";
  std::cout << "\n  simulated with unit costs F = B = W = 1 (forward, input-gradient and weight-gradient GEMMs are "
               "equally large)\n  and communication time 0; every stage costs the same whatever its block count."
            << (two_stage_ranks ? " Lower-case: a rank's second stage." : "") << "\n"
            << dist::render_timeline(sim, costs);
  print_bubble(sim, "", {});
  if (given) print_calibrated(schedule, *given);

  // What each rank holds: its stages' parameters (fp32 values, gradients, two AdamW moments) and one activation
  // slot per micro-batch its stages keep in flight: the executor's own memory plan.
  const bool recompute = model::recompute_on(cfg);
  std::cout << "memory per rank (recompute " << (recompute ? "on" : "off") << "):\n";
  const std::vector<train::RankMemoryPlan> plans = train::rank_memory_plans(cfg, schedule);
  for (std::size_t r = 0; r < plans.size(); ++r) {
    const train::RankMemoryPlan& plan = plans[r];
    std::string stages;
    for (const train::StagePlan& s : plan.stages)
      stages += (stages.empty() ? "" : ", ") + std::to_string(s.stage) + " (" + std::to_string(s.slots) +
                " in flight)";
    std::printf("  rank %-3zu stages %s: parameters + gradients + AdamW %s, activations %s\n", r, stages.c_str(),
                human_bytes(plan.parameter_bytes + plan.gradient_bytes + plan.optimizer_bytes).c_str(),
                human_bytes(plan.activation_bytes).c_str());
  }
}

// One word for a POSIX shell: as it is when it holds no character the shell interprets, else in single quotes.
std::string shell_word(const std::string& word) {
  const char* plain = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-+=.,:/@%";
  if (!word.empty() && word.find_first_not_of(plain) == std::string::npos) return word;
  std::string quoted = "'";
  for (char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

// The command that trains this config with these flags: one process, or parallel.pp x parallel.dp MPI ranks.
std::string launch_line(const std::string& program, const CommonFlags& flags, const config::Config& cfg) {
  const std::int64_t ranks = cfg.parallel.pp * cfg.parallel.dp;
  std::string line = ranks > 1 ? "mpirun -np " + std::to_string(ranks) + " " : "";
  line += shell_word(program) + " train";
  if (!flags.config_path.empty()) line += " --config " + shell_word(flags.config_path);
  for (const std::string& set : flags.sets) line += " --set " + shell_word(set);
  if (!flags.out_dir.empty()) line += " --out " + shell_word(flags.out_dir);
  return line;
}

// f32 master parameters, f32 gradients, two f32 AdamW moments and the bf16 weight copies (the bytes their arenas
// take); the activations of one micro-batch in flight (exactly what Model::activation_bytes() measures; docs/math.md
// "Selective recomputation" and "Mixed precision"), in both precisions, the config's marked.
void print_memory(const config::Config& cfg, const std::vector<model::ParamSpec>& specs) {
  config::Config precision_cfg[2] = {cfg, cfg};
  precision_cfg[0].train.precision = Precision::fp32;
  precision_cfg[1].train.precision = Precision::bf16;
  const std::int64_t param_bytes = model::ParameterStore::arena_bytes(specs, DType::f32);
  const std::int64_t optimizer_bytes = train::AdamW::state_bytes_for(specs, DType::f32), batch = cfg.train.micro_batch;
  const std::int64_t copy_bytes = model::ParameterStore::bf16_copy_arena_bytes(specs, precision_cfg[1], DType::f32);
  std::int64_t act[2][2];  // [precision][recompute]
  for (int p = 0; p < 2; ++p)
    for (int r = 0; r < 2; ++r)
      act[p][r] = model::Model::predicted_activation_bytes(precision_cfg[p], DType::f32, batch, r == 1);
  const auto row = [](const std::string& label, std::int64_t fp32, std::int64_t bf16) {
    std::printf("  %-18s %12s %12s", label.c_str(), human_bytes(fp32).c_str(), human_bytes(bf16).c_str());
    if (fp32 > 0 && fp32 != bf16)
      std::printf("  (%+.1f%%)", 100.0 * (static_cast<double>(bf16) / static_cast<double>(fp32) - 1.0));
    std::printf("\n");
  };
  std::cout << "memory (per data-parallel replica, all stages together):\n";
  std::printf("  %-18s %12s %12s\n", "train.precision", "fp32", "bf16");
  row("parameters", param_bytes, param_bytes);
  row("bf16 weight copies", 0, copy_bytes);
  row("gradients", param_bytes, param_bytes);
  row("optimizer state", optimizer_bytes, optimizer_bytes);
  std::cout << "  activations per micro-batch of " << batch << " sequences:\n";
  row("  recompute off", act[0][0], act[1][0]);
  row("  recompute on", act[0][1], act[1][1]);
  std::cout << "    (recompute on: L_r = " << model::recompute_block_layers(cfg, 2 * cfg.model.n_blocks) << " of "
            << 2 * cfg.model.n_blocks << " residual layers, recompute.block_layers \"" << cfg.recompute.block_layers
            << "\")\n";
  const int p = cfg.train.precision == Precision::bf16 ? 1 : 0, r = model::recompute_on(cfg) ? 1 : 0;
  std::cout << "  this config: train.precision " << config::to_string(cfg.train.precision) << ", recompute "
            << (r ? "on" : "off") << ": " << human_bytes(act[p][r]) << " (" << act[p][r] << " B) of activations\n";
}

void print_plan(const config::Config& cfg, const std::string& launch, const std::optional<GivenCosts>& given) {
  std::cout << "resolved config:\n" << config::to_json(cfg).dump(2) << "\n\n";

  const auto specs = model::model_parameter_specs(cfg);
  const std::int64_t total = model::count_parameters(specs);
  std::cout << "parameters by component:\n";
  for (auto c : {model::Component::embedding, model::Component::attention, model::Component::mlp,
                 model::Component::norm, model::Component::connection, model::Component::head}) {
    const std::int64_t k = model::count_parameters(specs, c);
    std::printf("  %-12s %14lld  (%5.2f%%)\n", std::string(model::component_name(c)).c_str(),
                static_cast<long long>(k), total ? 100.0 * static_cast<double>(k) / static_cast<double>(total) : 0.0);
  }
  std::printf("  %-12s %14lld  in %zu tensors\n\n", "total", static_cast<long long>(total), specs.size());

  print_memory(cfg, specs);
  if (cfg.parallel.pp > 1) print_pipeline(cfg, given);
  std::cout << "\nlaunch: " << launch << "\n";
}

}  // namespace

void register_plan(CLI::App& app) {
  auto flags = std::make_shared<CommonFlags>();
  auto* plan = app.add_subcommand(
      "plan", "print the resolved config, parameter counts, memory estimate, pipeline timeline and launch command");
  add_common_flags(plan, *flags);
  add_out_flag(plan, *flags, "run directory to put in the launch line");
  auto given = std::make_shared<CostFlags>();
  auto* costs_opt =
      plan->add_option("--costs", given->costs_ms, "also simulate the schedule with these costs in ms: F,B,W[,receive]")
          ->delimiter(',')
          ->expected(3, 4)
          ->check(CLI::NonNegativeNumber & finite_number());
  plan->add_option("--costs-from", given->trace_path,
                   "also simulate the schedule with the costs measured in a run's trace.json, its bubble beside")
      ->check(non_empty_path())
      ->excludes(costs_opt);
  plan->callback([flags, plan, given] {
    const config::Config cfg = load_config_from_flags(*flags);
    // Checked before anything is printed, so a bad option prints its error alone.
    const std::optional<GivenCosts> costs = given_costs(*given);
    if (costs && cfg.parallel.pp == 1)
      throw ConfigError("--costs and --costs-from simulate the pipeline schedule: set parallel.pp > 1");
    print_plan(cfg, launch_line(plan->get_parent()->get_name(), *flags, cfg), costs);
  });
}

}  // namespace mhc::app
