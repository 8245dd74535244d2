// Mixed precision: bf16 GEMM against f32 GEMM, and an MLP training step under bf16 autocast
// against the same step in f32 (time and peak activation bytes). libtorch does the same work in
// the same run (at::mm in f32/bf16; the MLP step with libtorch's CPU autocast).
//
//   bench_amp [--json FILE] [--threads N] [--filter S] [--quick] [--torch-f32-mlp]
//
// Rows:
//   gemm/4096x1024x1024/{f32,bf16}   C = A·B, M=4096 K=1024 N=1024. limit: the measured f32 FMA
//                                    peak (bf16: twice it, vdpbf16ps does two products per lane).
//   train/mlp32x1024_b256/{f32,autocast_bf16}
//                                    bench_train's step: 32 x (Linear 1024->1024 + GELU), batch
//                                    256, MSE loss, AdamW (mlp_model.hpp): zero_grad, forward
//                                    and loss (under autocast in the bf16 row), backward, step;
//                                    parameters, gradients and optimizer in f32. peak_activation_bytes:
//                                    the pool's peak live bytes during the forward minus the
//                                    live bytes before it (parameters); peak_step_bytes the
//                                    same over forward and backward (adds the f32 grads).
//                                    Both rows (and libtorch's) from one interleaved run.
//   train/gpt_char/{f32,autocast_bf16}
//                                    One step of examples/train_char_gpt with its defaults
//                                    (4 layers, 4 heads, embd 128, block 64, batch 32): forward
//                                    and loss (under autocast in the bf16 row), backward,
//                                    clip_grad_norm_ 1.0, AdamW step. Vocabulary of Debian's
//                                    fortunes when installed, else 96. No libtorch baseline
//                                    (there is no libtorch GPT here); the f32 row is the reference.
//                                    Both rows from one interleaved run.
//   conv/b128_{1x28x28_o32,32x14x14_o64}_k3/{f32,bf16}
//                                    The Fashion-MNIST CNN's two 3x3 convolutions (padding 1,
//                                    bias) at batch 128: forward, then the weight and bias
//                                    gradients and, for the second layer, the input gradient
//                                    (the first layer's input, the images, needs none). limit:
//                                    their FLOPs at the measured f32 FMA peak (bf16: twice it).
//                                    libtorch: at::conv2d and backward in the same dtype.
//   attention/b8h8t512d64_causal/{f32,bf16}
//                                    scaled_dot_product_attention, causal, q/k/v (8, 8, 512, 64)
//                                    in the row's dtype: forward + backward (autograd::grad);
//                                    both dtypes timed in one interleaved run.
//                                    Both run the blocked kernel (bf16: stored bf16, computed in
//                                    f32, Q·Kᵀ and dO·Vᵀ on vdpbf16ps). peak_bytes: the pool's
//                                    peak above the live bytes, one call; ttmatrix_bytes: what
//                                    B*H*T*T scores would take. limit: the causal half's six
//                                    T*T*D products (6*B*H*T*T*D flops) at the measured f32 FMA
//                                    peak; bf16: two of them (Q·Kᵀ, dO·Vᵀ) at twice it.
//                                    libtorch (1.13, no fused CPU attention): the composition
//                                    matmul, masked_fill, softmax, matmul in that dtype.

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <limits>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "mlp_model.hpp"
#include "neural_arch/autograd.hpp"
#include "neural_arch/backends/memory_pool.hpp"
#include "neural_arch/data/text.hpp"
#include "neural_arch/functional/attention.hpp"
#include "neural_arch/functional/conv.hpp"
#include "neural_arch/functional/loss.hpp"
#include "neural_arch/nn/gpt.hpp"
#include "neural_arch/ops.hpp"
#include "neural_arch/optim/adam.hpp"
#include "neural_arch/optim/clip_grad.hpp"
#include "neural_arch/optimization/autocast.hpp"
#include "neural_arch/tensor.hpp"

#ifdef NA_HAVE_LIBTORCH
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/nn.h>
#endif

