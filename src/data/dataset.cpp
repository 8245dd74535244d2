#include "neural_arch/data/dataset.hpp"

#include <cstring>

#include "neural_arch/ops.hpp"

namespace neural_arch::data {

namespace {
Tensor contiguous_cpu(const Tensor& t) {
  Tensor c = t.detach();
  if (!c.device().is_cpu()) c = c.to(kCPU);
  return c.is_contiguous() ? c : c.contiguous();
}
}  // namespace

Tensor gather_rows(const Tensor& t, const std::vector<int64_t>& indices, const char* op) {
  NA_CHECK(t.defined(), op, "undefined tensor");
  NA_CHECK(t.dim() >= 1, op, "needs a tensor with a leading dimension, got a 0-d tensor");
  const Tensor src = contiguous_cpu(t);
  const int64_t n = src.size(0);
  Shape shape = src.shape();
  shape[0] = static_cast<int64_t>(indices.size());
  Tensor out = empty(shape, src.dtype());
  const size_t row_bytes = n ? static_cast<size_t>(src.numel() / n) * src.element_size() : 0;
  const auto* s = static_cast<const char*>(src.raw_data());
  auto* d = static_cast<char*>(out.raw_data());
  for (size_t k = 0; k < indices.size(); ++k) {
    const int64_t i = indices[k];
    NA_CHECK(i >= 0 && i < n, op, "index ", i, " is out of range for ", n, " rows");
    if (row_bytes) std::memcpy(d + k * row_bytes, s + static_cast<size_t>(i) * row_bytes, row_bytes);
  }
  return out;
}

Tensor stack_rows(const std::vector<Tensor>& rows, const char* op) {
  NA_CHECK(!rows.empty(), op, "cannot stack an empty list of tensors");
  const Tensor& first = rows[0];
  NA_CHECK(first.defined(), op, "tensor 0 is undefined");
  for (size_t k = 1; k < rows.size(); ++k) {
    NA_CHECK(rows[k].defined(), op, "tensor ", k, " is undefined");
    NA_CHECK(rows[k].shape() == first.shape() && rows[k].dtype() == first.dtype(), op, "tensor ", k,
             " has shape ", shape_str(rows[k].shape()), " and dtype ", dtype_name(rows[k].dtype()),
             " but tensor 0 has ", shape_str(first.shape()), " and ", dtype_name(first.dtype()),
             "; all must match to stack");
  }
  Shape shape = first.shape();
  shape.insert(shape.begin(), static_cast<int64_t>(rows.size()));
  Tensor out = empty(shape, first.dtype());
  const size_t row_bytes = static_cast<size_t>(first.numel()) * first.element_size();
  auto* d = static_cast<char*>(out.raw_data());
  for (size_t k = 0; k < rows.size(); ++k) {
    const Tensor r = contiguous_cpu(rows[k]);
    if (row_bytes) std::memcpy(d + k * row_bytes, r.raw_data(), row_bytes);
  }
  return out;
}

Example collate(const std::vector<Example>& examples) {
  NA_CHECK(!examples.empty(), "collate", "cannot make a batch of zero examples");
  const bool has_target = examples[0].target.defined();
  std::vector<Tensor> data, targets;
  data.reserve(examples.size());
  for (size_t k = 0; k < examples.size(); ++k) {
    NA_CHECK(examples[k].target.defined() == has_target, "collate", "example ", k,
             (has_target ? " has no target but example 0 has one" : " has a target but example 0 has none"));
    data.push_back(examples[k].data);
    if (has_target) targets.push_back(examples[k].target);
  }
  Example batch;
  batch.data = stack_rows(data, "collate");
  if (has_target) batch.target = stack_rows(targets, "collate");
  return batch;
}

Example Dataset::get_batch(const std::vector<int64_t>& indices) const {
  std::vector<Example> examples;
  examples.reserve(indices.size());
  for (int64_t i : indices) examples.push_back(get(i));
  return collate(examples);
}

TensorDataset::TensorDataset(Tensor data, Tensor targets) {
  NA_CHECK(data.defined(), "TensorDataset", "data is undefined");
  NA_CHECK(data.dim() >= 1, "TensorDataset", "data needs a leading example dimension, got shape ",
           shape_str(data.shape()));
  if (targets.defined()) {
    NA_CHECK(targets.dim() >= 1 && targets.size(0) == data.size(0), "TensorDataset", "data has shape ",
             shape_str(data.shape()), " but targets have shape ", shape_str(targets.shape()),
             "; both need the same number of examples in dimension 0");
    targets_ = contiguous_cpu(targets);
  }
  data_ = contiguous_cpu(data);
}

Example TensorDataset::get(int64_t index) const {
  NA_CHECK(index >= 0 && index < size(), "TensorDataset", "index ", index, " is out of range for ", size(),
           " examples");
  return {data_.select(0, index), targets_.defined() ? targets_.select(0, index) : Tensor()};
}

Example TensorDataset::get_batch(const std::vector<int64_t>& indices) const {
  Example b;
  b.data = gather_rows(data_, indices, "TensorDataset");
  if (targets_.defined()) b.target = gather_rows(targets_, indices, "TensorDataset");
  return b;
}

}  // namespace neural_arch::data
