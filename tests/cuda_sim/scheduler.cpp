// Fibers for the CUDA threads of one block (x86-64 context switch below), the __syncthreads barrier and the warp
// collectives, with CUDA's rules checked: every thread of the block reaches the same barrier, every lane named in
// a mask makes the same call with the same mask, the calling lane is in its mask, a shuffle reads only lanes of
// the mask. A violation is a SimFailure naming the threads and the call sites.
#include "scheduler.hpp"

#include <sys/mman.h>

#include <cstring>
#include <sstream>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define CUDA_SIM_ASAN 1
#endif

#if !defined(__x86_64__)
#error "the CUDA simulator's fibers switch contexts with x86-64 code"
#endif

// cuda_sim_switch(save_sp, new_sp): saves the callee-saved registers, MXCSR and the x87 control word on the current
// stack, stores the stack pointer in *save_sp, and resumes the context whose stack pointer is new_sp.
extern "C" void cuda_sim_switch(void** save_sp, void* new_sp);
asm(R"(
.text
.globl cuda_sim_switch
.type cuda_sim_switch,@function
cuda_sim_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
.size cuda_sim_switch,.-cuda_sim_switch
)");

namespace cuda_sim::detail {

namespace {

#ifdef CUDA_SIM_ASAN
constexpr std::size_t kStackBytes = std::size_t(512) << 10;  // ASan's redzones make frames larger
#else
constexpr std::size_t kStackBytes = std::size_t(128) << 10;
#endif
constexpr std::size_t kGuardBytes = 4096;

BlockScheduler* g_running = nullptr;  // the scheduler whose fibers are running (one at a time)

extern "C" [[noreturn]] void cuda_sim_fiber_entry() {
  g_running->fiber_main();
  __builtin_unreachable();
}

const char* op_name(WarpOp op) {
  switch (op) {
    case WarpOp::shfl_idx:
      return "__shfl_sync";
    case WarpOp::shfl_up:
      return "__shfl_up_sync";
    case WarpOp::shfl_down:
      return "__shfl_down_sync";
    case WarpOp::shfl_xor:
      return "__shfl_xor_sync";
    case WarpOp::ballot:
      return "__ballot_sync";
    case WarpOp::any:
      return "__any_sync";
    case WarpOp::all:
      return "__all_sync";
    case WarpOp::syncwarp:
      return "__syncwarp";
  }
  return "?";
}

std::string hex(unsigned v) {
  std::ostringstream s;
  s << "0x" << std::hex << v;
  return s.str();
}

}  // namespace

enum class FiberState { runnable, at_barrier, at_warp, exited };

struct Fiber {
  char* stack = nullptr;  // mmap'd, kGuardBytes of guard page at the low end
  void* sp = nullptr;
  void* asan_fake_stack = nullptr;
  ThreadPlace place{};
  int tid = 0;
  FiberState state = FiberState::exited;
  const char* file = "";  // the barrier or collective it waits at
  int line = 0;
  WarpOp op = WarpOp::syncwarp;
  unsigned mask = 0;
  std::uint64_t bits = 0, result = 0;
  int arg = 0, width = 32;

