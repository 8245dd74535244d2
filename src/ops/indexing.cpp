// Indexing ops: index_select, gather, scatter, scatter_add, embedding, and the internal
// index_add that their backward rules use. Copies move raw element bits, so one kernel serves
// every dtype; only the adding ops look at values.
//
// Every index is converted to a contiguous int64 copy and checked against its bound before
// anything is written. The writing ops (scatter, scatter_add, index_add) split work only over
// the dims that are not indexed: each thread owns whole lines along the indexed dim, so
// duplicate indices never race and results do not depend on the thread count.
#include <cstring>
#include <type_traits>

#include "autograd/function.hpp"
#include "backends/cpu/parallel.hpp"
#include "core/factory.hpp"
#include "neural_arch/ops.hpp"
#include "ops/elementwise.hpp"

namespace neural_arch {

using Grads = std::vector<Tensor>;

namespace {

constexpr int64_t kGrain = 32768;  // elements per thread below which work stays serial

// Calls f(W{}) with W an unsigned integer as wide as one element.
template <class F> void visit_width(size_t bytes, F&& f) {
  switch (bytes) {
    case 1: f(uint8_t{}); break;
    case 2: f(uint16_t{}); break;
    case 4: f(uint32_t{}); break;
    default: f(uint64_t{}); break;
  }
}

template <class T> inline T add_values(T a, T b) {
  if constexpr (std::is_same_v<T, bool>)
    return a || b;
  else if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>)
    return T(static_cast<float>(a) + static_cast<float>(b));
  else
    return static_cast<T>(a + b);
}

// 0-d tensors index like 1-element 1-d ones (torch does the same in gather and scatter).
Shape shape1(const Tensor& t) { return t.dim() == 0 ? Shape{1} : t.shape(); }
Shape strides1(const Tensor& t) { return t.dim() == 0 ? Shape{0} : t.strides(); }

void check_index_dtype(const Tensor& index, const char* op, const char* what = "index") {
  NA_CHECK(index.dtype() == DType::i64 || index.dtype() == DType::i32, op,
           "expected dtype int32 or int64 for ", what, ", got ", dtype_name(index.dtype()), " (", what,
           " of shape ", shape_str(index.shape()), ")");
}

// Contiguous int64 values of an index tensor.
Tensor index_values(const Tensor& index) { return ops::cast(index, DType::i64).contiguous(); }

void check_bounds(const Tensor& idx, int64_t size, int64_t dim, const Tensor& x, const char* op,
                  const char* what = "input") {
  const int64_t* p = idx.data_ptr<int64_t>();
  for (int64_t i = 0, n = idx.numel(); i < n; ++i)
    if (p[i] < 0 || p[i] >= size)
      detail::throw_error(op, "index ", p[i], " is out of range for dimension ", dim, " with size ", size,
                          " (", what, " of shape ", shape_str(x.shape()), ")");
}

// One traversal behind gather, scatter, index_select and index_add. Over the index space
// `shape`, position p (with coordinate k along dim) pairs the element of A at p with the
// element of B at p with its dim coordinate replaced by idx[p]: f(A elem, B elem).
// Work is split over the coordinates other than dim; each line along dim stays on one thread.
struct Walk {
  Shape shape;
  int64_t dim;
  const int64_t* idx;
  Shape idx_strides;
  char* a;
  Shape a_strides;
  char* b;
  Shape b_strides;
  int64_t elsize;
};

template <class F> void walk(const Walk& w, F&& f) {
  const int64_t nd = static_cast<int64_t>(w.shape.size());
  int64_t numel = 1;
  for (auto s : w.shape) numel *= s;
  if (numel == 0) return;
  const int64_t len = w.shape[w.dim];
  const int64_t lines = numel / len;
  const int64_t si = w.idx_strides[w.dim], sa = w.a_strides[w.dim], sb = w.b_strides[w.dim];
  const int64_t es = w.elsize;
  cpu::parallel_for(0, lines, std::max<int64_t>(1, kGrain / len), [&](int64_t begin, int64_t end) {
    // Coordinates of line `begin` over the dims other than dim, then an odometer.
    std::vector<int64_t> c(nd, 0);
    int64_t rem = begin;
    for (int64_t d = nd - 1; d >= 0; --d) {
      if (d == w.dim) continue;
      c[d] = rem % w.shape[d];
      rem /= w.shape[d];
    }
    for (int64_t line = begin; line < end; ++line) {
      int64_t oi = 0, oa = 0, ob = 0;
      for (int64_t d = 0; d < nd; ++d) {
        oi += c[d] * w.idx_strides[d];
        oa += c[d] * w.a_strides[d];
        ob += c[d] * w.b_strides[d];
      }
      for (int64_t k = 0; k < len; ++k)
        f(w.a + (oa + k * sa) * es, w.b + (ob + w.idx[oi + k * si] * sb) * es);
      for (int64_t d = nd - 1; d >= 0; --d) {
        if (d == w.dim) continue;
        if (++c[d] < w.shape[d]) break;
        c[d] = 0;
      }
    }
  });
}

// Copies into A the elements of B that the walk pairs with them.
void read_walk(const Walk& w) {
  visit_width(static_cast<size_t>(w.elsize), [&](auto wv) {
    using W = decltype(wv);
    walk(w, [](char* a, char* b) { *reinterpret_cast<W*>(a) = *reinterpret_cast<const W*>(b); });
  });
}

// Strides that repeat a 1-d index along every dim but `dim` (index_select as a gather).
Shape line_strides(size_t nd, int64_t dim) {
  Shape s(nd, 0);
  s[dim] = 1;
  return s;
}

// out (contiguous, x's shape with size n along dim) = x with idx (n int64 values) picked along dim.
void index_select_into(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& idx) {
  if (out.numel() == 0) return;
  const int64_t* ip = idx.data_ptr<int64_t>();
  const int64_t n = idx.numel();
  const Shape xs = shape1(x);
  if (x.is_contiguous()) {
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < dim; ++d) outer *= xs[d];
    for (int64_t d = dim + 1; d < static_cast<int64_t>(xs.size()); ++d) inner *= xs[d];
    const int64_t xsize = xs[dim];
    visit_width(x.element_size(), [&](auto wv) {
      using W = decltype(wv);
      const W* src = static_cast<const W*>(x.raw_data());
      W* dst = static_cast<W*>(out.raw_data());
      cpu::parallel_for(0, outer * n, std::max<int64_t>(1, kGrain / std::max<int64_t>(inner, 1)),
                        [&](int64_t b, int64_t e) {
                          for (int64_t r = b; r < e; ++r) {
                            const W* s = src + ((r / n) * xsize + ip[r % n]) * inner;
                            W* o = dst + r * inner;
                            for (int64_t j = 0; j < inner; ++j) o[j] = s[j];
                          }
                        });
    });
    return;
  }
  Shape os = shape1(out);
  Walk w{os,
         dim,
         ip,
         line_strides(os.size(), dim),
         static_cast<char*>(out.raw_data()),
         detail::contiguous_strides(os),
         static_cast<char*>(x.raw_data()),
         strides1(x),
         static_cast<int64_t>(x.element_size())};
  read_walk(w);
}

