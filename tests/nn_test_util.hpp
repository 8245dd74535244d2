// Helpers shared by the nn test files: random float64 operands, the PyTorch reference runners
// (functional cases and module cases) and the module gradient check.
#pragma once
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "gradcheck.hpp"
#include "neural_arch/autograd.hpp"
#include "neural_arch/nn/module.hpp"
#include "neural_arch/ops.hpp"
#include "neural_arch/random.hpp"
#include "reference_data.hpp"
#include "test_util.hpp"

namespace na_test {

namespace nn = neural_arch::nn;

/// Standard-normal float64 values from a seeded generator, as scale * x + shift.
inline na::Tensor rand64(const na::Shape& shape, uint64_t seed, double scale = 1.0, double shift = 0.0) {
  na::Generator g(seed);
  na::Tensor t = na::randn(shape, na::kFloat64, &g) * scale;
  return shift == 0.0 ? t : t + shift;
}

/// rand64 as a leaf that requires grad.
inline na::Tensor leaf(const na::Shape& shape, uint64_t seed, double scale = 1.0) {
  return rand64(shape, seed, scale).requires_grad_();
}

// ------------------------------------------------------------------ reference cases

/// Tolerances of a reference comparison.
struct Tol {
  double rtol, atol;
};

using Inputs = std::map<std::string, na::Tensor>;

/// Tensors of a functional case that are inputs: not the output, the upstream gradient or a gradient.
inline bool is_input_name(const std::string& n) {
  return n != "out" && n != "gout" && n.rfind("grad_", 0) != 0;
}

/// Runs fn on the inputs of data/nn/<name>.bin (those with a stored gradient become leaves that
/// require grad) and compares the output `out` and, for the stored upstream gradient `gout`, the
/// inputs' gradients with PyTorch's. float64 cases use rtol 1e-10 / atol 1e-12, float32 ones
/// `f32` (their kernels sum in another order than torch's). A case without `gout` checks the
/// forward only, unless gout_required.
inline void check_reference(const std::string& name, const std::function<na::Tensor(const Inputs&)>& fn,
                            Tol f32, const std::string& out_label = "forward output",
                            bool gout_required = false) {
  SCOPED_TRACE("reference case nn/" + name);
  const auto ref = na_reference::load_reference("nn/" + name);
  Inputs in;
  for (const auto& [n, t] : ref.tensors()) {
    if (!is_input_name(n)) continue;
    na::Tensor v = t.clone();
    if (ref.has("grad_" + n)) v.requires_grad_();
    in.emplace(n, v);
  }
  const bool f64 = ref.at("out").dtype() == na::kFloat64;
  const double rtol = f64 ? 1e-10 : f32.rtol, atol = f64 ? 1e-12 : f32.atol;
  na::Tensor out = fn(in);
  ASSERT_TRUE(close(out, ref.at("out"), rtol, atol)) << out_label;
  if (gout_required) ASSERT_TRUE(ref.has("gout"));
  if (!ref.has("gout")) return;
  out.backward(ref.at("gout"));
  int checked = 0;
  for (const auto& [n, t] : in) {
    if (!ref.has("grad_" + n)) continue;
    EXPECT_TRUE(close(t.grad(), ref.at("grad_" + n), rtol, atol)) << "gradient of " << n;
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

/// Loads the case's `param.<key>` tensors into m with load_state_dict(strict): torch's key names
/// must match the module's one to one.
inline void load_params(nn::Module& m, const na_reference::RefCase& c) {
  nn::StateDict sd;
  for (const auto& [n, t] : c.tensors())
    if (n.rfind("param.", 0) == 0) sd.emplace_back(n.substr(6), t.clone());
  m.load_state_dict(sd, /*strict=*/true);
}

using ModuleFn = std::function<na::Tensor(const std::vector<na::Tensor>& inputs)>;

/// The forward of a one-input module as a ModuleFn.
inline ModuleFn one_input(nn::Module& m) {
  return [&m](const std::vector<na::Tensor>& v) { return m.forward(v[0]); };
}

/// Loads data/nn/<case>.bin, loads its `param.*` tensors into m (converted to the case's dtype
/// first), runs fwd on the inputs named in input_names, and compares the output, the gradients
/// of the inputs and parameters for the stored upstream gradient, and the buffers after the forward.
inline void check_module_reference(const std::string& case_name, nn::Module& m,
                                   const std::vector<std::string>& input_names, const ModuleFn& fwd) {
  SCOPED_TRACE("reference case " + case_name);
  const auto ref = na_reference::load_reference("nn/" + case_name);
  const na::Tensor& expected_out = ref.at("out");
  const na::DType dt = expected_out.dtype();
  const double rtol = dt == na::kFloat64 ? 1e-9 : 2e-5, atol = dt == na::kFloat64 ? 1e-11 : 2e-6;
  m.to(dt);
  load_params(m, ref);

  std::vector<na::Tensor> inputs;
  for (const auto& n : input_names) {
    na::Tensor t = ref.at(n).clone();
    if (ref.has("grad_" + n)) t.requires_grad_();
    inputs.push_back(t);
  }
  m.zero_grad();
  na::Tensor out = fwd(inputs);
  ASSERT_TRUE(close(out, expected_out, rtol, atol)) << "forward output";
  out.backward(ref.at("gout"));
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!ref.has("grad_" + input_names[i])) continue;
    EXPECT_TRUE(close(inputs[i].grad(), ref.at("grad_" + input_names[i]), rtol, atol))
        << "grad of " << input_names[i];
  }
  std::set<std::string> checked;
  for (const auto& [name, p] : m.named_parameters()) {
    const std::string key = "grad_param." + name;
    ASSERT_TRUE(ref.has(key)) << "the case stores no gradient for parameter " << name;
    na::Tensor g = p.grad().defined() ? p.grad() : na::zeros_like(p);
    EXPECT_TRUE(close(g, ref.at(key), rtol, atol)) << "grad of parameter " << name;
    checked.insert(key);
  }
  for (const auto& [name, _] : ref.tensors())
    if (name.rfind("grad_param.", 0) == 0)
      EXPECT_TRUE(checked.count(name)) << name << " has no parameter here";
  for (const auto& [name, b] : m.named_buffers()) {
    ASSERT_TRUE(ref.has("after." + name)) << "the case stores no value for buffer " << name;
    EXPECT_TRUE(close(b, ref.at("after." + name), rtol, atol)) << "buffer " << name << " after the forward";
  }
}

// ------------------------------------------------------------------ gradient checks

/// Gradient check of a module's forward with respect to the inputs that require grad AND every
/// parameter. The parameters are appended to the inputs; each evaluation points the module's
/// parameters at the (possibly perturbed) values gradcheck passes, and back afterwards, so the
/// analytic pass differentiates the real parameters.
inline GradcheckResult module_gradcheck(nn::Module& m, const std::vector<na::Tensor>& inputs,
                                        const ModuleFn& fwd, const std::string& name, double atol = 1e-5,
                                        double rtol = 1e-3) {
  const std::vector<na::Tensor> params = m.parameters();
  std::vector<na::Tensor> all = inputs;
  all.insert(all.end(), params.begin(), params.end());
  const size_t n_in = inputs.size();
  auto fn = [&](const std::vector<na::Tensor>& v) {
    std::vector<na::Tensor> saved;
    for (size_t i = 0; i < params.size(); ++i) {
      saved.push_back(params[i].detach());
      params[i].set_data(v[n_in + i]);
    }
    na::Tensor out = fwd(std::vector<na::Tensor>(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n_in)));
    for (size_t i = 0; i < params.size(); ++i) params[i].set_data(saved[i]);
    return out;
  };
  GradcheckOptions opt;
  opt.name = name;
  opt.atol = atol;
  opt.rtol = rtol;
  return gradcheck(fn, all, opt);
}

}  // namespace na_test
