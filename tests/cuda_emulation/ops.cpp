// The CUDA ops' bodies of csrc/cuda/*.cuh instantiated with an emulated device (cuda_shim.h,
// force-included), registered as torch.ops.sgz_cuda_emulation.* on CPU tensors for the tests
// (tests/test_cuda_emulation.py builds this file from the checkout's csrc).
#include <torch/library.h>

#include <cstring>
#include <limits>
#include <tuple>
#include <utility>
#include <vector>

#include "cuda/affine_uint8.cuh"
#include "cuda/colour_affine_uint8.cuh"
#include "cuda/colour_guided_coefficients.cuh"
#include "cuda/colour_guided_filter_uint8.cuh"
#include "cuda/curve_iter.cuh"
#include "cuda/curve_uint8.cuh"
#include "cuda/dsconv.cuh"
#include "cuda/factor_net.cuh"
#include "cuda/guided_coefficients.cuh"
#include "cuda/guided_inputs_uint8.cuh"
#include "cuda/loss.cuh"

namespace sgz::emu {

// What the launch code asks of the device. The defaults are an H100 SXM's (132 SMs; 2 blocks
// of the float dsconv backward per SM); the tests lower them to force grid-stride loops.
struct Limits {
  int64_t multiprocessors = 132;
  int64_t blocks_per_sm = 2;
  int64_t max_grid_y = gpu::kMaxGridY;
  int64_t max_scratch_elements = gpu::kMaxScratchElements;
};

Limits& limits() {
  static Limits l;
  return l;
}

std::vector<std::array<int64_t, 3>>& launches() {
  static std::vector<std::array<int64_t, 3>> grids;
  return grids;
}

struct EmulatedDevice {
  struct Guard {
    explicit Guard(const at::Device&) {}
  };

  // Fresh outputs hold 0xff bytes (NaN in every floating type), so an element no thread
  // writes shows.
  static at::Tensor empty(at::IntArrayRef sizes, const at::TensorOptions& options) {
    at::Tensor t = at::empty(sizes, options);
    std::memset(t.data_ptr(), 0xff, t.nbytes());
    return t;
  }

  static int64_t max_grid_y() { return limits().max_grid_y; }
  static int64_t max_scratch_elements() { return limits().max_scratch_elements; }
  static int multiprocessors() { return static_cast<int>(limits().multiprocessors); }

  template <typename... P>
  static int blocks_per_sm(void (*)(P...)) {
    return static_cast<int>(limits().blocks_per_sm);
  }

  template <typename... P, typename... A>
  static void launch(dim3 grid, void (*kernel)(P...), A&&... args) {
    TORCH_CHECK(grid.x >= 1 && grid.y >= 1 && grid.y <= gpu::kMaxGridY && grid.z >= 1,
                "CUDA emulation: invalid grid (", grid.x, ", ", grid.y, ", ", grid.z, ")");
    launches().push_back({grid.x, grid.y, grid.z});
    std::tuple<std::decay_t<P>...> params(std::forward<A>(args)...);
    Engine::get().run(grid, dim3(gpu::kThreads), [&] { std::apply(kernel, params); });
  }
};

void configure(int64_t multiprocessors, int64_t blocks_per_sm, int64_t max_grid_y,
               int64_t max_scratch_elements, c10::string_view order, int64_t seed) {
  limits() = {multiprocessors, blocks_per_sm, max_grid_y, max_scratch_elements};
  Schedule& s = Engine::get().schedule;
  if (order == "forward") {
    s.order = Order::kForward;
  } else if (order == "reverse") {
    s.order = Order::kReverse;
  } else if (order == "shuffled") {
    s.order = Order::kShuffled;
  } else {
    TORCH_CHECK_VALUE(false, "order must be forward, reverse or shuffled");
  }
  s.seed = static_cast<uint64_t>(seed);
}

// The grids launched since the last call, (count, 3), and forgets them.
at::Tensor take_launches() {
  std::vector<std::array<int64_t, 3>>& grids = launches();
  at::Tensor out = at::empty({static_cast<int64_t>(grids.size()), 3}, at::kLong);
  if (!grids.empty()) std::memcpy(out.data_ptr(), grids.data(), out.nbytes());
  grids.clear();
  return out;
}

}  // namespace sgz::emu

