// Convolution glue: f32 and bf16 through cached oneDNN convolution primitives, f64 (and any f32
// geometry oneDNN would only run in its reference code) through direct loops. See conv_onednn.hpp.
//
// Primitives are created with format "any" so oneDNN picks its fast blocked layouts; the
// caller's NCHW/OIHW buffers are reordered in and out only where the picked layout differs
// (with plain NCHW forced, oneDNN 2.6 falls back to an im2col GEMM that is several times slower).
#include "backends/cpu/conv_onednn.hpp"

#include <algorithm>
#include <array>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <unordered_map>
#include <vector>

#include "backends/cpu/onednn_context.hpp"
#include "backends/cpu/parallel.hpp"
#include "neural_arch/error.hpp"

namespace neural_arch::cpu {

namespace {

// ------------------------------------------------------------------ direct loops (f64, fallback)

// Calls f(out, in) for each output position out = oh * OW + ow whose kernel tap (kh, kw) reads
// input position in = ih * W + iw inside the input (taps in the padding read zeros: skipped).
template <class F> void for_each_tap(const ConvShape& s, int64_t kh, int64_t kw, F&& f) {
  for (int64_t oh = 0; oh < s.OH; ++oh) {
    const int64_t ih = oh * s.stride_h - s.pad_top + kh * s.dil_h;
    if (ih < 0 || ih >= s.H) continue;
    for (int64_t ow = 0; ow < s.OW; ++ow) {
      const int64_t iw = ow * s.stride_w - s.pad_left + kw * s.dil_w;
      if (iw >= 0 && iw < s.W) f(oh * s.OW + ow, ih * s.W + iw);
    }
  }
}

// Each task owns whole output planes, so results do not depend on the thread count.
template <class T> void direct_forward(const ConvShape& s, const T* x, const T* w, const T* bias, T* y) {
  const int64_t cg = s.C / s.groups, og = s.O / s.groups;
  const int64_t plane = s.OH * s.OW;
  const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, plane * cg * s.KH * s.KW));
  parallel_for(0, s.N * s.O, grain, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t n = t / s.O, o = t % s.O, g = o / og;
      T* yp = y + t * plane;
      const T init = bias ? bias[o] : T(0);
      for (int64_t i = 0; i < plane; ++i) yp[i] = init;
      for (int64_t c = 0; c < cg; ++c) {
        const T* xp = x + (n * s.C + g * cg + c) * s.H * s.W;
        const T* wp = w + (o * cg + c) * s.KH * s.KW;
        for (int64_t kh = 0; kh < s.KH; ++kh)
          for (int64_t kw = 0; kw < s.KW; ++kw) {
            const T wv = wp[kh * s.KW + kw];
            for_each_tap(s, kh, kw, [&](int64_t out, int64_t in) { yp[out] += wv * xp[in]; });
          }
      }
    }
  });
}

template <class T> void direct_backward_data(const ConvShape& s, const T* gy, const T* w, T* gx) {
  const int64_t cg = s.C / s.groups, og = s.O / s.groups;
  const int64_t plane = s.OH * s.OW;
  const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, plane * og * s.KH * s.KW));
  parallel_for(0, s.N * s.C, grain, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t n = t / s.C, c = t % s.C, g = c / cg, ci = c % cg;
      T* gxp = gx + t * s.H * s.W;
      for (int64_t i = 0; i < s.H * s.W; ++i) gxp[i] = T(0);
      for (int64_t o = g * og; o < (g + 1) * og; ++o) {
        const T* gyp = gy + (n * s.O + o) * plane;
        const T* wp = w + (o * cg + ci) * s.KH * s.KW;
        for (int64_t kh = 0; kh < s.KH; ++kh)
          for (int64_t kw = 0; kw < s.KW; ++kw) {
            const T wv = wp[kh * s.KW + kw];
            for_each_tap(s, kh, kw, [&](int64_t out, int64_t in) { gxp[in] += wv * gyp[out]; });
          }
      }
    }
  });
}

