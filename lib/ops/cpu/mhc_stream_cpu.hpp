// CPU fused passes of an mHC connection (contracts in ops/mhc_stream.hpp): the forward up to F's input (one GEMM,
// then the RMS, gates, Sinkhorn and pre-apply in one pass over each group of tokens) and the backward after F's
// backward (every coefficient gradient and the stream gradient in one pass, then one GEMM).
#pragma once

#include "ops/cpu/mhc_coeffs_cpu.hpp"

namespace mhc::ops::cpu {

// Raw row-major arrays of mhc_stream_forward; shapes as below.
template <typename T>
struct MhcStreamForwardArrays {
  // Outputs (overwritten).
  T* u;           // (N, C)    F's input, sum_i h_pre[i] x[i]
  T* h_pre;       // (N, n)
  T* h_post;      // (N, n)
  T* res_logits;  // (N, n, n)
  T* h_res;       // (N, n, n)
  T* proj;        // (N, K)
  T* rstd;        // (N)
  // Inputs.
  const T* x;      // (N, n, C)
  const T* phi;    // (n*C, K)
  const T* alpha;  // (3)
  const T* bias;   // (K)
};

template <typename T>
void mhc_stream_forward(const MhcStreamForwardArrays<T>& a, MhcDims d, int sinkhorn_iters, T rms_eps, T sinkhorn_eps);

// Raw row-major arrays of mhc_stream_backward; shapes with N tokens, n streams, C hidden, K = n*n + 2n.
template <typename T>
struct MhcStreamBackwardArrays {
  // Outputs (overwritten).
  T* dx;           // (N, n, C)
  T* x_coef;       // (N)       the RMS term's coefficient of x
  T* dtilde;       // (N, K)    gradient w.r.t. the pre-activations (kept for W)
  T* dh_pre;       // (N, n)
  T* dh_post;      // (N, n)
  T* dh_res;       // (N, n, n)
  T* dres_logits;  // (N, n, n)
  // Inputs.
  const T* dx_out;      // (N, n, C)
  const T* du;          // (N, C)
  const T* x;           // (N, n, C)
  const T* y;           // (N, C)
  const T* h_pre;       // (N, n)
  const T* h_post;      // (N, n)
  const T* h_res;       // (N, n, n)
  const T* res_logits;  // (N, n, n)
  const T* proj;        // (N, K)
  const T* rstd;        // (N)
  const T* phi;         // (n*C, K)
  const T* alpha;       // (3)
};

template <typename T>
void mhc_stream_backward(const MhcStreamBackwardArrays<T>& a, MhcDims d, int sinkhorn_iters, T sinkhorn_eps);

}  // namespace mhc::ops::cpu
