// Convolution glue: f32 through cached oneDNN convolution primitives, f64 (and any geometry
// oneDNN would only run in its reference code) through direct loops. See conv_onednn.hpp.
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

// Each task owns whole output planes, so results do not depend on the thread count.
template <class T>
void direct_forward(const ConvShape& s, const T* x, const T* w, const T* bias, T* y) {
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
            for (int64_t oh = 0; oh < s.OH; ++oh) {
              const int64_t ih = oh * s.stride_h - s.pad_top + kh * s.dil_h;
              if (ih < 0 || ih >= s.H) continue;
              for (int64_t ow = 0; ow < s.OW; ++ow) {
                const int64_t iw = ow * s.stride_w - s.pad_left + kw * s.dil_w;
                if (iw >= 0 && iw < s.W) yp[oh * s.OW + ow] += wv * xp[ih * s.W + iw];
              }
            }
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
            for (int64_t oh = 0; oh < s.OH; ++oh) {
              const int64_t ih = oh * s.stride_h - s.pad_top + kh * s.dil_h;
              if (ih < 0 || ih >= s.H) continue;
              for (int64_t ow = 0; ow < s.OW; ++ow) {
                const int64_t iw = ow * s.stride_w - s.pad_left + kw * s.dil_w;
                if (iw >= 0 && iw < s.W) gxp[ih * s.W + iw] += wv * gyp[oh * s.OW + ow];
              }
            }
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
            for (int64_t oh = 0; oh < s.OH; ++oh) {
              const int64_t ih = oh * s.stride_h - s.pad_top + kh * s.dil_h;
              if (ih < 0 || ih >= s.H) continue;
              for (int64_t ow = 0; ow < s.OW; ++ow) {
                const int64_t iw = ow * s.stride_w - s.pad_left + kw * s.dil_w;
                if (iw >= 0 && iw < s.W) acc += xp[ih * s.W + iw] * gyp[oh * s.OW + ow];
              }
            }
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
  int threads;  // onednn::primitive_threads() when the primitive was made
  bool operator==(const Key&) const = default;
};

struct KeyHash {
  size_t operator()(const Key& k) const {
    onednn::KeyHasher h;
    for (int64_t v : k.geometry) h.mix(static_cast<uint64_t>(v));
    h.mix(static_cast<uint64_t>(k.kind) | (uint64_t{k.has_bias} << 8) |
          (static_cast<uint64_t>(k.threads) << 16));
    return h.value();
  }
};

