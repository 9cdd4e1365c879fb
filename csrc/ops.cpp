// Operator schemas of the sgz_fast library, and the Python module stub that loads them.
// Kernels live in cpu/*.cpp and *.cu and register themselves per device.
#include <Python.h>
#include <torch/library.h>

TORCH_LIBRARY(sgz_fast, m) {
  // Recurrent quadratic curve: x <- x + r * (x^2 - x), `iterations` times, with r bilinearly
  // upsampled (align_corners=True) to x's size inside the kernel when it is smaller.
  m.def("curve_iter(Tensor x, Tensor r, int iterations=8) -> Tensor");
  // Gradients for x and r (r's at r's own size). An output not asked for is an empty tensor.
  m.def(
      "curve_iter_backward(Tensor grad, Tensor x, Tensor r, int iterations, bool need_x, "
      "bool need_r) -> (Tensor, Tensor)");
  // The same curve on 8-bit frames (N, H, W, C) as decoders produce them, r (N, C, h, w) float32:
  // read as byte / 255, written back as 8-bit the way torchvision's save_image rounds.
  m.def("curve_iter_uint8(Tensor frames, Tensor r, int iterations=8) -> Tensor");
  // out = scale * x + offset on 8-bit frames (N, H, W, C) read as byte / 255 and written back
  // as curve_iter_uint8 writes; scale and offset (N, C, h, w) float32 upsampled bilinearly
  // (align_corners=True) to the frames' size: the per-channel guided filter's last step.
  m.def("affine_uint8(Tensor frames, Tensor scale, Tensor offset) -> Tensor");
  // The self-guided filter's coefficient maps (a, b) of guide (N, C, h, w) float32, regulariser
  // eps (N, 1, h, w) per pixel, windows of (2 radius + 1)^2 pixels mirrored at the borders
  // (OpenCV's BORDER_REFLECT); the filter's output is a * guide + b (affine_uint8).
  m.def("guided_coefficients(Tensor guide, Tensor eps, int radius) -> (Tensor, Tensor)");
  // The guided filters' inputs for sgz_fast.denoise from 8-bit frames (N, H, W, C), enhanced
  // and dark: the guide, area means of scale x scale pixels / 255 (N, C, H // scale,
  // W // scale), and eps (N, 1, ...), noise^2 (gain^2 - 1) / 255^2 with the gain from the two
  // means' luma (weights `luma`), clamped to [1, max_gain].
  m.def(
      "guided_inputs_uint8(Tensor enhanced, Tensor dark, int scale, float noise, float max_gain, "
      "float[] luma) -> (Tensor, Tensor)");
  // The colour guided filter's maps of a guide (N, 3, h, w) float32 (He, Sun & Tang, ECCV 2010,
  // eq. 14, the guide being the input): a (N, 6, h, w), the upper entries 00 01 02 11 12 22 of a
  // symmetric 3 x 3 matrix per pixel, and b (N, 3, h, w); eps and the windows as in
  // guided_coefficients. The fast filter of sgz_fast.denoise, with colour_affine_uint8.
  m.def("colour_guided_coefficients(Tensor guide, Tensor eps, int radius) -> (Tensor, Tensor)");
  // Its output on 8-bit frames (N, H, W, 3), read and written as affine_uint8 does: per pixel
  // x, out = a x + b with a's 3 x 3 matrix, a and b upsampled bilinearly (align_corners=True).
  m.def("colour_affine_uint8(Tensor frames, Tensor a, Tensor b) -> Tensor");
  // The three in one: colour_affine_uint8(enhanced, *colour_guided_coefficients(
  // *guided_inputs_uint8(enhanced, dark, scale, noise, max_gain, luma), radius)) for frames of
  // 3 channels, the maps never stored on the CPU.
  m.def(
      "colour_guided_filter_uint8(Tensor enhanced, Tensor dark, int scale, float noise, "
      "float max_gain, float[] luma, int radius) -> Tensor");
  // 3x3 depthwise conv (zero padding 1) + 1x1 pointwise conv, biases, then `activation`
  // ('none', 'relu' or 'tanh'); the inputs' channels are concatenated in place.
  m.def(
      "dsconv(Tensor[] inputs, Tensor dw_weight, Tensor? dw_bias, Tensor pw_weight, "
      "Tensor? pw_bias, str activation='relu') -> Tensor");
  // SGZ's whole dsc factor network for inference, x (N, 3, H, W) -> x_r (N, 3, H, W) in
  // (-1, 1): e_conv1..7 fused (CPU: the 32-channel activations kept in cache; CUDA: one launch,
  // for the low-resolution pass). `params` is SGZ(conv_type='dsc').parameters(), 28 tensors.
  // Its gradient for params comes from factor_net_backward (x gets none).
  m.def("factor_net(Tensor x, Tensor[] params) -> Tensor");
  // The 28 gradients of factor_net's params, from grad = dL/dx_r, x and out = factor_net(x,
  // params) (CPU: the activations recomputed in rings of rows, never stored).
  m.def("factor_net_backward(Tensor grad, Tensor x, Tensor out, Tensor[] params) -> Tensor[]");
  // The zero-reference losses' reductions (common/loss.h) of enhanced and image (N, C, H, W):
  // spatial (N, 1, H // p, W // p), the means over patch_size cells of the channel mean of
  // enhanced - image; exposure (N, 1, H // e, W // e), the same over exposure_patch_size cells of
  // enhanced's channel mean; means (N, C), enhanced's per plane. As avg_pool2d, a partial last
  // cell is dropped.
  m.def(
      "loss_pools(Tensor enhanced, Tensor image, int patch_size, int exposure_patch_size) -> "
      "(Tensor, Tensor, Tensor)");
  // The gradient of enhanced, (N, C, H, W) = size, from the three maps' gradients (image's is
  // the spatial part negated).
  m.def(
      "loss_pools_backward(Tensor grad_spatial, Tensor grad_exposure, Tensor grad_means, "
      "SymInt[] size, int patch_size, int exposure_patch_size) -> Tensor");
  // (2,): the sums over every plane of r (N, C, H, W) of the squared vertical differences
  // (r[y + 1][x] - r[y][x])^2 and the horizontal ones (illumination smoothness).
  m.def("total_variation(Tensor r) -> Tensor");
  // r's gradient from the two sums' gradients grad (2,).
  m.def("total_variation_backward(Tensor grad, Tensor r) -> Tensor");
  // Gradients for every input, dw_weight, dw_bias (empty when None), pw_weight, pw_bias.
  m.def(
      "dsconv_backward(Tensor grad, Tensor output, Tensor[] inputs, Tensor dw_weight, "
      "Tensor? dw_bias, Tensor pw_weight, str activation) -> (Tensor[], Tensor, Tensor, Tensor, "
      "Tensor)");
}

// An empty module: `import sgz_fast._C` loads this library, whose static registrations above
// (and in the kernel files) add the ops to the dispatcher.
extern "C" PyObject* PyInit__C(void) {
  static PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, nullptr};
  return PyModule_Create(&module_def);
}
