// Fused ISLA modulation: CUDA kernels (math in isla.h). All tensors contiguous NCHW; int64 indexing.
//   forward          one thread per output element (b, c, p), grid-stride
//   backward, rows   one block per (b, c): dx, dalpha (block sum + atomicAdd), dgamma/dbeta[b, :, c] (block sums)
//   backward, masks  one thread per (b, o, p): dmasks = alpha * sum_c (gamma_obj * grad * x + beta_obj * grad)
#include "isla.h"

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <c10/cuda/CUDAStream.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/zeros.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <algorithm>

namespace lama {
namespace {

constexpr int kThreads = 256;
constexpr int kWarp = 32;

int64_t blocks_for(int64_t n) { return std::min<int64_t>((n + kThreads - 1) / kThreads, int64_t{1} << 16); }

// Sum of v over the block; the result is valid in thread 0. `shared` holds one slot per warp.
template <typename acc_t>
__device__ acc_t block_sum(acc_t v, acc_t* shared) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  __syncthreads();  // `shared` may still be read by a previous call
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  acc_t total = 0;
  if (threadIdx.x == 0) {
    for (int w = 0; w < (blockDim.x + kWarp - 1) / kWarp; ++w) total += shared[w];
  }
  return total;
}

template <typename scalar_t>
__global__ void forward_kernel(const scalar_t* __restrict__ x, const scalar_t* __restrict__ m,
                               const scalar_t* __restrict__ g, const scalar_t* __restrict__ be,
                               const scalar_t* __restrict__ alpha, scalar_t* __restrict__ out, int64_t C,
                               int64_t O, int64_t P, int64_t total) {
  using acc_t = at::opmath_type<scalar_t>;
  const acc_t a = static_cast<acc_t>(alpha[0]);
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t p = i % P, bc = i / P, c = bc % C, b = bc / C;
    acc_t gam = 0, bet = 0;
    for (int64_t o = 0; o < O; ++o) {
      const acc_t mv = static_cast<acc_t>(m[(b * O + o) * P + p]);
      gam += static_cast<acc_t>(g[(b * O + o) * C + c]) * mv;
      bet += static_cast<acc_t>(be[(b * O + o) * C + c]) * mv;
    }
    const acc_t xv = static_cast<acc_t>(x[i]);
    out[i] = static_cast<scalar_t>(xv + a * (gam * xv + bet));
  }
}

template <typename scalar_t>
__global__ void backward_rows_kernel(const scalar_t* __restrict__ grad, const scalar_t* __restrict__ x,
                                     const scalar_t* __restrict__ m, const scalar_t* __restrict__ g,
                                     const scalar_t* __restrict__ be, const scalar_t* __restrict__ alpha,
                                     scalar_t* __restrict__ dx, scalar_t* __restrict__ dg, scalar_t* __restrict__ db,
                                     at::opmath_type<scalar_t>* __restrict__ dalpha, int64_t C, int64_t O, int64_t P) {
  using acc_t = at::opmath_type<scalar_t>;
  __shared__ acc_t shared[kThreads / kWarp];
  const acc_t a = static_cast<acc_t>(alpha[0]);
  const int64_t bc = blockIdx.x, b = bc / C, c = bc % C;
  const scalar_t* mb = m + b * O * P;
  const scalar_t* gr = grad + bc * P;
  const scalar_t* xr = x + bc * P;
  acc_t da = 0;
  for (int64_t p = threadIdx.x; p < P; p += blockDim.x) {
    acc_t gam = 0, bet = 0;
    for (int64_t o = 0; o < O; ++o) {
      const acc_t mv = static_cast<acc_t>(mb[o * P + p]);
      gam += static_cast<acc_t>(g[(b * O + o) * C + c]) * mv;
      bet += static_cast<acc_t>(be[(b * O + o) * C + c]) * mv;
    }
    const acc_t go = static_cast<acc_t>(gr[p]), xv = static_cast<acc_t>(xr[p]);
    dx[bc * P + p] = static_cast<scalar_t>(go + a * gam * go);
    da += go * (gam * xv + bet);
  }
  da = block_sum(da, shared);
  if (threadIdx.x == 0) atomicAdd(dalpha, da);
  for (int64_t o = 0; o < O; ++o) {
    acc_t sg = 0, sb = 0;
    for (int64_t p = threadIdx.x; p < P; p += blockDim.x) {
      const acc_t go = static_cast<acc_t>(gr[p]), mv = static_cast<acc_t>(mb[o * P + p]);
      sg += go * static_cast<acc_t>(xr[p]) * mv;
      sb += go * mv;
    }
    sg = block_sum(sg, shared);
    sb = block_sum(sb, shared);
    if (threadIdx.x == 0) {
      dg[(b * O + o) * C + c] = static_cast<scalar_t>(a * sg);
      db[(b * O + o) * C + c] = static_cast<scalar_t>(a * sb);
    }
  }
}

