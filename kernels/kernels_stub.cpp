// The kernel launchers of a build without CUDA: the same API as kernels/*.cu, each throwing DeviceError. Op entry
// points reject CUDA tensors in such a build before reaching a launcher (ops::on_cuda), so these are reached only by
// direct callers; they exist so that lib/ops links the same way with or without CUDA (no #ifdef there).
#include "core/error.hpp"
#include "kernels/adamw.hpp"
#include "kernels/attention.hpp"
#include "kernels/cross_entropy.hpp"
#include "kernels/elementwise.hpp"
#include "kernels/embedding.hpp"
#include "kernels/grad_norm.hpp"
#include "kernels/hc_coeffs.hpp"
#include "kernels/head_merge.hpp"
#include "kernels/matmul_cublaslt.hpp"
#include "kernels/mhc_coeffs.hpp"
#include "kernels/mhc_projection.hpp"
#include "kernels/rmsnorm.hpp"
#include "kernels/rope.hpp"
#include "kernels/sinkhorn.hpp"
#include "kernels/stream_mix.hpp"
#include "kernels/swiglu.hpp"

namespace mhc::kernels {

namespace {
[[noreturn]] void no_cuda(const char* launcher) {
  throw DeviceError(detail::concat(launcher, ": this build has no CUDA backend (configure with -DMHC_CUDA=ON)"));
}
}  // namespace

void launch_adamw_step(float*, const float*, float*, float*, std::int64_t, const ops::cpu::AdamWScalars&,
                       StreamHandle) {
  no_cuda("launch_adamw_step");
}

void launch_attention_forward(float*, float*, const float*, const float*, const float*, std::int64_t, std::int64_t,
                              std::int64_t, std::int64_t, StreamHandle) {
  no_cuda("launch_attention_forward");
}

void launch_attention_backward(float*, float*, float*, const float*, const float*, const float*, const float*,
                               const float*, const float*, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                               StreamHandle) {
  no_cuda("launch_attention_backward");
}

void launch_softmax_xent_forward(float*, float*, const float*, const std::int32_t*, std::int64_t, std::int64_t,
                                 StreamHandle) {
  no_cuda("launch_softmax_xent_forward");
}

void launch_softmax_xent_backward(float*, const float*, const float*, const std::int32_t*, std::int64_t, std::int64_t,
                                  double, StreamHandle) {
  no_cuda("launch_softmax_xent_backward");
}

void launch_axpby(float*, float, const float*, float, const float*, std::int64_t, StreamHandle) {
  no_cuda("launch_axpby");
}

void launch_embedding_forward(float*, const std::int32_t*, const float*, std::int64_t, std::int64_t, StreamHandle) {
  no_cuda("launch_embedding_forward");
}

void launch_embedding_backward_weight(float*, const float*, const std::int32_t*, std::int64_t, std::int64_t,
                                      std::int64_t, StreamHandle) {
  no_cuda("launch_embedding_backward_weight");
}

std::vector<double> sum_squares_each(const std::vector<const float*>&, const std::vector<std::int64_t>&, StreamHandle) {
  no_cuda("sum_squares_each");
}

void launch_scale_inplace(float*, float, std::int64_t, StreamHandle) {
  no_cuda("launch_scale_inplace");
}

void launch_hc_coeffs_forward(float*, float*, float*, const float*, const float*, const float*, const float*,
                              const float*, std::int64_t, int, StreamHandle) {
  no_cuda("launch_hc_coeffs_forward");
}

void launch_hc_coeffs_dproj(float*, const float*, const float*, const float*, const float*, const float*, std::int64_t,
                            int, StreamHandle) {
  no_cuda("launch_hc_coeffs_dproj");
}

void launch_hc_coeffs_weight_sums(float*, float*, float*, float*, const float*, const float*, const float*,
                                  const float*, std::int64_t, int, StreamHandle) {
  no_cuda("launch_hc_coeffs_weight_sums");
}

void launch_stream_sum_forward(float*, const float*, std::int64_t, int, std::int64_t, StreamHandle) {
  no_cuda("launch_stream_sum_forward");
}

void launch_stream_sum_backward(float*, const float*, std::int64_t, int, std::int64_t, StreamHandle) {
  no_cuda("launch_stream_sum_backward");
}

void launch_head_merge_gate_forward(float*, float*, float*, const float*, const float*, const float*, const float*,
                                    std::int64_t, int, std::int64_t, double, float, StreamHandle) {
  no_cuda("launch_head_merge_gate_forward");
}

void launch_head_merge_gate_backward_input(float*, float*, float*, const float*, const float*, const float*,
                                           const float*, const float*, const float*, std::int64_t, int, std::int64_t,
                                           float, StreamHandle) {
  no_cuda("launch_head_merge_gate_backward_input");
}

void launch_head_merge_gate_weight_sums(float*, float*, float*, const float*, const float*, const float*, const float*,
                                        std::int64_t, int, StreamHandle) {
  no_cuda("launch_head_merge_gate_weight_sums");
}

void matmul_f32(float*, const float*, const float*, std::int64_t, std::int64_t, std::int64_t, bool, bool, float, float,
                StreamHandle) {
  no_cuda("matmul_f32");
}

void set_matmul_tf32(bool enabled) {
  MHC_CHECK(!enabled, DeviceError, "TF32 matrix products need the CUDA backend; this build has none");
}

void launch_mhc_gates_forward(float*, float*, float*, float*, const float*, const float*, const float*, const float*,
                              std::int64_t, int, int, StreamHandle) {
  no_cuda("launch_mhc_gates_forward");
}

void launch_mhc_gates_backward(float*, const float*, const float*, const float*, const float*, const float*,
                               std::int64_t, int, StreamHandle) {
  no_cuda("launch_mhc_gates_backward");
}

void launch_mhc_projection_forward(float*, float*, const float*, const float*, std::int64_t, int, std::int64_t, float,
                                   StreamHandle) {
  no_cuda("launch_mhc_projection_forward");
}

void launch_mhc_projection_backward_input(float*, float*, const float*, const float*, const float*, const float*,
                                          const float*, std::int64_t, int, std::int64_t, StreamHandle) {
  no_cuda("launch_mhc_projection_backward_input");
}

void launch_mhc_projection_backward_weight(float*, float*, float*, const float*, const float*, const float*,
                                           const float*, const float*, std::int64_t, int, std::int64_t, StreamHandle) {
  no_cuda("launch_mhc_projection_backward_weight");
}

void launch_rmsnorm_forward(float*, float*, const float*, const float*, std::int64_t, std::int64_t, double,
                            StreamHandle) {
  no_cuda("launch_rmsnorm_forward");
}

void launch_rmsnorm_backward_input(float*, const float*, const float*, const float*, const float*, std::int64_t,
                                   std::int64_t, StreamHandle) {
  no_cuda("launch_rmsnorm_backward_input");
}

void launch_rmsnorm_backward_weight(float*, const float*, const float*, const float*, std::int64_t, std::int64_t,
                                    StreamHandle) {
  no_cuda("launch_rmsnorm_backward_weight");
}

void launch_rope_rotate(float*, const float*, std::int64_t, std::int64_t, std::int64_t, std::int64_t, double, bool,
                        StreamHandle) {
  no_cuda("launch_rope_rotate");
}

void launch_sinkhorn_forward(float*, const float*, std::int64_t, int, int, StreamHandle) {
  no_cuda("launch_sinkhorn_forward");
}

void launch_sinkhorn_backward(float*, const float*, const float*, std::int64_t, int, int, StreamHandle) {
  no_cuda("launch_sinkhorn_backward");
}

void launch_stream_post_res_forward(float*, const float*, const float*, const float*, const float*, std::int64_t, int,
                                    std::int64_t, StreamHandle) {
  no_cuda("launch_stream_post_res_forward");
}

void launch_stream_pre_apply_forward(float*, const float*, const float*, std::int64_t, int, std::int64_t,
                                     StreamHandle) {
  no_cuda("launch_stream_pre_apply_forward");
}

void launch_stream_pre_apply_backward(float*, const float*, const float*, std::int64_t, int, std::int64_t,
                                      StreamHandle) {
  no_cuda("launch_stream_pre_apply_backward");
}

void launch_stream_post_res_backward(float*, float*, float*, const float*, const float*, const float*, const float*,
                                     std::int64_t, int, std::int64_t, StreamHandle) {
  no_cuda("launch_stream_post_res_backward");
}

void launch_stream_mix_backward(float*, const float*, const float*, const float*, const float*, const float*,
                                const float*, std::int64_t, int, std::int64_t, StreamHandle) {
  no_cuda("launch_stream_mix_backward");
}

void launch_swiglu_forward(float*, const float*, const float*, std::int64_t, StreamHandle) {
  no_cuda("launch_swiglu_forward");
}

void launch_swiglu_backward(float*, float*, const float*, const float*, const float*, std::int64_t, StreamHandle) {
  no_cuda("launch_swiglu_backward");
}

}  // namespace mhc::kernels
