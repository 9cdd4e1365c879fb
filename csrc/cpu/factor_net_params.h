#pragma once
// What the fused factor network's CPU operators, the forward (cpu/factor_net.cpp) and the
// backward (cpu/factor_net_backward.cpp), share: the parameters as their loops read them, and
// the tiles' arithmetic.
#include <ATen/ATen.h>

#include <vector>

#include "kernels/factor_net_kernels.h"

namespace sgz {

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// The 28 parameters, contiguous, and the two transposes the channels-last loops read as
// vectors over channels, dw as 9 x cin and pw as cin x cout, all fourteen in one buffer filled
// by plain loops: as fourteen ATen transposes and copies they took ~25 us a call, the whole op's
// time on a small image.
class NetParams {
 public:
  explicit NetParams(at::TensorList params) {
    for (const at::Tensor& p : params) params_.push_back(p.contiguous());
    int64_t total = 0;
    for (int k = 0; k < cpu::kNetLayers; ++k) {
      total += params_[4 * k].numel() + params_[4 * k + 2].numel();
    }
    transposed_ = at::empty({total}, params_[0].options());
    AT_DISPATCH_FLOATING_TYPES(transposed_.scalar_type(), "NetParams", [&] {
      scalar_t* out = transposed_.mutable_data_ptr<scalar_t>();
      for (int k = 0; k < cpu::kNetLayers; ++k) {
        const at::Tensor& dw = params_[4 * k];
        const at::Tensor& pw = params_[4 * k + 2];
        offsets_[2 * k] = out - transposed_.mutable_data_ptr<scalar_t>();
        out = transpose(dw.const_data_ptr<scalar_t>(), dw.size(0), 9, out);
        offsets_[2 * k + 1] = out - transposed_.mutable_data_ptr<scalar_t>();
        out = transpose(pw.const_data_ptr<scalar_t>(), pw.size(0), pw.size(1), out);
      }
    });
  }

  const at::Tensor& operator[](int64_t i) const { return params_[i]; }

  // layers[k] of e_conv(k + 1), pointing into these tensors.
  template <typename T>
  void layers(cpu::NetLayer<T> (&layers)[cpu::kNetLayers]) const {
    const T* transposed = transposed_.const_data_ptr<T>();
    for (int k = 0; k < cpu::kNetLayers; ++k) {
      const at::Tensor* p = &params_[4 * k];
      layers[k] = {p[0].const_data_ptr<T>(),
                   transposed + offsets_[2 * k],
                   p[1].const_data_ptr<T>(),
                   p[2].const_data_ptr<T>(),
                   transposed + offsets_[2 * k + 1],
                   p[3].const_data_ptr<T>(),
                   p[2].size(1),
                   p[2].size(0)};
    }
  }

 private:
  // out[c * rows + r] = in[r * cols + c]; returns the end of out.
  template <typename T>
  static T* transpose(const T* in, int64_t rows, int64_t cols, T* out) {
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) out[c * rows + r] = in[r * cols + c];
    }
    return out + rows * cols;
  }

  std::vector<at::Tensor> params_;
  at::Tensor transposed_;
  int64_t offsets_[2 * cpu::kNetLayers];
};

}  // namespace sgz
