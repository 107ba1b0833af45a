// Shared declarations of the fused ISLA modulation op (CPU in isla.cpp, CUDA in isla_cuda.cu).
//
// out = x + alpha * (gamma * x + beta), where for each image b, channel c and pixel p
//   gamma[b, c, p] = sum_o gamma_obj[b, o, c] * masks[b, o, p]   (beta likewise).
// The per-pixel gamma and beta maps are never materialised: each kernel recomputes them from
// the O object rows on the fly, which saves two (B, C, H, W) temporaries forward and backward.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include <cstdint>
#include <tuple>

namespace lama {

struct IslaDims {
  int64_t B;  // images
  int64_t C;  // feature channels
  int64_t O;  // object slots
  int64_t P;  // pixels per map (H * W)
};

// Validate shapes, dtypes and devices; the Python front has already promoted dtypes.
inline IslaDims check_isla_inputs(const at::Tensor& x, const at::Tensor& masks, const at::Tensor& gamma_obj,
                                  const at::Tensor& beta_obj, const at::Tensor& alpha) {
  TORCH_CHECK(x.dim() == 4, "isla_modulate: x_hat must be (B, C, H, W), got shape ", x.sizes());
  TORCH_CHECK(masks.dim() == 4, "isla_modulate: masks must be (B, O, H, W), got shape ", masks.sizes());
  TORCH_CHECK(gamma_obj.dim() == 3, "isla_modulate: gamma_obj must be (B, O, C), got shape ", gamma_obj.sizes());
  const int64_t B = x.size(0), C = x.size(1), O = masks.size(1);
  TORCH_CHECK(masks.size(0) == B && masks.size(2) == x.size(2) && masks.size(3) == x.size(3),
              "isla_modulate: masks ", masks.sizes(), " do not match x_hat ", x.sizes());
  TORCH_CHECK(gamma_obj.size(0) == B && gamma_obj.size(1) == O && gamma_obj.size(2) == C,
              "isla_modulate: gamma_obj must be (", B, ", ", O, ", ", C, "), got ", gamma_obj.sizes());
  TORCH_CHECK(beta_obj.sizes() == gamma_obj.sizes(), "isla_modulate: beta_obj ", beta_obj.sizes(),
              " must have the shape of gamma_obj ", gamma_obj.sizes());
  TORCH_CHECK(alpha.numel() == 1, "isla_modulate: alpha must hold one value, got shape ", alpha.sizes());
  for (const at::Tensor* t : {&masks, &gamma_obj, &beta_obj, &alpha}) {
    TORCH_CHECK(t->scalar_type() == x.scalar_type(), "isla_modulate: all inputs must share x_hat's dtype ",
                x.scalar_type(), ", got ", t->scalar_type());
    TORCH_CHECK(t->device() == x.device(), "isla_modulate: all inputs must be on x_hat's device ", x.device(),
                ", got ", t->device());
  }
  return {B, C, O, x.size(2) * x.size(3)};
}

}  // namespace lama
