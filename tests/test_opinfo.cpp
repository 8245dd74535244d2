// The OpInfo sweeps: every entry of tests/opinfo.hpp against the PyTorch cases that
// tests/reference/gen_opinfo.py wrote for it (data/opinfo/<op>.<edge>.bin).
//
//   OpInfoReference.<op>_<edge>  outputs (values, dtype, shape; NaN/inf exactly) and gradients
//                                for every stored edge case: f64, f32, bf16 (forward), nonfinite,
//                                special (kinks), empty, broadcast, int64; a case torch refuses
//                                must throw na::Error
//   OpInfoNoncontig.<op>         the f64 case with every float input a strided (non-contiguous) view
//   OpInfoGradcheck.<op>         finite differences on the f64 sample
//   OpInfoGradgradcheck.<op>     finite differences of the first gradient (built with create_graph)
//   OpInfoReentrant.<op>         a second backward without retain_graph: runs (with the same
//                                gradients) wherever torch's does
//   OpInfoCoverage.*             every public op of ops.hpp has an entry; every file an entry
//
// Intended differences from PyTorch are listed in kKnownDifferences with their reason (and in
// docs/PYTORCH_DIFFERENCES.md); such a case must still differ, so a fix is noticed.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gradcheck.hpp"
#include "neural_arch/autograd.hpp"
#include "opinfo.hpp"
#include "reference_data.hpp"

