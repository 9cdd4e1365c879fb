// CPU operators of sgz_fast::dsconv (3x3 depthwise conv, 1x1 pointwise conv, biases,
// activation) and its backward: checks, allocation and the split into parallel tasks. The hot
// loops are in kernels/dsconv_kernels.cpp, one copy per CPU capability level.
//
// Forward, per output row (one parallel task per row of N * H): the depthwise result of all
// Cin channels for the row goes to a Cin x W buffer that stays in cache, and the pointwise
// product reads it from there: the Cin x H x W depthwise intermediate is never stored. The
// inputs are read in place, channel by channel, whatever tensor of the list holds them.
//
// Backward: the depthwise result is recomputed per row, not saved (saving it would cost
// Cin x H x W values per image, e.g. 64 x 1080 x 1920 x 4 B = 530 MB for an SGZ concat layer
// at 1080p); the backward keeps the inputs and the output, which the model holds anyway.
// One parallel task per run of rows, in bands (kernels/dsconv_kernels.cpp): per band the
// gradients of the pointwise weights and biases and the gradient g_d of the depthwise result,
// then, one row behind, the input gradients (g_d through the flipped 3x3 kernel) and the
// depthwise weight gradients, from a window of g_d rows that stays in cache. A full-size g_d
// (N x Cin x H x W, 33 MB for a batch of two 64-channel 256 x 256 maps) would be written and
// read back, and as a fresh allocation of that size its pages faulted in on every call.
// Weight gradients are reduced per thread, then in thread order.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "../common/checks.h"
#include "huge_pages.h"
#include "kernels/dsconv_kernels.h"

