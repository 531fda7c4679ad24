// The element-wise parts and the token sums of the dynamic Hyper-Connections coefficients on the GPU (spec 2.2),
// fp32; the products xb w, dproj w^T and xb^T dproj are GEMMs the caller runs (ops::matmul). The CPU oracles are
// ops::cpu::hc_coeffs_* (after, respectively before, their GEMMs).
//
// Shapes: N tokens, n streams (1..8), P = n + 2 projection columns per stream; proj and dproj (N, n, P); the
// parameters s (2), am (n), ar (n, n), bb (n) on the device. Every launcher is asynchronous on `stream` and throws
// DeviceError for a failed launch. Deterministic: fixed summation orders, no atomics.
#pragma once

#include <cstdint>

#include "core/stream.hpp"

namespace mhc::kernels {

// From proj: h_pre (N, n) = s_a tanh(proj[., 0]) + am, h_res (N, n, n)[t, j, i] = s_a tanh(proj[t, i, 1 + j]) +
// ar[i, j], h_post (N, n) = s_b tanh(proj[., n + 1]) + bb; all overwritten. One thread per element of proj.
void launch_hc_coeffs_forward(float* h_pre, float* h_post, float* h_res, const float* proj, const float* s,
                              const float* am, const float* ar, const float* bb, std::int64_t N, int n,
                              StreamHandle stream);

// dproj (N, n, P) (overwritten) = g * s * (1 - tanh(proj)^2) with g = dh_pre, dh_res^T resp. dh_post and s = s_a for
// the first n + 1 columns, s_b for the last. One thread per element.
void launch_hc_coeffs_dproj(float* dproj, const float* dh_pre, const float* dh_post, const float* dh_res,
                            const float* proj, const float* s, std::int64_t N, int n, StreamHandle stream);

// The token sums of the W pass (all accumulate): dam (n) += sum_t dh_pre, dar (n, n)[i, j] += sum_t dh_res[t, j, i],
// dbb (n) += sum_t dh_post, ds[0] += sum of dh_pre tanh(proj[., 0]) and dh_res^T tanh(proj[., 1..n]),
// ds[1] += sum of dh_post tanh(proj[., n + 1]). In double: per-block partial sums over fixed chunks of tokens into
// stream-ordered scratch (about min(N / 32, 256) * 2 n P doubles), then the chunks added in order; the chunking
// depends on N alone, so the bits repeat from run to run.
void launch_hc_coeffs_weight_sums(float* ds, float* dam, float* dar, float* dbb, const float* dh_pre,
                                  const float* dh_post, const float* dh_res, const float* proj, std::int64_t N, int n,
                                  StreamHandle stream);

}  // namespace mhc::kernels
