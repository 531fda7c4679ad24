// Matmul FLOPs per trained token, the one count shared by `bench step` and the trainer's TFLOP/s.
#pragma once

#include "config/config.hpp"

namespace mhc::model {

// 6 x (parameters used in matrix products: every 2-D parameter but the embedding table and HC's static offsets;
// HC's coefficient maps once per stream; the output head also when it is tied to the embedding) + causal attention
// 6 * n_blocks * d_model * seq_len: the scores and the weighted sum over the keys at or before each query, forward
// and backward. That is half of the PaLM / llm.c MFU convention's 12 * n_blocks * d_model * seq_len, which counts
// the full T x T square; our attention kernels skip the masked tiles.
double flops_per_token(const config::Config& cfg);

}  // namespace mhc::model
