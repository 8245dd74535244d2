#include "neural_arch/optim/optimizer.hpp"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <set>
#include <type_traits>
#include <typeinfo>

#include "backends/cpu/kernels.hpp"
#include "backends/cpu/optim_kernels.hpp"
#include "neural_arch/autograd.hpp"
#include "neural_arch/ops.hpp"

namespace neural_arch {

namespace cpu {
const OptimKernelTable& optim_kernels() {
  // Follow the elementwise table's choice so NA_CPU_ISA narrows both alike.
  static const OptimKernelTable* table = [] {
    const std::string isa = active_isa();
    if (isa == "avx512") return avx512::optim_kernel_table();
    if (isa == "avx2") return avx2::optim_kernel_table();
    return base::optim_kernel_table();
  }();
  return *table;
}
}  // namespace cpu

namespace optim {

namespace {
// f16/bf16: stepped through an f32 master copy, with f32 state (set_master_weights).
bool is_narrow(DType t) { return t == DType::f16 || t == DType::bf16; }

// A step's elements (all parameters together) up to which it stays on the calling thread. One
// core does 64k Adam updates from cache in ~20 us; a parallel region costs a few microseconds
// when the pool is idle but far more when a core is busy with another process, so small steps
// are not worth the risk.
constexpr int64_t kSerialMax = 1 << 16;
// Larger steps are cut into chunks of this many elements that threads take in turn, so a
// thread that loses its core for a while (a shared machine) delays the step by one chunk
// (~30 us of memory traffic), not by its whole static share. Where chunks are cut does not
// change any result (see optim_kernels.hpp).
constexpr int64_t kChunk = 1 << 15;
}  // namespace

void OptimizerOptions::set_momentum(double) {
  ::neural_arch::detail::throw_error("optim", "these options have no momentum or beta1 to set");
}

bool OptimizerOptions::is_set(const std::string& name) const {
  return std::find(set_fields_.begin(), set_fields_.end(), name) != set_fields_.end();
}

void OptimizerOptions::mark_set(const char* name) {
  if (!is_set(name)) set_fields_.emplace_back(name);
}

namespace {
// Copies the hyper-parameters `from` was given explicitly into `into` (same options type).
class CopySetFields final : public OptionsVisitor {
 public:
  explicit CopySetFields(OptimizerOptions& from) : from_(from) {}
  void field(const char* name, double& value) override { take(name, value); }
  void field(const char* name, bool& value) override { take(name, value); }
  void field(const char* name, Betas& value) override { take(name, value); }

