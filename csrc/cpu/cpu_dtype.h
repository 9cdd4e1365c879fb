#pragma once
// The dtype check of the CPU operators whose kernels are compiled for float and double only
// (the half types run on CUDA).
#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

namespace sgz {

inline void check_cpu_float_dtype(const char* op, const at::Tensor& t) {
  TORCH_CHECK_TYPE(t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble, op,
                   " on CPU supports float32 and float64; got ", t.scalar_type());
}

}  // namespace sgz