template <class T>
void direct_backward_weights(const ConvShape& s, const T* x, const T* gy, T* gw, T* gbias) {
  const int64_t cg = s.C / s.groups, og = s.O / s.groups;
  const int64_t plane = s.OH * s.OW;
  const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, s.N * plane * s.KH * s.KW));
  parallel_for(0, s.O * cg, grain, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t o = t / cg, ci = t % cg, g = o / og;
      T* gwp = gw + t * s.KH * s.KW;
      for (int64_t kh = 0; kh < s.KH; ++kh)
        for (int64_t kw = 0; kw < s.KW; ++kw) {
          T acc = T(0);
          for (int64_t n = 0; n < s.N; ++n) {
            const T* xp = x + (n * s.C + g * cg + ci) * s.H * s.W;
            const T* gyp = gy + (n * s.O + o) * plane;
            for_each_tap(s, kh, kw, [&](int64_t out, int64_t in) { acc += xp[in] * gyp[out]; });
          }
          gwp[kh * s.KW + kw] = acc;
        }
    }
  });
  if (gbias) {
    parallel_for(0, s.O, 1, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        T acc = T(0);
        for (int64_t n = 0; n < s.N; ++n) {
          const T* gyp = gy + (n * s.O + o) * plane;
          for (int64_t i = 0; i < plane; ++i) acc += gyp[i];
        }
        gbias[o] = acc;
      }
    });
  }
}

// ------------------------------------------------------------------ oneDNN plumbing

using dnnl::memory;
using Dims = memory::dims;

// thread_buffer slots of run_entry: 1-3 hold one call's reordered operands and 4 an operand
// shared by two calls (slot 0 is the scratchpad).
constexpr int kFirstOperandSlot = 1;
constexpr int kSharedOperandSlot = 4;

enum class Kind : uint8_t { forward, backward_data, backward_weights };

struct Key {
  std::array<int64_t, 18> geometry;
  Kind kind;
  bool has_bias;
  memory::data_type dt;  // of activations and weights: f32 or bf16
  int threads;           // onednn::primitive_threads() when the primitive was made
  bool operator==(const Key&) const = default;
};

struct KeyHash {
  size_t operator()(const Key& k) const {
    onednn::KeyHasher h;
    for (int64_t v : k.geometry) h.mix(static_cast<uint64_t>(v));
    h.mix(static_cast<uint64_t>(k.kind) | (uint64_t{k.has_bias} << 8) | (static_cast<uint64_t>(k.dt) << 16) |
          (static_cast<uint64_t>(k.threads) << 32));
    return h.value();
  }
};

Key make_key(const ConvShape& s, Kind kind, bool has_bias, memory::data_type dt) {
  Key k{{s.N, s.C, s.H, s.W, s.O, s.KH, s.KW, s.OH, s.OW, s.stride_h, s.stride_w, s.pad_top, s.pad_bottom,
         s.pad_left, s.pad_right, s.dil_h, s.dil_w, s.groups},
        kind,
        has_bias,
        dt,
        onednn::primitive_threads()};
  return k;
}

// One primitive argument: the caller's plain layout, the layout the primitive wants, and the
// reorder between them when they differ.
struct Arg {
  int id = 0;
  bool output = false;
  memory::desc user_md, prim_md;
  bool reorder = false;
  dnnl::reorder to_prim, from_prim;
};

struct Entry {
  bool usable = false;  // false: oneDNN would use its reference code or refused; use the loops
  dnnl::primitive prim;
  std::vector<Arg> args;  // the order of the pointers passed to run()
  memory::desc scratch_md;
  size_t scratch_bytes = 0;
};

using Cache = onednn::PrimitiveCache<Key, Entry, KeyHash, ConvCacheStats>;

Cache& cache() {
  static Cache* c = new Cache(256);  // never destroyed: convolutions may run during exit
  return *c;
}

// *_user: the caller's plain buffers, all of data type dt. *_any: what the primitives are
// created with. For bf16 the weight and bias gradients are accumulated in f32 (gwei_any,
// gbias_prim) and rounded to bf16 once, by the reorder into the caller's buffer (as PyTorch does).
struct Descs {
  memory::desc src_user, wei_user, dst_user, bias_user;
  memory::desc src_any, wei_any, dst_any, bias_any, gwei_any, gbias_prim;
  Dims strides, dilates, pad_l, pad_r;
};

