// Element types and devices of tensors, with sizes, names and bf16 conversion.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace mhc {

// f64 exists for the double-precision gradient oracle in tests; i32 holds token ids.
enum class DType : std::uint8_t { f32, bf16, f64, i32 };
enum class Device : std::uint8_t { cpu, cuda };

constexpr std::int64_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::bf16: return 2;
    case DType::f64: return 8;
    case DType::i32: return 4;
  }
  return 0;
}

constexpr std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::bf16: return "bf16";
    case DType::f64: return "f64";
    case DType::i32: return "i32";
  }
  return "?";
}

constexpr std::string_view device_name(Device d) { return d == Device::cpu ? "cpu" : "cuda"; }

// The training precision (train.precision): fp32 throughout, or bf16 mixed precision (docs/math.md, "Mixed
// precision"): bf16 matmul operands and sublayer activations, fp32 master weights, statistics and coefficient path.
enum class Precision : std::uint8_t { fp32, bf16 };

// The dtype of the tensors `precision` narrows, in a model computing in `wide` (f32, or f64 for the gradient
// oracle, which stays f64 throughout).
constexpr DType narrow_dtype(Precision precision, DType wide) {
  return precision == Precision::bf16 && wide == DType::f32 ? DType::bf16 : wide;
}

// The dtype an op computes a tensor of dtype t in: bf16 is loaded into f32.
constexpr DType compute_dtype(DType t) { return t == DType::bf16 ? DType::f32 : t; }

// Maps a C++ element type to its DType (used by checked typed accessors).
template <typename T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::f32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::f64; };
template <> struct dtype_of<std::int32_t> { static constexpr DType value = DType::i32; };

// bfloat16 storage: the top 16 bits of an IEEE float, rounded to nearest even.
struct bf16_t {
  std::uint16_t bits;
};
template <> struct dtype_of<bf16_t> { static constexpr DType value = DType::bf16; };

inline bf16_t float_to_bf16(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu)) return bf16_t{static_cast<std::uint16_t>((u >> 16) | 0x40)};  // quiet NaN
  const std::uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
  return bf16_t{static_cast<std::uint16_t>((u + rounding) >> 16)};
}

inline float bf16_to_float(bf16_t b) {
  const std::uint32_t u = static_cast<std::uint32_t>(b.bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

}  // namespace mhc