  Fiber() {
    void* p = mmap(nullptr, kStackBytes + kGuardBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw SimFailure("cuda_sim: cannot map a fiber stack");
    stack = static_cast<char*>(p);
    mprotect(stack, kGuardBytes, PROT_NONE);  // a stack overflow faults instead of corrupting a neighbour
  }
  ~Fiber() { munmap(stack, kStackBytes + kGuardBytes); }
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;
};

namespace {

// "__shfl_xor_sync(0xffffffff) at file:line": the collective a fiber waits in, for messages.
std::string site(const Fiber& f) {
  return std::string(op_name(f.op)) + "(" + hex(f.mask) + ") at " + f.file + ":" + std::to_string(f.line);
}

}  // namespace

BlockScheduler::BlockScheduler() = default;
BlockScheduler::~BlockScheduler() = default;

BlockScheduler& scheduler() {
  static BlockScheduler* s = new BlockScheduler();  // never destroyed: queued work may run at exit
  return *s;
}

std::string BlockScheduler::who(const Fiber& f) const {
  std::ostringstream s;
  const dim3& t = f.place.thread_idx;
  const dim3& b = f.place.block_idx;
  s << "thread (" << t.x << "," << t.y << "," << t.z << ") of block (" << b.x << "," << b.y << "," << b.z << ") [warp "
    << f.tid / 32 << " lane " << f.tid % 32 << "]";
  return s.str();
}

void BlockScheduler::fail_here(const std::string& message) const { throw SimFailure(message); }

const ThreadPlace& BlockScheduler::place() const {
  if (current_ == nullptr) throw SimFailure("cuda_sim: threadIdx/blockIdx/blockDim/gridDim used outside a kernel");
  return current_->place;
}

void BlockScheduler::prepare(Fiber& f, int tid, dim3 grid, dim3 block, dim3 block_idx) {
  f.tid = tid;
  f.place.thread_idx = dim3(static_cast<unsigned>(tid) % block.x, (static_cast<unsigned>(tid) / block.x) % block.y,
                            static_cast<unsigned>(tid) / (block.x * block.y));
  f.place.block_idx = block_idx;
  f.place.block_dim = block;
  f.place.grid_dim = grid;
  f.state = FiberState::runnable;
  f.asan_fake_stack = nullptr;
  // A frame that cuda_sim_switch "returns" into cuda_sim_fiber_entry with the stack aligned as after a call.
  auto* top = reinterpret_cast<std::uint64_t*>((reinterpret_cast<std::uintptr_t>(f.stack + kGuardBytes + kStackBytes)) &
                                               ~std::uintptr_t(15));
  std::uint64_t* sp = top;
  *--sp = 0;  // cuda_sim_fiber_entry's return address: it never returns
  *--sp = reinterpret_cast<std::uint64_t>(&cuda_sim_fiber_entry);
  for (int r = 0; r < 6; ++r) *--sp = 0;  // rbp, rbx, r12-r15
  std::uint32_t mxcsr = 0;
  std::uint16_t fpu_cw = 0;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(fpu_cw));
  --sp;
  std::memcpy(sp, &mxcsr, 4);
  std::memcpy(reinterpret_cast<char*>(sp) + 4, &fpu_cw, 2);
  f.sp = sp;
}

void BlockScheduler::switch_to(Fiber& f) {
  current_ = &f;
#ifdef CUDA_SIM_ASAN
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, f.stack + kGuardBytes, kStackBytes);
#endif
  cuda_sim_switch(&scheduler_sp_, f.sp);
#ifdef CUDA_SIM_ASAN
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
  current_ = nullptr;
}

// From the running fiber back to the scheduler; returns when the scheduler resumes the fiber.
void BlockScheduler::yield_current() {
  Fiber& f = *current_;
#ifdef CUDA_SIM_ASAN
  __sanitizer_start_switch_fiber(f.state == FiberState::exited ? nullptr : &f.asan_fake_stack, scheduler_stack_bottom_,
                                 scheduler_stack_size_);
#endif
  cuda_sim_switch(&f.sp, scheduler_sp_);
#ifdef CUDA_SIM_ASAN
  __sanitizer_finish_switch_fiber(f.asan_fake_stack, &scheduler_stack_bottom_, &scheduler_stack_size_);
#endif
}

void BlockScheduler::fiber_main() {
#ifdef CUDA_SIM_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &scheduler_stack_bottom_, &scheduler_stack_size_);
#endif
  try {
    (*body_)();
  } catch (const std::exception& e) {
    if (fiber_failure_.empty()) fiber_failure_ = e.what();
  } catch (...) {
    if (fiber_failure_.empty()) fiber_failure_ = "an unknown exception escaped a kernel thread";
  }
  current_->state = FiberState::exited;
  yield_current();
  __builtin_unreachable();
}

void BlockScheduler::syncthreads(const char* file, int line) {
  Fiber& f = *current_;
  f.state = FiberState::at_barrier;
  f.file = file;
  f.line = line;
  yield_current();
}