namespace na = neural_arch;
using na::DType;
using na_bench::Report;
using na_bench::Row;

namespace {

na_bench::AdaptiveOptions timing_options(const na_bench::CommonArgs& args) {
  na_bench::AdaptiveOptions o;
  if (args.quick)
    o.min_repeats = 2, o.max_repeats = 3, o.min_total_s = 0.05;
  else
    o.min_repeats = 7, o.min_total_s = 2.0;
  return o;
}

#ifdef NA_HAVE_LIBTORCH
using na_bench::to_torch;
// glibc malloc as it comes (no kept-freed-blocks tuning): this program compares dtypes, and
// libtorch's allocations are the same on both sides of each comparison.
std::string torch_config() { return na_bench::torch_config(false); }
#endif

// ------------------------------------------------------------------ GEMM

void bench_gemm(DType t, const na_bench::CommonArgs& args, const na_bench::MachineInfo& mi, Report& rep,
                double* f32_ms) {
  const int64_t M = 4096, K = 1024, N = 1024;
  const std::string name = "gemm/4096x1024x1024/" + std::string(t == DType::f32 ? "f32" : "bf16");
  if (!args.wants(name)) return;
  na::manual_seed(1);
  na::Tensor a = na::randn({M, K}).to(t), b = na::randn({K, N}).to(t);
  na::Tensor out;
  std::vector<std::function<void()>> fns{[&] { out = na::mm(a, b); }};
#ifdef NA_HAVE_LIBTORCH
  const at::ScalarType tt = t == DType::f32 ? at::kFloat : at::kBFloat16;
  at::Tensor ta = to_torch(a).to(tt), tb = to_torch(b).to(tt), tout;
  fns.emplace_back([&] { tout = at::mm(ta, tb); });
#endif
  const auto st = na_bench::time_interleaved(fns, timing_options(args));
  const double flops = 2.0 * M * N * K;
  Row row;
  row.name = name;
  row.ours_ms = st[0].median_ms;
  const double peak = mi.fma_gflops * (t == DType::bf16 ? 2.0 : 1.0);
  row.limit_ms = flops / (peak * 1e9) * 1e3;
  row.set("limit_kind",
          t == DType::bf16 ? "2 x measured f32 FMA peak (bf16 dot products)" : "measured f32 FMA peak");
  row.set("ours_min_ms", st[0].min_ms).set("ours_p90_ms", st[0].p90_ms).set("repeats", st[0].repeats);
  row.set("ours_gflops", flops / (st[0].median_ms * 1e6));
  if (t == DType::f32) *f32_ms = st[0].median_ms;
  if (t == DType::bf16 && *f32_ms > 0) row.set("speedup_vs_f32", *f32_ms / st[0].median_ms);
#ifdef NA_HAVE_LIBTORCH
  row.baseline = "libtorch";
  row.baseline_ms = st[1].median_ms;
  row.set("baseline_gflops", flops / (st[1].median_ms * 1e6));
  row.set("baseline_config", torch_config());
  // Agreement: max |ours - libtorch| relative to max |libtorch|.
  const at::Tensor ours_t = to_torch(out), diff = (ours_t - tout.to(at::kFloat)).abs().max();
  row.set("max_rel_diff_vs_baseline", diff.item<double>() / tout.to(at::kFloat).abs().max().item<double>());
#endif
  rep.add(std::move(row));
}

// ------------------------------------------------------------------ MLP training step

// The train/mlp32x1024_b256 model of bench_train (mlp_model.hpp) and its step as a user writes
// it, with the forward and the loss under autocast in the autocast_bf16 row.
struct Mlp {
  na_bench::MlpModel m{na_bench::MlpShape{}, 1};
  // activation: the pool's peak over the forward (what the graph keeps for backward plus the
  // forward's temporaries); step: its peak over forward and backward (which adds the
  // parameter gradients, the same f32 bytes in both modes), both above the bytes live before.
  struct Peaks {
    size_t activation = 0, step = 0;
  };
  Peaks step(bool autocast) {
    auto& pool = na::backends::get_memory_pool();
    m.opt->zero_grad();
    const size_t before = pool.stats().allocated_bytes;
    pool.reset_peak();
    Peaks p;
    {
      na::Tensor loss;
      {
        na::optimization::autocast ac(DType::bf16, autocast);
        loss = na::functional::mse_loss(m.net->forward(m.x), m.y);
      }
      p.activation = pool.stats().peak_allocated_bytes - before;
      loss.backward();
    }
    p.step = pool.stats().peak_allocated_bytes - before;
    m.opt->step();
    return p;
  }
};

#ifdef NA_HAVE_LIBTORCH
struct TorchMlp {
  na_bench::TorchMlpModel m;
  explicit TorchMlp(const Mlp& ours) : m(ours.m) {}
  void step(bool autocast) {
    m.opt->zero_grad();
    at::autocast::set_cpu_enabled(autocast);
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::Tensor loss = torch::mse_loss(m.net->forward(m.x), m.y);
    at::autocast::set_cpu_enabled(false);
    at::autocast::clear_cache();
    loss.backward();
    m.opt->step();
  }
};
#endif

// libtorch's f32 GEMM goes through the system BLAS (baseline_config names it). With netlib's
// reference BLAS (~1-2 GFLOP/s) its f32 MLP step takes tens of seconds, so then it is timed only
// on request (--torch-f32-mlp); with an optimized BLAS (install_deps.sh --bench: OpenBLAS) always.
bool g_torch_f32_mlp = false;

// The row of one mode (a = 0: f32, 1: autocast) of a pair timed together.
Row mode_row(const std::string& base, int a, const na_bench::TimeStats& t) {
  Row row;
  row.name = base + (a ? "autocast_bf16" : "f32");
  row.ours_ms = t.median_ms;
  row.set("ours_min_ms", t.min_ms).set("ours_p90_ms", t.p90_ms).set("repeats", t.repeats);
  return row;
}

// Both rows from one interleaved run (ours f32, ours autocast, libtorch's two), so the
// autocast row's speedup_vs_f32 compares steps taken under the same machine load. Each mode
// trains its own copy of the model.
void bench_mlp(const na_bench::CommonArgs& args, Report& rep) {
  const std::string base = "train/mlp32x1024_b256/";
  const bool want[2] = {args.wants(base + "f32"), args.wants(base + "autocast_bf16")};
  if (!want[0] && !want[1]) return;
  Mlp m[2];
  Mlp::Peaks peaks[2];
  std::vector<std::function<void()>> fns{[&] { peaks[0] = m[0].step(false); },
                                         [&] { peaks[1] = m[1].step(true); }};
#ifdef NA_HAVE_LIBTORCH
  const bool torch_f32 = g_torch_f32_mlp || !na_bench::is_reference_blas(na_bench::loaded_blas());
  TorchMlp tm[2] = {TorchMlp(m[0]), TorchMlp(m[1])};
  std::vector<size_t> torch_index(2, 0);  // 0: not timed
  for (int a = 0; a < 2; ++a)
    if (a == 1 || torch_f32) {
      torch_index[a] = fns.size();
      fns.emplace_back([&tm, a] { tm[a].step(a == 1); });
    }
#endif
  const auto st = na_bench::time_interleaved(fns, timing_options(args));
  const double flops = m[0].m.shape.step_gemm_flops();  // forward + 2 backward GEMMs
  for (int a = 0; a < 2; ++a) {
    if (!want[a]) continue;
    Row row = mode_row(base, a, st[a]);
    row.set("gemm_gflops_effective", flops / (st[a].median_ms * 1e6));
    row.set("peak_activation_bytes", peaks[a].activation);
    row.set("peak_step_bytes", peaks[a].step);
    if (a == 1) {
      row.set("speedup_vs_f32", st[0].median_ms / st[1].median_ms);
      row.set("peak_activation_ratio_vs_f32",
              static_cast<double>(peaks[1].activation) / static_cast<double>(peaks[0].activation));
    }
#ifdef NA_HAVE_LIBTORCH
    if (torch_index[a]) {
      row.baseline = a ? "libtorch-autocast-cpu-bf16" : "libtorch";
      row.baseline_ms = st[torch_index[a]].median_ms;
      row.set("baseline_config", torch_config());
    } else {
      row.set("baseline_note", "libtorch f32 step not timed (its BLAS is netlib's reference one: " +
                                   na_bench::loaded_blas() + "; --torch-f32-mlp)");
    }
#endif
    rep.add(std::move(row));
  }
}

// ------------------------------------------------------------------ char-GPT training step

// The step cost depends on the vocabulary only through the embedding and the head; use the
// example's real one where the text is installed so the row is its step.
int64_t char_gpt_vocab(std::string* source) {
  try {
    const int64_t v = na::data::CharVocab(na::data::read_fortunes()).size();
    *source = "fortunes";
    return v;
  } catch (const na::Error&) {
    *source = "fallback (fortunes not installed)";
    return 96;
  }
}

struct CharGpt {
  std::shared_ptr<na::nn::GPT> gpt;
  std::unique_ptr<na::optim::AdamW> opt;
  explicit CharGpt(const na::nn::GPTConfig& cfg) {
    na::manual_seed(3);
    gpt = std::make_shared<na::nn::GPT>(cfg);
    opt = std::make_unique<na::optim::AdamW>(
        gpt->parameters(), na::optim::AdamWOptions().lr(2e-3).betas({0.9, 0.99}).weight_decay(0.1));
  }
  void step(const na::Tensor& idx, const na::Tensor& tgt, bool autocast) {
    na::Tensor loss;
    {
      na::optimization::autocast ac(DType::bf16, autocast);
      loss = gpt->forward(idx, tgt);
    }
    opt->zero_grad();
    loss.backward();
    na::optim::clip_grad_norm_(gpt->parameters(), 1.0);
    opt->step();
  }
};

// Both rows from one interleaved run, as bench_mlp.
void bench_gpt(const na_bench::CommonArgs& args, Report& rep) {
  const std::string base = "train/gpt_char/";
  const bool want[2] = {args.wants(base + "f32"), args.wants(base + "autocast_bf16")};
  if (!want[0] && !want[1]) return;
  std::string vocab_source;
  na::nn::GPTConfig cfg;  // train_char_gpt's defaults
  cfg.vocab_size = char_gpt_vocab(&vocab_source);
  cfg.block_size = 64;
  cfg.n_layer = 4;
  cfg.n_head = 4;
  cfg.n_embd = 128;
  cfg.dropout = 0.0;
  constexpr int64_t kGptBatch = 32;
  CharGpt g[2] = {CharGpt(cfg), CharGpt(cfg)};
  const na::Tensor idx = na::randint(0, cfg.vocab_size, {kGptBatch, cfg.block_size});
  const na::Tensor tgt = na::randint(0, cfg.vocab_size, {kGptBatch, cfg.block_size});
  const auto st = na_bench::time_interleaved(
      {[&] { g[0].step(idx, tgt, false); }, [&] { g[1].step(idx, tgt, true); }}, timing_options(args));
  for (int a = 0; a < 2; ++a) {
    if (!want[a]) continue;
    Row row = mode_row(base, a, st[a]);
    row.set("tokens_per_s", static_cast<double>(kGptBatch * cfg.block_size) / (st[a].median_ms * 1e-3));
    row.set("vocab_size", cfg.vocab_size).set("vocab_source", vocab_source);
    row.set("baseline_note", "none: no libtorch GPT in this program; compare with the f32 row");
    if (a == 1) row.set("speedup_vs_f32", st[0].median_ms / st[1].median_ms);
    rep.add(std::move(row));
  }
}

// ------------------------------------------------------------------ CNN convolutions

struct ConvCase {
  const char* name;
  int64_t C, HW, O;
  bool input_grad;
};
// src/nn/cnn.cpp's conv1 and conv2 (3x3, padding 1) on 28x28 Fashion-MNIST images.
constexpr ConvCase kCnnConvs[] = {{"b128_1x28x28_o32_k3", 1, 28, 32, false},
                                  {"b128_32x14x14_o64_k3", 32, 14, 64, true}};
constexpr int64_t kConvBatch = 128;

void bench_conv(const ConvCase& c, DType t, const na_bench::CommonArgs& args, const na_bench::MachineInfo& mi,
                Report& rep, double* f32_ms) {
  const std::string name = std::string("conv/") + c.name + (t == DType::f32 ? "/f32" : "/bf16");
  if (!args.wants(name)) return;
  na::manual_seed(5);
  const na::Tensor x = na::randn({kConvBatch, c.C, c.HW, c.HW}),
                   w = na::mul(na::randn({c.O, c.C, 3, 3}), na::scalar_tensor(0.2)), b = na::randn({c.O}),
                   gy = na::randn({kConvBatch, c.O, c.HW, c.HW});
  na::Tensor xl = x.to(t).requires_grad_(c.input_grad), wl = w.to(t).requires_grad_(),
             bl = b.to(t).requires_grad_();
  const na::Tensor gyt = gy.to(t);
  std::vector<na::Tensor> inputs{wl, bl}, grads;
  if (c.input_grad) inputs.push_back(xl);
  std::vector<std::function<void()>> fns{[&] {
    const na::Tensor y = na::functional::conv2d(xl, wl, bl, 1, 1);
    grads = na::autograd::grad({y}, inputs, {gyt});
  }};
#ifdef NA_HAVE_LIBTORCH
  const at::ScalarType tt = t == DType::f32 ? at::kFloat : at::kBFloat16;
  at::Tensor tx = to_torch(x).to(tt).requires_grad_(c.input_grad), tw = to_torch(w).to(tt).requires_grad_(),
             tb = to_torch(b).to(tt).requires_grad_(), tgy = to_torch(gy).to(tt);
  fns.emplace_back([&] {
    for (at::Tensor* p : {&tx, &tw, &tb}) p->mutable_grad().reset();
    at::conv2d(tx, tw, tb, 1, 1).backward(tgy);
  });
#endif
  const auto st = na_bench::time_interleaved(fns, timing_options(args));
  const double pass = 2.0 * kConvBatch * c.O * c.HW * c.HW * c.C * 9;  // one pass's FLOPs
  const double flops = pass * (c.input_grad ? 3 : 2);
  Row row;
  row.name = name;
  row.ours_ms = st[0].median_ms;
  row.limit_ms = flops / (mi.fma_gflops * (t == DType::bf16 ? 2.0 : 1.0) * 1e9) * 1e3;
  row.set("limit_kind",
          t == DType::bf16 ? "2 x measured f32 FMA peak (bf16 dot products)" : "measured f32 FMA peak");
  row.set("ours_min_ms", st[0].min_ms).set("ours_p90_ms", st[0].p90_ms).set("repeats", st[0].repeats);
  row.set("ours_gflops", flops / (st[0].median_ms * 1e6));
  if (t == DType::f32) *f32_ms = st[0].median_ms;
  if (t == DType::bf16) {
    // The criterion conv_onednn.cpp uses: without it bf16 is widened to f32.
    const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa()),
               want = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_bf16);
    row.set("bf16_native_cpu", (isa & want) == want);
    if (*f32_ms > 0) row.set("speedup_vs_f32", *f32_ms / st[0].median_ms);
  }
