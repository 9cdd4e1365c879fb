// CPU operator of sgz_fast::factor_net, SGZ's seven-layer factor network fused for inference:
// checks, the split into tiles, per-thread line buffers. The hot loop is
// kernels/factor_net_kernels.cpp, one copy per CPU capability level.
//
// Tiles: column strips of about kTileColumns (the line buffers of a strip stay in L2), and as
// many row bands as it takes to give every thread a tile. A tile recomputes the halo it
// depends on (7 rows or columns on each side for e_conv1, 1 for e_conv6): on average about
// 3.3 rows or columns of each side per layer, ~5.2% of a 128-wide strip's work per inner edge.
// 128 columns keep a strip's rings (two rows a step: 48 rows) under 1 MB; 256 were no faster.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "../common/checks.h"
#include "cpu_dtype.h"
#include "factor_net_params.h"
#include "kernels/factor_net_kernels.h"

namespace sgz {
namespace {

using cpu::NetLayer;
using cpu::NetScratch;
using cpu::NetTile;

constexpr int64_t kTileColumns = 128;

at::Tensor factor_net_cpu(const at::Tensor& x_in, at::TensorList params_in) {
  const int64_t width = check_factor_net_args(x_in, params_in);
  check_cpu_float_dtype("factor_net", x_in);
  const at::Tensor& x = x_in;  // read in place, any strides
  const NetParams params(params_in);
  const int64_t N = x.size(0), H = x.size(2), W = x.size(3);
  at::Tensor out = at::empty({N, 3, H, W}, x.options());
  if (out.numel() == 0) return out;

  int64_t strips = ceil_div(W, kTileColumns);
  const int64_t threads = at::get_num_threads();
  const int64_t band = ceil_div(H, std::min(H, ceil_div(threads, N * strips)));
  const int64_t bands = ceil_div(H, band);
  // A few more strips where that makes the tiles a multiple of the threads (1920 columns on two
  // threads: 16 strips, not 15, which would keep one thread busy for a 16th of the time alone),
  // as long as strips stay kTileColumns / 2 wide or more (the halo's share stays small) and
  // none is empty.
  for (int64_t more = 0; more < threads; ++more) {
    const int64_t candidate = strips + more, width_of = ceil_div(W, candidate);
    if (width_of < kTileColumns / 2 || (candidate - 1) * width_of >= W) break;
    if (N * bands * candidate % threads == 0) {
      strips = candidate;
      break;
    }
  }
  const int64_t strip = ceil_div(W, strips), per_image = bands * strips;

  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "factor_net_cpu", [&] {
    using T = scalar_t;
    const auto& kernels = cpu::factor_net_kernels<T>();
    TORCH_CHECK_VALUE(width % kernels.width_multiple == 0,
                      "factor_net on CPU needs a network width that is a multiple of ",
                      kernels.width_multiple, " (SGZ's is 32); got ", width);
    NetLayer<T> layers[cpu::kNetLayers];
    params.layers(layers);
    at::parallel_for(0, N * per_image, 1, [&](int64_t begin, int64_t end) {
      NetScratch<T> scratch(width, strip);
      for (int64_t i = begin; i < end; ++i) {
        const int64_t n = i / per_image, b = i % per_image / strips, s = i % strips;
        NetTile tile{N, H, W, x.stride(0), x.stride(1), x.stride(2), x.stride(3)};
        tile.n = n;
        tile.y0 = b * band;
        tile.y1 = std::min(H, (b + 1) * band);
        tile.x0 = s * strip;
        tile.x1 = std::min(W, (s + 1) * strip);
        kernels.tile(x.const_data_ptr<T>(), layers, out.mutable_data_ptr<T>(), tile, scratch);
      }
    });
  });
  return out;
}

}  // namespace
}  // namespace sgz

TORCH_LIBRARY_IMPL(sgz_fast, CPU, m) { m.impl("factor_net", &sgz::factor_net_cpu); }