std::uint64_t BlockScheduler::warp_collective(WarpOp op, unsigned mask, std::uint64_t bits, int arg, int width,
                                              const char* file, int line) {
  Fiber& f = *current_;
  f.state = FiberState::at_warp;
  f.op = op;
  f.mask = mask;
  f.bits = bits;
  f.arg = arg;
  f.width = width;
  f.file = file;
  f.line = line;
  yield_current();
  return f.result;
}

void BlockScheduler::run_block(const std::function<void()>& body, dim3 grid, dim3 block, dim3 block_idx,
                               bool descending) {
  count_ = static_cast<int>(block.x * block.y * block.z);
  while (static_cast<int>(fibers_.size()) < count_) fibers_.push_back(std::make_unique<Fiber>());
  for (int t = 0; t < count_; ++t) prepare(*fibers_[static_cast<std::size_t>(t)], t, grid, block, block_idx);
  body_ = &body;
  fiber_failure_.clear();
  g_running = this;
  while (true) {
    for (int k = 0; k < count_; ++k) {
      Fiber& f = *fibers_[static_cast<std::size_t>(descending ? count_ - 1 - k : k)];
      if (f.state != FiberState::runnable) continue;
      switch_to(f);
      if (!fiber_failure_.empty()) fail_here(who(f) + ": " + fiber_failure_);
    }
    bool all_exited = true;
    for (int t = 0; t < count_; ++t)
      all_exited = all_exited && fibers_[static_cast<std::size_t>(t)]->state == FiberState::exited;
    if (all_exited) break;
    if (resolve_warps()) continue;
    fail_stuck_warp();
    resolve_barrier();
  }
  g_running = nullptr;
}

// Completes every warp collective whose lanes have all arrived. True when any fiber became runnable.
bool BlockScheduler::resolve_warps() {
  // First the calls that are wrong whatever the other lanes do.
  for (int t = 0; t < count_; ++t) {
    const Fiber& f = *fibers_[static_cast<std::size_t>(t)];
    if (f.state != FiberState::at_warp) continue;
    if (((f.mask >> (t % 32)) & 1u) == 0)
      fail_here(who(f) + " calls " + site(f) + ", a mask that does not include its own lane");
    if (f.width < 1 || f.width > 32 || (f.width & (f.width - 1)) != 0)
      fail_here(who(f) + " calls " + site(f) + " with width " + std::to_string(f.width) + " (a power of 2 up to 32)");
  }
  bool released = false;
  for (int t = 0; t < count_; ++t) {
    Fiber& f = *fibers_[static_cast<std::size_t>(t)];
    if (f.state != FiberState::at_warp) continue;
    const int lane = t % 32, base = t - lane;
    bool complete = true;
    for (int l = 0; l < 32 && complete; ++l) {
      if (((f.mask >> l) & 1u) == 0) continue;
      if (base + l >= count_)
        fail_here(who(f) + " calls " + site(f) + ", whose mask names lane " + std::to_string(l) +
                  ", which this block does not have (" + std::to_string(count_) + " threads)");
      const Fiber& g = *fibers_[static_cast<std::size_t>(base + l)];
      complete = g.state == FiberState::at_warp && g.op == f.op && g.mask == f.mask && g.width == f.width;
    }
    if (!complete) continue;
    // Every lane of the mask is here: complete the collective for all of them.
    std::uint64_t ballot = 0;
    for (int l = 0; l < 32; ++l)
      if ((f.mask >> l) & 1u) ballot |= (fibers_[static_cast<std::size_t>(base + l)]->bits & 1u) << l;
    for (int l = 0; l < 32; ++l) {
      if (((f.mask >> l) & 1u) == 0) continue;
      Fiber& g = *fibers_[static_cast<std::size_t>(base + l)];
      const int w = g.width, segment = (l / w) * w;
      int src = l;
      switch (g.op) {
        case WarpOp::shfl_idx:
          src = segment + ((g.arg % w) + w) % w;
          break;
        case WarpOp::shfl_up:
          src = l - g.arg >= segment ? l - g.arg : l;
          break;
        case WarpOp::shfl_down:
          src = l + g.arg < segment + w ? l + g.arg : l;
          break;
        case WarpOp::shfl_xor:
          src = (l ^ g.arg) < segment + w ? (l ^ g.arg) : l;
          break;
        default:
          break;
      }
      if (src < 0 || src > 31 || ((g.mask >> src) & 1u) == 0)
        fail_here(who(g) + " in " + site(f) + " reads lane " + std::to_string(src) + ", outside the mask");
      switch (g.op) {
        case WarpOp::ballot:
          g.result = ballot;
          break;
        case WarpOp::any:
          g.result = ballot != 0 ? 1 : 0;
          break;
        case WarpOp::all:
          g.result = ballot == g.mask ? 1 : 0;
          break;
        case WarpOp::syncwarp:
          g.result = 0;
          break;
        default:
          g.result = fibers_[static_cast<std::size_t>(base + src)]->bits;
          break;
      }
    }
    for (int l = 0; l < 32; ++l)
      if ((f.mask >> l) & 1u) fibers_[static_cast<std::size_t>(base + l)]->state = FiberState::runnable;
    released = true;
  }
  return released;
}

