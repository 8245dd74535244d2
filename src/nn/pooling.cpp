// MaxPool2d, AvgPool2d, AdaptiveAvgPool2d.
#include "neural_arch/nn/pooling.hpp"

#include <sstream>

namespace neural_arch::nn {

namespace {

std::string int2_repr(Int2 v) {
  std::ostringstream os;
  if (v.h == v.w)
    os << v.h;
  else
    os << '(' << v.h << ", " << v.w << ')';
  return os.str();
}

void check_rank(const char* layer, const Tensor& x) {
  NA_CHECK(x.defined(), layer, "input is an undefined tensor");
  NA_CHECK(x.dim() == 3 || x.dim() == 4, layer,
           "expected input with 3 dims (C,H,W) or 4 dims (N,C,H,W), got shape ", shape_str(x.shape()));
}

}  // namespace

MaxPool2d::MaxPool2d(Int2 k, Int2 s, Int2 p, Int2 d, bool ceil)
    : Module("MaxPool2d"),
      kernel_size(k),
      stride(s.h == 0 && s.w == 0 ? k : s),
      padding(p),
      dilation(d),
      ceil_mode(ceil) {
  NA_CHECK(k.h > 0 && k.w > 0, "MaxPool2d", "kernel_size must be positive, got ", int2_repr(k));
}

Tensor MaxPool2d::forward(const Tensor& x) {
  check_rank("MaxPool2d", x);
  return functional::max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode);
}

std::string MaxPool2d::extra_repr() const {
  std::ostringstream os;
  os << "kernel_size=" << int2_repr(kernel_size) << ", stride=" << int2_repr(stride)
     << ", padding=" << int2_repr(padding) << ", dilation=" << int2_repr(dilation)
     << ", ceil_mode=" << (ceil_mode ? "true" : "false");
  return os.str();
}

AvgPool2d::AvgPool2d(Int2 k, Int2 s, Int2 p, bool ceil, bool include_pad, std::optional<int64_t> divisor)
    : Module("AvgPool2d"),
      kernel_size(k),
      stride(s.h == 0 && s.w == 0 ? k : s),
      padding(p),
      ceil_mode(ceil),
      count_include_pad(include_pad),
      divisor_override(divisor) {
  NA_CHECK(k.h > 0 && k.w > 0, "AvgPool2d", "kernel_size must be positive, got ", int2_repr(k));
}

Tensor AvgPool2d::forward(const Tensor& x) {
  check_rank("AvgPool2d", x);
  return functional::avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                divisor_override);
}

std::string AvgPool2d::extra_repr() const {
  std::ostringstream os;
  os << "kernel_size=" << int2_repr(kernel_size) << ", stride=" << int2_repr(stride)
     << ", padding=" << int2_repr(padding);
  if (ceil_mode) os << ", ceil_mode=true";
  if (!count_include_pad) os << ", count_include_pad=false";
  if (divisor_override) os << ", divisor_override=" << *divisor_override;
  return os.str();
}

AdaptiveAvgPool2d::AdaptiveAvgPool2d(Int2 size) : Module("AdaptiveAvgPool2d"), output_size(size) {
  NA_CHECK(size.h > 0 && size.w > 0, "AdaptiveAvgPool2d", "output_size must be positive, got ",
           int2_repr(size));
}

Tensor AdaptiveAvgPool2d::forward(const Tensor& x) {
  check_rank("AdaptiveAvgPool2d", x);
  return functional::adaptive_avg_pool2d(x, output_size);
}

std::string AdaptiveAvgPool2d::extra_repr() const {
  std::ostringstream os;
  os << "output_size=" << int2_repr(output_size);
  return os.str();
}

}  // namespace neural_arch::nn
