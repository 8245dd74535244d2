// Creation ops: empty/zeros/ones/full, ranges, eye, random tensors, copies from host data.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "core/checked_size.hpp"
#include "core/factory.hpp"
#include "neural_arch/ops.hpp"
#include "ops/elementwise.hpp"

namespace neural_arch {

namespace {
Tensor finish(Tensor t, const TensorOptions& opt) {
  if (opt.requires_grad_) t.requires_grad_(true);
  return t;
}

// Writes f(i) for i in [0, numel) into a fresh tensor of dtype (computed in double/int64).
template <class F> Tensor generate(const char* op, const Shape& shape, DType dtype, F f) {
  Tensor t = detail::make_tensor(shape, dtype, kCPU, op);
  visit_dtype(dtype, [&](auto v) {
    using T = decltype(v);
    T* p = static_cast<T*>(t.raw_data());
    for (int64_t i = 0; i < t.numel(); ++i) {
      if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>)
        p[i] = T(static_cast<float>(f(i)));
      else
        p[i] = static_cast<T>(f(i));
    }
  });
  return t;
}

Generator& gen_or_default(Generator* g) { return g ? *g : default_generator(); }
}  // namespace

Tensor empty(const Shape& shape, TensorOptions opt) {
  return finish(detail::make_tensor(shape, opt.dtype_, opt.device_, "empty"), opt);
}

Tensor full(const Shape& shape, Scalar value, TensorOptions opt) {
  Tensor t = detail::make_tensor(shape, opt.dtype_, opt.device_, "full");
  t.fill_(value);
  return finish(t, opt);
}

Tensor zeros(const Shape& shape, TensorOptions opt) {
  Tensor t = detail::make_tensor(shape, opt.dtype_, opt.device_, "zeros");
  if (t.numel()) std::memset(t.raw_data(), 0, t.numel() * t.element_size());  // all dtypes: 0 bits == 0
  return finish(t, opt);
}

Tensor ones(const Shape& shape, TensorOptions opt) { return full(shape, 1, opt); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype()); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), t.dtype()); }
Tensor empty_like(const Tensor& t) { return empty(t.shape(), t.dtype()); }
Tensor full_like(const Tensor& t, Scalar value) { return full(t.shape(), value, t.dtype()); }
Tensor scalar_tensor(Scalar v, TensorOptions opt) { return full({}, v, opt); }

Tensor arange(Scalar end, std::optional<TensorOptions> opt) { return arange(0, end, 1, opt); }

Tensor arange(Scalar start, Scalar end, Scalar step, std::optional<TensorOptions> opt) {
  const double s = start.to_double(), e = end.to_double(), st = step.to_double();
  NA_CHECK(st != 0, "arange", "step must be nonzero");
  NA_CHECK(std::isfinite(s) && std::isfinite(e), "arange", "start (", s, ") and end (", e,
           ") must be finite");
  NA_CHECK((st > 0 && e >= s) || (st < 0 && e <= s), "arange",
           "upper bound and larger bound inconsistent with step sign (start ", s, ", end ", e, ", step ", st,
           ")");
  const bool integral = start.is_integral() && end.is_integral() && step.is_integral();
  TensorOptions o = opt ? *opt : TensorOptions(integral ? DType::i64 : DType::f32);
  const double count = std::ceil((e - s) / st);
  NA_CHECK(count < 0x1p63, "arange", "start ", s, ", end ", e, " and step ", st, " give ", count,
           " elements, more than int64 can count");
  const auto n = static_cast<int64_t>(count);
  Tensor t = generate("arange", {n}, o.dtype_, [&](int64_t i) { return s + st * static_cast<double>(i); });
  return finish(t, o);
}

Tensor linspace(double start, double end, int64_t steps, TensorOptions opt) {
  NA_CHECK(steps >= 0, "linspace", "number of steps must be non-negative, got ", steps);
  const double step = steps > 1 ? (end - start) / static_cast<double>(steps - 1) : 0.0;
  // Fill from both ends, as torch does, so the last value is exactly `end`.
  const int64_t half = steps / 2;
  Tensor t = generate("linspace", {steps}, opt.dtype_, [&](int64_t i) {
    if (steps == 1) return start;
    return i < half ? start + step * static_cast<double>(i) : end - step * static_cast<double>(steps - 1 - i);
  });
  return finish(t, opt);
}

Tensor eye(int64_t n, std::optional<int64_t> m, TensorOptions opt) {
  const int64_t cols = m.value_or(n);
  NA_CHECK(n >= 0 && cols >= 0, "eye", "n and m must be non-negative, got ", n, " and ", cols);
  Tensor t =
      generate("eye", {n, cols}, opt.dtype_, [&](int64_t i) { return i / cols == i % cols ? 1.0 : 0.0; });
  return finish(t, opt);
}

Tensor uniform(double low, double high, const Shape& shape, TensorOptions opt, Generator* gen) {
  NA_CHECK(is_floating(opt.dtype_), "uniform", "expected a floating dtype, got ", dtype_name(opt.dtype_));
  NA_CHECK(low <= high, "uniform", "expects low <= high, got low ", low, " high ", high);
  auto& eng = gen_or_default(gen).engine();
  // 53 random bits per draw for f64, 24 for f32, so values are exactly representable.
  const bool f64 = opt.dtype_ == DType::f64;
  Tensor t = generate("uniform", shape, opt.dtype_, [&](int64_t) {
    double u =
        f64 ? static_cast<double>(eng() >> 11) * 0x1.0p-53 : static_cast<double>(eng() >> 40) * 0x1.0p-24;
    return low + (high - low) * u;
  });
  return finish(t, opt);
}

