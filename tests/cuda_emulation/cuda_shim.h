#pragma once
// Host stand-ins for what the kernels of csrc/cuda use from CUDA, force-included (-include)
// before them, so that their unchanged source compiles as C++ and runs on the CPU.
//
// A launch runs its blocks one after another. A block's threads are fibers (ucontext) on the
// calling thread, each running until it reaches a barrier: __syncthreads() waits for every
// thread of the block, a shuffle for the 32 lanes of its warp. Between two barriers the
// threads run one after another in an order chosen per launch (forward, reverse, or shuffled
// anew for every interval from a seed), so a missing barrier shows as a wrong result in a
// given order every time, not by luck of a scheduler. Shared arrays (SGZ_SHARED) are filled
// with NaN bytes (0xff) at the start of each block; a barrier that not every thread reaches,
// or a shuffle in a warp some of whose lanes have exited, stops the launch with an error.
#include <ucontext.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define SGZ_SHARED(type, name, dims) \
  static type name dims;             \
  ::sgz::emu::poison_shared(name, sizeof(name))

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(16) uint4 {
  unsigned x, y, z, w;
};

inline dim3 threadIdx, blockIdx, blockDim, gridDim;

inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline void __stwb(uint4* p, uint4 v) { *p = v; }

namespace sgz::emu {

enum class Order { kForward, kReverse, kShuffled };

// How the emulated device orders its threads; set from the tests (ops.cpp).
struct Schedule {
  Order order = Order::kShuffled;
  uint64_t seed = 0;
};

class Engine {
 public:
  enum class State { kRunnable, kAtBlockBarrier, kAtWarpBarrier, kDone };

  static Engine& get() {
    static Engine engine;
    return engine;
  }

  Schedule schedule;

  // Runs body() as every thread of every block of `grid`.
  void run(const dim3& grid, const dim3& block, const std::function<void()>& body) {
    gridDim = grid;
    blockDim = block;
    body_ = &body;
    for (unsigned z = 0; z < grid.z; ++z) {
      for (unsigned y = 0; y < grid.y; ++y) {
        for (unsigned x = 0; x < grid.x; ++x) {
          blockIdx = dim3(x, y, z);
          run_block(block);
          ++blocks_run_;
        }
      }
    }
  }

  void barrier(State wait) {
    fibers_[current_].state = wait;
    swapcontext(&fibers_[current_].context, &scheduler_);
  }

  unsigned thread() const { return current_; }

  std::array<uint64_t, 32>& warp_slots(unsigned warp) { return slots_[warp]; }

  void poison(void* data, size_t bytes) {
    if (std::find(poisoned_.begin(), poisoned_.end(), data) != poisoned_.end()) return;
    std::memset(data, 0xff, bytes);
    poisoned_.push_back(data);
  }

 private:
  static constexpr size_t kStackBytes = 256 * 1024;

  struct Fiber {
    ucontext_t context;
    std::vector<char> stack;
    State state;
    dim3 index;
  };

  static void entry() {
    Engine& e = get();
    (*e.body_)();
    e.fibers_[e.current_].state = State::kDone;  // then uc_link returns to the scheduler
  }

  void run_block(const dim3& block) {
    const unsigned threads = block.x * block.y * block.z;
    if (fibers_.size() < threads) fibers_.resize(threads);
    slots_.resize((threads + 31) / 32);
    poisoned_.clear();
    for (unsigned t = 0; t < threads; ++t) {
      Fiber& f = fibers_[t];
      if (f.stack.empty()) f.stack.resize(kStackBytes);
      getcontext(&f.context);
      f.context.uc_stack.ss_sp = f.stack.data();
      f.context.uc_stack.ss_size = f.stack.size();
      f.context.uc_link = &scheduler_;
      makecontext(&f.context, &Engine::entry, 0);
      f.state = State::kRunnable;
      f.index = dim3(t % block.x, t / block.x % block.y, t / (block.x * block.y));
    }
    std::vector<unsigned> order(threads);
    for (uint64_t interval = 0;; ++interval) {
      std::iota(order.begin(), order.end(), 0u);
      if (schedule.order == Order::kReverse) std::reverse(order.begin(), order.end());
      if (schedule.order == Order::kShuffled) {
        std::mt19937_64 rng(schedule.seed ^ (blocks_run_ * 0x9e3779b97f4a7c15ull) ^
                            (interval * 0xbf58476d1ce4e5b9ull));
        std::shuffle(order.begin(), order.end(), rng);
      }
      for (unsigned t : order) {
        if (fibers_[t].state != State::kRunnable) continue;
        current_ = t;
        threadIdx = fibers_[t].index;
        swapcontext(&scheduler_, &fibers_[t].context);
      }
      if (!release(threads)) return;
    }
  }