Descs make_descs(const ConvShape& s, memory::data_type dt) {
  using tag = memory::format_tag;
  constexpr auto f32 = memory::data_type::f32;
  Descs d;
  const Dims src{s.N, s.C, s.H, s.W}, dst{s.N, s.O, s.OH, s.OW};
  // A grouped OIHW buffer is exactly goihw with O split into (groups, O / groups).
  const Dims wei =
      s.groups == 1 ? Dims{s.O, s.C, s.KH, s.KW} : Dims{s.groups, s.O / s.groups, s.C / s.groups, s.KH, s.KW};
  d.src_user = memory::desc(src, dt, tag::nchw);
  d.dst_user = memory::desc(dst, dt, tag::nchw);
  d.wei_user = memory::desc(wei, dt, s.groups == 1 ? tag::oihw : tag::goihw);
  d.bias_user = memory::desc({s.O}, dt, tag::x);
  d.src_any = memory::desc(src, dt, tag::any);
  d.dst_any = memory::desc(dst, dt, tag::any);
  d.wei_any = memory::desc(wei, dt, tag::any);
  d.bias_any = d.bias_user;  // a bf16 bias is widened inside the f32 accumulation
  d.gwei_any = memory::desc(wei, f32, tag::any);
  d.gbias_prim = memory::desc({s.O}, f32, tag::x);
  d.strides = {s.stride_h, s.stride_w};
  d.dilates = {s.dil_h - 1, s.dil_w - 1};  // oneDNN counts the gaps, PyTorch the step
  d.pad_l = {s.pad_top, s.pad_left};
  d.pad_r = {s.pad_bottom, s.pad_right};
  return d;
}

Arg make_arg(int id, bool output, const memory::desc& user, const memory::desc& prim) {
  Arg a;
  a.id = id;
  a.output = output;
  a.user_md = user;
  a.prim_md = prim;
  a.reorder = user != prim;
  if (a.reorder) {
    auto& eng = onednn::engine();
    if (output)
      a.from_prim = dnnl::reorder(dnnl::reorder::primitive_desc(eng, prim, eng, user));
    else
      a.to_prim = dnnl::reorder(dnnl::reorder::primitive_desc(eng, user, eng, prim));
  }
  return a;
}

dnnl::convolution_forward::primitive_desc forward_pd(const Descs& d, bool has_bias,
                                                     const dnnl::primitive_attr& attr) {
  using namespace dnnl;
  auto desc = has_bias ? convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct,
                                                   d.src_any, d.wei_any, d.bias_any, d.dst_any, d.strides,
                                                   d.dilates, d.pad_l, d.pad_r)
                       : convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct,
                                                   d.src_any, d.wei_any, d.dst_any, d.strides, d.dilates,
                                                   d.pad_l, d.pad_r);
  return convolution_forward::primitive_desc(desc, attr, onednn::engine());
}

