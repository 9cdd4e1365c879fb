#pragma once
#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>
#include <c10/util/string_view.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dsconv.h"

namespace sgz {

// Argument checks shared by the CPU and CUDA kernels of curve_iter (and its backward). The
// Python mirror, sgz_fast/_checks.py, serves the reference and the fake kernels.
inline void check_curve_args(const at::Tensor& x, const at::Tensor& r, int64_t iterations) {
  TORCH_CHECK_VALUE(x.dim() == 4, "curve_iter: x must be a 4-D tensor (N, C, H, W); got ", x.dim(),
                    "-D with shape ", x.sizes());
  TORCH_CHECK_VALUE(r.dim() == 4, "curve_iter: r must be a 4-D tensor (N, C, h, w); got ", r.dim(),
                    "-D with shape ", r.sizes());
  TORCH_CHECK_VALUE(r.size(0) == x.size(0) && r.size(1) == x.size(1),
                    "curve_iter: r must have x's batch and channel sizes: expected (", x.size(0),
                    ", ", x.size(1), ", h, w), got ", r.sizes());
  TORCH_CHECK_VALUE(r.size(2) <= x.size(2) && r.size(3) <= x.size(3), "curve_iter: r (", r.size(2),
                    "x", r.size(3), ") must not be larger than x (", x.size(2), "x", x.size(3),
                    "): r is upsampled to x's size");
  TORCH_CHECK_VALUE(x.numel() == 0 || (r.size(2) > 0 && r.size(3) > 0),
                    "curve_iter: r must have at least one pixel per plane; got shape ", r.sizes());
  TORCH_CHECK_TYPE(at::isFloatingType(x.scalar_type()),
                   "curve_iter: x must be a floating-point tensor; got ", x.scalar_type());
  TORCH_CHECK_TYPE(r.scalar_type() == x.scalar_type(), "curve_iter: r must have x's dtype (",
                   x.scalar_type(), "); got ", r.scalar_type());
  TORCH_CHECK_VALUE(r.device() == x.device(),
                    "curve_iter: x and r must be on the same device; x is on ", x.device(),
                    ", r is on ", r.device());
  TORCH_CHECK_VALUE(iterations >= 0, "curve_iter: iterations must be >= 0; got ", iterations);
}

inline void check_curve_backward_args(const at::Tensor& grad, const at::Tensor& x,
                                      const at::Tensor& r, int64_t iterations) {
  check_curve_args(x, r, iterations);
  TORCH_CHECK_VALUE(grad.sizes() == x.sizes(), "curve_iter_backward: grad must have x's shape ",
                    x.sizes(), "; got ", grad.sizes());
  TORCH_CHECK_TYPE(grad.scalar_type() == x.scalar_type(),
                   "curve_iter_backward: grad must have x's dtype (", x.scalar_type(), "); got ",
                   grad.scalar_type());
  TORCH_CHECK_VALUE(grad.device() == x.device(),
                    "curve_iter_backward: grad must be on x's device (", x.device(), "); got ",
                    grad.device());
}

// The 8-bit frame ops: frames (N, H, W, C) uint8 as decoders give them, and per-channel maps
// (N, C, h, w) float32 at most the frames' size, upsampled by the kernels.
inline void check_frames_uint8(const char* op, const at::Tensor& frames,
                               const char* name = "frames") {
  TORCH_CHECK_TYPE(frames.dim() == 4 && frames.scalar_type() == at::kByte, op, ": ", name,
                   " must be a 4-D uint8 tensor (N, H, W, C); got ", frames.scalar_type(),
                   " with shape ", frames.sizes());
}

inline void check_frame_map(const char* op, const char* name, const at::Tensor& frames,
                            const at::Tensor& map) {
  TORCH_CHECK_TYPE(map.dim() == 4 && map.scalar_type() == at::kFloat, op, ": ", name,
                   " must be a 4-D float32 tensor (N, C, h, w); got ", map.scalar_type(),
                   " with shape ", map.sizes());
  TORCH_CHECK_VALUE(map.size(0) == frames.size(0) && map.size(1) == frames.size(3), op, ": ", name,
                    " must have the frames' batch and channel sizes: expected (", frames.size(0),
                    ", ", frames.size(3), ", h, w), got ", map.sizes());
  TORCH_CHECK_VALUE(map.size(2) <= frames.size(1) && map.size(3) <= frames.size(2), op, ": ", name,
                    " (", map.size(2), "x", map.size(3), ") must not be larger than the frames (",
                    frames.size(1), "x", frames.size(2), ")");
  TORCH_CHECK_VALUE(frames.numel() == 0 || (map.size(2) > 0 && map.size(3) > 0), op, ": ", name,
                    " must have at least one pixel per plane; got shape ", map.sizes());
  TORCH_CHECK_VALUE(map.device() == frames.device(), op, ": frames and ", name,
                    " must be on the same device; frames are on ", frames.device(), ", ", name,
                    " is on ", map.device());
}

// curve_iter_uint8: the factors r are the frames' map.
inline void check_curve_uint8_args(const at::Tensor& frames, const at::Tensor& r,
                                   int64_t iterations) {
  check_frames_uint8("curve_iter_uint8", frames);
  check_frame_map("curve_iter_uint8", "r", frames, r);
  TORCH_CHECK_VALUE(iterations >= 0, "curve_iter_uint8: iterations must be >= 0; got ", iterations);
}

// affine_uint8: scale and offset, maps of one shape.
inline void check_affine_uint8_args(const at::Tensor& frames, const at::Tensor& scale,
                                    const at::Tensor& offset) {
  check_frames_uint8("affine_uint8", frames);
  check_frame_map("affine_uint8", "scale", frames, scale);
  check_frame_map("affine_uint8", "offset", frames, offset);
  TORCH_CHECK_VALUE(offset.sizes() == scale.sizes(),
                    "affine_uint8: offset must have scale's shape ", scale.sizes(), "; got ",
                    offset.sizes());
}

// guided_coefficients: a float32 guide (N, C, h, w), eps (N, 1, h, w) shared by its channels.
inline void check_guided_coefficients_args(const at::Tensor& guide, const at::Tensor& eps,
                                           int64_t radius, const char* op = "guided_coefficients") {
  TORCH_CHECK_TYPE(guide.dim() == 4 && guide.scalar_type() == at::kFloat, op,
                   ": guide must be a 4-D float32 tensor (N, C, h, w); got ", guide.scalar_type(),
                   " with shape ", guide.sizes());
  TORCH_CHECK_TYPE(eps.dim() == 4 && eps.scalar_type() == at::kFloat, op,
                   ": eps must be a 4-D float32 tensor (N, 1, h, w); got ", eps.scalar_type(),
                   " with shape ", eps.sizes());
  TORCH_CHECK_VALUE(eps.size(0) == guide.size(0) && eps.size(1) == 1 &&
                        eps.size(2) == guide.size(2) && eps.size(3) == guide.size(3),
                    op,
                    ": eps must be (N, 1, h, w) with the guide's N, h and w: "
                    "expected (",
                    guide.size(0), ", 1, ", guide.size(2), ", ", guide.size(3), "), got ",
                    eps.sizes());
  TORCH_CHECK_VALUE(eps.device() == guide.device(), op,
                    ": guide and eps must be on the same device; guide is on ", guide.device(),
                    ", eps is on ", eps.device());
  TORCH_CHECK_VALUE(radius >= 0, op, ": radius must be >= 0; got ", radius);
}

// colour_guided_coefficients: the guided_coefficients checks, and a guide of 3 channels.
inline void check_colour_guided_coefficients_args(const at::Tensor& guide, const at::Tensor& eps,
                                                  int64_t radius) {
  check_guided_coefficients_args(guide, eps, radius, "colour_guided_coefficients");
  TORCH_CHECK_VALUE(guide.size(1) == 3,
                    "colour_guided_coefficients: guide must have 3 channels (N, 3, h, w); got ",
                    guide.sizes());
}

// colour_affine_uint8: 3-channel frames, a (N, 6, h, w) and b (N, 3, h, w) maps of one size.
inline void check_colour_affine_uint8_args(const at::Tensor& frames, const at::Tensor& a,
                                           const at::Tensor& b) {
  const char* op = "colour_affine_uint8";
  check_frames_uint8(op, frames);
  TORCH_CHECK_VALUE(frames.size(3) == 3, op, ": frames must have 3 channels (N, H, W, 3); got ",
                    frames.sizes());
  check_frame_map(op, "b", frames, b);
  TORCH_CHECK_TYPE(a.dim() == 4 && a.scalar_type() == at::kFloat, op,
                   ": a must be a 4-D float32 tensor (N, 6, h, w); got ", a.scalar_type(),
                   " with shape ", a.sizes());
  TORCH_CHECK_VALUE(
      a.size(0) == b.size(0) && a.size(1) == 6 && a.size(2) == b.size(2) && a.size(3) == b.size(3),
      op, ": a must be (N, 6, h, w) with b's N, h and w: expected (", b.size(0), ", 6, ", b.size(2),
      ", ", b.size(3), "), got ", a.sizes());
  TORCH_CHECK_VALUE(a.device() == frames.device(), op,
                    ": frames and a must be on the same device; frames are on ", frames.device(),
                    ", a is on ", a.device());
}

// guided_inputs_uint8: two frames of one shape, area means of scale x scale pixels.
inline void check_guided_inputs_uint8_args(const at::Tensor& enhanced, const at::Tensor& dark,
                                           int64_t scale, double noise, double max_gain,
                                           at::ArrayRef<double> luma,
                                           const char* op = "guided_inputs_uint8") {
  check_frames_uint8(op, enhanced);
  check_frames_uint8(op, dark, "dark");
  TORCH_CHECK_VALUE(dark.sizes() == enhanced.sizes(), op, ": dark must have the frames' shape ",
                    enhanced.sizes(), "; got ", dark.sizes());
  TORCH_CHECK_VALUE(dark.device() == enhanced.device(), op,
                    ": frames and dark must be on the same device; frames "
                    "are on ",
                    enhanced.device(), ", dark is on ", dark.device());
  TORCH_CHECK_VALUE(scale >= 1, op, ": scale must be >= 1; got ", scale);
  TORCH_CHECK_VALUE(
      enhanced.numel() == 0 || (scale <= enhanced.size(1) && scale <= enhanced.size(2)), op,
      ": scale ", scale, " is larger than the frames (", enhanced.size(1), "x", enhanced.size(2),
      ")");
  TORCH_CHECK_VALUE(noise >= 0, op, ": noise must be >= 0; got ", noise);
  TORCH_CHECK_VALUE(max_gain >= 1, op, ": max_gain must be >= 1; got ", max_gain);
  TORCH_CHECK_VALUE(static_cast<int64_t>(luma.size()) == enhanced.size(3), op,
                    ": luma must have one weight per channel (", enhanced.size(3), "); got ",
                    luma.size());
}

// colour_guided_filter_uint8: guided_inputs_uint8's arguments for 3-channel frames, and the
// window's radius.
inline void check_colour_guided_filter_uint8_args(const at::Tensor& enhanced,
                                                  const at::Tensor& dark, int64_t scale,
                                                  double noise, double max_gain,
                                                  at::ArrayRef<double> luma, int64_t radius) {
  const char* op = "colour_guided_filter_uint8";
  check_guided_inputs_uint8_args(enhanced, dark, scale, noise, max_gain, luma, op);
  TORCH_CHECK_VALUE(enhanced.size(3) == 3, op, ": frames must have 3 channels (N, H, W, 3); got ",
                    enhanced.sizes());
  TORCH_CHECK_VALUE(radius >= 0, op, ": radius must be >= 0; got ", radius);
}

}  // namespace sgz