namespace {

namespace na = neural_arch;
using na::Tensor;
using na_opinfo::Args;
using na_opinfo::OpInfo;
using na_reference::RefCase;

const std::string kDir = "opinfo";

// ------------------------------------------------------------------ known differences
// case name ("<op>.<edge>") -> why neural_arch deliberately differs from PyTorch 1.13 there.
const std::map<std::string, std::string>& known_differences() {
  static const std::map<std::string, std::string> m = {
      {"gelu.nonfinite", "gelu(-inf) = -0 (the limit of x * Phi(x)); torch computes -inf * 0 = NaN"},
      {"silu.nonfinite", "silu(-inf) = -0 (the limit of x * sigmoid(x)); torch computes -inf * 0 = NaN"},
      {"hardtanh.nonfinite",
       "gradient at NaN: torch gives 0 in its vectorised loop and the gradient in its scalar tail; "
       "neural_arch passes it everywhere, as relu's backward does in both"},
      {"relu6.nonfinite", "as hardtanh.nonfinite (relu6 is hardtanh(0, 6))"},
      {"prod.bf16",
       "torch 1.13 has no CPU bfloat16 prod (it raises); neural_arch computes it in float32 and rounds"},
      {"matmul.int64", "integer matmul is an Error (the GEMM backends are floating only); torch multiplies"},
      {"mm.int64", "integer matmul is an Error (the GEMM backends are floating only); torch multiplies"},
      {"bmm.int64", "integer matmul is an Error (the GEMM backends are floating only); torch multiplies"},
      {"linear.int64", "integer matmul is an Error (the GEMM backends are floating only); torch multiplies"},
  };
  return m;
}

// ------------------------------------------------------------------ comparison
struct Tol {
  double rtol, atol;
};
Tol tol_for(na::DType t) {
  if (t == na::DType::f64) return {1e-7, 1e-10};
  if (t == na::DType::f32) return {2e-5, 2e-6};
  return {0, 0};
}

/// Same dtype and shape; values within tolerance, NaN where NaN, infinities exactly.
std::string mismatch(const Tensor& actual, const Tensor& expected,
                     std::optional<Tol> tolerance = std::nullopt) {
  std::ostringstream os;
  if (!actual.defined()) return "result is undefined";
  if (actual.dtype() != expected.dtype() || actual.shape() != expected.shape()) {
    os << "got " << na::shape_str(actual.shape()) << " " << na::dtype_name(actual.dtype()) << ", torch gives "
       << na::shape_str(expected.shape()) << " " << na::dtype_name(expected.dtype());
    return os.str();
  }
  const auto a = actual.to_vector<double>(), e = expected.to_vector<double>();
  const Tol tol = tolerance.value_or(tol_for(expected.dtype()));
  for (size_t i = 0; i < a.size(); ++i) {
    bool ok;
    if (std::isnan(e[i]) || std::isnan(a[i]))
      ok = std::isnan(e[i]) && std::isnan(a[i]);
    else if (std::isinf(e[i]) || std::isinf(a[i]))
      ok = a[i] == e[i];
    else
      ok = std::abs(a[i] - e[i]) <= tol.atol + tol.rtol * std::abs(e[i]);
    if (!ok) {
      os.precision(17);
      os << "element " << i << ": got " << a[i] << ", torch gives " << e[i] << " (shape "
         << na::shape_str(expected.shape()) << ")";
      return os.str();
    }
  }
  return "";
}

std::string case_path(const std::string& name) { return kDir + "/" + name; }

const OpInfo* find_op(const std::string& name) {
  for (const auto& op : na_opinfo::op_table())
    if (op.name == name) return &op;
  return nullptr;
}

/// A strided copy of t with the same values (every float input of the noncontig sweep).
Tensor strided(const Tensor& t) {
  if (t.dim() == 0 || t.numel() == 0) return t;
  na::Shape s = t.shape();
  s.push_back(2);
  Tensor base = na::zeros(s, t.dtype());
  Tensor v = base.select(-1, 0);
  v.copy_(t);
  return v;
}

/// Runs the op on the case's inputs (leaves for the inputs with a stored gradient) and returns
/// the problems found: empty when the outputs and gradients match torch's.
std::string check_case(const OpInfo& op, const RefCase& c, bool noncontig, bool bf16) {
  Args in;
  std::vector<Tensor> leaves;
  std::vector<std::string> grad_names;
  for (int i = 0;; ++i) {
    const std::string n = "x" + std::to_string(i);
    if (!c.has(n)) break;
    Tensor t = c.at(n);
    if (noncontig && na::is_floating(t.dtype())) t = strided(t);
    if (bf16 && na::is_floating(t.dtype())) t = t.to(na::kBFloat16);  // stored as the exact float32
    if (c.has("grad_" + n)) {
      t = noncontig ? t : t.clone();
      t = t.detach().requires_grad_();
      leaves.push_back(t);
      grad_names.push_back("grad_" + n);
    }
    in.push_back(t);
  }
  if (c.has("error")) {
    try {
      Tensor r = op.fn(in);
      return "torch raises but neural_arch returned " + na::shape_str(r.shape()) + " " +
             na::dtype_name(r.dtype());
    } catch (const na::Error&) {
      return "";
    }
  }
  Tensor out;
  try {
    out = op.fn(in);
  } catch (const na::Error& e) {
    return std::string("neural_arch raises where torch does not: ") + e.what();
  }
  if (c.has("out_dtype_bf16")) {
    // torch's bfloat16 result, widened exactly: ours must be bfloat16 too and within 2 ulp
    // (both compute in float32 and round once; summation orders differ).
    if (out.dtype() != na::kBFloat16)
      return std::string("out: got ") + na::dtype_name(out.dtype()) + ", torch gives bfloat16";
    std::string m = mismatch(out.to(na::kFloat32), c.at("out"), Tol{1.6e-2, 1e-2});
    return m.empty() ? "" : "out: " + m;
  }
  std::string m = mismatch(out, c.at("out"));
  if (!m.empty()) return "out: " + m;
  if (!c.has("gout")) return "";
  if (!out.requires_grad()) return "out does not require grad, but torch computes gradients";
  std::vector<Tensor> grads;
  try {
    grads = na::autograd::grad({out}, leaves, {c.at("gout")}, false, false, /*allow_unused=*/true);
  } catch (const na::Error& e) {
    return std::string("backward raises: ") + e.what();
  }
  for (size_t i = 0; i < grads.size(); ++i) {
    Tensor g = grads[i].defined() ? grads[i] : na::zeros_like(leaves[i]);
    m = mismatch(g, c.at(grad_names[i]));
    if (!m.empty()) return grad_names[i] + ": " + m;
  }
  return "";
}

// ------------------------------------------------------------------ registration
std::vector<std::string> case_names() {
  std::vector<std::string> names;
  const std::filesystem::path dir = std::filesystem::path(NA_REFERENCE_DIR) / kDir;
  if (!std::filesystem::exists(dir)) return names;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".bin") names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string op_of(const std::string& case_name) { return case_name.substr(0, case_name.find('.')); }
std::string edge_of(const std::string& case_name) { return case_name.substr(case_name.find('.') + 1); }
std::string test_name(const std::string& case_name) { return op_of(case_name) + "_" + edge_of(case_name); }

void run_reference(const std::string& name, bool noncontig) {
  const OpInfo* op = find_op(op_of(name));
  ASSERT_NE(op, nullptr) << "no op_table() entry for " << name;
  const RefCase c = na_reference::load_reference(case_path(name));
  const std::string problem = check_case(*op, c, noncontig, edge_of(name) == "bf16");
  auto known = known_differences().find(name);
  if (known != known_differences().end() && !noncontig) {
    EXPECT_FALSE(problem.empty()) << name << " now matches torch: remove it from known_differences()";
    std::cout << "[ known difference ] " << name << ": " << known->second << "\n  (" << problem << ")\n";
    return;
  }
  EXPECT_TRUE(problem.empty()) << name << (noncontig ? " (non-contiguous inputs)" : "") << ": " << problem;
}

/// A case's inputs x0, x1, ... as fresh tensors; those with a stored gradient require grad
/// (their positions in `diff`).
struct Inputs {
  Args args;
  std::vector<size_t> diff;
  std::vector<Tensor> leaves() const {
    std::vector<Tensor> r;
    for (size_t i : diff) r.push_back(args[i]);
    return r;
  }
};
Inputs load_inputs(const RefCase& c) {
  Inputs in;
  for (int i = 0; c.has("x" + std::to_string(i)); ++i) {
    const std::string n = "x" + std::to_string(i);
    Tensor t = c.at(n).clone();
    if (c.has("grad_" + n)) {
      t.requires_grad_();
      in.diff.push_back(in.args.size());
    }
    in.args.push_back(t);
  }
  return in;
}

void run_gradcheck(const std::string& name) {
  const OpInfo* op = find_op(op_of(name));
  ASSERT_NE(op, nullptr);
  const RefCase c = na_reference::load_reference(case_path(name));
  na_test::GradcheckOptions o;
  o.name = name;
  auto r = na_test::gradcheck([op](const Args& a) { return op->fn(a); }, load_inputs(c).args, o);
  EXPECT_TRUE(r.ok) << r.message;
}

// Second order: finite differences of the first gradient built with create_graph.
void run_gradgradcheck(const std::string& name) {
  const OpInfo* op = find_op(op_of(name));
  ASSERT_NE(op, nullptr);
  const RefCase c = na_reference::load_reference(case_path(name));
  const Inputs in = load_inputs(c);
  const std::vector<size_t> diff = in.diff;
  const Tensor gout = c.at("gout");
  na_test::GradcheckOptions o;
  o.name = name + " (second order)";
  auto first_grads = [op, diff, gout](const Args& given) {
    // The numeric pass hands in perturbed copies that do not require grad, with recording off:
    // make them leaves and record.
    na::EnableGradGuard record;
    Args a = given;
    std::vector<Tensor> wrt;
    for (size_t i : diff) {
      if (!a[i].requires_grad()) a[i] = a[i].detach().requires_grad_();
      wrt.push_back(a[i]);
    }
    auto g = na::autograd::grad({op->fn(a)}, wrt, {gout}, true, /*create_graph=*/true, true);
    std::vector<Tensor> flat;
    for (size_t i = 0; i < g.size(); ++i)
      flat.push_back((g[i].defined() ? g[i] : na::zeros_like(wrt[i])).reshape({-1}));
    Tensor r = na::cat(flat);
    // A gradient that does not depend on the inputs (add, sum, ...) has no graph: its second
    // derivative is zero, which the numeric side must then confirm.
    return r.requires_grad() ? r : r + 0.0 * na::sum(wrt[0]);
  };
  auto r = na_test::gradcheck(first_grads, in.args, o);
  EXPECT_TRUE(r.ok) << r.message;
}

void run_reentrant(const std::string& name) {
  const OpInfo* op = find_op(op_of(name));
  ASSERT_NE(op, nullptr);
  const RefCase c = na_reference::load_reference(case_path(name));
  const Inputs in = load_inputs(c);
  const std::vector<Tensor> leaves = in.leaves();
  Tensor out = op->fn(in.args);
  auto first = na::autograd::grad({out}, leaves, {c.at("gout")}, false, false, true);
  const bool torch_ok = c.at("second_ok").item<bool>();
  std::vector<Tensor> second;
  std::string err;
  try {
    second = na::autograd::grad({out}, leaves, {c.at("gout")}, false, false, true);
  } catch (const na::Error& e) {
    err = e.what();
  }
  if (torch_ok) {
    ASSERT_TRUE(err.empty()) << name << ": torch runs a second backward here, neural_arch raises: " << err;
  } else if (!err.empty()) {
    EXPECT_NE(err.find("second time"), std::string::npos) << err;
    return;
  }
  // Runs (as torch does, or more permissively): the gradients must be the first ones again.
  if (!torch_ok)
    std::cout << "[ more permissive ] " << name
              << ": torch refuses a second backward here (it saved tensors), "
              << "neural_arch's node saved none\n";
  for (size_t i = 0; i < first.size(); ++i) {
    if (!first[i].defined()) continue;
    EXPECT_EQ(mismatch(second[i], first[i]), "") << name << ": second backward, input " << i;
  }
}

class Sweep : public ::testing::Test {
 public:
  Sweep(std::function<void()> body) : body_(std::move(body)) {}  // NOLINT
  void TestBody() override { body_(); }

