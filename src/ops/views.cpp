// View ops: new shape/strides/offset over the same storage. Backward rules map the gradient
// back to the input's geometry.
#include <algorithm>
#include <numeric>

#include "autograd/function.hpp"
#include "core/checked_size.hpp"
#include "core/factory.hpp"
#include "neural_arch/ops.hpp"

namespace neural_arch {

using Grads = std::vector<Tensor>;
using detail::make_view;
using detail::wrap_dim;

namespace {
// Infers one -1 dim and checks the element count.
Shape infer_shape(const Shape& shape, int64_t numel, const char* op) {
  Shape s = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      NA_CHECK(infer < 0, op, "only one dimension can be inferred in shape ", shape_str(shape));
      infer = static_cast<int64_t>(i);
    } else {
      NA_CHECK(s[i] >= 0, op, "invalid shape dimension ", s[i], " in ", shape_str(shape));
      known = detail::mul_size(known, s[i], op, "element count of the requested shape");
    }
  }
  if (infer >= 0) {
    NA_CHECK(known != 0 && numel % known == 0, op, "shape ", shape_str(shape),
             " is invalid for input of size ", numel);
    s[infer] = numel / known;
  } else {
    NA_CHECK(known == numel, op, "shape ", shape_str(shape), " is invalid for input of size ", numel);
  }
  detail::checked_numel(s, op);  // its strides must fit as well
  return s;
}