namespace sgz {
namespace {

using cpu::Channels;
using cpu::Dims;
using cpu::RowScratch;
using cpu::WeightGrads;

constexpr int64_t kBandValues = 1024;

template <typename T>
Channels<T> channels_of(const std::vector<at::Tensor>& inputs) {
  Channels<T> ch{{}, {}, inputs[0].size(2), inputs[0].size(3)};
  for (const at::Tensor& t : inputs) {
    for (int64_t c = 0; c < t.size(1); ++c) {
      ch.base.push_back(t.const_data_ptr<T>() + c * ch.H * ch.W);
      ch.image_stride.push_back(t.size(1) * ch.H * ch.W);
    }
  }
  return ch;
}

// ---- Operators ------------------------------------------------------------------------------

std::vector<at::Tensor> contiguous_all(at::TensorList tensors) {
  std::vector<at::Tensor> out;
  for (const at::Tensor& t : tensors) out.push_back(t.contiguous());
  return out;
}

void check_cpu_dtype(const at::Tensor& t) {
  TORCH_CHECK_TYPE(t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble,
                   "dsconv on CPU supports float32 and float64; got ", t.scalar_type(),
                   " (float16 and bfloat16 run on CUDA only)");
}

at::Tensor dsconv_cpu(at::TensorList inputs_in, const at::Tensor& dw_in,
                      const std::optional<at::Tensor>& db_in, const at::Tensor& pw_in,
                      const std::optional<at::Tensor>& pb_in, c10::string_view activation) {
  const int64_t cin = check_dsconv_args(inputs_in, dw_in, db_in, pw_in, pb_in);
  const Activation act = parse_activation(activation);
  check_cpu_dtype(inputs_in[0]);
  const std::vector<at::Tensor> inputs = contiguous_all(inputs_in);
  const at::Tensor dw = dw_in.contiguous(), pw = pw_in.contiguous();
  const at::Tensor db = db_in.has_value() ? db_in->contiguous() : at::Tensor();
  const at::Tensor pb = pb_in.has_value() ? pb_in->contiguous() : at::Tensor();
  const Dims s{inputs[0].size(0), cin, pw.size(0), inputs[0].size(2), inputs[0].size(3)};
  at::Tensor out = with_huge_pages(at::empty({s.N, s.cout, s.H, s.W}, inputs[0].options()));
  if (out.numel() == 0) return out;

  AT_DISPATCH_FLOATING_TYPES(out.scalar_type(), "dsconv_cpu", [&] {
    using T = scalar_t;
    const Channels<T> ch = channels_of<T>(inputs);
    const T* dbp = db.defined() ? db.const_data_ptr<T>() : nullptr;
    const T* pbp = pb.defined() ? pb.const_data_ptr<T>() : nullptr;
    const auto& kernels = cpu::dsconv_kernels<T>();
    at::parallel_for(0, s.N * s.H, 1, [&](int64_t begin, int64_t end) {
      RowScratch<T> scratch(s, 1);
      kernels.forward_rows(ch, dw.const_data_ptr<T>(), dbp, pw.const_data_ptr<T>(), pbp,
                           out.mutable_data_ptr<T>(), s, act, scratch, begin, end);
    });
  });
  return out;
}

std::tuple<std::vector<at::Tensor>, at::Tensor, at::Tensor, at::Tensor, at::Tensor>
dsconv_backward_cpu(const at::Tensor& grad_in, const at::Tensor& out_in, at::TensorList inputs_in,
                    const at::Tensor& dw_in, const std::optional<at::Tensor>& db_in,
                    const at::Tensor& pw_in, c10::string_view activation) {
  const int64_t cin = check_dsconv_backward_args(grad_in, out_in, inputs_in, dw_in, db_in, pw_in);
  const Activation act = parse_activation(activation);
  check_cpu_dtype(inputs_in[0]);
  const std::vector<at::Tensor> inputs = contiguous_all(inputs_in);
  const at::Tensor grad = grad_in.contiguous(), out = out_in.contiguous();
  const at::Tensor dw = dw_in.contiguous(), pw = pw_in.contiguous();
  const at::Tensor db = db_in.has_value() ? db_in->contiguous() : at::Tensor();
  const Dims s{inputs[0].size(0), cin, pw.size(0), inputs[0].size(2), inputs[0].size(3)};

  std::vector<at::Tensor> grad_inputs;
  for (const at::Tensor& t : inputs) grad_inputs.push_back(with_huge_pages(at::empty_like(t)));
  at::Tensor grad_dw = at::zeros_like(dw), grad_pw = at::zeros_like(pw);
  at::Tensor grad_db = db.defined() ? at::zeros_like(db) : dw.new_empty({0});
  at::Tensor grad_pb = at::zeros({s.cout}, dw.options());
  if (s.N * s.H * s.W == 0) {
    for (at::Tensor& t : grad_inputs) t.zero_();
    return {grad_inputs, grad_dw, grad_db, grad_pw, grad_pb};
  }

  AT_DISPATCH_FLOATING_TYPES(out.scalar_type(), "dsconv_backward_cpu", [&] {
    using T = scalar_t;
    const Channels<T> ch = channels_of<T>(inputs);
    const T* dbp = db.defined() ? db.const_data_ptr<T>() : nullptr;
    std::vector<T*> gin;  // channel c of image 0 of the input gradients
    for (at::Tensor& t : grad_inputs) {
      for (int64_t c = 0; c < t.size(1); ++c)
        gin.push_back(t.mutable_data_ptr<T>() + c * s.H * s.W);
    }
    const int threads = at::get_num_threads();
    std::vector<WeightGrads<T>> per_thread(threads, WeightGrads<T>(s));
    const auto& kernels = cpu::dsconv_kernels<T>();
    // Bands of about kBandValues values per channel (at least a row): their buffers, (2 Cin +
    // Cout) x that, stay in L2, and the weight gradient's lanes are summed once per band.
    const int64_t band = std::max<int64_t>(1, std::min(s.H, kBandValues / s.W));
    at::parallel_for(0, s.N * s.H, band, [&](int64_t begin, int64_t end) {
      RowScratch<T> scratch(s, band, /*backward=*/true);
      kernels.backward_rows(ch, dw.const_data_ptr<T>(), dbp, pw.const_data_ptr<T>(),
                            grad.const_data_ptr<T>(), out.const_data_ptr<T>(), gin.data(),
                            per_thread[at::get_thread_num()], s, act, scratch, begin, end);
    });
    T* gpw = grad_pw.mutable_data_ptr<T>();
    T* gpb = grad_pb.mutable_data_ptr<T>();
    T* gdw = grad_dw.mutable_data_ptr<T>();
    for (const WeightGrads<T>& part : per_thread) {
      for (size_t i = 0; i < part.pw.size(); ++i) gpw[i] += part.pw[i];
      for (size_t i = 0; i < part.pb.size(); ++i) gpb[i] += part.pb[i];
      for (size_t i = 0; i < part.dw.size(); ++i) gdw[i] += part.dw[i];
      if (dbp == nullptr) continue;
      T* gdb = grad_db.mutable_data_ptr<T>();
      for (size_t i = 0; i < part.db.size(); ++i) gdb[i] += part.db[i];
    }
  });
  return {grad_inputs, grad_dw, grad_db, grad_pw, grad_pb};
}

}  // namespace
}  // namespace sgz

TORCH_LIBRARY_IMPL(sgz_fast, CPU, m) {
  m.impl("dsconv", &sgz::dsconv_cpu);
  m.impl("dsconv_backward", &sgz::dsconv_backward_cpu);
}
