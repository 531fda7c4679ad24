// CUDA's built-in vector types and dim3 for the CUDA simulator (same layout and alignment as CUDA's).
#pragma once

struct dim3 {
  unsigned int x = 1, y = 1, z = 1;
  constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
};
struct uint3 {
  unsigned int x, y, z;
};

#define CUDA_SIM_VECTOR2(T, name, align) \
  struct alignas(align) name {           \
    T x, y;                              \
  };                                     \
  inline name make_##name(T x, T y) { return name{x, y}; }
#define CUDA_SIM_VECTOR4(T, name, align) \
  struct alignas(align) name {           \
    T x, y, z, w;                        \
  };                                     \
  inline name make_##name(T x, T y, T z, T w) { return name{x, y, z, w}; }

CUDA_SIM_VECTOR2(float, float2, 8)
CUDA_SIM_VECTOR4(float, float4, 16)
CUDA_SIM_VECTOR2(double, double2, 16)
CUDA_SIM_VECTOR2(int, int2, 8)
CUDA_SIM_VECTOR4(int, int4, 16)
CUDA_SIM_VECTOR2(unsigned int, uint2, 8)
CUDA_SIM_VECTOR4(unsigned int, uint4, 16)
#undef CUDA_SIM_VECTOR2
#undef CUDA_SIM_VECTOR4
