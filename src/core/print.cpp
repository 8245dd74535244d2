// PyTorch-like printing: tensor([[1.0000, 2.0000], ...], dtype=float64, requires_grad=True).
#include <cmath>
#include <cstdio>
#include <sstream>

#include "neural_arch/autograd.hpp"
#include "neural_arch/ops.hpp"

namespace neural_arch {

namespace {
constexpr int64_t kSummarizeAbove = 1000;
constexpr int64_t kEdgeItems = 3;

struct Formatter {
  bool floating = false, is_bool = false, sci = false, int_mode = false;
  int width = 1;
  std::string fmt(double v) const {
    char buf[64];
    if (is_bool) return v != 0 ? "True" : "False";
    if (!floating)
      std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
    else if (std::isnan(v))
      std::snprintf(buf, sizeof buf, "nan");
    else if (std::isinf(v))
      std::snprintf(buf, sizeof buf, v > 0 ? "inf" : "-inf");
    else if (sci)
      std::snprintf(buf, sizeof buf, "%.4e", v);
    else if (int_mode)
      std::snprintf(buf, sizeof buf, "%.0f.", v);
    else
      std::snprintf(buf, sizeof buf, "%.4f", v);
    return buf;
  }
};

void print_rec(std::ostringstream& os, const std::vector<double>& data, const Shape& shape, size_t dim,
               int64_t offset, const Shape& strides, const Formatter& f, bool summarize, int indent) {
  const int64_t n = shape[dim];
  os << '[';
  for (int64_t i = 0; i < n; ++i) {
    if (summarize && n > 2 * kEdgeItems && i == kEdgeItems) {
      os << (dim + 1 == shape.size() ? "..., " : "...,\n" + std::string(indent + 1, ' '));
      i = n - kEdgeItems - 1;
      continue;
    }
    if (dim + 1 == shape.size()) {
      std::string s = f.fmt(data[offset + i * strides[dim]]);
      os << std::string(std::max<int>(0, f.width - static_cast<int>(s.size())), ' ') << s;
    } else {
      print_rec(os, data, shape, dim + 1, offset + i * strides[dim], strides, f, summarize, indent + 1);
    }
    if (i + 1 < n) {
      if (dim + 1 == shape.size())
        os << ", ";
      else
        os << ',' << std::string(shape.size() - dim - 1, '\n') << std::string(indent + 1, ' ');
    }
  }
  os << ']';
}
}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  std::vector<double> data;
  {
    NoGradGuard ng;
    data = to_vector<double>();
  }
  Formatter f;
  f.floating = is_floating(dtype());
  f.is_bool = dtype() == DType::boolean;
  if (f.floating) {
    double mx = 0, mn = INFINITY;
    bool all_int = true;
    for (double v : data) {
      if (!std::isfinite(v)) continue;
      mx = std::max(mx, std::fabs(v));
      if (v != 0) mn = std::min(mn, std::fabs(v));
      if (v != std::floor(v)) all_int = false;
    }
    f.sci = mx >= 1e8 || (mn < 1e-4 && mn > 0) || (mx > 0 && mn != INFINITY && mx / mn > 1000 && !all_int);
    f.int_mode = all_int && !f.sci;
  }
  for (double v : data) f.width = std::max<int>(f.width, static_cast<int>(f.fmt(v).size()));
  std::ostringstream os;
  os << "tensor(";
  if (dim() == 0) {
    os << f.fmt(data.empty() ? 0 : data[0]);
  } else if (numel() == 0) {
    os << "[]";
  } else {
    Shape st(dim());
    int64_t acc = 1;
    for (int64_t i = dim() - 1; i >= 0; --i) st[i] = acc, acc *= size(i);
    print_rec(os, data, shape(), 0, 0, st, f, numel() > kSummarizeAbove, 7);
  }
  if (numel() == 0 && dim() > 1) os << ", size=" << shape_str(shape());
  if (dtype() != DType::f32 && dtype() != DType::i64 && dtype() != DType::boolean)
    os << ", dtype=" << dtype_name(dtype());
  if (grad_fn())
    os << ", grad_fn=<" << grad_fn()->name() << ">";
  else if (requires_grad())
    os << ", requires_grad=True";
  os << ')';
  return os.str();
}

}  // namespace neural_arch