TORCH_LIBRARY(sgz_cuda_emulation, m) {
  m.def(
      "configure(int multiprocessors, int blocks_per_sm, int max_grid_y, "
      "int max_scratch_elements, str order, int seed) -> ()",
      &sgz::emu::configure);
  m.def("take_launches() -> Tensor", &sgz::emu::take_launches);
  m.def(
      "dsconv(Tensor[] inputs, Tensor dw_weight, Tensor? dw_bias, Tensor pw_weight, "
      "Tensor? pw_bias, str activation) -> Tensor");
  m.def(
      "dsconv_backward(Tensor grad, Tensor output, Tensor[] inputs, Tensor dw_weight, "
      "Tensor? dw_bias, Tensor pw_weight, str activation) -> "
      "(Tensor[], Tensor, Tensor, Tensor, Tensor)");
  m.def("factor_net(Tensor x, Tensor[] params) -> Tensor");
  m.def("curve_iter(Tensor x, Tensor r, int iterations) -> Tensor");
  m.def(
      "curve_iter_backward(Tensor grad, Tensor x, Tensor r, int iterations, bool need_x, "
      "bool need_r) -> (Tensor, Tensor)");
  m.def("curve_iter_uint8(Tensor frames, Tensor r, int iterations) -> Tensor");
  m.def("affine_uint8(Tensor frames, Tensor scale, Tensor offset) -> Tensor");
  m.def("guided_coefficients(Tensor guide, Tensor eps, int radius) -> (Tensor, Tensor)");
  m.def("colour_guided_coefficients(Tensor guide, Tensor eps, int radius) -> (Tensor, Tensor)");
  m.def("colour_affine_uint8(Tensor frames, Tensor a, Tensor b) -> Tensor");
  m.def(
      "colour_guided_filter_uint8(Tensor enhanced, Tensor dark, int scale, float noise, "
      "float max_gain, float[] luma, int radius) -> Tensor");
  m.def(
      "guided_inputs_uint8(Tensor enhanced, Tensor dark, int scale, float noise, float max_gain, "
      "float[] luma) -> (Tensor, Tensor)");
  m.def(
      "loss_pools(Tensor enhanced, Tensor image, int patch_size, int exposure_patch_size) -> "
      "(Tensor, Tensor, Tensor)");
  m.def(
      "loss_pools_backward(Tensor grad_spatial, Tensor grad_exposure, Tensor grad_means, "
      "int[] size, int patch_size, int exposure_patch_size) -> Tensor");
  m.def("total_variation(Tensor r) -> Tensor");
  m.def("total_variation_backward(Tensor grad, Tensor r) -> Tensor");
}

TORCH_LIBRARY_IMPL(sgz_cuda_emulation, CPU, m) {
  using sgz::emu::EmulatedDevice;
  m.impl("dsconv", &sgz::gpu::dsconv_forward<EmulatedDevice>);
  m.impl("dsconv_backward", &sgz::gpu::dsconv_backward<EmulatedDevice>);
  m.impl("factor_net", &sgz::gpu::factor_net_forward<EmulatedDevice>);
  m.impl("curve_iter", &sgz::gpu::curve_iter_forward<EmulatedDevice>);
  m.impl("curve_iter_backward", &sgz::gpu::curve_iter_backward<EmulatedDevice>);
  m.impl("curve_iter_uint8", &sgz::gpu::curve_iter_uint8_forward<EmulatedDevice>);
  m.impl("affine_uint8", &sgz::gpu::affine_uint8_forward<EmulatedDevice>);
  m.impl("guided_coefficients", &sgz::gpu::guided_coefficients_forward<EmulatedDevice>);
  m.impl("colour_guided_coefficients",
         &sgz::gpu::colour_guided_coefficients_forward<EmulatedDevice>);
  m.impl("colour_affine_uint8", &sgz::gpu::colour_affine_uint8_forward<EmulatedDevice>);
  m.impl("colour_guided_filter_uint8",
         &sgz::gpu::colour_guided_filter_uint8_forward<EmulatedDevice>);
  m.impl("guided_inputs_uint8", &sgz::gpu::guided_inputs_uint8_forward<EmulatedDevice>);
  m.impl("loss_pools", &sgz::gpu::loss_pools_forward<EmulatedDevice>);
  m.impl("loss_pools_backward", &sgz::gpu::loss_pools_backward<EmulatedDevice>);
  m.impl("total_variation", &sgz::gpu::total_variation_forward<EmulatedDevice>);
  m.impl("total_variation_backward", &sgz::gpu::total_variation_backward<EmulatedDevice>);
}