// A contiguous copy of x that no autograd node refers to (the writing ops fill it in).
Tensor fresh_copy(const Tensor& x) {
  Tensor out = detail::make_tensor(x.shape(), x.dtype());
  if (x.numel() == 0) return out;
  if (x.is_contiguous()) {
    std::memcpy(out.raw_data(), x.raw_data(), x.numel() * x.element_size());
  } else {
    const auto& k = cpu::kernels();
    const DType t = x.dtype();
    ops::for_each_row(
        x.shape(), {ops::operand(out, x.shape()), ops::operand(x, x.shape())},
        [&](char* const* p, const int64_t* s, int64_t n) { k.cast(p[0], t, p[1], t, n, s[0], s[1]); });
  }
  return out;
}

// Writes (or adds) the elements of A into B through the walk.
void write_walk(const Walk& w, DType dtype, bool accumulate) {
  if (!accumulate) {
    visit_width(element_size(dtype), [&](auto wv) {
      using W = decltype(wv);
      walk(w, [](char* a, char* b) { *reinterpret_cast<W*>(b) = *reinterpret_cast<const W*>(a); });
    });
    return;
  }
  visit_dtype(dtype, [&](auto tv) {
    using T = decltype(tv);
    walk(w, [](char* a, char* b) {
      T* dst = reinterpret_cast<T*>(b);
      *dst = add_values(*dst, *reinterpret_cast<const T*>(a));
    });
  });
}