Tensor rand(const Shape& shape, TensorOptions opt, Generator* gen) {
  return uniform(0.0, 1.0, shape, opt, gen);
}

Tensor normal(double mean, double std, const Shape& shape, TensorOptions opt, Generator* gen) {
  NA_CHECK(is_floating(opt.dtype_), "normal", "expected a floating dtype, got ", dtype_name(opt.dtype_));
  NA_CHECK(std >= 0, "normal", "std must be >= 0, got ", std);
  auto& eng = gen_or_default(gen).engine();
  // Box-Muller on our own uniform draws: the same numbers on every standard library.
  bool have = false;
  double spare = 0;
  Tensor t = generate("normal", shape, opt.dtype_, [&](int64_t) {
    if (have) {
      have = false;
      return mean + std * spare;
    }
    double u1 = (static_cast<double>(eng() >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]
    double u2 = static_cast<double>(eng() >> 11) * 0x1.0p-53;
    double r = std::sqrt(-2.0 * std::log(u1));
    spare = r * std::sin(2.0 * M_PI * u2);
    have = true;
    return mean + std * r * std::cos(2.0 * M_PI * u2);
  });
  return finish(t, opt);
}

Tensor randn(const Shape& shape, TensorOptions opt, Generator* gen) {
  return normal(0.0, 1.0, shape, opt, gen);
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions opt, Generator* gen) {
  NA_CHECK(low < high, "randint", "expects low < high, got low ", low, " high ", high);
  auto& eng = gen_or_default(gen).engine();
  const uint64_t range = static_cast<uint64_t>(high - low);
  Tensor t = generate("randint", shape, opt.dtype_, [&](int64_t) {
    // Rejection sampling avoids modulo bias.
    const uint64_t limit = UINT64_MAX - UINT64_MAX % range;
    uint64_t r;
    do r = eng();
    while (r >= limit);
    return static_cast<double>(low + static_cast<int64_t>(r % range));
  });
  return finish(t, opt);
}

Tensor from_blob_copy(const void* data, const Shape& shape, DType dtype) {
  Tensor t = detail::make_tensor(shape, dtype, kCPU, "from_blob_copy");
  NA_CHECK(data != nullptr || t.numel() == 0, "from_blob_copy", "null data pointer for shape ",
           shape_str(shape));
  if (t.numel()) std::memcpy(t.raw_data(), data, t.numel() * t.element_size());
  return t;
}

Tensor from_blob(void* data, const Shape& shape, const Shape& strides, DType dtype,
                 std::function<void()> release) {
  NA_CHECK(strides.empty() || strides.size() == shape.size(), "from_blob", "shape ", shape_str(shape),
           " and strides ", shape_str(strides), " differ in length");
  for (size_t i = 0; i < shape.size(); ++i) {
    NA_CHECK(shape[i] >= 0, "from_blob", "negative size in shape ", shape_str(shape));
    NA_CHECK(strides.empty() || strides[i] >= 0, "from_blob", "negative stride in ", shape_str(strides),
             " (copy the array first)");
  }
  Shape st = strides.empty() ? detail::contiguous_strides(shape) : strides;
  // Elements from the first to one past the last one the geometry reaches (0 when empty).
  bool empty = std::find(shape.begin(), shape.end(), 0) != shape.end();
  int64_t span = empty ? 0 : 1;
  for (size_t i = 0; i < shape.size() && !empty; ++i) span += (shape[i] - 1) * st[i];
  NA_CHECK(data != nullptr || span == 0, "from_blob", "null data pointer for shape ", shape_str(shape));
  auto storage = std::make_shared<Storage>(data, static_cast<size_t>(span) * element_size(dtype), kCPU,
                                           std::move(release));
  auto impl = std::make_shared<detail::TensorImpl>();
  impl->storage = std::move(storage);
  impl->shape = shape;
  impl->strides = std::move(st);
  impl->dtype = dtype;
  impl->refresh();
  return Tensor(std::move(impl));
}

template <class T>
Tensor tensor(const std::vector<T>& data, std::optional<Shape> shape, std::optional<TensorOptions> opt) {
  Shape s = shape ? *shape : Shape{static_cast<int64_t>(data.size())};
  const int64_t n = detail::checked_numel(s, "tensor");
  NA_CHECK(n == static_cast<int64_t>(data.size()), "tensor", "shape ", shape_str(s), " needs ", n,
           " elements but ", data.size(), " were given");
  Tensor t;
  if constexpr (std::is_same_v<T, bool>) {
    std::vector<uint8_t> bytes(data.begin(), data.end());
    t = from_blob_copy(bytes.data(), s, DType::boolean);
  } else {
    t = from_blob_copy(data.data(), s, dtype_of<T>::value);
  }
  if (opt) {
    t = ops::cast(t, opt->dtype_);
    if (opt->requires_grad_) t.requires_grad_(true);
  }
  return t;
}

template Tensor tensor<float>(const std::vector<float>&, std::optional<Shape>, std::optional<TensorOptions>);
template Tensor tensor<double>(const std::vector<double>&, std::optional<Shape>,
                               std::optional<TensorOptions>);
template Tensor tensor<int32_t>(const std::vector<int32_t>&, std::optional<Shape>,
                                std::optional<TensorOptions>);
template Tensor tensor<int64_t>(const std::vector<int64_t>&, std::optional<Shape>,
                                std::optional<TensorOptions>);
template Tensor tensor<uint8_t>(const std::vector<uint8_t>&, std::optional<Shape>,
                                std::optional<TensorOptions>);
template Tensor tensor<bool>(const std::vector<bool>&, std::optional<Shape>, std::optional<TensorOptions>);

}  // namespace neural_arch
