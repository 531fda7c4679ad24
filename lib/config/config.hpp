// Run configuration: typed sections with the embedded defaults, validated JSON parsing, --set overrides, resolved dump.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "core/dtype.hpp"
#include "dist/schedule.hpp"
#include "model/connection_kind.hpp"
#include "ops/matmul.hpp"
#include "ops/mhc_coeffs.hpp"
#include "train/lr_schedule.hpp"

namespace mhc::config {

// Enum values are written in JSON as the enumerator names, except dist::ScheduleKind::one_f_one_b = "1f1b" (the
// spelling of dist::to_string). The enums of the layers that act on a value are used here directly: the mHC
// initialisation (ops::MhcInit), the GPU matmul precision (ops::MatmulPrecision), the learning-rate schedule
// (train::LrScheduleKind), the pipeline schedule (dist::ScheduleKind) and the device (Device). residual.type holds a registered connection kind
// (model/connection_kind.hpp), written in JSON as its name.
enum class HeadMerge { sum, gate };
enum class DataSource { synthetic, text, tokens };

// The synthetic task's token ids run to 239 (data/synthetic.hpp): data.source "synthetic" needs at least this vocabulary.
constexpr std::int64_t kSyntheticMinVocab = 240;

// The member initialisers are the embedded default: a tiny mHC model on the synthetic source.
// Keys, ranges and meanings: docs/config.md.
struct ModelConfig {
  std::int64_t vocab_size = 256;
  std::int64_t d_model = 128;
  std::int64_t n_blocks = 4;
  std::int64_t n_heads = 4;
  std::int64_t ffn_hidden = 352;
  std::int64_t seq_len = 128;
  bool tie_embeddings = false;
  double rope_theta = 10000.0;
};

struct ResidualConfig {
  model::ConnectionType type = model::connection_kind("mhc");  // a registered kind (model/connection_kind.hpp)
  std::int64_t n_streams = 4;  // when absent from the JSON: the type's default_streams() (1 for residual, else 4)
  std::int64_t sinkhorn_iters = 20;
  double alpha_init = 0.01;
  ops::MhcInit::Bias bias_init = ops::MhcInit::Bias::identity;
  HeadMerge head_merge = HeadMerge::sum;
  ops::MhcInit::Phi phi_init = ops::MhcInit::Phi::xavier;
};

struct DataConfig {
  DataSource source = DataSource::synthetic;
  std::string path;  // input file for text and tokens; empty for synthetic
  double val_fraction = 0.1;
  std::uint64_t seed = 1;
};

struct TrainConfig {
  std::int64_t steps = 300;
  std::int64_t micro_batch = 8;    // sequences per micro-batch
  std::int64_t micro_batches = 1;  // micro-batches per optimizer step (per data-parallel replica)
  double lr = 3e-3;
  double min_lr = 3e-4;      // when absent from the JSON: lr / 10
  std::int64_t warmup = 30;  // when absent from the JSON: steps / 10
  train::LrScheduleKind schedule = train::LrScheduleKind::cosine;
  double weight_decay = 0.1;
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double grad_clip = 1.0;  // 0 = no clipping
  std::uint64_t seed = 1;
  std::int64_t eval_every = 50;  // 0 = never evaluate
  std::int64_t eval_batches = 4;
  std::int64_t log_every = 10;
  std::int64_t diag_every = 50;  // 0 = no stability diagnostics
  Precision precision = Precision::fp32;  // bf16: mixed precision (docs/math.md), the CPU only so far
};

struct ParallelConfig {
  std::int64_t pp = 1;
  std::int64_t dp = 1;
  dist::ScheduleKind schedule = dist::ScheduleKind::one_f_one_b;
  Device device = Device::cpu;
  ops::MatmulPrecision matmul = ops::MatmulPrecision::fp32;  // GPU matrix products: exact f32, or TF32 tensor cores
  std::vector<std::int64_t> layout;  // blocks per stage, empty = even split (see resolved_layout)

  // Pipeline stages: pp for 1f1b and dualpipe, 2 * pp for dualpipev.
  std::int64_t num_stages() const;
};

struct RecomputeConfig {
  bool mhc = false;
  std::string block_layers = "auto";  // "auto" | "stage" | a positive integer as text (canonical, e.g. "2")

  // The integer when block_layers is a number; 0 for "auto" and "stage" (the caller resolves those).
  // Throws ConfigError when block_layers is none of the three forms.
  std::int64_t block_layers_value() const;
};

struct CheckpointConfig {
  std::int64_t every = 0;  // 0 = only at the end
  std::int64_t keep = 2;
};

struct Config {
  ModelConfig model;
  ResidualConfig residual;
  DataConfig data;
  TrainConfig train;
  ParallelConfig parallel;
  RecomputeConfig recompute;
  CheckpointConfig checkpoint;
};

// The embedded default (Config{}); equal to parse_config of an empty JSON object.
Config default_config();

// Reads and validates a config document; absent keys take their defaults. source names the document in errors
// (usually the file name). Throws ConfigError with one line naming the source, the full key path and the value.
Config parse_config(const nlohmann::json& j, const std::string& source);

// Reads the JSON file at path ("" = the embedded default), applies the overrides "a.b=value" in order to the
// document, then parses and validates it. Throws ConfigError. One adjustment is made instead of an error: when
// --set train.steps=N shortens the run below the document's train.warmup (and train.warmup is not set too), the
// warm-up is clamped to N and a one-line notice is appended to *notices (when given) for the caller to show.
Config load_config(const std::string& path, const std::vector<std::string>& overrides,
                   std::vector<std::string>* notices = nullptr);
// The same for a config document already in memory (e.g. the one saved in a checkpoint); source names it in errors.
Config load_config_json(nlohmann::json root, const std::string& source, const std::vector<std::string>& overrides,
                        std::vector<std::string>* notices = nullptr);

// The full resolved config with every key; parse_config(to_json(c), ...) == c.
nlohmann::json to_json(const Config& c);

// Blocks per pipeline stage: parallel.layout when given, else n_blocks split evenly over num_stages(), the first
// n_blocks % stages stages taking one block more. Valid for a config that passed validation.
std::vector<std::int64_t> resolved_layout(const Config& c);

// The JSON spelling of each enum value (dist::to_string and device_name spell the schedule and the device).
std::string to_string(ops::MhcInit::Bias v);
std::string to_string(HeadMerge v);
std::string to_string(ops::MhcInit::Phi v);
std::string to_string(DataSource v);
std::string to_string(train::LrScheduleKind v);
std::string to_string(ops::MatmulPrecision v);
std::string to_string(Precision v);

bool operator==(const ModelConfig& a, const ModelConfig& b);
bool operator==(const ResidualConfig& a, const ResidualConfig& b);
bool operator==(const DataConfig& a, const DataConfig& b);
bool operator==(const TrainConfig& a, const TrainConfig& b);
bool operator==(const ParallelConfig& a, const ParallelConfig& b);
bool operator==(const RecomputeConfig& a, const RecomputeConfig& b);
bool operator==(const CheckpointConfig& a, const CheckpointConfig& b);
bool operator==(const Config& a, const Config& b);
bool operator!=(const Config& a, const Config& b);

}  // namespace mhc::config