// base with src's slices added at idx along dim: out[.., idx[k], ..] += src[.., k, ..].
// idx holds int64 values already checked against base.size(dim). Used by the backward rules of
// index_select and embedding; recorded itself so that double backward works.
Tensor index_add(const Tensor& base, int64_t dim, const Tensor& idx, const Tensor& src) {
  Tensor out = fresh_copy(base);
  const Shape ss = shape1(src);
  Walk w{ss,
         dim,
         idx.data_ptr<int64_t>(),
         line_strides(ss.size(), dim),
         static_cast<char*>(src.raw_data()),
         strides1(src),
         static_cast<char*>(out.raw_data()),
         strides1(out),
         static_cast<int64_t>(out.element_size())};
  write_walk(w, out.dtype(), true);
  if (autograd::needs_grad({base, src})) {
    autograd::record(
        "IndexAddBackward", {base, src}, {out},
        [dim, idx, need_base = base.requires_grad(), need_src = src.requires_grad()](const Grads& g) {
          Grads r(2);
          if (!g[0].defined()) return r;
          if (need_base) r[0] = g[0];
          if (need_src) r[1] = index_select(g[0], dim, idx);
          return r;
        });
  }
  return out;
}

// t (a gradient shaped like the index) placed in the leading corner of zeros of `shape`:
// src may be larger than index in scatter, and its extra elements get no gradient.
Tensor pad_to(Tensor t, const Shape& shape) {
  if (t.shape() == shape) return t;
  if (t.numel() == 1 && (shape.empty() || shape == Shape{1}) && t.dim() <= 1) return t.reshape(shape);
  for (int64_t d = 0; d < t.dim(); ++d) {
    if (t.size(d) == shape[d]) continue;
    Shape zs = t.shape();
    zs[d] = shape[d] - t.size(d);
    t = cat({t, zeros(zs, t.dtype())}, d);
  }
  return t;
}

// Shared argument checks of gather and scatter: dims agree, index fits, values in range.
// Returns the wrapped dim and the index values.
std::pair<int64_t, Tensor> check_scatter_gather(const Tensor& x, int64_t dim, const Tensor& index,
                                                const Tensor* src, const char* op) {
  detail::check_defined(x, op);
  detail::check_defined(index, op, "index");
  check_index_dtype(index, op);
  const Shape xs = shape1(x), is = shape1(index);
  NA_CHECK(xs.size() == is.size(), op, "index of shape ", shape_str(index.shape()),
           " must have the same number of dimensions as input of shape ", shape_str(x.shape()));
  dim = detail::wrap_dim(dim, x.dim(), op);
  for (size_t d = 0; d < xs.size(); ++d)
    NA_CHECK(static_cast<int64_t>(d) == dim || is[d] <= xs[d], op, "index of shape ",
             shape_str(index.shape()), " is larger than input of shape ", shape_str(x.shape()),
             " in dimension ", d, " (", is[d], " > ", xs[d], "); only dimension ", dim, " may be larger");
  if (src) {
    detail::check_defined(*src, op, "src");
    NA_CHECK(src->dtype() == x.dtype(), op, "expected src dtype ", dtype_name(src->dtype()),
             " to equal input dtype ", dtype_name(x.dtype()));
    const Shape ss = shape1(*src);
    NA_CHECK(ss.size() == is.size(), op, "src of shape ", shape_str(src->shape()),
             " must have the same number of dimensions as index of shape ", shape_str(index.shape()));
    for (size_t d = 0; d < ss.size(); ++d)
      NA_CHECK(is[d] <= ss[d], op, "index of shape ", shape_str(index.shape()),
               " is larger than src of shape ", shape_str(src->shape()), " in dimension ", d, " (", is[d],
               " > ", ss[d], ")");
  }
  Tensor idx = index_values(index);
  check_bounds(idx, xs[dim], dim, x, op);
  return {dim, idx};
}