template <typename scalar_t>
__global__ void backward_masks_kernel(const scalar_t* __restrict__ grad, const scalar_t* __restrict__ x,
                                      const scalar_t* __restrict__ g, const scalar_t* __restrict__ be,
                                      const scalar_t* __restrict__ alpha, scalar_t* __restrict__ dm, int64_t C,
                                      int64_t O, int64_t P, int64_t total) {
  using acc_t = at::opmath_type<scalar_t>;
  const acc_t a = static_cast<acc_t>(alpha[0]);
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t p = i % P, bo = i / P, b = bo / O;
    const scalar_t* grow = g + bo * C;
    const scalar_t* brow = be + bo * C;
    acc_t s = 0;
    for (int64_t c = 0; c < C; ++c) {
      const int64_t off = (b * C + c) * P + p;
      const acc_t go = static_cast<acc_t>(grad[off]);
      s += go * (static_cast<acc_t>(grow[c]) * static_cast<acc_t>(x[off]) + static_cast<acc_t>(brow[c]));
    }
    dm[i] = static_cast<scalar_t>(a * s);
  }
}

// Threads per block for the row kernel: a multiple of the warp size, no more than the row needs.
int row_threads(int64_t P) {
  return static_cast<int>(std::clamp<int64_t>(((P + kWarp - 1) / kWarp) * kWarp, kWarp, kThreads));
}

at::Tensor isla_modulate_cuda(const at::Tensor& x_hat, const at::Tensor& masks, const at::Tensor& gamma_obj,
                              const at::Tensor& beta_obj, const at::Tensor& alpha) {
  const IslaDims d = check_isla_inputs(x_hat, masks, gamma_obj, beta_obj, alpha);
  const c10::cuda::CUDAGuard guard(x_hat.device());
  const at::Tensor x = x_hat.contiguous(), m = masks.contiguous(), g = gamma_obj.contiguous(),
                   be = beta_obj.contiguous(), a = alpha.contiguous();
  at::Tensor out = at::empty_like(x);
  const int64_t total = x.numel();
  if (total == 0) return out;
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, x.scalar_type(), "isla_modulate_cuda", [&] {
    forward_kernel<scalar_t><<<blocks_for(total), kThreads, 0, stream>>>(
        x.const_data_ptr<scalar_t>(), m.const_data_ptr<scalar_t>(), g.const_data_ptr<scalar_t>(),
        be.const_data_ptr<scalar_t>(), a.const_data_ptr<scalar_t>(), out.mutable_data_ptr<scalar_t>(), d.C, d.O,
        d.P, total);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> isla_modulate_backward_cuda(
    const at::Tensor& grad, const at::Tensor& x_hat, const at::Tensor& masks, const at::Tensor& gamma_obj,
    const at::Tensor& beta_obj, const at::Tensor& alpha) {
  const IslaDims d = check_isla_inputs(x_hat, masks, gamma_obj, beta_obj, alpha);
  TORCH_CHECK(grad.sizes() == x_hat.sizes() && grad.scalar_type() == x_hat.scalar_type() &&
                  grad.device() == x_hat.device(),
              "isla_modulate_backward: grad must match x_hat, got ", grad.sizes(), " ", grad.scalar_type());
  const c10::cuda::CUDAGuard guard(x_hat.device());
  const at::Tensor gr = grad.contiguous(), x = x_hat.contiguous(), m = masks.contiguous(),
                   g = gamma_obj.contiguous(), be = beta_obj.contiguous(), a = alpha.contiguous();
  at::Tensor dx = at::empty_like(x), dm = at::empty_like(m), dg = at::empty_like(g), db = at::empty_like(be);
  // dalpha accumulates in the op-math type (float for half/bfloat16) and is cast at the end.
  const at::ScalarType acc_type = at::toOpMathType(x.scalar_type());
  at::Tensor da_acc = at::zeros({}, x.options().dtype(acc_type));
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, x.scalar_type(), "isla_modulate_backward_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    if (d.B * d.C > 0) {  // also when P == 0: dgamma/dbeta are then empty sums, written as 0
      backward_rows_kernel<scalar_t><<<d.B * d.C, row_threads(d.P), 0, stream>>>(
          gr.const_data_ptr<scalar_t>(), x.const_data_ptr<scalar_t>(), m.const_data_ptr<scalar_t>(),
          g.const_data_ptr<scalar_t>(), be.const_data_ptr<scalar_t>(), a.const_data_ptr<scalar_t>(),
          dx.mutable_data_ptr<scalar_t>(), dg.mutable_data_ptr<scalar_t>(), db.mutable_data_ptr<scalar_t>(),
          da_acc.mutable_data_ptr<acc_t>(), d.C, d.O, d.P);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
    const int64_t total = m.numel();
    if (total > 0) {
      backward_masks_kernel<scalar_t><<<blocks_for(total), kThreads, 0, stream>>>(
          gr.const_data_ptr<scalar_t>(), x.const_data_ptr<scalar_t>(), g.const_data_ptr<scalar_t>(),
          be.const_data_ptr<scalar_t>(), a.const_data_ptr<scalar_t>(), dm.mutable_data_ptr<scalar_t>(), d.C, d.O,
          d.P, total);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
  });
  return {dx, dm, dg, db, da_acc.to(alpha.scalar_type()).reshape(alpha.sizes())};
}

}  // namespace

TORCH_LIBRARY_IMPL(lama, CUDA, m) {
  m.impl("isla_modulate", &isla_modulate_cuda);
  m.impl("isla_modulate_backward", &isla_modulate_backward_cuda);
}

}  // namespace lama