// Strides for viewing t as `shape` without a copy, if its memory layout allows (torch's rule).
std::optional<Shape> view_strides(const Tensor& t, const Shape& shape) {
  if (t.is_contiguous()) return detail::contiguous_strides(shape);
  const Shape& os = t.shape();
  const Shape& ost = t.strides();
  Shape ns(shape.size());
  int64_t view_d = static_cast<int64_t>(shape.size()) - 1;
  int64_t chunk_base_stride = ost.empty() ? 1 : ost.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t td = static_cast<int64_t>(os.size()) - 1; td >= 0; --td) {
    tensor_numel *= os[td];
    if (td == 0 || (os[td - 1] != 1 && ost[td - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        ns[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (td > 0) {
        chunk_base_stride = ost[td - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return ns;
}

// Zeros of the input's shape with the gradient written into the sliced region. Recorded itself
// (its backward is the slice again), so double backward through slices works.
Tensor slice_backward(const Tensor& g, const Shape& in, int64_t d, int64_t start, int64_t end, int64_t step) {
  Tensor r;
  {
    NoGradGuard ng;
    r = zeros(in, g.dtype());
    r.slice(d, start, end, step).copy_(g);
  }
  if (autograd::needs_grad({g}))
    autograd::record("SliceBackwardBackward", {g}, {r}, [d, start, end, step](const std::vector<Tensor>& gg) {
      return std::vector<Tensor>{gg[0].slice(d, start, end, step)};
    });
  return r;
}

Tensor record_view(const Tensor& in, Tensor out, const char* name, autograd::BackwardFn fn) {
  if (autograd::needs_grad({in})) autograd::record(name, {in}, {out}, std::move(fn));
  return out;
}
}  // namespace

Tensor Tensor::view(const Shape& shape_in) const {
  detail::check_defined(*this, "view");
  Shape s = infer_shape(shape_in, numel(), "view");
  auto st = view_strides(*this, s);
  NA_CHECK(st.has_value(), "view", "view size ", shape_str(s), " is not compatible with input tensor's size ",
           shape_str(shape()), " and stride ", shape_str(strides()), "; use reshape() instead");
  return record_view(*this, make_view(*this, s, *st, storage_offset()), "ViewBackward",
                     [in = shape()](const Grads& g) { return Grads{g[0].reshape(in)}; });
}

Tensor Tensor::reshape(const Shape& shape_in) const {
  detail::check_defined(*this, "reshape");
  Shape s = infer_shape(shape_in, numel(), "reshape");
  if (view_strides(*this, s)) return view(s);
  return contiguous().view(s);
}

Tensor Tensor::flatten(int64_t start, int64_t end) const {
  detail::check_defined(*this, "flatten");
  if (dim() == 0) return reshape({1});
  start = wrap_dim(start, dim(), "flatten");
  end = wrap_dim(end, dim(), "flatten");
  NA_CHECK(start <= end, "flatten", "start_dim (", start, ") cannot come after end_dim (", end, ")");
  Shape s(shape().begin(), shape().begin() + start);
  int64_t m = 1;
  for (int64_t i = start; i <= end; ++i) m *= size(i);
  s.push_back(m);
  s.insert(s.end(), shape().begin() + end + 1, shape().end());
  return reshape(s);
}

Tensor Tensor::squeeze() const {
  detail::check_defined(*this, "squeeze");
  Shape s;
  for (auto d : shape())
    if (d != 1) s.push_back(d);
  return reshape(s);
}

Tensor Tensor::squeeze(int64_t d) const {
  detail::check_defined(*this, "squeeze");
  if (dim() == 0) return *this;
  d = wrap_dim(d, dim(), "squeeze");
  if (size(d) != 1) return *this;
  Shape s = shape(), st = strides();
  s.erase(s.begin() + d);
  st.erase(st.begin() + d);
  return record_view(*this, make_view(*this, s, st, storage_offset()), "SqueezeBackward",
                     [in = shape()](const Grads& g) { return Grads{g[0].reshape(in)}; });
}

Tensor Tensor::unsqueeze(int64_t d) const {
  detail::check_defined(*this, "unsqueeze");
  d = wrap_dim(d, dim() + 1, "unsqueeze");
  Shape s = shape(), st = strides();
  int64_t stride = d < dim() ? size(d) * st[d] : 1;
  s.insert(s.begin() + d, 1);
  st.insert(st.begin() + d, stride);
  return record_view(*this, make_view(*this, s, st, storage_offset()), "UnsqueezeBackward",
                     [d](const Grads& g) { return Grads{g[0].squeeze(d)}; });
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  detail::check_defined(*this, "transpose");
  if (dim() == 0) return *this;
  d0 = wrap_dim(d0, dim(), "transpose");
  d1 = wrap_dim(d1, dim(), "transpose");
  Shape s = shape(), st = strides();
  std::swap(s[d0], s[d1]);
  std::swap(st[d0], st[d1]);
  return record_view(*this, make_view(*this, s, st, storage_offset()), "TransposeBackward",
                     [d0, d1](const Grads& g) { return Grads{g[0].transpose(d0, d1)}; });
}

Tensor Tensor::t() const {
  NA_CHECK(defined() && dim() <= 2, "t", "expects a tensor with <= 2 dimensions, but self is ", dim(), "-D");
  return dim() < 2 ? *this : transpose(0, 1);
}

Tensor Tensor::permute(const std::vector<int64_t>& dims) const {
  detail::check_defined(*this, "permute");
  NA_CHECK(static_cast<int64_t>(dims.size()) == dim(), "permute", "number of dims don't match: got ",
           dims.size(), " dims for a tensor of ", dim(), " dims");
  Shape s(dim()), st(dim());
  std::vector<int64_t> inverse(dim(), -1);
  for (int64_t i = 0; i < dim(); ++i) {
    int64_t d = wrap_dim(dims[i], dim(), "permute");
    NA_CHECK(inverse[d] < 0, "permute", "repeated dim ", dims[i], " in permutation");
    inverse[d] = i;
    s[i] = size(d);
    st[i] = stride(d);
  }
  return record_view(*this, make_view(*this, s, st, storage_offset()), "PermuteBackward",
                     [inverse](const Grads& g) { return Grads{g[0].permute(inverse)}; });
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  detail::check_defined(*this, "slice");
  NA_CHECK(dim() > 0, "slice", "cannot slice a 0-d tensor");
  NA_CHECK(step > 0, "slice", "step must be positive, got ", step);
  d = wrap_dim(d, dim(), "slice");
  const int64_t n = size(d);
  // Python slice clamping.
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape s = shape(), st = strides();
  s[d] = (end - start) / step + ((end - start) % step != 0);  // ceil without overflow
  if (s[d] > 1) st[d] = detail::mul_size(st[d], step, "slice", "stride of the slice");
  Tensor out = make_view(*this, s, st, storage_offset() + start * stride(d));
  return record_view(*this, out, "SliceBackward", [in = shape(), d, start, end, step](const Grads& g) {
    return Grads{slice_backward(g[0], in, d, start, end, step)};
  });
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  detail::check_defined(*this, "narrow");
  NA_CHECK(dim() > 0, "narrow", "cannot narrow a 0-d tensor");
  d = wrap_dim(d, dim(), "narrow");
  const int64_t n = size(d);
  if (start < 0) start += n;
  NA_CHECK(start >= 0 && length >= 0 && start + length <= n, "narrow", "start (", start, ") + length (",
           length, ") exceeds dimension size (", n, ") of dim ", d);
  return slice(d, start, start + length, 1);
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  detail::check_defined(*this, "select");
  NA_CHECK(dim() > 0, "select", "cannot select on a 0-d tensor");
  d = wrap_dim(d, dim(), "select");
  const int64_t n = size(d);
  NA_CHECK(index >= -n && index < n, "select", "index ", index, " is out of bounds for dimension ", d,
           " with size ", n);
  if (index < 0) index += n;
  return slice(d, index, index + 1, 1).squeeze(d);
}

Tensor Tensor::expand(const Shape& target) const {
  detail::check_defined(*this, "expand");
  NA_CHECK(static_cast<int64_t>(target.size()) >= dim(), "expand", "the number of sizes provided (",
           target.size(), ") must be greater or equal to the number of dimensions in the tensor (", dim(),
           ")");
  const int64_t lead = static_cast<int64_t>(target.size()) - dim();
  Shape s(target.size()), st(target.size());
  for (int64_t i = 0; i < static_cast<int64_t>(target.size()); ++i) {
    if (i < lead) {
      NA_CHECK(target[i] >= 0, "expand", "the expanded size ", target[i],
               " is not allowed in a leading dimension");
      s[i] = target[i];
      st[i] = 0;
      continue;
    }
    const int64_t have = size(i - lead);
    const int64_t want = target[i] == -1 ? have : target[i];
    NA_CHECK(have == want || have == 1, "expand", "the expanded size of the tensor (", want,
             ") must match the existing size (", have, ") at non-singleton dimension ", i,
             ". Target sizes: ", shape_str(target), ". Tensor sizes: ", shape_str(shape()));
    s[i] = want;
    st[i] = have == want ? stride(i - lead) : 0;
  }
  detail::checked_numel(s, "expand");
  if (s == shape()) return *this;
  return record_view(*this, make_view(*this, s, st, storage_offset()), "ExpandBackward",
                     [in = shape()](const Grads& g) { return Grads{autograd::sum_to(g[0], in)}; });
}

std::vector<Tensor> Tensor::split(int64_t split_size, int64_t d) const {
  detail::check_defined(*this, "split");
  NA_CHECK(dim() > 0, "split", "cannot split a 0-d tensor");
  NA_CHECK(split_size > 0, "split", "split_size must be positive, got ", split_size);
  d = wrap_dim(d, dim(), "split");
  std::vector<Tensor> parts;
  for (int64_t s = 0; s < size(d) || (s == 0 && size(d) == 0); s += split_size) {
    parts.push_back(narrow(d, s, std::min(split_size, size(d) - s)));
    if (size(d) == 0) break;
  }
  return parts;
}

std::vector<Tensor> Tensor::chunk(int64_t chunks, int64_t d) const {
  detail::check_defined(*this, "chunk");
  NA_CHECK(chunks > 0, "chunk", "number of chunks must be positive, got ", chunks);
  NA_CHECK(dim() > 0, "chunk", "cannot chunk a 0-d tensor");
  d = wrap_dim(d, dim(), "chunk");
  const int64_t each = std::max<int64_t>(1, (size(d) + chunks - 1) / chunks);
  return split(each, d);
}

}  // namespace neural_arch