namespace sgz {

// Argument checks of dsconv (and its backward); returns the total input channel count.
// The Python mirror is check_dsconv_args in sgz_fast/_checks.py.
inline int64_t check_dsconv_args(at::TensorList inputs, const at::Tensor& dw_weight,
                                 const std::optional<at::Tensor>& dw_bias,
                                 const at::Tensor& pw_weight,
                                 const std::optional<at::Tensor>& pw_bias) {
  TORCH_CHECK_VALUE(!inputs.empty(), "dsconv: inputs must hold at least one tensor");
  const at::Tensor& first = inputs[0];
  int64_t cin = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const at::Tensor& t = inputs[i];
    TORCH_CHECK_VALUE(t.dim() == 4, "dsconv: inputs[", i,
                      "] must be a 4-D tensor (N, C, H, W); got ", t.dim(), "-D with shape ",
                      t.sizes());
    TORCH_CHECK_TYPE(at::isFloatingType(t.scalar_type()), "dsconv: inputs[", i,
                     "] must be a floating-point tensor; got ", t.scalar_type());
    TORCH_CHECK_VALUE(t.scalar_type() == first.scalar_type() && t.device() == first.device(),
                      "dsconv: inputs[", i, "] is ", t.scalar_type(), " on ", t.device(),
                      "; inputs[0] is ", first.scalar_type(), " on ", first.device());
    TORCH_CHECK_VALUE(
        t.size(0) == first.size(0) && t.size(2) == first.size(2) && t.size(3) == first.size(3),
        "dsconv: inputs[", i, "] has shape ", t.sizes(),
        "; all inputs need the batch and spatial sizes of inputs[0], ", first.sizes());
    cin += t.size(1);
  }
  TORCH_CHECK_VALUE(dw_weight.dim() == 4 && dw_weight.size(1) == 1,
                    "dsconv: dw_weight must have shape (Cin, 1, 3, 3); got ", dw_weight.sizes());
  TORCH_CHECK_VALUE(dw_weight.size(2) == 3 && dw_weight.size(3) == 3,
                    "dsconv: the depthwise kernel must be 3x3; got ", dw_weight.size(2), "x",
                    dw_weight.size(3));
  TORCH_CHECK_VALUE(dw_weight.size(0) == cin, "dsconv: the inputs have ", cin,
                    " channels in all but dw_weight has ", dw_weight.size(0));
  TORCH_CHECK_VALUE(pw_weight.dim() == 4 && pw_weight.size(2) == 1 && pw_weight.size(3) == 1,
                    "dsconv: pw_weight must have shape (Cout, Cin, 1, 1); got ", pw_weight.sizes());
  TORCH_CHECK_VALUE(pw_weight.size(1) == cin, "dsconv: the inputs have ", cin,
                    " channels in all but pw_weight has ", pw_weight.size(1), " input channels");
  std::vector<std::pair<const char*, const at::Tensor*>> params = {{"dw_weight", &dw_weight},
                                                                   {"pw_weight", &pw_weight}};
  if (dw_bias.has_value()) {
    TORCH_CHECK_VALUE(dw_bias->dim() == 1 && dw_bias->size(0) == cin,
                      "dsconv: dw_bias must have shape (", cin, ",); got ", dw_bias->sizes());
    params.push_back({"dw_bias", &*dw_bias});
  }
  if (pw_bias.has_value()) {
    TORCH_CHECK_VALUE(pw_bias->dim() == 1 && pw_bias->size(0) == pw_weight.size(0),
                      "dsconv: pw_bias must have shape (", pw_weight.size(0), ",); got ",
                      pw_bias->sizes());
    params.push_back({"pw_bias", &*pw_bias});
  }
  for (const auto& [name, p] : params) {
    TORCH_CHECK_VALUE(p->scalar_type() == first.scalar_type() && p->device() == first.device(),
                      "dsconv: ", name, " is ", p->scalar_type(), " on ", p->device(),
                      "; the inputs are ", first.scalar_type(), " on ", first.device());
  }
  return cin;
}

