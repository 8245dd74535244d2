// 2-D pooling (torch.nn.functional.max_pool2d, avg_pool2d, adaptive_avg_pool2d). Inputs are
// (N, C, H, W) or unbatched (C, H, W). Each pooling op's backward is itself a differentiable op.
#pragma once
#include <cstdint>
#include <optional>

#include "neural_arch/functional/conv.hpp"  // Int2
#include "neural_arch/ops.hpp"              // ValuesIndices
#include "neural_arch/tensor.hpp"

namespace neural_arch::functional {

/// Max over kernel_size windows. stride 0 (the default) means stride = kernel_size, like
/// PyTorch's stride=None. Padding (at most half the kernel) counts as -inf. ceil_mode rounds
/// the output size up (a window must still start inside the input or its left padding).
/// A NaN in a window is its maximum. The gradient goes to the (first) maximal element.
///
///   auto y = na::functional::max_pool2d(x, 2);   // (N, C, H/2, W/2)
Tensor max_pool2d(const Tensor& input, Int2 kernel_size, Int2 stride = 0, Int2 padding = 0, Int2 dilation = 1,
                  bool ceil_mode = false);

/// max_pool2d and the int64 position of each maximum, flattened within its (H, W) plane.
ValuesIndices max_pool2d_with_indices(const Tensor& input, Int2 kernel_size, Int2 stride = 0,
                                      Int2 padding = 0, Int2 dilation = 1, bool ceil_mode = false);

/// Mean over kernel_size windows (stride 0 = kernel_size). count_include_pad: padded zeros
/// count in the divisor (PyTorch's default); divisor_override replaces the divisor.
Tensor avg_pool2d(const Tensor& input, Int2 kernel_size, Int2 stride = 0, Int2 padding = 0,
                  bool ceil_mode = false, bool count_include_pad = true,
                  std::optional<int64_t> divisor_override = std::nullopt);

/// Mean over windows chosen so the output is output_size: output row i averages input rows
/// floor(i*H/OH) to ceil((i+1)*H/OH) - 1 (PyTorch's rule).
///
///   auto y = na::functional::adaptive_avg_pool2d(x, 1);   // global average pooling
Tensor adaptive_avg_pool2d(const Tensor& input, Int2 output_size);

}  // namespace neural_arch::functional
