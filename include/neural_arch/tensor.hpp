// Tensor: a cheap value handle to a strided view of shared storage, with autograd state.
#pragma once
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "neural_arch/device.hpp"
#include "neural_arch/dtype.hpp"
#include "neural_arch/error.hpp"

namespace neural_arch {

using Shape = std::vector<int64_t>;

class Node;
class Tensor;

/// A number passed where a tensor could be (`x + 2`, `x * 0.5`). Integral scalars keep an
/// integer tensor integral; floating scalars turn integer tensors into float32 (PyTorch's rule).
class Scalar {
 public:
  Scalar(double v) : d_(v), i_(static_cast<int64_t>(v)), integral_(false) {}  // NOLINT
  Scalar(float v) : Scalar(static_cast<double>(v)) {}                         // NOLINT
  Scalar(int v) : d_(v), i_(v), integral_(true) {}                            // NOLINT
  Scalar(int64_t v) : d_(static_cast<double>(v)), i_(v), integral_(true) {}   // NOLINT
  Scalar(bool v) : d_(v), i_(v), integral_(true) {}                           // NOLINT
  double to_double() const { return d_; }
  int64_t to_int() const { return i_; }
  bool is_integral() const { return integral_; }

 private:
  double d_;
  int64_t i_;
  bool integral_;
};

/// Bytes from a device allocator, shared by all views of a tensor. Carries the version
/// counter that in-place writes bump, so every view sees the same version.
class Storage {
 public:
  Storage(size_t nbytes, Device device);
  /// Wraps nbytes at data owned by someone else (a NumPy array, a DLPack producer) without
  /// copying; `release` runs once, when the last tensor viewing this storage is gone.
  Storage(void* data, size_t nbytes, Device device, std::function<void()> release);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  uint64_t version() const { return version_; }
  void bump_version() { ++version_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  uint64_t version_ = 0;
  std::function<void()> release_;  // set for borrowed memory; the pool owns data_ otherwise
};

using TensorHook = std::function<Tensor(const Tensor&)>;

namespace detail {
struct TensorImpl;
}

/// Tensor: shape, strides, offset and dtype over a shared Storage, plus autograd state
/// (requires_grad, grad, the node that produced it). Copying a Tensor copies the handle,
/// not the data: use clone() for a deep copy. A default-constructed Tensor is undefined.
///
///   auto x = na::randn({4, 3}).requires_grad_();
///   auto y = (x * x).sum();
///   y.backward();            // x.grad() == 2 * x
class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<detail::TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  // --- metadata
  const Shape& shape() const;
  const Shape& sizes() const { return shape(); }
  const Shape& strides() const;
  int64_t dim() const;
  int64_t size(int64_t d) const;
  int64_t stride(int64_t d) const;
  int64_t numel() const;
  int64_t storage_offset() const;
  DType dtype() const;
  Device device() const;
  bool is_contiguous() const;
  size_t element_size() const { return neural_arch::element_size(dtype()); }
  const std::shared_ptr<Storage>& storage() const;
  /// Pointer to the first element (storage base + offset). Checks T against dtype().
  template <class T> T* data_ptr() const;
  void* raw_data() const;

  // --- autograd
  bool requires_grad() const;
  /// Marks a leaf as requiring grad. Errors on non-leaves and non-floating dtypes.
  Tensor& requires_grad_(bool flag = true);
  /// Accumulated gradient of a leaf (or of a non-leaf after retain_grad()); undefined if none.
  Tensor grad() const;
  void set_grad(const Tensor& g) const;
  bool is_leaf() const;
  std::shared_ptr<Node> grad_fn() const;
  uint32_t output_nr() const;
  /// Backpropagates from this tensor. A non-scalar needs an explicit gradient.
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false,
                bool create_graph = false) const;
  /// A new handle to the same data that is cut from the graph.
  Tensor detach() const;
  /// Calls hook(grad) when this tensor's gradient is computed; a defined return value replaces it.
  void register_hook(TensorHook hook) const;
  /// Keeps .grad() for a non-leaf tensor.
  void retain_grad() const;
  /// Version counter of the storage; bumped by every in-place write.
  uint64_t version() const;