// dsconv_backward's arguments: dsconv's, plus grad and output of the output's shape, dtype
// and device. Returns the total input channel count.
inline int64_t check_dsconv_backward_args(const at::Tensor& grad, const at::Tensor& output,
                                          at::TensorList inputs, const at::Tensor& dw_weight,
                                          const std::optional<at::Tensor>& dw_bias,
                                          const at::Tensor& pw_weight) {
  const int64_t cin = check_dsconv_args(inputs, dw_weight, dw_bias, pw_weight, std::nullopt);
  const at::Tensor& first = inputs[0];
  const std::vector<int64_t> shape = {first.size(0), pw_weight.size(0), first.size(2),
                                      first.size(3)};
  TORCH_CHECK_VALUE(grad.sizes() == shape && output.sizes() == shape,
                    "dsconv_backward: grad and output must have shape ", at::IntArrayRef(shape),
                    "; got ", grad.sizes(), " and ", output.sizes());
  TORCH_CHECK_VALUE(grad.scalar_type() == first.scalar_type() &&
                        output.scalar_type() == first.scalar_type() &&
                        grad.device() == first.device() && output.device() == first.device(),
                    "dsconv_backward: grad and output must have the inputs' dtype and device (",
                    first.scalar_type(), " on ", first.device(), "); got ", grad.scalar_type(),
                    " on ", grad.device(), " and ", output.scalar_type(), " on ", output.device());
  return cin;
}

}  // namespace sgz