Key make_key(const ConvShape& s, Kind kind, bool has_bias) {
  Key k{{s.N, s.C, s.H, s.W, s.O, s.KH, s.KW, s.OH, s.OW, s.stride_h, s.stride_w, s.pad_top, s.pad_bottom,
         s.pad_left, s.pad_right, s.dil_h, s.dil_w, s.groups},
        kind,
        has_bias,
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

struct Descs {
  memory::desc src_user, wei_user, dst_user, bias_user;
  memory::desc src_any, wei_any, dst_any, bias_any;
  Dims strides, dilates, pad_l, pad_r;
};

Descs make_descs(const ConvShape& s) {
  using dt = memory::data_type;
  using tag = memory::format_tag;
  Descs d;
  const Dims src{s.N, s.C, s.H, s.W}, dst{s.N, s.O, s.OH, s.OW};
  // A grouped OIHW buffer is exactly goihw with O split into (groups, O / groups).
  const Dims wei = s.groups == 1 ? Dims{s.O, s.C, s.KH, s.KW}
                                 : Dims{s.groups, s.O / s.groups, s.C / s.groups, s.KH, s.KW};
  d.src_user = memory::desc(src, dt::f32, tag::nchw);
  d.dst_user = memory::desc(dst, dt::f32, tag::nchw);
  d.wei_user = memory::desc(wei, dt::f32, s.groups == 1 ? tag::oihw : tag::goihw);
  d.bias_user = memory::desc({s.O}, dt::f32, tag::x);
  d.src_any = memory::desc(src, dt::f32, tag::any);
  d.dst_any = memory::desc(dst, dt::f32, tag::any);
  d.wei_any = memory::desc(wei, dt::f32, tag::any);
  d.bias_any = d.bias_user;
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

Entry make_entry(const ConvShape& s, Kind kind, bool has_bias) {
  using namespace dnnl;
  Entry e;
  try {
    const Descs d = make_descs(s);
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
      auto desc = convolution_backward_data::desc(algorithm::convolution_direct, d.src_any, d.wei_any, d.dst_any,
                                                  d.strides, d.dilates, d.pad_l, d.pad_r);
      auto pd = convolution_backward_data::primitive_desc(desc, attr, onednn::engine(), hint);
      if (onednn::is_reference(pd.impl_info_str())) return e;
      e.prim = convolution_backward_data(pd);
      e.args.push_back(make_arg(DNNL_ARG_DIFF_DST, false, d.dst_user, pd.diff_dst_desc()));
      e.args.push_back(make_arg(DNNL_ARG_WEIGHTS, false, d.wei_user, pd.weights_desc()));
      e.args.push_back(make_arg(DNNL_ARG_DIFF_SRC, true, d.src_user, pd.diff_src_desc()));
      e.scratch_md = pd.scratchpad_desc();
    } else {
      auto hint = forward_pd(d, has_bias, primitive_attr());
      auto desc = has_bias ? convolution_backward_weights::desc(algorithm::convolution_direct, d.src_any,
                                                                d.wei_any, d.bias_any, d.dst_any, d.strides,
                                                                d.dilates, d.pad_l, d.pad_r)
                           : convolution_backward_weights::desc(algorithm::convolution_direct, d.src_any,
                                                                d.wei_any, d.dst_any, d.strides, d.dilates,
                                                                d.pad_l, d.pad_r);
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

std::shared_ptr<const Entry> entry_for(const ConvShape& s, Kind kind, bool has_bias) {
  return cache().get(make_key(s, kind, has_bias), [&] { return make_entry(s, kind, has_bias); });
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
      auto pre = std::find_if(prepared.begin(), prepared.end(), [&](const Prepared& p) { return p.id == a.id; });
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
bool run_onednn(const ConvShape& s, Kind kind, bool has_bias, const std::vector<void*>& ptrs) {
  const std::shared_ptr<const Entry> entry = entry_for(s, kind, has_bias);
  if (!entry->usable) return false;
  run_entry(*entry, ptrs);
  return true;
}

const Arg* find_arg(const Entry& e, int id) {
  for (const Arg& a : e.args)
    if (a.id == id) return &a;
  return nullptr;
}

bool empty_problem(const ConvShape& s) { return s.N == 0 || s.O == 0 || s.OH == 0 || s.OW == 0; }

}  // namespace

// ------------------------------------------------------------------ entry points

void conv2d_forward(const ConvShape& s, const float* x, const float* w, const float* bias, float* y) {
  if (empty_problem(s)) return;
  if (s.C == 0) {  // an empty reduction: the output is the bias
    for (int64_t t = 0; t < s.N * s.O; ++t)
      std::fill(y + t * s.OH * s.OW, y + (t + 1) * s.OH * s.OW, bias ? bias[t % s.O] : 0.f);
    return;
  }
  std::vector<void*> ptrs{const_cast<float*>(x), const_cast<float*>(w)};
  if (bias) ptrs.push_back(const_cast<float*>(bias));
  ptrs.push_back(y);
  if (!run_onednn(s, Kind::forward, bias != nullptr, ptrs)) direct_forward(s, x, w, bias, y);
}

void conv2d_forward(const ConvShape& s, const double* x, const double* w, const double* bias, double* y) {
  if (empty_problem(s)) return;
  direct_forward(s, x, w, bias, y);
}

void conv2d_backward_data(const ConvShape& s, const float* gy, const float* w, float* gx) {
  if (s.N * s.C * s.H * s.W == 0) return;
  if (empty_problem(s)) {
    std::fill(gx, gx + s.N * s.C * s.H * s.W, 0.f);
    return;
  }
  std::vector<void*> ptrs{const_cast<float*>(gy), const_cast<float*>(w), gx};
  if (!run_onednn(s, Kind::backward_data, false, ptrs)) direct_backward_data(s, gy, w, gx);
}

void conv2d_backward_data(const ConvShape& s, const double* gy, const double* w, double* gx) {
  if (s.N * s.C * s.H * s.W == 0) return;
  direct_backward_data(s, gy, w, gx);
}

void conv2d_backward_weights(const ConvShape& s, const float* x, const float* gy, float* gw, float* gbias) {
  if (s.O == 0) return;
  if (empty_problem(s) || s.C == 0) {
    std::fill(gw, gw + s.O * (s.C / s.groups) * s.KH * s.KW, 0.f);
    if (gbias) direct_backward_weights(s, x, gy, gw, gbias);
    return;
  }
  std::vector<void*> ptrs{const_cast<float*>(x), const_cast<float*>(gy), gw};
  if (gbias) ptrs.push_back(gbias);
  if (!run_onednn(s, Kind::backward_weights, gbias != nullptr, ptrs)) direct_backward_weights(s, x, gy, gw, gbias);
}

void conv2d_backward_weights(const ConvShape& s, const double* x, const double* gy, double* gw,
                             double* gbias) {
  if (s.O == 0) return;
  direct_backward_weights(s, x, gy, gw, gbias);
}

void conv2d_backward(const ConvShape& s, const float* x, const float* gy, const float* w, float* gx, float* gw,
                     float* gbias) {
  if (!empty_problem(s) && s.C > 0 && s.N * s.C * s.H * s.W > 0) {
    const auto ed = entry_for(s, Kind::backward_data, false);
    const auto ew = entry_for(s, Kind::backward_weights, gbias != nullptr);
    const Arg* dd = ed->usable ? find_arg(*ed, DNNL_ARG_DIFF_DST) : nullptr;
    const Arg* dw = ew->usable ? find_arg(*ew, DNNL_ARG_DIFF_DST) : nullptr;
    // Both primitives usually want the output gradient in the same blocked layout: reorder it once.
    if (dd && dw && dd->reorder && dw->reorder && dd->prim_md == dw->prim_md) {
      Prepared shared;
      try {
        shared.id = DNNL_ARG_DIFF_DST;
        shared.mem = onednn::wrap(
            dd->prim_md, onednn::thread_buffer(kSharedOperandSlot, dd->prim_md.get_size(), "conv2d"));
        memory user = onednn::wrap(dd->user_md, gy);
        dd->to_prim.execute(onednn::stream(), user, shared.mem);
      } catch (const dnnl::error& err) {
        detail::throw_error("conv2d", "oneDNN reorder failed: ", err.what());
      }
      run_entry(*ed, {const_cast<float*>(gy), const_cast<float*>(w), gx}, {shared});
      std::vector<void*> wp{const_cast<float*>(x), const_cast<float*>(gy), gw};
      if (gbias) wp.push_back(gbias);
      run_entry(*ew, wp, {shared});
      return;
    }
  }
  conv2d_backward_data(s, gy, w, gx);
  conv2d_backward_weights(s, x, gy, gw, gbias);
}

void conv2d_backward(const ConvShape& s, const double* x, const double* gy, const double* w, double* gx,
                     double* gw, double* gbias) {
  conv2d_backward_data(s, gy, w, gx);
  conv2d_backward_weights(s, x, gy, gw, gbias);
}

ConvCacheStats conv_cache_stats() { return cache().stats(); }
void conv_cache_clear() { cache().clear(); }

}  // namespace neural_arch::cpu
