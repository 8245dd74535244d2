// Free-function ops: creation, elementwise math with broadcasting and type promotion,
// reductions, indexing, linear algebra. Each op is defined once under src/ops/.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "neural_arch/random.hpp"
#include "neural_arch/tensor.hpp"

namespace neural_arch {

/// Options for creation functions: dtype, device, requires_grad (chained setters).
struct TensorOptions {
  DType dtype_ = DType::f32;
  Device device_ = kCPU;
  bool requires_grad_ = false;
  TensorOptions() = default;
  TensorOptions(DType t) : dtype_(t) {}  // NOLINT: allows zeros({2}, kFloat64)
  TensorOptions& dtype(DType t) {
    dtype_ = t;
    return *this;
  }
  TensorOptions& device(Device d) {
    device_ = d;
    return *this;
  }
  TensorOptions& requires_grad(bool r = true) {
    requires_grad_ = r;
    return *this;
  }
};

// ---------------------------------------------------------------- creation
Tensor empty(const Shape& shape, TensorOptions opt = {});
Tensor zeros(const Shape& shape, TensorOptions opt = {});
Tensor ones(const Shape& shape, TensorOptions opt = {});
Tensor full(const Shape& shape, Scalar value, TensorOptions opt = {});
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor empty_like(const Tensor& t);
Tensor full_like(const Tensor& t, Scalar value);
/// 0-d tensor holding v.
Tensor scalar_tensor(Scalar v, TensorOptions opt = {});
/// Values start, start+step, ... below end. Integral arguments give int64 unless opt says otherwise.
Tensor arange(Scalar end, std::optional<TensorOptions> opt = std::nullopt);
Tensor arange(Scalar start, Scalar end, Scalar step = 1, std::optional<TensorOptions> opt = std::nullopt);
Tensor linspace(double start, double end, int64_t steps, TensorOptions opt = {});
Tensor eye(int64_t n, std::optional<int64_t> m = std::nullopt, TensorOptions opt = {});
/// Uniform [0,1), standard normal, integers in [low, high): drawn from gen (default: the global one).
Tensor rand(const Shape& shape, TensorOptions opt = {}, Generator* gen = nullptr);
Tensor randn(const Shape& shape, TensorOptions opt = {}, Generator* gen = nullptr);
Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions opt = DType::i64,
               Generator* gen = nullptr);
Tensor normal(double mean, double std, const Shape& shape, TensorOptions opt = {}, Generator* gen = nullptr);
Tensor uniform(double low, double high, const Shape& shape, TensorOptions opt = {}, Generator* gen = nullptr);
/// Copies data into a new tensor of the given shape (default: 1-D).
template <class T>
Tensor tensor(const std::vector<T>& data, std::optional<Shape> shape = std::nullopt,
              std::optional<TensorOptions> opt = std::nullopt);
template <class T>
Tensor tensor(std::initializer_list<T> data, std::optional<Shape> shape = std::nullopt,
              std::optional<TensorOptions> opt = std::nullopt) {
  return tensor(std::vector<T>(data), shape, opt);
}
/// Copies numel(shape) elements of type dtype from a raw buffer.
Tensor from_blob_copy(const void* data, const Shape& shape, DType dtype);
/// A tensor over memory owned elsewhere, without copying (torch::from_blob): `strides` in
/// elements (empty: contiguous), all >= 0; `release` runs when the last view is gone. The
/// memory must stay valid and span every element the geometry reaches until then.
Tensor from_blob(void* data, const Shape& shape, const Shape& strides, DType dtype,
                 std::function<void()> release);

// ---------------------------------------------------------------- elementwise binary
Tensor add(const Tensor& a, const Tensor& b, Scalar alpha = 1);
Tensor sub(const Tensor& a, const Tensor& b, Scalar alpha = 1);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
/// rounding_mode: nullopt (true division), "trunc" (toward zero) or "floor" (toward -inf), as
/// torch.div; with a mode, integer inputs stay integer (division by zero is an Error) and the
/// gradient is zero (the result is piecewise constant).
Tensor div(const Tensor& a, const Tensor& b, const std::optional<std::string>& rounding_mode);
/// div(a, b, "floor").
Tensor floor_divide(const Tensor& a, const Tensor& b);
/// a - floor(a / b) * b: the result has the divisor's sign (Python's %, torch.remainder).
Tensor remainder(const Tensor& a, const Tensor& b);
Tensor remainder(const Tensor& a, Scalar b);
/// a - trunc(a / b) * b: the result has the dividend's sign (C's fmod, torch.fmod).
Tensor fmod(const Tensor& a, const Tensor& b);
Tensor fmod(const Tensor& a, Scalar b);
Tensor pow(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, Scalar exponent);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
/// Comparisons with a number (the number takes part in promotion as a 0-d tensor would).
Tensor eq(const Tensor& a, Scalar b);
Tensor ne(const Tensor& a, Scalar b);
Tensor lt(const Tensor& a, Scalar b);
Tensor le(const Tensor& a, Scalar b);
Tensor gt(const Tensor& a, Scalar b);
Tensor ge(const Tensor& a, Scalar b);
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);
Tensor logical_xor(const Tensor& a, const Tensor& b);
Tensor logical_not(const Tensor& a);
/// Scalar forms wrap the scalar in a 0-d tensor (PyTorch's promotion for numbers applies).
Tensor scalar_like(Scalar s, const Tensor& like);