Tensor scatter_impl(const Tensor& x, int64_t dim_in, const Tensor& index, const Tensor& src,
                    bool accumulate) {
  const char* op = accumulate ? "scatter_add" : "scatter";
  auto [dim, idx] = check_scatter_gather(x, dim_in, index, &src, op);
  Tensor out = fresh_copy(x);
  const Shape is = shape1(index);
  Walk w{is,
         dim,
         idx.data_ptr<int64_t>(),
         detail::contiguous_strides(is),
         static_cast<char*>(src.raw_data()),
         strides1(src),
         static_cast<char*>(out.raw_data()),
         strides1(out),
         static_cast<int64_t>(out.element_size())};
  write_walk(w, out.dtype(), accumulate);
  if (autograd::needs_grad({x, src})) {
    autograd::record(accumulate ? "ScatterAddBackward" : "ScatterBackward", {x, src}, {out},
                     [dim, idx, accumulate, src_shape = src.shape(), need_x = x.requires_grad(),
                      need_src = src.requires_grad()](const Grads& g) {
                       Grads r(2);
                       if (!g[0].defined()) return r;
                       if (need_x)
                         r[0] = accumulate ? g[0] : scatter(g[0], dim, idx, zeros(idx.shape(), g[0].dtype()));
                       if (need_src) r[1] = pad_to(gather(g[0], dim, idx), src_shape);
                       return r;
                     });
  }
  return out;
}

}  // namespace

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  detail::check_defined(x, "index_select");
  detail::check_defined(index, "index_select", "index");
  check_index_dtype(index, "index_select");
  NA_CHECK(index.dim() <= 1, "index_select", "index must be a 0-d or 1-d tensor, got index of shape ",
           shape_str(index.shape()));
  dim = detail::wrap_dim(dim, x.dim(), "index_select");
  Tensor idx = index_values(index).reshape({index.numel()});
  const int64_t n = idx.numel();
  NA_CHECK(x.dim() > 0 || n == 1, "index_select", "a 0-d input takes exactly one index, got ", n);
  check_bounds(idx, shape1(x)[dim], dim, x, "index_select");
  Shape out_shape = x.shape();
  if (x.dim() > 0) out_shape[dim] = n;
  Tensor out = detail::make_tensor(out_shape, x.dtype());
  index_select_into(out, x, dim, idx);
  if (autograd::needs_grad({x})) {
    autograd::record("IndexSelectBackward", {x}, {out}, [shape = x.shape(), dim, idx](const Grads& g) {
      if (!g[0].defined()) return Grads(1);
      return Grads{index_add(zeros(shape, g[0].dtype()), dim, idx, g[0])};
    });
  }
  return out;
}

Tensor gather(const Tensor& x, int64_t dim_in, const Tensor& index) {
  auto [dim, idx] = check_scatter_gather(x, dim_in, index, nullptr, "gather");
  Tensor out = detail::make_tensor(index.shape(), x.dtype());
  const Shape is = shape1(index);
  Walk w{is,
         dim,
         idx.data_ptr<int64_t>(),
         detail::contiguous_strides(is),
         static_cast<char*>(out.raw_data()),
         detail::contiguous_strides(is),
         static_cast<char*>(x.raw_data()),
         strides1(x),
         static_cast<int64_t>(x.element_size())};
  read_walk(w);
  if (autograd::needs_grad({x})) {
    autograd::record("GatherBackward", {x}, {out}, [shape = x.shape(), dim, idx](const Grads& g) {
      if (!g[0].defined()) return Grads(1);
      return Grads{scatter_add(zeros(shape, g[0].dtype()), dim, idx, g[0])};
    });
  }
  return out;
}

Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  return scatter_impl(x, dim, index, src, false);
}

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  return scatter_impl(x, dim, index, src, true);
}

Tensor embedding(const Tensor& weight, const Tensor& indices) {
  detail::check_defined(weight, "embedding", "weight");
  detail::check_defined(indices, "embedding", "indices");
  NA_CHECK(weight.dim() == 2, "embedding", "weight must be 2-D (num_embeddings, embedding_dim), got shape ",
           shape_str(weight.shape()));
  check_index_dtype(indices, "embedding", "indices");
  Tensor idx = index_values(indices).reshape({indices.numel()});
  check_bounds(idx, weight.size(0), 0, weight, "embedding", "weight");
  Shape out_shape = indices.shape();
  out_shape.push_back(weight.size(1));
  Tensor out = detail::make_tensor(out_shape, weight.dtype());
  // The output's memory is the (n, dim) block of picked rows, only viewed with another shape.
  Tensor rows = detail::make_view(out, {idx.numel(), weight.size(1)},
                                  detail::contiguous_strides({idx.numel(), weight.size(1)}), 0);
  index_select_into(rows, weight, 0, idx);
  if (autograd::needs_grad({weight})) {
    autograd::record("EmbeddingBackward", {weight}, {out}, [shape = weight.shape(), idx](const Grads& g) {
      if (!g[0].defined()) return Grads(1);
      return Grads{index_add(zeros(shape, g[0].dtype()), 0, idx, g[0].reshape({idx.numel(), shape[1]}))};
    });
  }
  return out;
}

}  // namespace neural_arch
