// Size arithmetic of a config in saturating 64-bit integers: the parameter count, a lower bound of the memory a run
// needs, and the check of that bound against this machine (docs/config.md "Size limits").
#pragma once

#include <cstdint>
#include <string>

#include "config/config.hpp"

namespace mhc::config {

// No machine this trainer runs on holds more: a config whose min_run_bytes exceed it cannot be built (ConfigError).
constexpr std::int64_t kMaxRunBytes = std::int64_t{1} << 50;  // 1 PiB
// Upper bounds of counts whose tables or loops grow with them (checked with their reasons by the tables of keys.hpp).
constexpr std::int64_t kMaxBlocks = 1024;          // model.n_blocks, parallel.pp, parallel.layout entries
constexpr std::int64_t kMaxSinkhornIters = 1000;   // residual.sinkhorn_iters
constexpr std::int64_t kMaxMicroBatches = 65536;   // train.micro_batches
constexpr std::int64_t kMaxPipelineSlots = 1 << 18;  // pipeline stages x train.micro_batches

// Elements of every parameter tensor (exactly what model::model_parameter_specs lists); INT64_MAX when the count
// does not fit 64 bits.
std::int64_t parameter_count(const Config& c);

// A lower bound of the bytes one data-parallel replica holds: bytes_per_parameter per parameter (16 for training: f32
// value, gradient, two AdamW moments; 4 for eval and sample) plus the f32 logits and the two residual-stream buffers
// of one batch of `batch` sequences (held with or without recomputation); INT64_MAX when it does not fit 64 bits.
std::int64_t min_run_bytes(const Config& c, std::int64_t bytes_per_parameter, std::int64_t batch);

// This machine's physical memory in bytes (0 when unknown).
std::int64_t host_memory_bytes();

// Throws MemoryError naming the estimate and the memory there is when the largest of `pipeline_ranks` ranks' share of
// min_run_bytes (min_run_bytes / pipeline_ranks) exceeds this machine's physical memory (parallel.device "cpu") or the
// free memory of this process's GPU (local_device_index(), "cuda"); called before anything is allocated. `command`
// names the caller in the message ("train", "eval", ...); pipeline_ranks is parallel.pp for train, 1 for the commands
// that hold the whole model in one process.
void check_memory(const Config& c, const std::string& command, std::int64_t bytes_per_parameter,
                       std::int64_t batch, std::int64_t pipeline_ranks);

}  // namespace mhc::config
