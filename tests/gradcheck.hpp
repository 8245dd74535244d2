// Finite-difference gradient checking for tests: compares the gradients that autograd computes
// with central differences of the same function, in float64.
//
//   auto r = na_test::gradcheck([](const std::vector<na::Tensor>& v) { return na::exp(v[0]); },
//                               {na::randn({3, 4}, na::kFloat64).requires_grad_()});
//   EXPECT_TRUE(r.ok) << r.message;
//
// Only the inputs that require grad are checked; the others (integer indices, masks, constants)
// are passed through unchanged. Numerical derivatives perturb a contiguous clone of one input
// at a time, so a case that wants a non-contiguous operand builds the view inside fn from a
// contiguous base input (e.g. `v[0].t()`): the base is what gets perturbed, and the analytic
// gradient then also flows back through the view's own backward.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "neural_arch/autograd.hpp"
#include "neural_arch/ops.hpp"
#include "neural_arch/random.hpp"
#include "neural_arch/tensor.hpp"

namespace na_test {

namespace na = neural_arch;

using GradFn = std::function<na::Tensor(const std::vector<na::Tensor>&)>;

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
  /// Seed of the random upstream gradient (a random one catches transposed or mis-summed
  /// gradients that an all-ones upstream gradient would hide).
  uint64_t seed = 1234;
  /// Used in messages only.
  std::string name = "fn";
};

struct GradcheckResult {
  bool ok = false;
  /// Largest |analytic - numeric| over all checked elements.
  double max_abs_error = 0.0;
  /// Largest |analytic - numeric| / (atol + rtol * |numeric|): ok means this is <= 1.
  double max_scaled_error = 0.0;
  int64_t elements_checked = 0;
  /// Largest |numeric derivative|: zero means fn ignored its inputs and the check proved little.
  double max_abs_numeric = 0.0;
  /// Empty when ok; otherwise names the op, the input, the element and both values.
  std::string message;
  explicit operator bool() const { return ok; }
};

namespace detail {

inline std::string index_str(const na::Shape& shape, int64_t flat) {
  std::vector<int64_t> idx(shape.size());
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    idx[d] = flat % shape[d];
    flat /= shape[d];
  }
  std::ostringstream os;
  os << '(';
  for (size_t i = 0; i < idx.size(); ++i) os << (i ? "," : "") << idx[i];
  os << ')';
  return os.str();
}

// <f(inputs), upstream>: the scalar whose derivative by one input element is one entry of
// the vector-Jacobian product that autograd computes.
inline double project(const GradFn& fn, const std::vector<na::Tensor>& inputs,
                      const std::vector<double>& upstream) {
  na::Tensor out = fn(inputs);
  std::vector<double> v = out.to_vector<double>();
  double acc = 0.0;
  for (size_t i = 0; i < v.size(); ++i) acc += v[i] * upstream[i];
  return acc;
}

}  // namespace detail

