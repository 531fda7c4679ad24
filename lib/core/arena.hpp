// Arena: one owned allocation (host or device) carved into tensors by a bump pointer, with byte accounting.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace mhc {

// What an arena holds; reports group bytes by kind.
enum class ArenaKind : std::uint8_t { parameters, gradients, optimizer_state, activations, scratch };
std::string_view arena_kind_name(ArenaKind k);

// One tensor of an arena's layout table.
struct TensorSpec {
  std::string name;
  DType dtype = DType::f32;
  Shape shape;
};

// Every tensor starts at a multiple of this (cache lines, and 128-byte vector loads on GPUs).
constexpr std::int64_t kArenaAlignment = 256;

class Arena {
 public:
  Arena() = default;
  // Allocates capacity_bytes on `device` at once; memory is zero-filled.
  Arena(std::string name, ArenaKind kind, Device device, std::int64_t capacity_bytes);
  ~Arena();
  Arena(Arena&& o) noexcept;
  Arena& operator=(Arena&& o) noexcept;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // Bytes a layout needs, alignment padding included.
  static std::int64_t bytes_needed(const std::vector<TensorSpec>& specs);

  // Carves the next tensor; throws MemoryError naming the arena and `what` when it does not fit.
  Tensor alloc(DType dtype, Shape shape, const std::string& what);
  // Forgets every tensor carved so far (the memory stays owned); peak is kept.
  void reset() { used_ = 0; }
  // Sets every byte carved so far to zero.
  void zero_used();

  const std::string& name() const { return name_; }
  ArenaKind kind() const { return kind_; }
  Device device() const { return device_; }
  std::int64_t capacity() const { return capacity_; }
  std::int64_t used() const { return used_; }
  std::int64_t peak() const { return peak_; }

 private:
  void release() noexcept;

  std::string name_;
  ArenaKind kind_ = ArenaKind::scratch;
  Device device_ = Device::cpu;
  char* base_ = nullptr;
  std::int64_t capacity_ = 0;
  std::int64_t used_ = 0;
  std::int64_t peak_ = 0;
};

// Device memory hooks: implemented by the CUDA backend, or by a stub that throws when built without CUDA.
void* device_malloc(std::int64_t bytes);
void device_free(void* p) noexcept;
void device_memset_zero(void* p, std::int64_t bytes);

}  // namespace mhc