Entry make_entry(const ConvShape& s, Kind kind, bool has_bias, memory::data_type dt) {
  using namespace dnnl;
  Entry e;
  try {
    const Descs d = make_descs(s, dt);
    const primitive_attr attr = onednn::user_scratchpad_attr();
    if (kind == Kind::forward) {
      auto pd = forward_pd(d, has_bias, attr);
      if (onednn::is_reference(pd.impl_info_str())) return e;
      e.prim = convolution_forward(pd);
      e.args.push_back(make_arg(DNNL_ARG_SRC, false, d.src_user, pd.src_desc()));
      e.args.push_back(make_arg(DNNL_ARG_WEIGHTS, false, d.wei_user, pd.weights_desc()));
      if (has_bias) e.args.push_back(make_arg(DNNL_ARG_BIAS, false, d.bias_user, pd.bias_desc()));
      e.args.push_back(make_arg(DNNL_ARG_DST, true, d.dst_user, pd.dst_desc()));
      e.scratch_md = pd.scratchpad_desc();
    } else if (kind == Kind::backward_data) {
      auto hint = forward_pd(d, false, primitive_attr());
      auto desc = convolution_backward_data::desc(algorithm::convolution_direct, d.src_any, d.wei_any,
                                                  d.dst_any, d.strides, d.dilates, d.pad_l, d.pad_r);
      auto pd = convolution_backward_data::primitive_desc(desc, attr, onednn::engine(), hint);
      if (onednn::is_reference(pd.impl_info_str())) return e;
      e.prim = convolution_backward_data(pd);
      e.args.push_back(make_arg(DNNL_ARG_DIFF_DST, false, d.dst_user, pd.diff_dst_desc()));
      e.args.push_back(make_arg(DNNL_ARG_WEIGHTS, false, d.wei_user, pd.weights_desc()));
      e.args.push_back(make_arg(DNNL_ARG_DIFF_SRC, true, d.src_user, pd.diff_src_desc()));
      e.scratch_md = pd.scratchpad_desc();
    } else {
      auto hint = forward_pd(d, has_bias, primitive_attr());
      auto desc =
          has_bias ? convolution_backward_weights::desc(algorithm::convolution_direct, d.src_any, d.gwei_any,
                                                        d.gbias_prim, d.dst_any, d.strides, d.dilates,
                                                        d.pad_l, d.pad_r)
                   : convolution_backward_weights::desc(algorithm::convolution_direct, d.src_any, d.gwei_any,
                                                        d.dst_any, d.strides, d.dilates, d.pad_l, d.pad_r);
      auto pd = convolution_backward_weights::primitive_desc(desc, attr, onednn::engine(), hint);
      if (onednn::is_reference(pd.impl_info_str())) return e;
      e.prim = convolution_backward_weights(pd);
      e.args.push_back(make_arg(DNNL_ARG_SRC, false, d.src_user, pd.src_desc()));
      e.args.push_back(make_arg(DNNL_ARG_DIFF_DST, false, d.dst_user, pd.diff_dst_desc()));
      e.args.push_back(make_arg(DNNL_ARG_DIFF_WEIGHTS, true, d.wei_user, pd.diff_weights_desc()));
      if (has_bias) e.args.push_back(make_arg(DNNL_ARG_DIFF_BIAS, true, d.bias_user, pd.diff_bias_desc()));
      e.scratch_md = pd.scratchpad_desc();
    }
    e.scratch_bytes = e.scratch_md.get_size();
    e.usable = true;
  } catch (const dnnl::error&) {
    e = Entry();  // a geometry this oneDNN build does not support: use the loops
  }
  return e;
}

std::shared_ptr<const Entry> entry_for(const ConvShape& s, Kind kind, bool has_bias, memory::data_type dt) {
  return cache().get(make_key(s, kind, has_bias, dt), [&] { return make_entry(s, kind, has_bias, dt); });
}

// An operand already in the primitive's layout, shared by two primitives (see conv2d_backward).
struct Prepared {
  int id = 0;
  memory mem;
};

// Runs a usable entry on the caller's buffers (in Entry::args order); `prepared` replaces the
// named arguments with memories that are already in the primitive's layout.
void run_entry(const Entry& e, const std::vector<void*>& ptrs, const std::vector<Prepared>& prepared = {}) {
  try {
    auto& st = onednn::stream();
    std::unordered_map<int, memory> args;
    std::vector<std::pair<const Arg*, memory>> outputs;
    int slot = kFirstOperandSlot;
    for (size_t i = 0; i < e.args.size(); ++i) {
      const Arg& a = e.args[i];
      auto pre =
          std::find_if(prepared.begin(), prepared.end(), [&](const Prepared& p) { return p.id == a.id; });
      if (pre != prepared.end()) {
        args.emplace(a.id, pre->mem);
        continue;
      }
      memory user = onednn::wrap(a.user_md, ptrs[i]);
      if (!a.reorder) {
        args.emplace(a.id, user);
        continue;
      }
      memory prim = onednn::wrap(a.prim_md, onednn::thread_buffer(slot++, a.prim_md.get_size(), "conv2d"));
      if (a.output) {
        outputs.emplace_back(&a, user);
      } else {
        a.to_prim.execute(st, user, prim);
      }
      args.emplace(a.id, prim);
    }
    onednn::add_scratchpad(args, e.scratch_md, e.scratch_bytes, "conv2d");
    e.prim.execute(st, args);
    for (auto& [a, user] : outputs) a->from_prim.execute(st, args.at(a->id), user);
    st.wait();
  } catch (const dnnl::error& err) {
    detail::throw_error("conv2d", "oneDNN convolution failed: ", err.what());
  }
}

// Runs the cached primitive for (s, kind). Returns false when oneDNN cannot run this geometry
// well, so the caller uses the direct loops.
bool run_onednn(const ConvShape& s, Kind kind, bool has_bias, memory::data_type dt,
                const std::vector<void*>& ptrs) {
  const std::shared_ptr<const Entry> entry = entry_for(s, kind, has_bias, dt);
  if (!entry->usable) return false;
  run_entry(*entry, ptrs);
  return true;
}

