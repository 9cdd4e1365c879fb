// CPU operator of sgz_fast::factor_net_backward, the weight gradients of SGZ's fused factor
// network for training: checks, the split into tiles, per-tile sums. The hot loop is
// kernels/factor_net_backward_kernels.cpp, one copy per CPU capability level.
//
// Tiles: column strips of at most kTileColumns, and as many row bands per strip as it takes
// to give every thread a tile. Each tile recomputes the rows and columns around it that its
// gradients depend on: 11 of the input on each side, fewer for the later layers (a 256-wide
// image in two strips computes its forward ~10% wider). Each tile sums its weight gradients
// apart; the tiles' sums are added in tile order, so a result depends on the split (the width,
// and for a batch smaller than the threads the thread count), not on the scheduling.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "../common/checks.h"
#include "cpu_dtype.h"
#include "factor_net_params.h"
#include "kernels/factor_net_backward_kernels.h"

namespace sgz {
namespace {

using cpu::NetLayer;
using cpu::NetLayerGrads;

// The widest tile: its rings (48 activation and 27 gradient rows of 32 channels over 128 + 24
// columns) take 1.6 MB in float, in a 2 MB L2; with whole 256-column rows (2.5 MB) the
// backward of a 256 x 256 batch took 112 ms on one thread against 92 for the same pixels in
// rows 128 wide (benchmarks/NOTES.md, factor_net_backward).
constexpr int64_t kTileColumns = 128;

std::vector<at::Tensor> factor_net_backward_cpu(const at::Tensor& grad_in, const at::Tensor& x,
                                                const at::Tensor& out_in,
                                                at::TensorList params_in) {
  const int64_t width = check_factor_net_backward_args(grad_in, x, out_in, params_in);
  check_cpu_float_dtype("factor_net_backward", x);
  const at::Tensor grad = grad_in.contiguous(), out = out_in.contiguous();
  const NetParams params(params_in);
  const int64_t N = x.size(0), H = x.size(2), W = x.size(3);
  std::vector<at::Tensor> result(params_in.size());
  if (x.numel() == 0) {  // no pixels: zero gradients
    for (size_t i = 0; i < result.size(); ++i) {
      result[i] = at::zeros_like(params_in[i], at::MemoryFormat::Contiguous);
    }
    return result;
  }

  const int64_t strips = ceil_div(W, kTileColumns), strip = ceil_div(W, strips);
  const int64_t threads = at::get_num_threads();
  const int64_t band = ceil_div(H, std::min(H, ceil_div(threads, N * strips)));
  const int64_t bands = ceil_div(H, band), tasks = N * bands * strips;
  // One tile's sums, per layer: dw's transpose (9 x cin), db, pw (e_conv1: its transpose), pb.
  std::vector<int64_t> offsets{0};
  for (int k = 0; k < cpu::kNetLayers; ++k) {
    const int64_t cin = params[4 * k + 2].size(1), cout = params[4 * k + 2].size(0);
    for (int64_t size : {9 * cin, cin, cout * cin, cout}) offsets.push_back(offsets.back() + size);
  }
  at::Tensor sums = at::zeros({tasks, offsets.back()}, x.options());

  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "factor_net_backward_cpu", [&] {
    using T = scalar_t;
    const auto& kernels = cpu::factor_net_backward_kernels<T>();
    const int64_t multiple = cpu::factor_net_kernels<T>().width_multiple;
    TORCH_CHECK_VALUE(width % multiple == 0,
                      "factor_net_backward on CPU needs a network width that is a multiple of ",
                      multiple, " (SGZ's is 32); got ", width);
    NetLayer<T> layers[cpu::kNetLayers];
    params.layers(layers);
    at::parallel_for(0, tasks, 1, [&](int64_t begin, int64_t end) {
      cpu::NetBackwardScratch<T> scratch(width, strip);
      for (int64_t i = begin; i < end; ++i) {
        T* base = sums[i].mutable_data_ptr<T>();
        NetLayerGrads<T> grads[cpu::kNetLayers];
        for (int k = 0; k < cpu::kNetLayers; ++k) {
          const int64_t* o = &offsets[4 * k];
          grads[k] = {base + o[0], base + o[1], base + o[2], base + o[3]};
        }
        cpu::NetTile tile{N, H, W, x.stride(0), x.stride(1), x.stride(2), x.stride(3)};
        tile.n = i / (bands * strips);
        tile.y0 = i / strips % bands * band;
        tile.y1 = std::min(H, tile.y0 + band);
        tile.x0 = i % strips * strip;
        tile.x1 = std::min(W, tile.x0 + strip);
        kernels.tile(x.const_data_ptr<T>(), out.const_data_ptr<T>(), grad.const_data_ptr<T>(),
                     layers, grads, tile, scratch);
      }
    });
  });

  at::Tensor total = sums[0];
  for (int64_t i = 1; i < tasks; ++i) total = total + sums[i];  // in tile order
  for (int k = 0; k < cpu::kNetLayers; ++k) {
    const int64_t* o = &offsets[4 * k];
    const at::Tensor& pw = params[4 * k + 2];
    const int64_t cin = pw.size(1), cout = pw.size(0);
    // Each a tensor of its own, contiguous (none a view of `total`).
    const auto part = [&](int i) { return total.slice(0, o[i], o[i + 1]); };
    const auto own = [](const at::Tensor& t) { return t.clone(at::MemoryFormat::Contiguous); };
    result[4 * k] = own(part(0).view({9, cin}).t()).view(params[4 * k].sizes());
    result[4 * k + 1] = own(part(1));
    const at::Tensor gpw = k == 0 ? part(2).view({cin, cout}).t() : part(2).view({cout, cin});
    result[4 * k + 2] = own(gpw).view(pw.sizes());
    result[4 * k + 3] = own(part(3));
  }
  return result;
}

}  // namespace
}  // namespace sgz

TORCH_LIBRARY_IMPL(sgz_fast, CPU, m) {
  m.impl("factor_net_backward", &sgz::factor_net_backward_cpu);
}