// ---------------------------------------------------------------- elementwise unary
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor log1p(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor sign(const Tensor& x);
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
/// approximate: "none" (erf form) or "tanh".
Tensor gelu(const Tensor& x, const std::string& approximate = "none");
Tensor silu(const Tensor& x);
Tensor softplus(const Tensor& x, double beta = 1.0, double threshold = 20.0);
Tensor erf(const Tensor& x);
Tensor clamp(const Tensor& x, std::optional<Scalar> min, std::optional<Scalar> max);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
Tensor masked_fill(const Tensor& x, const Tensor& mask, Scalar value);

// ---------------------------------------------------------------- reductions
/// dims empty = all dims.
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false,
           std::optional<DType> dtype = std::nullopt);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
/// correction = 1 is the unbiased estimator (PyTorch's default).
Tensor var(const Tensor& x, const std::vector<int64_t>& dims = {}, int64_t correction = 1,
           bool keepdim = false);
Tensor std(const Tensor& x, const std::vector<int64_t>& dims = {}, int64_t correction = 1,
           bool keepdim = false);
Tensor prod(const Tensor& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false);
Tensor logsumexp(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
/// torch.linalg.vector_norm: ord 0 (number of non-zeros), +-inf (max / min |x|) or any other
/// p (sum |x|^p)^(1/p), over dims (empty = all). Floating inputs only.
Tensor vector_norm(const Tensor& x, double ord = 2, const std::vector<int64_t>& dims = {},
                   bool keepdim = false);
/// torch.norm with a numeric p: vector_norm(x, p, dims, keepdim).
Tensor norm(const Tensor& x, double p = 2, const std::vector<int64_t>& dims = {}, bool keepdim = false);
/// Running sum / product along dim (torch.cumsum / cumprod). Integer and bool inputs give int64
/// unless dtype says otherwise.
Tensor cumsum(const Tensor& x, int64_t dim, std::optional<DType> dtype = std::nullopt);
Tensor cumprod(const Tensor& x, int64_t dim, std::optional<DType> dtype = std::nullopt);
/// Max/min over all elements.
Tensor max(const Tensor& x);
Tensor min(const Tensor& x);
struct ValuesIndices {
  Tensor values;
  Tensor indices;
};
/// Max/min along a dim: values and int64 indices (first occurrence).
ValuesIndices max(const Tensor& x, int64_t dim, bool keepdim = false);
ValuesIndices min(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false);
Tensor argmin(const Tensor& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false);
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);

// ---------------------------------------------------------------- shape and indexing
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
/// Out-of-place scatter: a copy of x with src written at index along dim.
Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
/// Rows of weight picked by integer indices: out shape = indices.shape + (weight.size(1)).
Tensor embedding(const Tensor& weight, const Tensor& indices);

// ---------------------------------------------------------------- linear algebra
/// torch.matmul semantics: 1-D dot, 2-D mm, batched with broadcasting of batch dims.
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor mm(const Tensor& a, const Tensor& b);
Tensor bmm(const Tensor& a, const Tensor& b);
/// x @ W^T + b, W is (out, in), b is (out) or undefined.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());
Tensor outer(const Tensor& a, const Tensor& b);

// ---------------------------------------------------------------- random ops
/// Zeroes each element with probability p and scales the rest by 1/(1-p) when training.
Tensor dropout(const Tensor& x, double p = 0.5, bool training = true, Generator* gen = nullptr);

// ---------------------------------------------------------------- operators
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a);
Tensor operator+(const Tensor& a, Scalar b);
Tensor operator-(const Tensor& a, Scalar b);
Tensor operator*(const Tensor& a, Scalar b);
Tensor operator/(const Tensor& a, Scalar b);
Tensor operator+(Scalar a, const Tensor& b);
Tensor operator-(Scalar a, const Tensor& b);
Tensor operator*(Scalar a, const Tensor& b);
Tensor operator/(Scalar a, const Tensor& b);
Tensor operator==(const Tensor& a, const Tensor& b);
Tensor operator!=(const Tensor& a, const Tensor& b);
Tensor operator<(const Tensor& a, const Tensor& b);
Tensor operator<=(const Tensor& a, const Tensor& b);
Tensor operator>(const Tensor& a, const Tensor& b);
Tensor operator>=(const Tensor& a, const Tensor& b);
Tensor operator&(const Tensor& a, const Tensor& b);  // logical_and
Tensor operator|(const Tensor& a, const Tensor& b);  // logical_or
Tensor operator<(const Tensor& a, Scalar b);
Tensor operator>(const Tensor& a, Scalar b);
Tensor operator<=(const Tensor& a, Scalar b);
Tensor operator>=(const Tensor& a, Scalar b);
Tensor operator==(const Tensor& a, Scalar b);
Tensor operator!=(const Tensor& a, Scalar b);
Tensor operator%(const Tensor& a, const Tensor& b);  // remainder
Tensor operator%(const Tensor& a, Scalar b);

// ---------------------------------------------------------------- utilities
/// Broadcast shape of a and b (numpy rules); throws naming op otherwise.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op = "broadcast");
/// True when both tensors have the same shape and all |a-b| <= atol + rtol*|b|.
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8);
/// Number of threads used by kernels (OpenMP).
int get_num_threads();
void set_num_threads(int n);

}  // namespace neural_arch