const Arg* find_arg(const Entry& e, int id) {
  for (const Arg& a : e.args)
    if (a.id == id) return &a;
  return nullptr;
}

// Both backward primitives for data type dt; the output gradient is reordered into oneDNN's
// layout once when both want the same one (they usually do). Returns false, having written
// nothing, unless both primitives are usable.
bool run_backward_onednn(const ConvShape& s, memory::data_type dt, const void* x, const void* gy,
                         const void* w, void* gx, void* gw, void* gbias) {
  const auto ed = entry_for(s, Kind::backward_data, false, dt);
  const auto ew = entry_for(s, Kind::backward_weights, gbias != nullptr, dt);
  if (!ed->usable || !ew->usable) return false;
  void* gy_ = const_cast<void*>(gy);
  std::vector<void*> dp{gy_, const_cast<void*>(w), gx}, wp{const_cast<void*>(x), gy_, gw};
  if (gbias) wp.push_back(gbias);
  std::vector<Prepared> shared;
  const Arg* dd = find_arg(*ed, DNNL_ARG_DIFF_DST);
  const Arg* dw = find_arg(*ew, DNNL_ARG_DIFF_DST);
  if (dd->reorder && dw->reorder && dd->prim_md == dw->prim_md) {
    try {
      Prepared p{DNNL_ARG_DIFF_DST,
                 onednn::wrap(dd->prim_md,
                              onednn::thread_buffer(kSharedOperandSlot, dd->prim_md.get_size(), "conv2d"))};
      memory user = onednn::wrap(dd->user_md, gy);
      dd->to_prim.execute(onednn::stream(), user, p.mem);
      shared.push_back(std::move(p));
    } catch (const dnnl::error& err) {
      detail::throw_error("conv2d", "oneDNN reorder failed: ", err.what());
    }
  }
  run_entry(*ed, dp, shared);
  run_entry(*ew, wp, shared);
  return true;
}

bool empty_problem(const ConvShape& s) { return s.N == 0 || s.O == 0 || s.OH == 0 || s.OW == 0; }

// Whether the bf16 entry points run natively: oneDNN dispatches to AVX512-BF16 (vdpbf16ps) or
// AMX code here. On plain AVX-512 it would emulate bf16 dot products, on older CPUs run its
// reference code; both lose to widening to f32, which the caller then does. Empty problems
// (any zero extent) also go the widened way: the f32 entry points handle every such case.
// oneDNN's effective ISA honours ONEDNN_MAX_CPU_ISA, so the fallback can be exercised here.
bool bf16_native(const ConvShape& s) {
  return conv_bf16_native_cpu() && s.N > 0 && s.C > 0 && s.H > 0 && s.W > 0 && !empty_problem(s);
}

constexpr auto kF32 = memory::data_type::f32;
constexpr auto kBF16 = memory::data_type::bf16;

template <class T> void* vp(const T* p) { return const_cast<T*>(p); }

}  // namespace

// ------------------------------------------------------------------ entry points

void conv2d_forward(const ConvShape& s, const float* x, const float* w, const float* bias, float* y) {
  if (empty_problem(s)) return;
  if (s.C == 0) {  // an empty reduction: the output is the bias
    for (int64_t t = 0; t < s.N * s.O; ++t)
      std::fill(y + t * s.OH * s.OW, y + (t + 1) * s.OH * s.OW, bias ? bias[t % s.O] : 0.f);
    return;
  }
  std::vector<void*> ptrs{vp(x), vp(w)};
  if (bias) ptrs.push_back(vp(bias));
  ptrs.push_back(y);
  if (!run_onednn(s, Kind::forward, bias != nullptr, kF32, ptrs)) direct_forward(s, x, w, bias, y);
}

void conv2d_forward(const ConvShape& s, const double* x, const double* w, const double* bias, double* y) {
  if (empty_problem(s)) return;
  direct_forward(s, x, w, bias, y);
}

bool conv2d_forward(const ConvShape& s, const BFloat16* x, const BFloat16* w, const BFloat16* bias,
                    BFloat16* y) {
  if (!bf16_native(s)) return false;
  std::vector<void*> ptrs{vp(x), vp(w)};
  if (bias) ptrs.push_back(vp(bias));
  ptrs.push_back(y);
  return run_onednn(s, Kind::forward, bias != nullptr, kBF16, ptrs);
}