  /// Makes this handle (and every copy of it) refer to other's data, shape and dtype, keeping
  /// its autograd identity (like torch's `param.data = other`). Used by Module::to(dtype).
  void set_data(const Tensor& other) const;

  // --- conversion and copies
  Tensor to(DType t) const;
  Tensor to(Device d) const;
  Tensor clone() const;
  Tensor contiguous() const;
  /// The single value of a one-element tensor, converted to T.
  template <class T> T item() const;
  double item() const { return item<double>(); }
  /// All elements in row-major order, converted to T.
  template <class T> std::vector<T> to_vector() const;

  // --- views (share storage with this tensor)
  Tensor view(const Shape& shape) const;
  Tensor reshape(const Shape& shape) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor squeeze() const;
  Tensor squeeze(int64_t d) const;
  Tensor unsqueeze(int64_t d) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const;
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor narrow(int64_t d, int64_t start, int64_t length) const;
  Tensor slice(int64_t d, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor select(int64_t d, int64_t index) const;
  Tensor expand(const Shape& shape) const;
  Tensor broadcast_to(const Shape& shape) const { return expand(shape); }
  std::vector<Tensor> chunk(int64_t chunks, int64_t d = 0) const;
  std::vector<Tensor> split(int64_t split_size, int64_t d = 0) const;
  Tensor operator[](int64_t index) const { return select(0, index); }

  // --- in-place (bump the version; not allowed on leaves that require grad while grad mode is on)
  Tensor& fill_(Scalar v);
  Tensor& zero_() { return fill_(0); }
  Tensor& copy_(const Tensor& src);
  Tensor& add_(const Tensor& other, Scalar alpha = 1);
  Tensor& sub_(const Tensor& other, Scalar alpha = 1);
  Tensor& mul_(const Tensor& other);
  Tensor& div_(const Tensor& other);
  Tensor& add_(Scalar other);
  Tensor& sub_(Scalar other);
  Tensor& mul_(Scalar other);
  Tensor& div_(Scalar other);
  Tensor& clamp_(Scalar lo, Scalar hi);
  Tensor& masked_fill_(const Tensor& mask, Scalar value);

  // --- op shorthands (same as the free functions in ops.hpp)
  Tensor sum(const std::vector<int64_t>& dims = {}, bool keepdim = false) const;
  Tensor mean(const std::vector<int64_t>& dims = {}, bool keepdim = false) const;
  Tensor exp() const;
  Tensor log() const;
  Tensor sqrt() const;
  Tensor abs() const;
  Tensor tanh() const;
  Tensor sigmoid() const;
  Tensor relu() const;
  Tensor pow(Scalar exponent) const;
  Tensor matmul(const Tensor& other) const;
  Tensor softmax(int64_t dim) const;
  Tensor log_softmax(int64_t dim) const;
  Tensor argmax(int64_t dim, bool keepdim = false) const;
  Tensor max() const;
  Tensor min() const;

  // --- printing
  std::string str() const;

  detail::TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<detail::TensorImpl>& impl_ptr() const { return impl_; }
  /// True when both handles refer to the same tensor object (not just equal data).
  bool is_same(const Tensor& o) const { return impl_ == o.impl_; }

 private:
  std::shared_ptr<detail::TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);
std::string shape_str(const Shape& s);

namespace detail {
/// The state behind a Tensor handle. Internal: use Tensor's methods.
struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;
  int64_t offset = 0;
  int64_t numel = 1;
  DType dtype = DType::f32;
  bool requires_grad = false;
  bool is_contiguous = true;
  bool retains_grad = false;
  bool is_view = false;  // shares storage with a tensor produced by another op
  uint32_t output_nr = 0;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;
  std::weak_ptr<Node> grad_accumulator;  // leaves only: shared by all uses in the graph
  std::vector<TensorHook> leaf_hooks;    // leaves only: kept here since the accumulator is weak
  void refresh();                        // recompute numel and is_contiguous
};
void check_dtype_match(DType actual, DType requested);
}  // namespace detail

template <class T> T* Tensor::data_ptr() const {
  detail::check_dtype_match(dtype(), dtype_of<T>::value);
  return static_cast<T*>(raw_data());
}

}  // namespace neural_arch