namespace sgz {

// factor_net: x (N, 3, H, W); params the 28 parameters of SGZ's dsc factor network in the
// order of SGZ.parameters(): for e_conv1..7, depth_conv weight and bias, point_conv weight and
// bias. Returns the network's width (32 for SGZ). The Python mirror is check_factor_net_args.
inline int64_t check_factor_net_args(const at::Tensor& x, at::TensorList params) {
  TORCH_CHECK_VALUE(x.dim() == 4 && x.size(1) == 3,
                    "factor_net: x must be a batch of RGB images (N, 3, H, W); got shape ",
                    x.sizes());
  TORCH_CHECK_TYPE(at::isFloatingType(x.scalar_type()),
                   "factor_net: x must be a floating-point tensor; got ", x.scalar_type());
  TORCH_CHECK_VALUE(
      params.size() == 28,
      "factor_net: params must hold the 28 tensors of SGZ(conv_type='dsc').parameters() "
      "(e_conv1..7: depth_conv weight, bias, point_conv weight, bias); got ",
      params.size());
  TORCH_CHECK_VALUE(params[2].dim() >= 1 && params[2].size(0) >= 1,
                    "factor_net: params[2] (e_conv1.point_conv.weight) must have shape ",
                    "(width, 3, 1, 1); got ", params[2].sizes());
  const int64_t width = params[2].size(0);
  const int64_t cins[7] = {3, width, width, width, 2 * width, 2 * width, 2 * width};
  const char* names[4] = {"depth_conv.weight", "depth_conv.bias", "point_conv.weight",
                          "point_conv.bias"};
  for (int64_t k = 0; k < 7; ++k) {
    const int64_t cin = cins[k], cout = k == 6 ? 3 : width;
    const std::vector<int64_t> shapes[4] = {{cin, 1, 3, 3}, {cin}, {cout, cin, 1, 1}, {cout}};
    for (int64_t i = 0; i < 4; ++i) {
      const at::Tensor& p = params[4 * k + i];
      TORCH_CHECK_VALUE(p.sizes() == shapes[i], "factor_net: params[", 4 * k + i, "] (e_conv",
                        k + 1, ".", names[i], ") must have shape ", at::IntArrayRef(shapes[i]),
                        "; got ", p.sizes());
      TORCH_CHECK_VALUE(p.scalar_type() == x.scalar_type() && p.device() == x.device(),
                        "factor_net: params[", 4 * k + i, "] (e_conv", k + 1, ".", names[i],
                        ") is ", p.scalar_type(), " on ", p.device(), "; x is ", x.scalar_type(),
                        " on ", x.device());
    }
  }
  return width;
}

// factor_net_backward: grad (dL/dx_r) and out (the forward's x_r) shaped like x, its dtype and
// device, then factor_net's checks. Returns the network's width. The Python mirror is
// check_factor_net_backward_args.
inline int64_t check_factor_net_backward_args(const at::Tensor& grad, const at::Tensor& x,
                                              const at::Tensor& out, at::TensorList params) {
  const int64_t width = check_factor_net_args(x, params);
  const std::pair<const at::Tensor*, const char*> given[] = {{&grad, "grad"}, {&out, "out"}};
  for (const auto& [t, name] : given) {
    TORCH_CHECK_VALUE(t->sizes() == x.sizes(), "factor_net_backward: ", name,
                      " must have x's shape ", x.sizes(), "; got ", t->sizes());
    TORCH_CHECK_VALUE(t->scalar_type() == x.scalar_type() && t->device() == x.device(),
                      "factor_net_backward: ", name, " is ", t->scalar_type(), " on ", t->device(),
                      "; x is ", x.scalar_type(), " on ", x.device());
  }
  return width;
}

}  // namespace sgz

