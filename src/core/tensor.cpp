// Tensor handle basics: storage, metadata accessors and autograd state.
#include "neural_arch/tensor.hpp"

#include "autograd/function.hpp"
#include "autograd/nodes.hpp"
#include "core/checked_size.hpp"
#include "neural_arch/autograd.hpp"
#include "neural_arch/backends/memory_pool.hpp"
#include "neural_arch/ops.hpp"

namespace neural_arch {

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  NA_CHECK(device.is_cpu(), "storage", "device ", device.str(),
           " is not available: this build has only the cpu backend");
  detail::check_allocation(nbytes, "storage", "a storage");
  if (nbytes) data_ = backends::get_memory_pool().allocate(nbytes);
}

Storage::Storage(void* data, size_t nbytes, Device device, std::function<void()> release)
    : data_(data), nbytes_(nbytes), device_(device), release_(std::move(release)) {
  NA_CHECK(device.is_cpu(), "storage", "device ", device.str(),
           " is not available: this build has only the cpu backend");
  NA_CHECK(release_ != nullptr, "storage", "borrowed memory needs a release function");
}

Storage::~Storage() {
  if (release_)
    release_();
  else if (data_)
    backends::get_memory_pool().deallocate(data_, nbytes_);
}

void detail::TensorImpl::refresh() {
  numel = checked_numel(shape, "view");
  is_contiguous = true;
  int64_t expected = 1;
  for (int64_t i = static_cast<int64_t>(shape.size()) - 1; i >= 0; --i) {
    if (shape[i] != 1 && strides[i] != expected) {
      is_contiguous = false;
      break;
    }
    expected *= shape[i];
  }
}

std::string shape_str(const Shape& s) {
  std::string r = "(";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) r += ",";
    r += std::to_string(s[i]);
  }
  if (s.size() == 1) r += ",";
  return r + ")";
}

namespace {
const detail::TensorImpl& checked(const std::shared_ptr<detail::TensorImpl>& p) {
  NA_CHECK(p != nullptr, "tensor", "operation on an undefined tensor");
  return *p;
}
int64_t wrap(int64_t d, int64_t ndim, const char* op) {
  int64_t n = ndim == 0 ? 1 : ndim;
  NA_CHECK(d >= -n && d < n, op, "dimension ", d, " is out of range for a tensor of ", ndim, " dims");
  return d < 0 ? d + n : d;
}
}  // namespace

const Shape& Tensor::shape() const { return checked(impl_).shape; }
const Shape& Tensor::strides() const { return checked(impl_).strides; }
int64_t Tensor::dim() const { return static_cast<int64_t>(checked(impl_).shape.size()); }
int64_t Tensor::size(int64_t d) const { return shape()[wrap(d, dim(), "size")]; }
int64_t Tensor::stride(int64_t d) const { return strides()[wrap(d, dim(), "stride")]; }
int64_t Tensor::numel() const { return checked(impl_).numel; }
int64_t Tensor::storage_offset() const { return checked(impl_).offset; }
DType Tensor::dtype() const { return checked(impl_).dtype; }
Device Tensor::device() const { return checked(impl_).storage->device(); }
bool Tensor::is_contiguous() const { return checked(impl_).is_contiguous; }
const std::shared_ptr<Storage>& Tensor::storage() const { return checked(impl_).storage; }
void* Tensor::raw_data() const {
  const auto& i = checked(impl_);
  return static_cast<char*>(i.storage->data()) +
         i.offset * static_cast<int64_t>(neural_arch::element_size(i.dtype));
}
uint64_t Tensor::version() const { return checked(impl_).storage->version(); }

bool Tensor::requires_grad() const { return checked(impl_).requires_grad; }
bool Tensor::is_leaf() const { return checked(impl_).grad_fn == nullptr; }
std::shared_ptr<Node> Tensor::grad_fn() const { return checked(impl_).grad_fn; }
uint32_t Tensor::output_nr() const { return checked(impl_).output_nr; }
Tensor Tensor::grad() const { return checked(impl_).grad; }

Tensor& Tensor::requires_grad_(bool flag) {
  checked(impl_);
  NA_CHECK(is_leaf(), "requires_grad_",
           "you can only change requires_grad flags of leaf tensors; use detach() for a non-leaf");
  NA_CHECK(!flag || is_floating(dtype()), "requires_grad_",
           "only tensors of floating point dtype can require gradients (got ", dtype_name(dtype()), ")");
  impl_->requires_grad = flag;
  return *this;
}