 private:
  std::function<void()> body_;
};

void add(const char* suite, const std::string& name, std::function<void()> body) {
  ::testing::RegisterTest(suite, name.c_str(), nullptr, nullptr, __FILE__, __LINE__,
                          [body]() -> ::testing::Test* { return new Sweep(body); });
}

[[maybe_unused]] const bool kRegistered = [] {
  for (const std::string& name : case_names()) {
    const std::string edge = edge_of(name);
    add("OpInfoReference", test_name(name), [name] { run_reference(name, false); });
    if (edge != "f64") continue;
    add("OpInfoNoncontig", op_of(name), [name] { run_reference(name, true); });
    const RefCase c = na_reference::load_reference(case_path(name));
    if (!c.has("gout")) continue;
    add("OpInfoGradcheck", op_of(name), [name] { run_gradcheck(name); });
    add("OpInfoReentrant", op_of(name), [name] { run_reentrant(name); });
    add("OpInfoGradgradcheck", op_of(name), [name] { run_gradgradcheck(name); });
  }
  return true;
}();

// ------------------------------------------------------------------ coverage
/// Names of the functions declared in include/neural_arch/ops.hpp that return tensors.
std::set<std::string> public_ops() {
  const std::string path = std::string(NA_REFERENCE_DIR) + "/../../../include/neural_arch/ops.hpp";
  std::ifstream f(path);
  EXPECT_TRUE(f.good()) << "cannot read " << path;
  std::set<std::string> names;
  const std::regex decl(R"(^(Tensor|ValuesIndices) ([a-z_0-9]+)\()");
  for (std::string line; std::getline(f, line);) {
    std::smatch m;
    if (std::regex_search(line, m, decl)) names.insert(m[2]);
  }
  return names;
}

TEST(OpInfoCoverage, every_public_op_has_a_table_entry) {
  std::set<std::string> covered;
  for (const auto& op : na_opinfo::op_table()) {
    if (op.covers.empty()) covered.insert(op.name);
    for (const auto& c : op.covers) covered.insert(c);
  }
  std::set<std::string> exempt;
  for (const auto& [n, why] : na_opinfo::not_in_table()) exempt.insert(n);
  const auto ops = public_ops();
  EXPECT_GE(ops.size(), 60u) << "the declaration parser found too few ops in ops.hpp";
  for (const auto& name : ops)
    EXPECT_TRUE(covered.count(name) || exempt.count(name))
        << "public op '" << name << "' (ops.hpp) has no entry in tests/opinfo.hpp op_table() "
        << "(and a case in tests/reference/gen_opinfo.py), nor a reason in not_in_table()";
  for (const auto& name : exempt) EXPECT_TRUE(ops.count(name)) << "not_in_table() lists unknown op " << name;
}

TEST(OpInfoCoverage, every_entry_has_cases_and_every_case_an_entry) {
  std::set<std::string> with_f64;
  for (const auto& name : case_names()) {
    EXPECT_NE(find_op(op_of(name)), nullptr) << "data/opinfo/" << name << ".bin has no op_table() entry";
    if (edge_of(name) == "f64") with_f64.insert(op_of(name));
  }
  for (const auto& op : na_opinfo::op_table())
    EXPECT_TRUE(with_f64.count(op.name))
        << op.name << " has no data/opinfo/" << op.name << ".f64.bin (run tests/reference/gen_opinfo.py)";
  EXPECT_GE(case_names().size(), 400u);
}

}  // namespace
