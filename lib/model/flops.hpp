// Matmul FLOPs per trained token, the one count shared by `bench step` and the trainer's TFLOP/s.
#pragma once

#include "config/config.hpp"

namespace mhc::model {

// 6 x (parameters used in matrix products: every 2-D parameter but the embedding table, plus the output head when
// it is tied to the embedding) + attention 12 * n_blocks * d_model * seq_len (the PaLM / llm.c convention for MFU:
// the full T x T square, although causal attention needs about half of it).
double flops_per_token(const config::Config& cfg);

}  // namespace mhc::model
