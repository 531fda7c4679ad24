// Runs one thread block of a simulated kernel: a fiber per CUDA thread on the calling OS thread, switched only at
// __syncthreads, warp collectives and exit, with the CUDA rules for both checked (SimFailure on a violation).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace cuda_sim::detail {

// A kernel broke a rule of the CUDA programming model (or faulted); the message says which and where.
class SimFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Fiber;

class BlockScheduler {
 public:
  BlockScheduler();
  ~BlockScheduler();
  BlockScheduler(const BlockScheduler&) = delete;
  BlockScheduler& operator=(const BlockScheduler&) = delete;

  // Runs every thread of block `block_idx` to completion. Between two synchronisation points the fibers run one
  // after another, in ascending thread order or, with `descending`, the reverse. Throws SimFailure.
  void run_block(const std::function<void()>& body, dim3 grid, dim3 block, dim3 block_idx, bool descending);

  // Called from fibers (cuda_sim/device.hpp).
  const ThreadPlace& place() const;
  void syncthreads(const char* file, int line);
  std::uint64_t warp_collective(WarpOp op, unsigned mask, std::uint64_t bits, int arg, int width, const char* file,
                                int line);

  // Fiber entry (internal).
  void fiber_main();

 private:
  void prepare(Fiber& f, int tid, dim3 grid, dim3 block, dim3 block_idx);
  void switch_to(Fiber& f);
  void yield_current();
  bool resolve_warps();
  void fail_stuck_warp() const;
  void resolve_barrier();
  [[noreturn]] void fail_here(const std::string& message) const;
  std::string who(const Fiber& f) const;

  std::vector<std::unique_ptr<Fiber>> fibers_;  // grows to the largest block; stacks are reused
  int count_ = 0;                               // threads of the running block
  Fiber* current_ = nullptr;
  const std::function<void()>* body_ = nullptr;
  void* scheduler_sp_ = nullptr;
  const void* scheduler_stack_bottom_ = nullptr;
  std::size_t scheduler_stack_size_ = 0;
  std::string fiber_failure_;  // an exception that escaped a fiber
};

// The scheduler running on this process (one block at a time, under the runtime's lock).
BlockScheduler& scheduler();

}  // namespace cuda_sim::detail
