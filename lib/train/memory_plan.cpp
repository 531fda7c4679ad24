// Per-rank memory plans from the schedule's instruction lists and the parameter table.
#include "train/memory_plan.hpp"

#include <set>
#include <string>

#include "model/param_specs.hpp"
#include "model/parameters.hpp"
#include "train/optimizer.hpp"

namespace mhc::train {

namespace {

// The union of the stages' parameter specs, in model_parameter_specs order.
std::vector<model::ParamSpec> held_specs(const config::Config& cfg, const std::vector<StagePlan>& stages) {
  std::set<std::string> names;
  for (const StagePlan& s : stages)
    for (const auto& spec : model::stage_parameter_specs(cfg, s.part)) names.insert(spec.name);
  std::vector<model::ParamSpec> out;
  for (auto& spec : model::model_parameter_specs(cfg))
    if (names.count(spec.name) != 0) out.push_back(std::move(spec));
  return out;
}

}  // namespace

std::vector<RankMemoryPlan> rank_memory_plans(const config::Config& cfg, const dist::Schedule& schedule) {
  const bool recompute = model::recompute_on(cfg);
  std::vector<RankMemoryPlan> plans;
  for (const auto& list : schedule) {
    RankMemoryPlan p;
    for (const auto& [stage, slots] : dist::peak_in_flight(list)) {
      StagePlan s{stage, slots, model::StagePart::of_stage(cfg, stage), 0};
      s.activation_bytes =
          slots * model::Model::predicted_activation_bytes(cfg, DType::f32, cfg.train.micro_batch, recompute, s.part);
      p.activation_bytes += s.activation_bytes;
      p.stages.push_back(s);
    }
    p.params = held_specs(cfg, p.stages);
    p.gradient_bytes = model::ParameterStore::arena_bytes(p.params, DType::f32);
    p.parameter_bytes =  // the f32 masters and, under train.precision "bf16", their bf16 copies
        p.gradient_bytes + model::ParameterStore::bf16_copy_arena_bytes(p.params, cfg, DType::f32);
    p.optimizer_bytes = AdamW::state_bytes_for(p.params, DType::f32);
    plans.push_back(std::move(p));
  }
  return plans;
}

std::vector<RankMemoryPlan> rank_memory_plans(const config::Config& cfg) {
  return rank_memory_plans(cfg, dist::build_schedule(cfg.parallel.schedule, static_cast<int>(cfg.parallel.pp),
                                                     static_cast<int>(cfg.train.micro_batches)));
}

}  // namespace mhc::train