 private:
  // Reads `from`'s value of the field `name` by visiting it (visit walks a fixed order).
  template <class T> class Reader final : public OptionsVisitor {
   public:
    Reader(const char* name, T& out) : name_(name), out_(out) {}
    void field(const char* n, double& v) override { get(n, v); }
    void field(const char* n, bool& v) override { get(n, v); }
    void field(const char* n, Betas& v) override { get(n, v); }

   private:
    template <class U> void get(const char* n, U& v) {
      if constexpr (std::is_same_v<U, T>)
        if (std::strcmp(n, name_) == 0) out_ = v;
    }
    const char* name_;
    T& out_;
  };
  template <class T> void take(const char* name, T& value) {
    if (!from_.is_set(name)) return;
    Reader<T> r(name, value);
    from_.visit(r);
  }
  OptimizerOptions& from_;
};
}  // namespace

ParamGroup::ParamGroup(std::vector<Tensor> p) : params(std::move(p)) {}
ParamGroup::ParamGroup(std::vector<Tensor> p, const OptimizerOptions& o)
    : params(std::move(p)), options(o.clone()) {}
ParamGroup::ParamGroup(const ParamGroup& other)
    : params(other.params),
      options(other.options ? other.options->clone() : nullptr),
      initial_lr(other.initial_lr) {}
ParamGroup& ParamGroup::operator=(const ParamGroup& other) {
  if (this != &other) {
    params = other.params;
    options = other.options ? other.options->clone() : nullptr;
    initial_lr = other.initial_lr;
  }
  return *this;
}
void ParamGroup::throw_wrong_options_type() {
  ::neural_arch::detail::throw_error("ParamGroup", "the group's options are not of the requested type");
}

struct Optimizer::Scratch {
  struct Job {
    Kernel fn;
    cpu::OptimArgs args;
  };
  // Reused across steps so that a step allocates nothing once their capacity has grown.
  std::vector<Job> jobs;
  std::vector<int64_t> offsets;    // offsets[j] = first element of job j in the concatenation
  std::vector<Tensor> keep_alive;  // contiguous copies of strided grads
  std::vector<std::pair<Tensor, Tensor>> write_back;  // (strided param, contiguous copy)
  std::vector<Storage*> touched;
};

Optimizer::Optimizer(std::string name, const OptimizerOptions& defaults)
    : name_(std::move(name)), defaults_(defaults.clone()), scratch_(std::make_unique<Scratch>()) {}

Optimizer::~Optimizer() = default;

void Optimizer::init_groups(std::vector<ParamGroup> groups) {
  validate(*defaults_);
  size_t count = 0;
  for (const auto& g : groups) count += g.params.size();
  NA_CHECK(count > 0, name_.c_str(), "optimizer got an empty parameter list");
  for (auto& g : groups) add_param_group(std::move(g));
}

void Optimizer::add_param_group(ParamGroup group) {
  const char* op = name_.c_str();
  if (!group.options) {
    group.options = defaults_->clone();
  } else {
    NA_CHECK(typeid(*group.options) == typeid(*defaults_), op,
             "param group options are of another optimizer's type");
    auto merged = defaults_->clone();
    CopySetFields copy(*group.options);
    merged->visit(copy);
    group.options = std::move(merged);
  }
  validate(*group.options);
  std::set<const detail::TensorImpl*> seen;
  for (const auto& g : groups_)
    for (const auto& p : g.params) seen.insert(p.impl());
  for (size_t k = 0; k < group.params.size(); ++k) {
    const Tensor& p = group.params[k];
    NA_CHECK(p.defined(), op, "parameter ", k, " of the new group is an undefined tensor");
    NA_CHECK(p.is_leaf(), op, "can't optimize a non-leaf tensor (parameter ", k, " of the new group)");
    // f16/bf16 are accepted here: step() requires set_master_weights(true) for them.
    NA_CHECK(is_floating(p.dtype()), op, "parameter ", k, " of the new group has dtype ",
             dtype_name(p.dtype()), "; ", name_,
             " updates float32 and float64 parameters (float16/bfloat16 with master weights)");
    NA_CHECK(seen.insert(p.impl()).second, op, "parameter ", k,
             " of the new group appears more than once among the optimizer's parameters");
  }
  groups_.push_back(std::move(group));
}

void Optimizer::zero_grad(bool set_to_none) {
  NoGradGuard no_grad;
  for (auto& group : groups_) {
    for (auto& p : group.params) {
      Tensor g = p.grad();
      if (!g.defined()) continue;
      if (set_to_none) {
        p.set_grad(Tensor());
      } else {
        if (g.grad_fn()) {  // a grad built with create_graph: cut it from its graph first
          g = g.detach();
          p.set_grad(g);
        }
        g.zero_();
      }
    }
  }
}

Tensor Optimizer::master_weight(const Tensor& param) const {
  auto it = masters_.find(param.impl());
  return it == masters_.end() ? Tensor() : it->second;
}

const ParamState* Optimizer::state(const Tensor& param) const {
  auto it = state_.find(param.impl());
  return it == state_.end() ? nullptr : &it->second;
}

Tensor Optimizer::step(const std::function<Tensor()>& closure) {
  Tensor loss;
  {
    EnableGradGuard grad_on;
    loss = closure();
  }
  step();
  return loss;
}

void Optimizer::step() {
  NoGradGuard no_grad;
  const char* op = name_.c_str();
  Scratch& s = *scratch_;
  s.jobs.clear();
  s.offsets.clear();
  s.keep_alive.clear();
  s.write_back.clear();
  s.touched.clear();
  s.offsets.push_back(0);
  const auto& names = buffer_names();
  int64_t index = -1;
  for (auto& group : groups_) {
    for (const Tensor& p : group.params) {
      ++index;
      detail::TensorImpl* impl = p.impl();
      const Tensor& g0 = impl->grad;
      if (!g0.defined()) continue;
      const DType pt = impl->dtype;
      const bool narrow = is_narrow(pt);
      NA_CHECK(pt == DType::f32 || pt == DType::f64 || (narrow && master_weights_), op, "parameter ", index,
               " has dtype ", dtype_name(pt), "; ", name_, " updates float32 and float64 parameters",
               narrow ? " (float16/bfloat16 ones with set_master_weights(true))" : "");
      NA_CHECK(g0.dtype() == pt, op, "parameter ", index, " is ", dtype_name(pt), " but its grad is ",
               dtype_name(g0.dtype()));
      NA_CHECK(g0.shape() == impl->shape, op, "parameter ", index, " has shape ", shape_str(impl->shape),
               " but its grad has shape ", shape_str(g0.shape()));
      // A narrow parameter is updated through its f32 master copy, written back after the kernels.
      const DType dt = narrow ? DType::f32 : pt;
      Tensor master;
      if (narrow) {
        Tensor& m = masters_[impl];
        if (!m.defined() || m.shape() != impl->shape) m = p.detach().to(DType::f32).contiguous();
        master = m;
        s.keep_alive.push_back(g0.to(DType::f32));
      }
      const Tensor g = narrow ? s.keep_alive.back() : g0;
      ParamState& st = state_[impl];
      for (size_t k = 0; k < st.buffers.size(); ++k) {
        const Tensor& b = st.buffers[k];
        NA_CHECK(!b.defined() || (b.dtype() == dt && b.shape() == impl->shape), op, "state '", names[k],
                 "' of parameter ", index, " is ", dtype_name(b.dtype()), " ", shape_str(b.shape()),
                 " but the parameter is now ", dtype_name(dt), " ", shape_str(impl->shape));
      }
      Scratch::Job job{};
      job.fn = prepare(*group.options, st, narrow ? master : p, dt == DType::f64 ? 1 : 0, job.args);
      const int64_t n = impl->numel;
      if (n == 0) continue;
      NA_CHECK(job.fn != nullptr, op, "no kernel for this combination of options");
      Tensor pc = narrow ? master : p;
      if (narrow) {
        s.write_back.emplace_back(p, master);  // p = round(master)
      } else if (!impl->is_contiguous) {
        pc = p.contiguous();
        s.write_back.emplace_back(p, pc);
      } else {
        s.touched.push_back(impl->storage.get());
      }
      const Tensor* gc = &g;
      if (!g.is_contiguous()) {
        s.keep_alive.push_back(g.contiguous());
        gc = &s.keep_alive.back();
      }
      job.args.param = pc.raw_data();
      job.args.grad = gc->raw_data();
      job.args.s0 = st.buffers[0].defined() ? st.buffers[0].raw_data() : nullptr;
      job.args.s1 = st.buffers[1].defined() ? st.buffers[1].raw_data() : nullptr;
      job.args.s2 = st.buffers[2].defined() ? st.buffers[2].raw_data() : nullptr;
      s.jobs.push_back(job);
      s.offsets.push_back(s.offsets.back() + n);
    }
  }
  const int64_t total = s.offsets.back();
  auto run = [&s](int64_t b, int64_t e) {
    size_t j =
        static_cast<size_t>(std::upper_bound(s.offsets.begin(), s.offsets.end(), b) - s.offsets.begin()) - 1;
    while (b < e) {
      const int64_t start = s.offsets[j], stop = std::min(e, s.offsets[j + 1]);
      s.jobs[j].fn(s.jobs[j].args, b - start, stop - start);
      b = stop;
      ++j;
    }
  };
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const int64_t chunks = (total + kChunk - 1) / kChunk;
  if (total <= kSerialMax || threads <= 1) {
    run(0, total);
  } else {
    std::atomic<int64_t> next{0};
#pragma omp parallel num_threads(static_cast <int>(std::min <int64_t>(threads, chunks)))
    for (int64_t c = next.fetch_add(1, std::memory_order_relaxed); c < chunks;
         c = next.fetch_add(1, std::memory_order_relaxed))
      run(c * kChunk, std::min(total, (c + 1) * kChunk));
  }
  // In-place writes bump the version, so a graph that saved a parameter notices the update.
  for (Storage* st : s.touched) st->bump_version();
  for (auto& [p, pc] : s.write_back) p.copy_(pc);
}

// ------------------------------------------------------------------ state_dict

namespace {

// "state.<i>.master": the f32 master copy of a narrow parameter (set_master_weights).
constexpr const char* kMasterKey = "master";

struct DictWriter : OptionsVisitor {
  nn::StateDict* out;
  std::string prefix;
  void field(const char* name, double& v) override {
    out->emplace_back(prefix + name, scalar_tensor(v, DType::f64));
  }
  void field(const char* name, bool& v) override {
    out->emplace_back(prefix + name, scalar_tensor(v ? 1.0 : 0.0, DType::f64));
  }
  void field(const char* name, Betas& v) override {
    out->emplace_back(prefix + name, tensor<double>({v.first, v.second}));
  }
};

// Reads a group's hyper-parameters from the saved tensors; every field must be present.
struct DictReader : OptionsVisitor {
  const std::map<std::string, Tensor>* fields;
  std::set<std::string>* used;
  std::string where;  // "param_groups.<g>."
  std::string op;
  const Tensor& get(const char* name, int64_t numel) {
    auto it = fields->find(name);
    NA_CHECK(it != fields->end(), op.c_str(), "state_dict lacks '", where, name, "'");
    const Tensor& t = it->second;
    NA_CHECK(is_floating(t.dtype()) && t.numel() == numel && t.dim() == (numel == 1 ? 0 : 1), op.c_str(), "'",
             where, name, "' must be a ", numel == 1 ? "0-d" : "1-d", " floating tensor of ", numel,
             " element(s), got ", dtype_name(t.dtype()), " ", shape_str(t.shape()));
    used->insert(name);
    return t;
  }
  void field(const char* name, double& v) override { v = get(name, 1).item<double>(); }
  void field(const char* name, bool& v) override {
    double d = get(name, 1).item<double>();
    NA_CHECK(d == 0.0 || d == 1.0, op.c_str(), "'", where, name, "' must be 0 or 1, got ", d);
    v = d != 0.0;
  }
  void field(const char* name, Betas& v) override {
    auto vals = get(name, 2).to_vector<double>();
    v = {vals[0], vals[1]};
  }
};

// "12" -> 12; anything else (sign, spaces, empty, overflow) -> -1.
int64_t parse_index(const std::string& s) {
  if (s.empty() || s.size() > 18) return -1;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

}  // namespace

nn::StateDict Optimizer::state_dict() const {
  nn::StateDict out;
  const auto& names = buffer_names();
  int64_t index = 0;
  for (const auto& group : groups_) {
    for (const auto& p : group.params) {
      const std::string prefix = "state." + std::to_string(index++) + ".";
      auto it = state_.find(p.impl());
      if (it == state_.end()) continue;
      const ParamState& st = it->second;
      if (counts_steps())
        out.emplace_back(prefix + "step", scalar_tensor(static_cast<double>(st.step), DType::f64));
      for (size_t k = 0; k < st.buffers.size(); ++k)
        if (st.buffers[k].defined()) out.emplace_back(prefix + names[k], st.buffers[k]);
      if (auto mit = masters_.find(p.impl()); mit != masters_.end())
        out.emplace_back(prefix + kMasterKey, mit->second);
    }
  }
  index = 0;
  for (size_t g = 0; g < groups_.size(); ++g) {
    const std::string prefix = "param_groups." + std::to_string(g) + ".";
    std::vector<int64_t> ids;
    for (size_t k = 0; k < groups_[g].params.size(); ++k) ids.push_back(index++);
    out.emplace_back(prefix + "params", tensor<int64_t>(ids, Shape{static_cast<int64_t>(ids.size())}));
    DictWriter w;
    w.out = &out;
    w.prefix = prefix;
    groups_[g].options->visit(w);
    if (groups_[g].initial_lr)
      out.emplace_back(prefix + "initial_lr", scalar_tensor(*groups_[g].initial_lr, DType::f64));
  }
  return out;
}

void Optimizer::load_state_dict(const nn::StateDict& dict) {
  const char* op = name_.c_str();
  NoGradGuard no_grad;
  std::map<int64_t, std::map<std::string, Tensor>> saved_groups, saved_state;
  for (const auto& [key, t] : dict) {
    const size_t d1 = key.find('.');
    const size_t d2 = d1 == std::string::npos ? d1 : key.find('.', d1 + 1);
    NA_CHECK(d2 != std::string::npos, op, "unexpected state_dict key '", key, "'");
    const std::string kind = key.substr(0, d1), field = key.substr(d2 + 1);
    const int64_t idx = parse_index(key.substr(d1 + 1, d2 - d1 - 1));
    NA_CHECK(idx >= 0 && (kind == "state" || kind == "param_groups") && !field.empty(), op,
             "unexpected state_dict key '", key, "'");
    NA_CHECK(t.defined(), op, "state_dict entry '", key, "' is an undefined tensor");
    auto& slot = (kind == "state" ? saved_state : saved_groups)[idx];
    NA_CHECK(slot.emplace(field, t).second, op, "state_dict key '", key, "' appears twice");
  }

  // Groups: same count and sizes; saved parameter indices map onto ours in order (as torch).
  NA_CHECK(saved_groups.size() == groups_.size(), op, "state_dict has ", saved_groups.size(),
           " parameter groups but the optimizer has ", groups_.size());
  std::map<int64_t, const Tensor*> param_of;  // saved index -> our parameter
  std::vector<std::unique_ptr<OptimizerOptions>> new_options;
  std::vector<std::optional<double>> new_initial_lr;
  for (size_t g = 0; g < groups_.size(); ++g) {
    auto it = saved_groups.find(static_cast<int64_t>(g));
    NA_CHECK(it != saved_groups.end(), op, "state_dict lacks 'param_groups.", g, ".*'");
    const auto& fields = it->second;
    const std::string where = "param_groups." + std::to_string(g) + ".";
    auto pit = fields.find("params");
    NA_CHECK(pit != fields.end(), op, "state_dict lacks '", where, "params'");
    const Tensor& ids = pit->second;
    NA_CHECK(ids.dtype() == DType::i64 && ids.dim() == 1, op, "'", where,
             "params' must be a 1-d int64 tensor, got ", dtype_name(ids.dtype()), " ",
             shape_str(ids.shape()));
    NA_CHECK(ids.numel() == static_cast<int64_t>(groups_[g].params.size()), op, "'", where, "params' lists ",
             ids.numel(), " parameters but group ", g, " has ", groups_[g].params.size());
    auto idv = ids.to_vector<int64_t>();
    for (size_t k = 0; k < idv.size(); ++k)
      NA_CHECK(param_of.emplace(idv[k], &groups_[g].params[k]).second, op, "'", where,
               "params' repeats index ", idv[k]);
    std::set<std::string> used{"params"};
    auto opts = groups_[g].options->clone();
    DictReader r;
    r.fields = &fields;
    r.used = &used;
    r.where = where;
    r.op = name_;
    opts->visit(r);
    std::optional<double> init_lr;
    if (auto lit = fields.find("initial_lr"); lit != fields.end()) {
      init_lr = r.get("initial_lr", 1).item<double>();
    }
    for (const auto& [name, t] : fields)
      NA_CHECK(used.count(name), op, "unexpected state_dict key '", where, name, "' (not an option of ",
               name_, ")");
    validate(*opts);
    new_options.push_back(std::move(opts));
    new_initial_lr.push_back(init_lr);
  }

  // State: every entry names a known parameter, a known buffer, the parameter's shape.
  const auto& names = buffer_names();
  std::vector<std::pair<const Tensor*, ParamState>> new_state;
  std::vector<std::pair<const Tensor*, Tensor>> new_masters;
  for (const auto& [idx, fields] : saved_state) {
    auto pit = param_of.find(idx);
    NA_CHECK(pit != param_of.end(), op, "state_dict has state for parameter ", idx,
             ", which no 'param_groups.*.params' lists");
    const Tensor& p = *pit->second;
    // State of a narrow parameter lives in f32 (it is stepped through its master copy).
    const bool narrow = is_narrow(p.dtype());
    const DType state_dtype = narrow ? DType::f32 : p.dtype();
    ParamState st;
    for (const auto& [name, t] : fields) {
      const std::string key = "state." + std::to_string(idx) + "." + name;
      if (name == kMasterKey) {
        NA_CHECK(narrow, op, "'", key, "' is a master copy, but parameter ", idx, " is ",
                 dtype_name(p.dtype()), " (master copies belong to float16/bfloat16 parameters)");
        NA_CHECK(t.dtype() == DType::f32 && t.shape() == p.shape(), op, "'", key,
                 "' must be float32 of the parameter's shape ", shape_str(p.shape()), ", got ",
                 dtype_name(t.dtype()), " ", shape_str(t.shape()));
        new_masters.emplace_back(&p, t.clone());
        continue;
      }
      if (name == "step" && counts_steps()) {
        NA_CHECK(t.numel() == 1 && t.dim() == 0, op, "'", key, "' must be a 0-d tensor, got ",
                 shape_str(t.shape()));
        const double v = t.item<double>();
        NA_CHECK(v >= 0 && v == std::floor(v) && v < 9.0e15, op, "'", key,
                 "' must be a non-negative integer, got ", v);
        st.step = static_cast<int64_t>(v);
        continue;
      }
      auto nit = std::find(names.begin(), names.end(), name);
      NA_CHECK(nit != names.end(), op, "unexpected state_dict key '", key, "' (", name_, " has no state '",
               name, "')");
      NA_CHECK(is_floating(t.dtype()), op, "'", key, "' has dtype ", dtype_name(t.dtype()),
               ", expected a floating dtype");
      NA_CHECK(t.shape() == p.shape(), op, "'", key, "' has shape ", shape_str(t.shape()), " but parameter ",
               idx, " has shape ", shape_str(p.shape()));
      Tensor b = empty(p.shape(), state_dtype);
      b.copy_(t);
      st.buffers[static_cast<size_t>(nit - names.begin())] = b;
    }
    new_state.emplace_back(&p, std::move(st));
  }

  // Everything checked: apply.
  for (size_t g = 0; g < groups_.size(); ++g) {
    groups_[g].options = std::move(new_options[g]);
    groups_[g].initial_lr = new_initial_lr[g];
  }
  state_.clear();
  for (auto& [p, st] : new_state) state_[p->impl()] = std::move(st);
  masters_.clear();
  for (auto& [p, m] : new_masters) masters_[p->impl()] = std::move(m);
}

}  // namespace optim
}  // namespace neural_arch
