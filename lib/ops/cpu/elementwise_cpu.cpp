// CPU element-wise loops: scaled sums and dtype conversion.
#include "ops/cpu/elementwise_cpu.hpp"

namespace mhc::ops::cpu {

template <typename T>
void axpby(T* out, T alpha, const T* a, T beta, const T* b, std::int64_t n) {
  for (std::int64_t k = 0; k < n; ++k) out[k] = alpha * a[k] + beta * b[k];
}
template void axpby<float>(float*, float, const float*, float, const float*, std::int64_t);
template void axpby<double>(double*, double, const double*, double, const double*, std::int64_t);

namespace {
double load(const Tensor& t, std::int64_t k) {
  switch (t.dtype) {
    case DType::f32: return t.ptr<float>()[k];
    case DType::f64: return t.ptr<double>()[k];
    case DType::bf16: return bf16_to_float(t.ptr<bf16_t>()[k]);
    default: throw ShapeError("convert_dtype: unsupported source dtype " + std::string(dtype_name(t.dtype)));
  }
}
void store(const Tensor& t, std::int64_t k, double v) {
  switch (t.dtype) {
    case DType::f32: t.ptr<float>()[k] = static_cast<float>(v); return;
    case DType::f64: t.ptr<double>()[k] = v; return;
    case DType::bf16: t.ptr<bf16_t>()[k] = float_to_bf16(static_cast<float>(v)); return;
    default: throw ShapeError("convert_dtype: unsupported destination dtype " + std::string(dtype_name(t.dtype)));
  }
}
}  // namespace

void widen_bf16(float* out, const bf16_t* in, std::int64_t n) {
  for (std::int64_t k = 0; k < n; ++k) out[k] = bf16_to_float(in[k]);
}

void narrow_to_bf16(bf16_t* out, const float* in, std::int64_t n) {
  for (std::int64_t k = 0; k < n; ++k) out[k] = float_to_bf16(in[k]);
}

void convert_dtype(Tensor out, Tensor in) {
  const std::int64_t n = out.numel();
  if (in.dtype == DType::bf16 && out.dtype == DType::f32) return widen_bf16(out.ptr<float>(), in.ptr<bf16_t>(), n);
  if (in.dtype == DType::f32 && out.dtype == DType::bf16) return narrow_to_bf16(out.ptr<bf16_t>(), in.ptr<float>(), n);
  for (std::int64_t k = 0; k < n; ++k) store(out, k, load(in, k));
}

}  // namespace mhc::ops::cpu
