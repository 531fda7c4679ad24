// The mHC connection's stream passes as two ops: the forward up to F's input (coefficients, Sinkhorn, pre-apply) and
// B after F's backward (all coefficient gradients and the stream gradient dx).
#pragma once

#include "core/tensor.hpp"

namespace mhc::ops {

// Tensors of mhc_stream_forward (N tokens, n streams, C hidden, K = n*n + 2n; one dtype on one device).
struct MhcStreamForward {
  // Outputs, overwritten.
  Tensor u;           // (N, C) F's input sum_i h_pre[i] x[i]
  Tensor h_pre;       // (N, n)
  Tensor h_post;      // (N, n)
  Tensor res_logits;  // (N, n, n)
  Tensor h_res;       // (N, n, n)
  Tensor proj;        // (N, K) saved for the backward
  Tensor rstd;        // (N) saved for the backward
  // Inputs.
  Tensor x;      // (N, n, C) the connection's input
  Tensor phi;    // (n*C, K)
  Tensor alpha;  // (3)
  Tensor bias;   // (K)
};

// The results of ops::mhc_coeffs_sinkhorn_forward and then ops::stream_pre_apply_forward(u, x, h_pre), bitwise. On
// the CPU: the projection GEMM, then one pass over each group of tokens (rstd, gates, Sinkhorn, u) that reads x
// once more instead of twice; on CUDA those two ops.
void mhc_stream_forward(const MhcStreamForward& a, int sinkhorn_iters);

// Tensors of mhc_stream_backward (N tokens, n streams, C hidden, K = n*n + 2n; one dtype on one device).
struct MhcStreamBackward {
  // Outputs, overwritten.
  Tensor dx;           // (N, n, C) gradient w.r.t. the connection's input x
  Tensor x_coef;       // (N) the RMS term's coefficient of x (scratch for the caller)
  Tensor dtilde;       // (N, K) gradient w.r.t. the pre-activations, kept for W (ops::mhc_coeffs_backward_weight)
  Tensor dh_pre;       // (N, n)
  Tensor dh_post;      // (N, n)
  Tensor dh_res;       // (N, n, n)
  Tensor dres_logits;  // (N, n, n)
  // Inputs.
  Tensor dx_out;      // (N, n, C) gradient w.r.t. the connection's output
  Tensor du;          // (N, C) gradient w.r.t. F's input u = H_pre x (from F's backward)
  Tensor x;           // (N, n, C) saved input
  Tensor y;           // (N, C) saved F output
  Tensor h_pre;       // (N, n)
  Tensor h_post;      // (N, n)
  Tensor h_res;       // (N, n, n)
  Tensor res_logits;  // (N, n, n)
  Tensor proj;        // (N, K) saved
  Tensor rstd;        // (N) saved
  Tensor phi;         // (n*C, K)
  Tensor alpha;       // (3)
};

// Everything of the mHC backward except dy (ops::stream_post_res_backward with the coefficient outputs undefined)
// and F's own backward, with exactly the results of this sequence of ops:
//   stream_post_res_backward (dh_res, dh_post), stream_pre_apply_backward (dh_pre), sinkhorn_backward (dres_logits),
//   mhc_coeffs_backward_input (dtilde, dx = dproj phi^T, x_coef), stream_mix_backward (dx += the stream terms)
// up to the order of the last addition to dx. On the CPU it is one pass over each group of tokens while its blocks
// are in cache and then one GEMM (dx, dx_out and x are read once instead of two or three times); on CUDA it runs
// that sequence of kernels. dx must not alias dx_out.
void mhc_stream_backward(const MhcStreamBackward& a, int sinkhorn_iters);

}  // namespace mhc::ops
