// Conv1d and Conv2d layers.
#include "neural_arch/nn/conv.hpp"

#include <cmath>
#include <sstream>

#include "neural_arch/nn/init.hpp"
#include "neural_arch/ops.hpp"
#include "neural_arch/optimization/autocast.hpp"

namespace neural_arch::nn {

namespace {

std::string pair_repr(int64_t h, int64_t w) {
  std::ostringstream os;
  os << '(' << h << ", " << w << ')';
  return os.str();
}

std::string padding_repr(const ConvPadding& p, bool two_d) {
  if (!p.mode().empty()) return p.mode();
  if (two_d) return pair_repr(p.h(), p.w());
  std::ostringstream os;
  os << '(' << p.w() << ",)";
  return os.str();
}

void check_channels(const char* layer, int64_t in, int64_t out, int64_t groups) {
  NA_CHECK(in > 0 && out > 0, layer, "in_channels and out_channels must be positive, got ", in, " and ", out);
  NA_CHECK(groups > 0, layer, "groups must be positive, got ", groups);
  NA_CHECK(in % groups == 0, layer, "in_channels (", in, ") must be divisible by groups (", groups, ")");
  NA_CHECK(out % groups == 0, layer, "out_channels (", out, ") must be divisible by groups (", groups, ")");
}

void check_padding(const char* layer, const ConvPadding& p, bool strided) {
  const std::string& m = p.mode();
  NA_CHECK(m.empty() || m == "same" || m == "valid", layer,
           "padding must be a number, 'same' or 'valid', got '", m, "'");
  NA_CHECK(m != "same" || !strided, layer, "padding='same' is not supported for strided convolutions");
  NA_CHECK(!m.empty() || (p.h() >= 0 && p.w() >= 0), layer, "padding must be non-negative");
}

// torch's _ConvNd.reset_parameters: kaiming_uniform(a = sqrt(5)) and bias U(+-1/sqrt(fan_in)).
void init_conv(const Tensor& weight, const Tensor& bias) {
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const int64_t fan_in = init::calculate_fan_in_and_fan_out(weight).first;
    const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
    init::uniform_(bias, -bound, bound);
  }
}

void check_input(const char* layer, const Tensor& x, const Tensor& weight, int64_t rank, const char* dims,
                 int64_t channels) {
  NA_CHECK(x.defined(), layer, "input is an undefined tensor");
  NA_CHECK(x.dim() == rank && x.size(1) == channels, layer, "expected input with ", rank, " dims ", dims,
           " and ", channels, " channels, got shape ", shape_str(x.shape()));
  NA_CHECK(optimization::autocast_compatible(x.dtype(), weight.dtype()), layer, "input dtype ",
           dtype_name(x.dtype()), " does not match the layer's parameter dtype ", dtype_name(weight.dtype()),
           " (convert the input, or the module with to(dtype)), input shape ", shape_str(x.shape()));
}

}  // namespace

// ---------------------------------------------------------------- Conv2d

Conv2d::Conv2d(int64_t in, int64_t out, Int2 k, Conv2dOptions opt)
    : Module("Conv2d"), in_channels(in), out_channels(out), kernel_size(k), options(std::move(opt)) {
  check_channels("Conv2d", in, out, options.groups_);
  NA_CHECK(k.h > 0 && k.w > 0, "Conv2d", "kernel_size must be positive, got ", pair_repr(k.h, k.w));
  NA_CHECK(options.stride_.h > 0 && options.stride_.w > 0, "Conv2d", "stride must be positive, got ",
           pair_repr(options.stride_.h, options.stride_.w));
  NA_CHECK(options.dilation_.h > 0 && options.dilation_.w > 0, "Conv2d", "dilation must be positive, got ",
           pair_repr(options.dilation_.h, options.dilation_.w));
  check_padding("Conv2d", options.padding_, options.stride_.h != 1 || options.stride_.w != 1);
  weight = register_parameter("weight", empty({out, in / options.groups_, k.h, k.w}));
  bias = register_parameter("bias", options.bias_ ? empty({out}) : Tensor());
  reset_parameters();
}