#ifdef NA_HAVE_LIBTORCH
  row.baseline = "libtorch";
  row.baseline_ms = st[1].median_ms;
  row.set("baseline_config", torch_config());
  // Agreement of the weight gradient: max |ours - libtorch| relative to max |libtorch|.
  const at::Tensor tg = tw.grad().to(at::kFloat);
  row.set("max_rel_diff_vs_baseline",
          (to_torch(grads[0]) - tg).abs().max().item<double>() / tg.abs().max().item<double>());
#endif
  rep.add(std::move(row));
}

// ------------------------------------------------------------------ attention

// One dtype's inputs, our call and libtorch's composition on the same values.
struct AttentionCase {
  DType t;
  std::string name;
  na::Tensor q, k, v, g;
  std::vector<na::Tensor> grads;
  std::function<void()> ours;
#ifdef NA_HAVE_LIBTORCH
  at::Tensor tq, tk, tv, tg, mask;
  std::vector<at::Tensor> tgrads;
  std::function<void()> theirs;
#endif
};

// f32 and bf16 are timed in one interleaved run (ours and libtorch's for both), so the
// speedup_vs_f32 of the bf16 row compares calls under the same machine load.
void bench_attention(const na_bench::CommonArgs& args, const na_bench::MachineInfo& mi, Report& rep) {
  const int64_t B = 8, H = 8, T = 512, D = 64;
  std::vector<std::unique_ptr<AttentionCase>> cases;
  for (DType t : {DType::f32, DType::bf16}) {
    const std::string name =
        std::string("attention/b8h8t512d64_causal/") + (t == DType::f32 ? "f32" : "bf16");
    if (!args.wants(name)) continue;
    auto c = std::make_unique<AttentionCase>();
    AttentionCase& a = *c;
    a.t = t, a.name = name;
    na::manual_seed(4);
    a.q = na::randn({B, H, T, D}).to(t).requires_grad_(),
    a.k = na::randn({B, H, T, D}).to(t).requires_grad_();
    a.v = na::randn({B, H, T, D}).to(t).requires_grad_(), a.g = na::randn({B, H, T, D}).to(t);
    a.ours = [&a] {
      na::Tensor out = na::functional::scaled_dot_product_attention(a.q, a.k, a.v, {}, 0.0, true);
      a.grads = na::autograd::grad({out}, {a.q, a.k, a.v}, {a.g});
    };
#ifdef NA_HAVE_LIBTORCH
    const at::ScalarType tt = t == DType::f32 ? at::kFloat : at::kBFloat16;
    a.tq = to_torch(a.q).to(tt).requires_grad_(), a.tk = to_torch(a.k).to(tt).requires_grad_();
    a.tv = to_torch(a.v).to(tt).requires_grad_(), a.tg = to_torch(a.g).to(tt);
    a.mask = at::ones({T, T}, at::kBool).triu(1);  // true above the diagonal: masked out
    a.theirs = [&a, scale = 1.0 / std::sqrt(static_cast<double>(D))] {
      at::Tensor s = at::matmul(a.tq, a.tk.transpose(-2, -1)) * scale;
      s = s.masked_fill(a.mask, -std::numeric_limits<float>::infinity());
      a.tgrads = torch::autograd::grad({at::matmul(at::softmax(s, -1), a.tv)}, {a.tq, a.tk, a.tv}, {a.tg});
    };
#endif
    cases.push_back(std::move(c));
  }
  if (cases.empty()) return;
  std::vector<std::function<void()>> fns;
  for (const auto& c : cases) fns.push_back(c->ours);
#ifdef NA_HAVE_LIBTORCH
  for (const auto& c : cases) fns.push_back(c->theirs);
#endif
  const auto st = na_bench::time_interleaved(fns, timing_options(args));
  double f32_ms = 0;
  int64_t f32_peak = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    AttentionCase& a = *cases[i];
    // Peak: one more call, the pool's peak above the bytes live before it.
    auto& pool = na::backends::get_memory_pool();
    const int64_t base = static_cast<int64_t>(pool.stats().allocated_bytes);
    pool.reset_peak();
    a.ours();
    const int64_t peak = static_cast<int64_t>(pool.stats().peak_allocated_bytes) - base;
    // Causal half of forward (2 products) + backward (4), each B*H*T*T*D flops; bf16 does Q·Kᵀ
    // and dO·Vᵀ on bf16 dot products (twice the f32 FMA rate), so counts them half.
    const bool f32 = a.t == DType::f32;
    const double flops = (f32 ? 6.0 : 5.0) * B * H * T * T * D;
    Row row;
    row.name = a.name;
    row.ours_ms = st[i].median_ms;
    row.limit_ms = flops / (mi.fma_gflops * 1e9) * 1e3;
    row.set("limit_kind", f32 ? "measured f32 FMA peak over 6*B*H*T*T*D flops"
                              : "measured f32 FMA peak over 4*B*H*T*T*D flops + twice it over 2*B*H*T*T*D "
                                "(Q.K^T, dO.V^T on vdpbf16ps)");
    row.set("ours_min_ms", st[i].min_ms).set("ours_p90_ms", st[i].p90_ms).set("repeats", st[i].repeats);
    row.set("peak_bytes", peak);
    row.set("ttmatrix_bytes", static_cast<int64_t>(B * H * T * T * (f32 ? 4 : 2)));
    if (f32) f32_ms = st[i].median_ms, f32_peak = peak;
    if (!f32 && f32_ms > 0) {
      row.set("speedup_vs_f32", f32_ms / st[i].median_ms);
      row.set("peak_ratio_vs_f32", static_cast<double>(peak) / static_cast<double>(f32_peak));
    }
#ifdef NA_HAVE_LIBTORCH
    row.baseline = "libtorch";
    row.baseline_ms = st[cases.size() + i].median_ms;
    row.set("baseline_config", torch_config() + " (composition: matmul, masked_fill, softmax, matmul)");
    // Agreement of the gradients: max |ours - libtorch| over max |libtorch|, worst of dq, dk, dv.
    double diff = 0;
    for (size_t g = 0; g < 3; ++g) {
      const at::Tensor theirs = a.tgrads[g].to(at::kFloat);
      diff = std::max(diff, (to_torch(a.grads[g]).to(at::kFloat) - theirs).abs().max().item<double>() /
                                theirs.abs().max().item<double>());
    }
    row.set("max_rel_diff_vs_baseline", diff);
#endif
    rep.add(std::move(row));
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const na_bench::CommonArgs args =
        na_bench::parse_args(argc, argv, "bench_amp",
                             {{"--torch-f32-mlp", "", "time libtorch's f32 MLP step even on a reference BLAS",
                               [](const std::string&) { g_torch_f32_mlp = true; }}});
#ifdef NA_HAVE_LIBTORCH
    na_bench::prepare_libtorch(argv, false);
#endif
    na_bench::set_threads(args.threads);
    const na_bench::MachineInfo mi = na_bench::measure_machine(args.threads);
    std::cout << "cpu: " << mi.cpu << "  isa: " << mi.isa << "  threads: " << mi.threads
              << "  fma peak: " << mi.fma_gflops << " GFLOP/s\n";
#ifdef NA_HAVE_LIBTORCH
    std::cout << "baseline: " << torch_config() << "\n" << na_bench::reference_blas_note() << "\n";
#endif
    Report rep;
    rep.set_run_info(argc, argv);
    rep.set_machine(mi);
    double gemm_f32 = 0;
    bench_gemm(DType::f32, args, mi, rep, &gemm_f32);
    bench_gemm(DType::bf16, args, mi, rep, &gemm_f32);
    bench_mlp(args, rep);
    bench_gpt(args, rep);
    for (const ConvCase& c : kCnnConvs) {
      double conv_f32 = 0;
      bench_conv(c, DType::f32, args, mi, rep, &conv_f32);
      bench_conv(c, DType::bf16, args, mi, rep, &conv_f32);
    }
    bench_attention(args, mi, rep);
    rep.print_table(std::cout);
    for (const auto& r : rep.rows())
      for (const char* k : {"speedup_vs_f32", "peak_activation_ratio_vs_f32"})
        if (const auto* v = r.get(k)) std::cout << r.name << " " << k << " " << v->to_json() << "\n";
    if (!args.json_path.empty()) {
      rep.write_json(args.json_path);
      std::cout << "\nwrote " << args.json_path << "\n";
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bench_amp: " << e.what() << "\n";
    return 1;
  }
}
