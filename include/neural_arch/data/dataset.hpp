// Datasets: indexable collections of (data, target) examples, and batching by stacking.
#pragma once
#include <cstdint>
#include <vector>

#include "neural_arch/tensor.hpp"

namespace neural_arch::data {

/// One example, or a batch of them (leading batch dimension). target may be undefined for
/// datasets without labels.
struct Example {
  Tensor data;
  Tensor target;
};

/// An indexable dataset. Subclasses implement size() and get(); get_batch() defaults to
/// stacking get(i) and may be overridden with a faster gather. Implementations must allow
/// get()/get_batch() from a thread other than the one that made the dataset (DataLoader's
/// prefetch thread) while the main thread trains; they must not mutate shared state.
class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual Example get(int64_t index) const = 0;
  /// The examples at indices stacked along a new leading dimension (see collate()).
  virtual Example get_batch(const std::vector<int64_t>& indices) const;
};

/// Examples are the rows of two tensors: get(i) = {data[i], targets[i]}. targets may be
/// undefined. get_batch() gathers rows with one copy per row, no per-example tensors.
///
///   data::TensorDataset ds(images, labels);   // images (N,1,28,28), labels (N)
class TensorDataset : public Dataset {
 public:
  TensorDataset(Tensor data, Tensor targets = Tensor());
  int64_t size() const override { return data_.size(0); }
  Example get(int64_t index) const override;
  Example get_batch(const std::vector<int64_t>& indices) const override;
  const Tensor& data() const { return data_; }
  const Tensor& targets() const { return targets_; }

 private:
  Tensor data_, targets_;
};

/// Stacks same-shaped, same-dtype tensors along a new dimension 0 (plain copies: no autograd
/// and no OpenMP, so it is safe on a prefetch thread).
Tensor stack_rows(const std::vector<Tensor>& rows, const char* op = "collate");

/// The batch made of examples: data and targets stacked along a new leading dimension.
/// All data must share one shape and dtype, likewise targets; targets are either all
/// defined or all undefined. Throws Error("[collate] ...") naming the first mismatch.
Example collate(const std::vector<Example>& examples);

/// Copies rows indices of a tensor (index into dim 0) into a new contiguous tensor:
/// result[k] = t[indices[k]]. Bounds-checked; no autograd, no OpenMP.
Tensor gather_rows(const Tensor& t, const std::vector<int64_t>& indices, const char* op = "gather_rows");

}  // namespace neural_arch::data
