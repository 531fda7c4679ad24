// Every config key, declared once: one field table per section of Config, in document order (internal to lib/config).
// The tables drive reading, the single-value checks, operator== and to_json (keys.cpp); the valid keys for unknown-key
// errors and --set are to_json(default_config()) (schema.cpp). Defaults are the member initialisers in config.hpp;
// the keys' meanings and ranges: docs/config.md. Checks that involve several keys stay in validate.cpp and sizes.cpp.
#pragma once

#include <cstdint>
#include <limits>
#include <tuple>

#include "config/field.hpp"
#include "config/sizes.hpp"

namespace mhc::config::detail {

// Defaults that follow a key read before them.
std::int64_t n_streams_for_type(const ResidualConfig& r);  // the type's default_streams()
double tenth_of_lr(const TrainConfig& t);                 // lr / 10, rounded to 15 significant digits
std::int64_t tenth_of_steps(const TrainConfig& t);        // steps / 10, rounded down

inline constexpr auto kModelKeys = section(
    "model", &Config::model,
    field("vocab_size", &ModelConfig::vocab_size)
        .at_least(1)
        .at_most(std::numeric_limits<std::int32_t>::max(), "token ids are 32-bit"),
    field("d_model", &ModelConfig::d_model).at_least(1),
    field("n_blocks", &ModelConfig::n_blocks)
        .at_least(1)
        .at_most(kMaxBlocks, "8 times the deepest published Transformers"),
    field("n_heads", &ModelConfig::n_heads).at_least(1),
    field("ffn_hidden", &ModelConfig::ffn_hidden).at_least(1),
    field("seq_len", &ModelConfig::seq_len).at_least(1),
    field("tie_embeddings", &ModelConfig::tie_embeddings),
    field("rope_theta", &ModelConfig::rope_theta).positive());

inline constexpr auto kResidualKeys = section(
    "residual", &Config::residual,
    field("type", &ResidualConfig::type),
    field("n_streams", &ResidualConfig::n_streams).between(1, 8).default_from(n_streams_for_type),
    field("sinkhorn_iters", &ResidualConfig::sinkhorn_iters)
        .at_least(1)
        .at_most(kMaxSinkhornIters,
                 "Sinkhorn-Knopp converges in f32 long before; every iteration costs time in the forward and the "
                 "backward"),
    field("alpha_init", &ResidualConfig::alpha_init).non_negative(),
    field("bias_init", &ResidualConfig::bias_init),
    field("head_merge", &ResidualConfig::head_merge),
    field("phi_init", &ResidualConfig::phi_init));

inline constexpr auto kDataKeys = section(
    "data", &Config::data,
    field("source", &DataConfig::source),
    field("path", &DataConfig::path),
    field("val_fraction", &DataConfig::val_fraction).fraction(),
    field("seed", &DataConfig::seed));

inline constexpr auto kTrainKeys = section(
    "train", &Config::train,
    field("steps", &TrainConfig::steps).at_least(1),
    field("micro_batch", &TrainConfig::micro_batch).at_least(1),
    field("micro_batches", &TrainConfig::micro_batches)
        .at_least(1)
        .at_most(kMaxMicroBatches, "the pipeline schedule holds 3 instructions per micro-batch and stage"),
    field("lr", &TrainConfig::lr).positive(),
    field("min_lr", &TrainConfig::min_lr).non_negative().default_from(tenth_of_lr),
    field("warmup", &TrainConfig::warmup).at_least(0).default_from(tenth_of_steps),
    field("schedule", &TrainConfig::schedule),
    field("weight_decay", &TrainConfig::weight_decay).non_negative(),
    field("beta1", &TrainConfig::beta1).fraction(),
    field("beta2", &TrainConfig::beta2).fraction(),
    field("eps", &TrainConfig::eps).positive(),
    field("grad_clip", &TrainConfig::grad_clip).non_negative(),
    field("seed", &TrainConfig::seed),
    field("eval_every", &TrainConfig::eval_every).at_least(0),
    field("eval_batches", &TrainConfig::eval_batches).at_least(1),
    field("log_every", &TrainConfig::log_every).at_least(1),
    field("diag_every", &TrainConfig::diag_every).at_least(0),
    field("precision", &TrainConfig::precision));

inline constexpr auto kParallelKeys = section(
    "parallel", &Config::parallel,
    field("pp", &ParallelConfig::pp).at_least(1).at_most(kMaxBlocks, "every pipeline stage holds at least one block"),
    field("dp", &ParallelConfig::dp).at_least(1),
    field("schedule", &ParallelConfig::schedule),
    field("device", &ParallelConfig::device),
    field("matmul", &ParallelConfig::matmul),
    field("layout", &ParallelConfig::layout).at_least(1).at_most(kMaxBlocks, "the blocks of one stage"));

inline constexpr auto kRecomputeKeys = section(
    "recompute", &Config::recompute,
    field("mhc", &RecomputeConfig::mhc),
    field("block_layers", &RecomputeConfig::block_layers).auto_stage_or_integer());

inline constexpr auto kCheckpointKeys = section(
    "checkpoint", &Config::checkpoint,
    field("every", &CheckpointConfig::every).at_least(0),
    field("keep", &CheckpointConfig::keep).at_least(1));

// The sections in document order (the order of reading and checking).
inline constexpr auto kSections = std::make_tuple(kModelKeys, kResidualKeys, kDataKeys, kTrainKeys, kParallelKeys,
                                                  kRecomputeKeys, kCheckpointKeys);
static_assert(member_count<Config>() == std::tuple_size_v<decltype(kSections)>,
              "every section of Config needs its table in kSections");

// Calls visit(section) for each section table, in document order.
template <typename F>
void for_each_section(F&& visit) {
  std::apply([&](const auto&... section) { (visit(section), ...); }, kSections);
}

// Every key of root read into a Config (absent keys take their defaults), without validation.
Config read_keys(const json& root, const Origins& origins);

// The single-value range of every key: runs before the checks of combinations, which divide by checked sizes.
void check_key_ranges(const Config& c, const Origins& origins);

// The upper bounds of sizes and counts, with their reasons: run before the checks that multiply sizes.
void check_key_limits(const Config& c, const Origins& origins);

}  // namespace mhc::config::detail
