// Arena allocation, carving and accounting.
#include "core/arena.hpp"

#include <cstdlib>
#include <cstring>
#include <utility>

namespace mhc {

namespace {
std::int64_t align_up(std::int64_t n) { return (n + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment; }
}  // namespace

std::string_view arena_kind_name(ArenaKind k) {
  switch (k) {
    case ArenaKind::parameters: return "parameters";
    case ArenaKind::gradients: return "gradients";
    case ArenaKind::optimizer_state: return "optimizer_state";
    case ArenaKind::activations: return "activations";
    case ArenaKind::scratch: return "scratch";
  }
  return "?";
}

Arena::Arena(std::string name, ArenaKind kind, Device device, std::int64_t capacity_bytes)
    : name_(std::move(name)), kind_(kind), device_(device), capacity_(align_up(capacity_bytes)) {
  MHC_CHECK(capacity_bytes >= 0, MemoryError, "arena '", name_, "': negative capacity ", capacity_bytes);
  if (capacity_ == 0) return;
  if (device_ == Device::cpu) {
    base_ = static_cast<char*>(std::aligned_alloc(static_cast<std::size_t>(kArenaAlignment),
                                                  static_cast<std::size_t>(capacity_)));
    MHC_CHECK(base_ != nullptr, MemoryError, "arena '", name_, "': cannot allocate ", capacity_, " host bytes");
    std::memset(base_, 0, static_cast<std::size_t>(capacity_));
  } else {
    base_ = static_cast<char*>(device_malloc(capacity_));
    device_memset_zero(base_, capacity_);
  }
}

Arena::~Arena() { release(); }

Arena::Arena(Arena&& o) noexcept { *this = std::move(o); }

Arena& Arena::operator=(Arena&& o) noexcept {
  if (this != &o) {
    release();
    name_ = std::move(o.name_);
    kind_ = o.kind_;
    device_ = o.device_;
    base_ = std::exchange(o.base_, nullptr);
    capacity_ = std::exchange(o.capacity_, 0);
    used_ = std::exchange(o.used_, 0);
    peak_ = std::exchange(o.peak_, 0);
  }
  return *this;
}

void Arena::release() noexcept {
  if (base_ == nullptr) return;
  if (device_ == Device::cpu) {
    std::free(base_);
  } else {
    device_free(base_);
  }
  base_ = nullptr;
}

std::int64_t Arena::bytes_needed(const std::vector<TensorSpec>& specs) {
  std::int64_t total = 0;
  for (const auto& s : specs) total += align_up(s.shape.numel() * dtype_size(s.dtype));
  return total;
}

Tensor Arena::alloc(DType dtype, Shape shape, const std::string& what) {
  const std::int64_t bytes = align_up(shape.numel() * dtype_size(dtype));
  MHC_CHECK(used_ + bytes <= capacity_, MemoryError, "arena '", name_, "' (", arena_kind_name(kind_), "): '", what,
            "' needs ", bytes, " bytes, ", capacity_ - used_, " of ", capacity_, " left");
  Tensor t(base_ + used_, dtype, shape, device_);
  used_ += bytes;
  if (used_ > peak_) peak_ = used_;
  return t;
}

void Arena::zero_used() {
  if (used_ == 0) return;
  if (device_ == Device::cpu) {
    std::memset(base_, 0, static_cast<std::size_t>(used_));
  } else {
    device_memset_zero(base_, used_);
  }
}

}  // namespace mhc
