// The OpInfo table: every public op (include/neural_arch/ops.hpp, plus the functional ops the
// sweeps cover) under the name its PyTorch reference uses in tests/reference/gen_opinfo.py.
// The sample inputs are drawn once, by that generator, and stored with PyTorch's results in
// tests/reference/data/opinfo/<entry>.<edge>.bin; tests/test_opinfo.cpp runs every sweep
// (reference values, gradcheck, non-contiguous inputs, re-entrant backward) from this table.
//
// Adding an op: an entry here and an Op(...) line in gen_opinfo.py with the same name (then run
// the generator). OpInfoCoverage fails while a public op of ops.hpp has neither an entry that
// `covers` it nor a reason in kNotInTable.
#pragma once
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "neural_arch/functional/activation.hpp"
#include "neural_arch/functional/normalization.hpp"
#include "neural_arch/ops.hpp"

namespace na_opinfo {

namespace na = neural_arch;
using Args = std::vector<na::Tensor>;

struct OpInfo {
  /// The reference's name: data/opinfo/<name>.<edge>.bin.
  std::string name;
  /// The inputs x0, x1, ... of the stored case, in order, to the op's result.
  std::function<na::Tensor(const Args&)> fn;
  /// The public ops (names in ops.hpp) this entry exercises; empty = {name}.
  std::vector<std::string> covers = {};
};

inline const std::vector<OpInfo>& op_table() {
  using na::Tensor;
  static const std::vector<OpInfo> table = {
      // elementwise binary
      {"add", [](const Args& a) { return na::add(a[0], a[1], 2); }},
      {"sub", [](const Args& a) { return na::sub(a[0], a[1]); }},
      {"mul", [](const Args& a) { return a[0] * a[1]; }},
      {"div", [](const Args& a) { return a[0] / a[1]; }},
      {"div_trunc", [](const Args& a) { return na::div(a[0], a[1], std::string("trunc")); }, {"div"}},
      {"div_floor", [](const Args& a) { return na::div(a[0], a[1], std::string("floor")); }, {"div"}},
      {"floor_divide", [](const Args& a) { return na::floor_divide(a[0], a[1]); }},
      {"remainder", [](const Args& a) { return na::remainder(a[0], a[1]); }},
      {"fmod", [](const Args& a) { return na::fmod(a[0], a[1]); }},
      {"pow", [](const Args& a) { return na::pow(a[0], a[1]); }},
      {"maximum", [](const Args& a) { return na::maximum(a[0], a[1]); }},
      {"minimum", [](const Args& a) { return na::minimum(a[0], a[1]); }},
      {"eq", [](const Args& a) { return na::eq(a[0], a[1]); }},
      {"ne", [](const Args& a) { return na::ne(a[0], a[1]); }},
      {"lt", [](const Args& a) { return na::lt(a[0], a[1]); }},
      {"le", [](const Args& a) { return na::le(a[0], a[1]); }},
      {"gt", [](const Args& a) { return na::gt(a[0], a[1]); }},
      {"ge", [](const Args& a) { return na::ge(a[0], a[1]); }},
      {"logical_and", [](const Args& a) { return na::logical_and(a[0], a[1]); }},
      {"logical_or", [](const Args& a) { return na::logical_or(a[0], a[1]); }},
      {"logical_xor", [](const Args& a) { return na::logical_xor(a[0], a[1]); }},
      {"logical_not", [](const Args& a) { return na::logical_not(a[0]); }},
      {"pow_scalar", [](const Args& a) { return na::pow(a[0], 3); }, {"pow"}},
      {"pow_scalar_negative", [](const Args& a) { return na::pow(a[0], -2); }, {"pow"}},
      {"eq_scalar", [](const Args& a) { return a[0] == 0.5; }, {"eq"}},
      {"ne_scalar", [](const Args& a) { return a[0] != 0.5; }, {"ne"}},
      // elementwise unary
      {"neg", [](const Args& a) { return na::neg(a[0]); }},
      {"exp", [](const Args& a) { return na::exp(a[0]); }},
      {"log", [](const Args& a) { return na::log(a[0]); }},
      {"log1p", [](const Args& a) { return na::log1p(a[0]); }},
      {"sqrt", [](const Args& a) { return na::sqrt(a[0]); }},
      {"rsqrt", [](const Args& a) { return na::rsqrt(a[0]); }},
      {"abs", [](const Args& a) { return na::abs(a[0]); }},
      {"sign", [](const Args& a) { return na::sign(a[0]); }},
      {"sin", [](const Args& a) { return na::sin(a[0]); }},
      {"cos", [](const Args& a) { return na::cos(a[0]); }},
      {"tanh", [](const Args& a) { return na::tanh(a[0]); }},
      {"sigmoid", [](const Args& a) { return na::sigmoid(a[0]); }},
      {"relu", [](const Args& a) { return na::relu(a[0]); }},
      {"leaky_relu", [](const Args& a) { return na::leaky_relu(a[0], 0.1); }},
      {"gelu", [](const Args& a) { return na::gelu(a[0]); }},
      {"silu", [](const Args& a) { return na::silu(a[0]); }},
      {"softplus", [](const Args& a) { return na::softplus(a[0]); }},
      {"erf", [](const Args& a) { return na::erf(a[0]); }},
      {"clamp", [](const Args& a) { return na::clamp(a[0], -0.5, 0.7); }},
      {"relu6", [](const Args& a) { return na::functional::relu6(a[0]); }},
      {"hardtanh", [](const Args& a) { return na::functional::hardtanh(a[0]); }},
      {"where", [](const Args& a) { return na::where(a[0], a[1], a[2]); }},
      {"masked_fill", [](const Args& a) { return na::masked_fill(a[0], a[1], -1.5); }},
      // reductions
      {"sum", [](const Args& a) { return na::sum(a[0], {1}); }},
      {"mean", [](const Args& a) { return na::mean(a[0], {1}); }},
      {"var", [](const Args& a) { return na::var(a[0], {1}); }},
      {"std", [](const Args& a) { return na::std(a[0], {1}); }},
      {"prod", [](const Args& a) { return na::prod(a[0], 1); }},
      {"logsumexp", [](const Args& a) { return na::logsumexp(a[0], {1}); }},
      {"vector_norm", [](const Args& a) { return na::vector_norm(a[0], 2, {1}); }},
      {"vector_norm_1", [](const Args& a) { return na::vector_norm(a[0], 1, {1}); }, {"vector_norm"}},
      {"vector_norm_3", [](const Args& a) { return na::vector_norm(a[0], 3, {1}); }, {"vector_norm"}},
      {"vector_norm_inf",
       [](const Args& a) { return na::vector_norm(a[0], INFINITY, {1}); },
       {"vector_norm"}},
      {"norm", [](const Args& a) { return na::norm(a[0], 2.5); }},
      {"cumsum", [](const Args& a) { return na::cumsum(a[0], 1); }},
      {"cumprod", [](const Args& a) { return na::cumprod(a[0], 1); }},
      {"max", [](const Args& a) { return na::max(a[0]); }},
      {"min", [](const Args& a) { return na::min(a[0]); }},
      {"max_dim", [](const Args& a) { return na::max(a[0], 1).values; }, {"max"}},
      {"min_dim", [](const Args& a) { return na::min(a[0], 1).values; }, {"min"}},
      {"argmax", [](const Args& a) { return na::argmax(a[0], 1); }},
      {"argmin", [](const Args& a) { return na::argmin(a[0], 1); }},
      {"softmax", [](const Args& a) { return na::softmax(a[0], 1); }},
      {"log_softmax", [](const Args& a) { return na::log_softmax(a[0], 1); }},
      {"normalize", [](const Args& a) { return na::functional::normalize(a[0]); }},
      // shape and indexing
      {"cat",
       [](const Args& a) {
         return na::cat({a[0], a[1]}, 1);
       }},
      {"stack",
       [](const Args& a) {
         return na::stack({a[0], a[1]}, 1);
       }},
      {"index_select", [](const Args& a) { return na::index_select(a[0], 1, a[1]); }},
      {"gather", [](const Args& a) { return na::gather(a[0], 1, a[1]); }},
      {"scatter", [](const Args& a) { return na::scatter(a[0], 1, a[1], a[2]); }},
      {"scatter_add", [](const Args& a) { return na::scatter_add(a[0], 1, a[1], a[2]); }},
      {"embedding", [](const Args& a) { return na::embedding(a[0], a[1]); }},
      // linear algebra
      {"matmul", [](const Args& a) { return na::matmul(a[0], a[1]); }},
      {"mm", [](const Args& a) { return na::mm(a[0], a[1]); }},
      {"bmm", [](const Args& a) { return na::bmm(a[0], a[1]); }},
      {"linear", [](const Args& a) { return na::linear(a[0], a[1], a[2]); }},
      {"outer", [](const Args& a) { return na::outer(a[0], a[1]); }},
      {"dropout_eval", [](const Args& a) { return na::dropout(a[0], 0.5, /*training=*/false); }, {"dropout"}},
  };
  return table;
}

/// Public ops of ops.hpp that the table deliberately leaves out, with the reason.
inline const std::vector<std::pair<std::string, std::string>>& not_in_table() {
  static const std::vector<std::pair<std::string, std::string>> list = {
      {"empty", "creation: no tensor input (tests/test_tensor.cpp)"},
      {"zeros", "creation"},
      {"ones", "creation"},
      {"full", "creation"},
      {"zeros_like", "creation"},
      {"ones_like", "creation"},
      {"empty_like", "creation"},
      {"full_like", "creation"},
      {"scalar_tensor", "creation"},
      {"arange", "creation (reference case 'creation' in generate.py)"},
      {"linspace", "creation (reference case 'creation' in generate.py)"},
      {"eye", "creation (reference case 'creation' in generate.py)"},
      {"rand", "random creation: values depend on the generator, not on PyTorch's"},
      {"randn", "random creation"},
      {"randint", "random creation"},
      {"normal", "random creation"},
      {"uniform", "random creation"},
      {"tensor", "creation from host data"},
      {"from_blob_copy", "creation from host data"},
      {"from_blob", "creation over memory owned elsewhere (tests/test_from_blob.cpp)"},
      {"scalar_like", "helper that wraps a number for the operators"},
  };
  return list;
}

}  // namespace na_opinfo
