// Fused ISLA modulation: operator schema (namespace `lama`) and the CPU kernels (at::parallel_for, OpenMP).
// Math and notation in isla.h. Layout: all tensors contiguous (NCHW); the Python front makes them so.
#include "isla.h"

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

namespace lama {
namespace {

// Pixels processed together: the gamma/beta rows of one chunk stay in L1 while O mask rows stream past.
constexpr int64_t kChunk = 512;
// Independent partial sums for dot products, so the compiler can vectorise them without -ffast-math.
constexpr int kLanes = 8;

// Grain of at::parallel_for in units of (b, c) rows: at least ~64k multiply-adds per task.
int64_t row_grain(const IslaDims& d) { return std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(1, d.P * d.O)); }

// gam[i] = sum_o g[o] * m[o * P + i] and bet[i] likewise, for i < n (m points at the chunk's first pixel).
template <typename scalar_t, typename acc_t>
inline void mix_chunk(const scalar_t* m, int64_t P, int64_t O, const acc_t* g, const acc_t* be, int64_t n,
                      acc_t* gam, acc_t* bet) {
  std::fill(gam, gam + n, acc_t(0));
  std::fill(bet, bet + n, acc_t(0));
  for (int64_t o = 0; o < O; ++o) {
    const scalar_t* mo = m + o * P;
    const acc_t go = g[o], bo = be[o];
    for (int64_t i = 0; i < n; ++i) {
      const acc_t mv = static_cast<acc_t>(mo[i]);
      gam[i] += go * mv;
      bet[i] += bo * mv;
    }
  }
}

// sum_i a[i] * b[i] with kLanes partial sums.
template <typename scalar_t, typename acc_t>
inline acc_t dot(const acc_t* a, const scalar_t* b, int64_t n) {
  acc_t part[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) part[l] += a[i + l] * static_cast<acc_t>(b[i + l]);
  }
  acc_t s = 0;
  for (; i < n; ++i) s += a[i] * static_cast<acc_t>(b[i]);
  for (int l = 0; l < kLanes; ++l) s += part[l];
  return s;
}

template <typename scalar_t>
void forward_cpu(const at::Tensor& x, const at::Tensor& masks, const at::Tensor& gamma_obj,
                 const at::Tensor& beta_obj, const at::Tensor& alpha, at::Tensor& out, const IslaDims& d) {
  using acc_t = at::opmath_type<scalar_t>;
  const scalar_t* xp = x.const_data_ptr<scalar_t>();
  const scalar_t* mp = masks.const_data_ptr<scalar_t>();
  const scalar_t* gp = gamma_obj.const_data_ptr<scalar_t>();
  const scalar_t* bp = beta_obj.const_data_ptr<scalar_t>();
  const acc_t a = static_cast<acc_t>(alpha.const_data_ptr<scalar_t>()[0]);
  scalar_t* op = out.mutable_data_ptr<scalar_t>();
  at::parallel_for(0, d.B * d.C, row_grain(d), [&](int64_t begin, int64_t end) {
    std::vector<acc_t> buf(2 * kChunk + 2 * d.O);
    acc_t *gam = buf.data(), *bet = gam + kChunk, *g = bet + kChunk, *be = g + d.O;
    for (int64_t bc = begin; bc < end; ++bc) {
      const int64_t b = bc / d.C, c = bc % d.C;
      for (int64_t o = 0; o < d.O; ++o) {
        g[o] = static_cast<acc_t>(gp[(b * d.O + o) * d.C + c]);
        be[o] = static_cast<acc_t>(bp[(b * d.O + o) * d.C + c]);
      }
      const scalar_t* xr = xp + bc * d.P;
      scalar_t* orow = op + bc * d.P;
      for (int64_t p0 = 0; p0 < d.P; p0 += kChunk) {
        const int64_t n = std::min(kChunk, d.P - p0);
        mix_chunk(mp + b * d.O * d.P + p0, d.P, d.O, g, be, n, gam, bet);
        for (int64_t i = 0; i < n; ++i) {
          const acc_t xv = static_cast<acc_t>(xr[p0 + i]);
          orow[p0 + i] = static_cast<scalar_t>(xv + a * (gam[i] * xv + bet[i]));
        }
      }
    }
  });
}