  // After every thread has stopped: lets the waiting ones on. Returns false when all are done.
  bool release(unsigned threads) {
    bool released = false, any_block = false, any_left = false;
    for (unsigned w = 0; w * 32 < threads; ++w) {
      const unsigned end = std::min(threads, (w + 1) * 32);
      unsigned at_warp = 0, done = 0;
      for (unsigned t = w * 32; t < end; ++t) {
        at_warp += fibers_[t].state == State::kAtWarpBarrier;
        done += fibers_[t].state == State::kDone;
      }
      if (at_warp > 0 && done > 0) {
        fail("a shuffle in warp " + std::to_string(w) + " whose other lanes have exited");
      }
      if (at_warp > 0 && at_warp == end - w * 32) {
        for (unsigned t = w * 32; t < end; ++t) fibers_[t].state = State::kRunnable;
        released = true;
      }
    }
    if (released) return true;
    for (unsigned t = 0; t < threads; ++t) {
      any_block |= fibers_[t].state == State::kAtBlockBarrier;
      any_left |= fibers_[t].state != State::kDone;
    }
    if (!any_left) return false;
    for (unsigned t = 0; t < threads; ++t) {
      if (fibers_[t].state == State::kAtWarpBarrier) {
        fail("thread " + std::to_string(t) + " waits at a shuffle that its warp never reaches");
      }
    }
    // Every thread left waits at __syncthreads (exited threads do not hold it up, as on
    // sm_70 and later).
    for (unsigned t = 0; t < threads; ++t) {
      if (fibers_[t].state == State::kAtBlockBarrier) fibers_[t].state = State::kRunnable;
    }
    return any_block;
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("CUDA emulation: block (" + std::to_string(blockIdx.x) + ", " +
                             std::to_string(blockIdx.y) + ", " + std::to_string(blockIdx.z) +
                             "): " + what);
  }

  ucontext_t scheduler_;
  std::vector<Fiber> fibers_;
  std::vector<std::array<uint64_t, 32>> slots_;
  std::vector<void*> poisoned_;
  const std::function<void()>* body_ = nullptr;
  unsigned current_ = 0;
  uint64_t blocks_run_ = 0;
};

inline void poison_shared(void* data, size_t bytes) { Engine::get().poison(data, bytes); }

}  // namespace sgz::emu

inline void __syncthreads() {
  sgz::emu::Engine::get().barrier(sgz::emu::Engine::State::kAtBlockBarrier);
}

// The value of lane (this lane ^ lane_mask): each lane posts its value, the warp meets, each
// reads its partner's, and the warp meets again before the slots can be reused.
template <typename T>
T __shfl_xor_sync(unsigned mask, T value, int lane_mask, int width = 32) {
  static_assert(sizeof(T) <= sizeof(uint64_t), "shuffles of up to 8 bytes");
  sgz::emu::Engine& e = sgz::emu::Engine::get();
  if (mask != 0xffffffffu || width != 32) throw std::logic_error("only full-warp shuffles");
  const unsigned t = e.thread();
  std::array<uint64_t, 32>& slots = e.warp_slots(t / 32);
  std::memcpy(&slots[t % 32], &value, sizeof(T));
  e.barrier(sgz::emu::Engine::State::kAtWarpBarrier);
  T out;
  std::memcpy(&out, &slots[(t % 32) ^ static_cast<unsigned>(lane_mask)], sizeof(T));
  e.barrier(sgz::emu::Engine::State::kAtWarpBarrier);
  return out;
}
