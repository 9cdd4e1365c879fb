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
// vectors over channels: dw as 9 x cin and pw as cin x cout.
class NetParams {
 public:
  explicit NetParams(at::TensorList params) {
    for (const at::Tensor& p : params) params_.push_back(p.contiguous());
    for (int k = 0; k < cpu::kNetLayers; ++k) {
      transposed_.push_back(params_[4 * k].reshape({-1, 9}).t().contiguous());
      transposed_.push_back(params_[4 * k + 2].flatten(1).t().contiguous());
    }
  }

  const at::Tensor& operator[](int64_t i) const { return params_[i]; }

  // layers[k] of e_conv(k + 1), pointing into these tensors.
  template <typename T>
  void layers(cpu::NetLayer<T> (&layers)[cpu::kNetLayers]) const {
    for (int k = 0; k < cpu::kNetLayers; ++k) {
      const at::Tensor* p = &params_[4 * k];
      layers[k] = {p[0].const_data_ptr<T>(),
                   transposed_[2 * k].const_data_ptr<T>(),
                   p[1].const_data_ptr<T>(),
                   p[2].const_data_ptr<T>(),
                   transposed_[2 * k + 1].const_data_ptr<T>(),
                   p[3].const_data_ptr<T>(),
                   p[2].size(1),
                   p[2].size(0)};
    }
  }

 private:
  std::vector<at::Tensor> params_, transposed_;
};

}  // namespace sgz