void Tensor::set_grad(const Tensor& g) const {
  checked(impl_);
  NA_CHECK(!g.defined() || g.shape() == shape(), "set_grad", "gradient of shape ", shape_str(g.shape()),
           " does not match tensor of shape ", shape_str(shape()));
  impl_->grad = g;
}

void Tensor::backward(const Tensor& gradient, bool retain_graph, bool create_graph) const {
  autograd::backward({*this}, {gradient}, retain_graph, create_graph);
}

void Tensor::set_data(const Tensor& other) const {
  checked(impl_);
  NA_CHECK(other.defined(), "set_data", "the new data is an undefined tensor");
  const auto& o = *other.impl();
  NA_CHECK(!impl_->requires_grad || is_floating(o.dtype), "set_data",
           "a tensor that requires grad needs floating data, got ", dtype_name(o.dtype));
  impl_->storage = o.storage;
  impl_->shape = o.shape;
  impl_->strides = o.strides;
  impl_->offset = o.offset;
  impl_->dtype = o.dtype;
  impl_->refresh();
  if (impl_->grad.defined() && (impl_->grad.shape() != o.shape || impl_->grad.dtype() != o.dtype))
    impl_->grad = Tensor();
}

Tensor Tensor::detach() const {
  const auto& s = checked(impl_);
  auto impl = std::make_shared<detail::TensorImpl>();
  impl->storage = s.storage;
  impl->shape = s.shape;
  impl->strides = s.strides;
  impl->offset = s.offset;
  impl->numel = s.numel;
  impl->dtype = s.dtype;
  impl->is_contiguous = s.is_contiguous;
  impl->is_view = true;
  return Tensor(std::move(impl));
}

void Tensor::register_hook(TensorHook hook) const {
  checked(impl_);
  NA_CHECK(requires_grad(), "register_hook", "cannot register a hook on a tensor that doesn't require grad");
  if (is_leaf()) {
    // The leaf holds its accumulator weakly; keep the hook on the leaf so it outlives it.
    impl_->leaf_hooks.push_back(hook);
    if (auto acc = impl_->grad_accumulator.lock()) acc->pre_hooks.emplace_back(0, std::move(hook));
    return;
  }
  Edge e = autograd::gradient_edge(*this);
  e.fn->pre_hooks.emplace_back(e.input_nr, std::move(hook));
}

void Tensor::retain_grad() const {
  checked(impl_);
  NA_CHECK(requires_grad(), "retain_grad", "cannot retain_grad on a tensor that doesn't require grad");
  if (is_leaf() || impl_->retains_grad) return;
  impl_->retains_grad = true;
  std::weak_ptr<detail::TensorImpl> weak = impl_;
  register_hook([weak](const Tensor& g) {
    if (auto self = weak.lock()) {
      if (!self->grad.defined())
        self->grad = is_grad_enabled() ? g : g.clone();
      else
        self->grad = self->grad + g;
    }
    return Tensor();
  });
}

template <class T> T Tensor::item() const {
  NA_CHECK(numel() == 1, "item", "a tensor with ", numel(), " elements cannot be converted to a scalar");
  return visit_dtype(dtype(), [&](auto v) -> T {
    using S = decltype(v);
    return static_cast<T>(
        static_cast<std::conditional_t<std::is_same_v<S, Half> || std::is_same_v<S, BFloat16>, float, S>>(
            *static_cast<const S*>(raw_data())));
  });
}

template <class T> std::vector<T> Tensor::to_vector() const {
  Tensor c = contiguous().to(dtype_of<T>::value);
  const T* p = c.data_ptr<T>();
  return std::vector<T>(p, p + c.numel());
}

#define NA_INSTANTIATE(T)             \
  template T Tensor::item<T>() const; \
  template std::vector<T> Tensor::to_vector<T>() const;
NA_INSTANTIATE(float)
NA_INSTANTIATE(double)
NA_INSTANTIATE(int32_t)
NA_INSTANTIATE(int64_t)
NA_INSTANTIATE(uint8_t)
#undef NA_INSTANTIATE
template bool Tensor::item<bool>() const;
template <> std::vector<bool> Tensor::to_vector<bool>() const {
  auto v = to(DType::u8).to_vector<uint8_t>();
  return std::vector<bool>(v.begin(), v.end());
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

}  // namespace neural_arch