template <typename scalar_t>
void backward_cpu(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& masks, const at::Tensor& gamma_obj,
                  const at::Tensor& beta_obj, const at::Tensor& alpha, at::Tensor& dx, at::Tensor& dmasks,
                  at::Tensor& dgamma, at::Tensor& dbeta, at::Tensor& dalpha, const IslaDims& d) {
  using acc_t = at::opmath_type<scalar_t>;
  const scalar_t* gr = grad.const_data_ptr<scalar_t>();
  const scalar_t* xp = x.const_data_ptr<scalar_t>();
  const scalar_t* mp = masks.const_data_ptr<scalar_t>();
  const scalar_t* gp = gamma_obj.const_data_ptr<scalar_t>();
  const scalar_t* bp = beta_obj.const_data_ptr<scalar_t>();
  const acc_t a = static_cast<acc_t>(alpha.const_data_ptr<scalar_t>()[0]);
  scalar_t* dxp = dx.mutable_data_ptr<scalar_t>();
  scalar_t* dmp = dmasks.mutable_data_ptr<scalar_t>();
  scalar_t* dgp = dgamma.mutable_data_ptr<scalar_t>();
  scalar_t* dbp = dbeta.mutable_data_ptr<scalar_t>();
  // One partial dalpha per (b, c) row, summed in a fixed order afterwards: deterministic.
  std::vector<acc_t> dalpha_rows(d.B * d.C, acc_t(0));

  // Pass 1, one task per (b, c) row: dx, the row's dalpha term, and dgamma/dbeta[b, :, c].
  at::parallel_for(0, d.B * d.C, row_grain(d), [&](int64_t begin, int64_t end) {
    std::vector<acc_t> buf(4 * kChunk + 4 * d.O);
    acc_t *gam = buf.data(), *bet = gam + kChunk, *gx = bet + kChunk, *gv = gx + kChunk;
    acc_t *g = gv + kChunk, *be = g + d.O, *sg = be + d.O, *sb = sg + d.O;
    for (int64_t bc = begin; bc < end; ++bc) {
      const int64_t b = bc / d.C, c = bc % d.C;
      for (int64_t o = 0; o < d.O; ++o) {
        g[o] = static_cast<acc_t>(gp[(b * d.O + o) * d.C + c]);
        be[o] = static_cast<acc_t>(bp[(b * d.O + o) * d.C + c]);
        sg[o] = sb[o] = acc_t(0);
      }
      const scalar_t* m = mp + b * d.O * d.P;
      acc_t da = 0;
      for (int64_t p0 = 0; p0 < d.P; p0 += kChunk) {
        const int64_t n = std::min(kChunk, d.P - p0);
        mix_chunk(m + p0, d.P, d.O, g, be, n, gam, bet);
        const int64_t off = bc * d.P + p0;
        for (int64_t i = 0; i < n; ++i) {
          const acc_t go = static_cast<acc_t>(gr[off + i]), xv = static_cast<acc_t>(xp[off + i]);
          dxp[off + i] = static_cast<scalar_t>(go + a * gam[i] * go);
          da += go * (gam[i] * xv + bet[i]);
          gx[i] = go * xv;
          gv[i] = go;
        }
        for (int64_t o = 0; o < d.O; ++o) {
          sg[o] += dot(gx, m + o * d.P + p0, n);
          sb[o] += dot(gv, m + o * d.P + p0, n);
        }
      }
      for (int64_t o = 0; o < d.O; ++o) {
        dgp[(b * d.O + o) * d.C + c] = static_cast<scalar_t>(a * sg[o]);
        dbp[(b * d.O + o) * d.C + c] = static_cast<scalar_t>(a * sb[o]);
      }
      dalpha_rows[bc] = da;
    }
  });

  // Pass 2, one task per (b, pixel chunk): dmasks[b, o, p] = alpha * sum_c (gamma_obj * grad * x + beta_obj * grad).
  const int64_t chunks = (d.P + kChunk - 1) / kChunk;
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(1, kChunk * d.C * d.O));
  at::parallel_for(0, d.B * chunks, grain, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> acc(d.O * kChunk), gx(kChunk);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / chunks, p0 = (task % chunks) * kChunk, n = std::min(kChunk, d.P - p0);
      std::fill(acc.begin(), acc.end(), acc_t(0));
      for (int64_t c = 0; c < d.C; ++c) {
        const int64_t off = (b * d.C + c) * d.P + p0;
        for (int64_t i = 0; i < n; ++i) gx[i] = static_cast<acc_t>(gr[off + i]) * static_cast<acc_t>(xp[off + i]);
        for (int64_t o = 0; o < d.O; ++o) {
          const acc_t go = static_cast<acc_t>(gp[(b * d.O + o) * d.C + c]);
          const acc_t bo = static_cast<acc_t>(bp[(b * d.O + o) * d.C + c]);
          acc_t* row = acc.data() + o * kChunk;
          for (int64_t i = 0; i < n; ++i) row[i] += go * gx[i] + bo * static_cast<acc_t>(gr[off + i]);
        }
      }
      for (int64_t o = 0; o < d.O; ++o) {
        scalar_t* dst = dmp + (b * d.O + o) * d.P + p0;
        for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<scalar_t>(a * acc[o * kChunk + i]);
      }
    }
  });

  acc_t total = 0;
  for (const acc_t v : dalpha_rows) total += v;
  dalpha.mutable_data_ptr<scalar_t>()[0] = static_cast<scalar_t>(total);
}