void conv2d_backward_data(const ConvShape& s, const float* gy, const float* w, float* gx) {
  if (s.N * s.C * s.H * s.W == 0) return;
  if (empty_problem(s)) {
    std::fill(gx, gx + s.N * s.C * s.H * s.W, 0.f);
    return;
  }
  if (!run_onednn(s, Kind::backward_data, false, kF32, {vp(gy), vp(w), gx}))
    direct_backward_data(s, gy, w, gx);
}

void conv2d_backward_data(const ConvShape& s, const double* gy, const double* w, double* gx) {
  if (s.N * s.C * s.H * s.W == 0) return;
  direct_backward_data(s, gy, w, gx);
}

bool conv2d_backward_data(const ConvShape& s, const BFloat16* gy, const BFloat16* w, BFloat16* gx) {
  return bf16_native(s) && run_onednn(s, Kind::backward_data, false, kBF16, {vp(gy), vp(w), gx});
}

void conv2d_backward_weights(const ConvShape& s, const float* x, const float* gy, float* gw, float* gbias) {
  if (s.O == 0) return;
  if (empty_problem(s) || s.C == 0) {
    std::fill(gw, gw + s.O * (s.C / s.groups) * s.KH * s.KW, 0.f);
    if (gbias) direct_backward_weights(s, x, gy, gw, gbias);
    return;
  }
  std::vector<void*> ptrs{vp(x), vp(gy), gw};
  if (gbias) ptrs.push_back(gbias);
  if (!run_onednn(s, Kind::backward_weights, gbias != nullptr, kF32, ptrs))
    direct_backward_weights(s, x, gy, gw, gbias);
}

void conv2d_backward_weights(const ConvShape& s, const double* x, const double* gy, double* gw,
                             double* gbias) {
  if (s.O == 0) return;
  direct_backward_weights(s, x, gy, gw, gbias);
}

bool conv2d_backward_weights(const ConvShape& s, const BFloat16* x, const BFloat16* gy, BFloat16* gw,
                             BFloat16* gbias) {
  if (!bf16_native(s)) return false;
  std::vector<void*> ptrs{vp(x), vp(gy), gw};
  if (gbias) ptrs.push_back(gbias);
  return run_onednn(s, Kind::backward_weights, gbias != nullptr, kBF16, ptrs);
}

void conv2d_backward(const ConvShape& s, const float* x, const float* gy, const float* w, float* gx,
                     float* gw, float* gbias) {
  if (!empty_problem(s) && s.C > 0 && s.N * s.C * s.H * s.W > 0 &&
      run_backward_onednn(s, kF32, x, gy, w, gx, gw, gbias))
    return;
  conv2d_backward_data(s, gy, w, gx);
  conv2d_backward_weights(s, x, gy, gw, gbias);
}

void conv2d_backward(const ConvShape& s, const double* x, const double* gy, const double* w, double* gx,
                     double* gw, double* gbias) {
  conv2d_backward_data(s, gy, w, gx);
  conv2d_backward_weights(s, x, gy, gw, gbias);
}

bool conv2d_backward(const ConvShape& s, const BFloat16* x, const BFloat16* gy, const BFloat16* w,
                     BFloat16* gx, BFloat16* gw, BFloat16* gbias) {
  return bf16_native(s) && run_backward_onednn(s, kBF16, x, gy, w, gx, gw, gbias);
}

bool conv_bf16_native_cpu() {
  static const bool yes = [] {
    const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
    const auto want = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_bf16);
    return (isa & want) == want;  // ISA values are nested bit masks (AMX includes AVX512-BF16)
  }();
  return yes;
}

bool conv2d_bf16_native(const ConvShape& s, bool has_bias) {
  return bf16_native(s) && entry_for(s, Kind::forward, has_bias, kBF16)->usable &&
         entry_for(s, Kind::backward_data, false, kBF16)->usable &&
         entry_for(s, Kind::backward_weights, has_bias, kBF16)->usable;
}

ConvCacheStats conv_cache_stats() { return cache().stats(); }
void conv_cache_clear() { cache().clear(); }

}  // namespace neural_arch::cpu