// No fiber can run and no collective can complete: names the first collective that waits for a lane that will
// never come (exited, at a barrier, or in another collective).
void BlockScheduler::fail_stuck_warp() const {
  for (int t = 0; t < count_; ++t) {
    const Fiber& f = *fibers_[static_cast<std::size_t>(t)];
    if (f.state != FiberState::at_warp) continue;
    const int base = t - t % 32;
    for (int l = 0; l < 32; ++l) {
      if (((f.mask >> l) & 1u) == 0) continue;
      const Fiber& g = *fibers_[static_cast<std::size_t>(base + l)];
      if (g.state == FiberState::exited)
        fail_here(who(f) + " waits in " + site(f) + " for lane " + std::to_string(l) + ", which has exited");
      if (g.state == FiberState::at_barrier)
        fail_here(who(f) + " waits in " + site(f) + " for lane " + std::to_string(l) +
                  ", which waits at __syncthreads at " + g.file + ":" + std::to_string(g.line));
      if (g.op != f.op || g.mask != f.mask || g.width != f.width)
        fail_here(who(f) + " waits in " + site(f) + " while lane " + std::to_string(l) + " waits in " + op_name(g.op) +
                  "(" + hex(g.mask) + ") at " + g.file + ":" + std::to_string(g.line));
    }
  }
}

// All live fibers wait at a barrier: it completes when every thread of the block waits at the same one.
void BlockScheduler::resolve_barrier() {
  const Fiber* first = nullptr;
  for (int t = 0; t < count_; ++t) {
    const Fiber& f = *fibers_[static_cast<std::size_t>(t)];
    if (f.state == FiberState::at_barrier) {
      first = &f;
      break;
    }
  }
  if (first == nullptr) fail_here("cuda_sim: internal error: no fiber can run and none waits at a barrier");
  const std::string where = std::string(first->file) + ":" + std::to_string(first->line);
  for (int t = 0; t < count_; ++t) {
    const Fiber& f = *fibers_[static_cast<std::size_t>(t)];
    if (f.state == FiberState::exited)
      fail_here("divergent __syncthreads: " + who(*first) + " waits at " + where + " but " + who(f) +
                " has exited without reaching it");
    if (std::strcmp(f.file, first->file) != 0 || f.line != first->line)
      fail_here("divergent __syncthreads: " + who(*first) + " waits at " + where + " but " + who(f) + " waits at " +
                f.file + ":" + std::to_string(f.line));
  }
  for (int t = 0; t < count_; ++t) fibers_[static_cast<std::size_t>(t)]->state = FiberState::runnable;
}

// ---- the device-side entry points of cuda_sim/device.hpp ----

const ThreadPlace& place() {
  if (g_running == nullptr) throw SimFailure("cuda_sim: threadIdx/blockIdx/blockDim/gridDim used outside a kernel");
  return g_running->place();
}

void syncthreads(const char* file, int line) { g_running->syncthreads(file, line); }

std::uint64_t warp_collective(WarpOp op, unsigned mask, std::uint64_t bits, int arg, int width, const char* file,
                              int line) {
  return g_running->warp_collective(op, mask, bits, arg, width, file, line);
}

}  // namespace cuda_sim::detail