/// Checks fn's analytic gradients against central differences for every input that requires
/// grad. Inputs must be float64. Never throws for a wrong gradient: it reports it in the result
/// (an exception from fn or autograd is reported too, so one bad op does not hide the others).
inline GradcheckResult gradcheck(const GradFn& fn, const std::vector<na::Tensor>& inputs,
                                 const GradcheckOptions& opt) {
  GradcheckResult res;
  std::ostringstream msg;
  msg << "[gradcheck " << opt.name << "] ";

  std::vector<size_t> checked;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined() || !inputs[i].requires_grad()) continue;
    if (inputs[i].dtype() != na::kFloat64) {
      msg << "input " << i << " requires grad but is " << na::dtype_name(inputs[i].dtype())
          << "; gradcheck needs float64";
      res.message = msg.str();
      return res;
    }
    checked.push_back(i);
  }
  if (checked.empty()) {
    msg << "no input requires grad: nothing to check";
    res.message = msg.str();
    return res;
  }

  // Analytic pass.
  na::Tensor out;
  std::vector<double> upstream;
  std::vector<na::Tensor> analytic;
  try {
    na::EnableGradGuard grad_on;
    out = fn(inputs);
    if (!out.defined() || out.dtype() != na::kFloat64) {
      msg << "fn must return a defined float64 tensor, got "
          << (out.defined() ? na::dtype_name(out.dtype()) : "an undefined tensor");
      res.message = msg.str();
      return res;
    }
    if (!out.requires_grad()) {
      msg << "output of shape " << na::shape_str(out.shape()) << " does not require grad although inputs do";
      res.message = msg.str();
      return res;
    }
    na::Generator gen(opt.seed);
    na::Tensor g = na::randn(out.shape(), na::kFloat64, &gen);
    upstream = g.to_vector<double>();
    std::vector<na::Tensor> wrt;
    for (size_t i : checked) wrt.push_back(inputs[i]);
    // allow_unused: an input that fn ignores has a zero gradient, which the numbers then confirm.
    analytic = na::autograd::grad({out}, wrt, {g}, /*retain_graph=*/false, /*create_graph=*/false,
                                  /*allow_unused=*/true);
  } catch (const std::exception& e) {
    msg << "analytic pass threw: " << e.what();
    res.message = msg.str();
    return res;
  }

  // Numerical pass, one input element at a time.
  na::NoGradGuard no_grad;
  bool first_failure_reported = false;
  for (size_t k = 0; k < checked.size(); ++k) {
    const size_t i = checked[k];
    const na::Tensor& x = inputs[i];
    std::vector<double> a;
    if (analytic[k].defined()) {
      if (analytic[k].shape() != x.shape()) {
        msg << "input " << i << ": analytic gradient has shape " << na::shape_str(analytic[k].shape())
            << " but the input has shape " << na::shape_str(x.shape());
        res.message = msg.str();
        return res;
      }
      if (analytic[k].dtype() != na::kFloat64) {
        msg << "input " << i << ": analytic gradient is " << na::dtype_name(analytic[k].dtype())
            << ", expected float64";
        res.message = msg.str();
        return res;
      }
      a = analytic[k].to_vector<double>();
    } else {
      a.assign(static_cast<size_t>(x.numel()), 0.0);
    }

    na::Tensor base = x.detach().clone().contiguous();
    double* p = base.data_ptr<double>();
    std::vector<na::Tensor> args(inputs.begin(), inputs.end());
    for (size_t j = 0; j < args.size(); ++j)
      if (j != i && args[j].defined()) args[j] = args[j].detach();

    for (int64_t e = 0; e < x.numel(); ++e) {
      const double orig = p[e];
      double plus = 0.0, minus = 0.0;
      try {
        na::Tensor xp = base.clone();
        xp.data_ptr<double>()[e] = orig + opt.eps;
        args[i] = xp;
        plus = detail::project(fn, args, upstream);
        na::Tensor xm = base.clone();
        xm.data_ptr<double>()[e] = orig - opt.eps;
        args[i] = xm;
        minus = detail::project(fn, args, upstream);
      } catch (const std::exception& ex) {
        msg << "numerical pass threw at input " << i << " element " << detail::index_str(x.shape(), e) << ": "
            << ex.what();
        res.message = msg.str();
        return res;
      }
      const double numeric = (plus - minus) / (2.0 * opt.eps);
      if (std::isfinite(numeric)) res.max_abs_numeric = std::max(res.max_abs_numeric, std::abs(numeric));
      const double analytic_v = a[static_cast<size_t>(e)];
      const double err = std::abs(analytic_v - numeric);
      const double tol = opt.atol + opt.rtol * std::abs(numeric);
      const double scaled = std::isfinite(err) ? err / tol : std::numeric_limits<double>::infinity();
      res.max_abs_error =
          std::max(res.max_abs_error, std::isfinite(err) ? err : std::numeric_limits<double>::infinity());
      res.max_scaled_error = std::max(res.max_scaled_error, scaled);
      ++res.elements_checked;
      if (!(scaled <= 1.0) && !first_failure_reported) {
        first_failure_reported = true;
        msg << "input " << i << " (shape " << na::shape_str(x.shape()) << ") element "
            << detail::index_str(x.shape(), e) << ": analytic " << analytic_v << " vs numeric " << numeric
            << " (|diff| " << err << " > atol " << opt.atol << " + rtol " << opt.rtol << " * |numeric|)";
      }
    }
  }
  res.ok = !first_failure_reported;
  if (!res.ok) {
    msg << "; max |diff| over " << res.elements_checked << " elements = " << res.max_abs_error;
    res.message = msg.str();
  }
  return res;
}

/// The positional form: gradcheck(fn, inputs, eps, atol, rtol).
inline GradcheckResult gradcheck(const GradFn& fn, const std::vector<na::Tensor>& inputs, double eps = 1e-6,
                                 double atol = 1e-5, double rtol = 1e-3, const std::string& name = "fn") {
  GradcheckOptions opt;
  opt.eps = eps;
  opt.atol = atol;
  opt.rtol = rtol;
  opt.name = name;
  return gradcheck(fn, inputs, opt);
}

}  // namespace na_test