at::Tensor isla_modulate_cpu(const at::Tensor& x_hat, const at::Tensor& masks, const at::Tensor& gamma_obj,
                             const at::Tensor& beta_obj, const at::Tensor& alpha) {
  const IslaDims d = check_isla_inputs(x_hat, masks, gamma_obj, beta_obj, alpha);
  const at::Tensor x = x_hat.contiguous(), m = masks.contiguous(), g = gamma_obj.contiguous(),
                   be = beta_obj.contiguous(), a = alpha.contiguous();
  at::Tensor out = at::empty_like(x);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, x.scalar_type(), "isla_modulate_cpu",
                                  [&] { forward_cpu<scalar_t>(x, m, g, be, a, out, d); });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> isla_modulate_backward_cpu(
    const at::Tensor& grad, const at::Tensor& x_hat, const at::Tensor& masks, const at::Tensor& gamma_obj,
    const at::Tensor& beta_obj, const at::Tensor& alpha) {
  const IslaDims d = check_isla_inputs(x_hat, masks, gamma_obj, beta_obj, alpha);
  TORCH_CHECK(grad.sizes() == x_hat.sizes() && grad.scalar_type() == x_hat.scalar_type(),
              "isla_modulate_backward: grad must match x_hat, got ", grad.sizes(), " ", grad.scalar_type());
  const at::Tensor gr = grad.contiguous(), x = x_hat.contiguous(), m = masks.contiguous(),
                   g = gamma_obj.contiguous(), be = beta_obj.contiguous(), a = alpha.contiguous();
  at::Tensor dx = at::empty_like(x);
  at::Tensor dm = at::empty_like(m);
  at::Tensor dg = at::empty_like(g);
  at::Tensor db = at::empty_like(be);
  at::Tensor da = at::empty(alpha.sizes(), alpha.options());
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, x.scalar_type(), "isla_modulate_backward_cpu",
                                  [&] { backward_cpu<scalar_t>(gr, x, m, g, be, a, dx, dm, dg, db, da, d); });
  return {dx, dm, dg, db, da};
}

}  // namespace

TORCH_LIBRARY(lama, m) {
  m.def("isla_modulate(Tensor x_hat, Tensor masks, Tensor gamma_obj, Tensor beta_obj, Tensor alpha) -> Tensor");
  m.def(
      "isla_modulate_backward(Tensor grad, Tensor x_hat, Tensor masks, Tensor gamma_obj, Tensor beta_obj, "
      "Tensor alpha) -> (Tensor, Tensor, Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(lama, CPU, m) {
  m.impl("isla_modulate", &isla_modulate_cpu);
  m.impl("isla_modulate_backward", &isla_modulate_backward_cpu);
}

}  // namespace lama