namespace sgz {

inline Activation parse_activation(c10::string_view name) {
  if (name == "none") return Activation::kNone;
  if (name == "relu") return Activation::kRelu;
  if (name == "tanh") return Activation::kTanh;
  TORCH_CHECK_VALUE(false, "dsconv: activation must be 'none', 'relu' or 'tanh'; got '",
                    std::string(name), "'");
}

}  // namespace sgz

namespace sgz {

// loss_pools: enhanced and image (N, C, H, W) of one floating dtype and device, cells of
// patch_size and exposure_patch_size >= 1 that fit in H and W (as avg_pool2d requires). The
// Python mirror is check_loss_pools_args.
inline void check_loss_pools_sizes(const char* op, at::IntArrayRef size, int64_t patch_size,
                                   int64_t exposure_patch_size) {
  TORCH_CHECK_VALUE(size.size() == 4, op, ": enhanced must be a 4-D tensor (N, C, H, W); got ",
                    size.size(), "-D with shape ", size);
  TORCH_CHECK_VALUE(size[1] >= 1, op, ": enhanced needs at least one channel; got shape ", size);
  const std::pair<int64_t, const char*> patches[] = {{patch_size, "patch_size"},
                                                     {exposure_patch_size, "exposure_patch_size"}};
  for (const auto& [patch, name] : patches) {
    TORCH_CHECK_VALUE(patch >= 1, op, ": ", name, " must be >= 1; got ", patch);
    TORCH_CHECK_VALUE(size[2] >= patch && size[3] >= patch, op, ": the image (", size[2], "x",
                      size[3], ") must be at least ", name, " (", patch, ") on each side");
  }
}

inline void check_loss_pools_args(const at::Tensor& enhanced, const at::Tensor& image,
                                  int64_t patch_size, int64_t exposure_patch_size) {
  check_loss_pools_sizes("loss_pools", enhanced.sizes(), patch_size, exposure_patch_size);
  TORCH_CHECK_VALUE(image.sizes() == enhanced.sizes(),
                    "loss_pools: image must have enhanced's shape ", enhanced.sizes(), "; got ",
                    image.sizes());
  TORCH_CHECK_TYPE(at::isFloatingType(enhanced.scalar_type()),
                   "loss_pools: enhanced must be a floating-point tensor; got ",
                   enhanced.scalar_type());
  TORCH_CHECK_VALUE(
      image.scalar_type() == enhanced.scalar_type() && image.device() == enhanced.device(),
      "loss_pools: image is ", image.scalar_type(), " on ", image.device(), "; enhanced is ",
      enhanced.scalar_type(), " on ", enhanced.device());
}

// loss_pools_backward: the gradients of loss_pools' three maps, shaped as it returns them for
// an enhanced of `size`, of one floating dtype and device.
inline void check_loss_pools_backward_args(const at::Tensor& grad_spatial,
                                           const at::Tensor& grad_exposure,
                                           const at::Tensor& grad_means, at::IntArrayRef size,
                                           int64_t patch_size, int64_t exposure_patch_size) {
  const char* op = "loss_pools_backward";
  check_loss_pools_sizes(op, size, patch_size, exposure_patch_size);
  const int64_t n = size[0], p = patch_size, e = exposure_patch_size;
  const std::vector<int64_t> shapes[3] = {
      {n, 1, size[2] / p, size[3] / p}, {n, 1, size[2] / e, size[3] / e}, {n, size[1]}};
  const std::pair<const at::Tensor*, const char*> given[] = {{&grad_spatial, "grad_spatial"},
                                                             {&grad_exposure, "grad_exposure"},
                                                             {&grad_means, "grad_means"}};
  for (int i = 0; i < 3; ++i) {
    const at::Tensor& t = *given[i].first;
    TORCH_CHECK_VALUE(t.sizes() == shapes[i], op, ": ", given[i].second, " must have shape ",
                      at::IntArrayRef(shapes[i]), "; got ", t.sizes());
    TORCH_CHECK_TYPE(at::isFloatingType(t.scalar_type()), op, ": ", given[i].second,
                     " must be a floating-point tensor; got ", t.scalar_type());
    TORCH_CHECK_VALUE(
        t.scalar_type() == grad_spatial.scalar_type() && t.device() == grad_spatial.device(), op,
        ": ", given[i].second, " is ", t.scalar_type(), " on ", t.device(), "; grad_spatial is ",
        grad_spatial.scalar_type(), " on ", grad_spatial.device());
  }
}

// total_variation: r (N, C, H, W) floating; its backward's grad holds the two sums' gradients.
inline void check_total_variation_args(const at::Tensor& r) {
  TORCH_CHECK_VALUE(r.dim() == 4, "total_variation: r must be a 4-D tensor (N, C, H, W); got ",
                    r.dim(), "-D with shape ", r.sizes());
  TORCH_CHECK_TYPE(at::isFloatingType(r.scalar_type()),
                   "total_variation: r must be a floating-point tensor; got ", r.scalar_type());
}

inline void check_total_variation_backward_args(const at::Tensor& grad, const at::Tensor& r) {
  check_total_variation_args(r);
  TORCH_CHECK_VALUE(grad.dim() == 1 && grad.size(0) == 2,
                    "total_variation_backward: grad must have shape (2,) (vertical, "
                    "horizontal); got ",
                    grad.sizes());
  TORCH_CHECK_VALUE(grad.scalar_type() == r.scalar_type() && grad.device() == r.device(),
                    "total_variation_backward: grad is ", grad.scalar_type(), " on ", grad.device(),
                    "; r is ", r.scalar_type(), " on ", r.device());
}

}  // namespace sgz