Conv2d::Conv2d(int64_t in, int64_t out, Int2 k, Int2 stride, ConvPadding padding, Int2 dilation,
               int64_t groups, bool with_bias)
    : Conv2d(in, out, k,
             Conv2dOptions()
                 .stride(stride)
                 .padding(std::move(padding))
                 .dilation(dilation)
                 .groups(groups)
                 .bias(with_bias)) {}

void Conv2d::reset_parameters() { init_conv(weight, bias); }

Tensor Conv2d::forward(const Tensor& x) {
  check_input("Conv2d", x, weight, 4, "(N,C,H,W)", in_channels);
  return functional::conv2d(x, weight, bias, options.stride_, options.padding_, options.dilation_,
                            options.groups_);
}

std::string Conv2d::extra_repr() const {
  std::ostringstream os;
  os << in_channels << ", " << out_channels << ", kernel_size=" << pair_repr(kernel_size.h, kernel_size.w)
     << ", stride=" << pair_repr(options.stride_.h, options.stride_.w);
  const ConvPadding& p = options.padding_;
  if (!p.mode().empty() || p.h() != 0 || p.w() != 0) os << ", padding=" << padding_repr(p, true);
  if (options.dilation_.h != 1 || options.dilation_.w != 1)
    os << ", dilation=" << pair_repr(options.dilation_.h, options.dilation_.w);
  if (options.groups_ != 1) os << ", groups=" << options.groups_;
  if (!bias.defined()) os << ", bias=false";
  return os.str();
}

// ---------------------------------------------------------------- Conv1d

Conv1d::Conv1d(int64_t in, int64_t out, int64_t k, Conv1dOptions opt)
    : Module("Conv1d"), in_channels(in), out_channels(out), kernel_size(k), options(std::move(opt)) {
  check_channels("Conv1d", in, out, options.groups_);
  NA_CHECK(k > 0, "Conv1d", "kernel_size must be positive, got ", k);
  NA_CHECK(options.stride_ > 0, "Conv1d", "stride must be positive, got ", options.stride_);
  NA_CHECK(options.dilation_ > 0, "Conv1d", "dilation must be positive, got ", options.dilation_);
  NA_CHECK(!options.padding_.is_pair(), "Conv1d", "padding must be one number or 'same'/'valid'");
  check_padding("Conv1d", options.padding_, options.stride_ != 1);
  weight = register_parameter("weight", empty({out, in / options.groups_, k}));
  bias = register_parameter("bias", options.bias_ ? empty({out}) : Tensor());
  reset_parameters();
}

Conv1d::Conv1d(int64_t in, int64_t out, int64_t k, int64_t stride, ConvPadding padding, int64_t dilation,
               int64_t groups, bool with_bias)
    : Conv1d(in, out, k,
             Conv1dOptions()
                 .stride(stride)
                 .padding(std::move(padding))
                 .dilation(dilation)
                 .groups(groups)
                 .bias(with_bias)) {}

void Conv1d::reset_parameters() { init_conv(weight, bias); }

Tensor Conv1d::forward(const Tensor& x) {
  check_input("Conv1d", x, weight, 3, "(N,C,L)", in_channels);
  return functional::conv1d(x, weight, bias, options.stride_, options.padding_, options.dilation_,
                            options.groups_);
}

std::string Conv1d::extra_repr() const {
  std::ostringstream os;
  os << in_channels << ", " << out_channels << ", kernel_size=(" << kernel_size << ",), stride=("
     << options.stride_ << ",)";
  const ConvPadding& p = options.padding_;
  if (!p.mode().empty() || p.w() != 0) os << ", padding=" << padding_repr(p, false);
  if (options.dilation_ != 1) os << ", dilation=(" << options.dilation_ << ",)";
  if (options.groups_ != 1) os << ", groups=" << options.groups_;
  if (!bias.defined()) os << ", bias=false";
  return os.str();
}

}  // namespace neural_arch::nn
