// nn::Module: registration, traversal, mode, dtype conversion, state dicts and printing.
#include "neural_arch/nn/module.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <unordered_set>

#include "neural_arch/autograd.hpp"
#include "neural_arch/ops.hpp"

namespace neural_arch::nn {

namespace {

// Registered names become path components of state_dict keys, so a '.' or an empty name
// would make keys ambiguous.
void check_name(const std::string& name, const std::string& owner, const char* what) {
  NA_CHECK(!name.empty(), owner.c_str(), what, " name must not be empty");
  NA_CHECK(name.find('.') == std::string::npos, owner.c_str(), what, " name '", name,
           "' must not contain '.' (dots separate the parts of state_dict keys)");
}

std::string join_name(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

std::string quoted_list(const std::vector<std::string>& names) {
  std::ostringstream os;
  for (size_t i = 0; i < names.size(); ++i) os << (i ? ", " : "") << '"' << names[i] << '"';
  return os.str();
}

// Indents every line after the first (torch's _addindent), so nested reprs line up.
std::string add_indent(const std::string& s, int spaces) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    out.push_back(c);
    if (c == '\n') out.append(static_cast<size_t>(spaces), ' ');
  }
  return out;
}

}  // namespace

Tensor Module::forward(const Tensor& x) {
  NA_CHECK(false, type_name_.c_str(), "forward(Tensor) is not defined for this module (called with shape ",
           x.defined() ? shape_str(x.shape()) : std::string("undefined"),
           "); call the module's own forward overload");
  return Tensor();
}

// ---------------------------------------------------------------- registration

Tensor Module::register_parameter(const std::string& name, Tensor t, bool requires_grad) {
  check_name(name, type_name_, "parameter");
  for (const auto& [n, _] : params_)
    NA_CHECK(n != name, type_name_.c_str(), "parameter '", name, "' is already registered");
  for (const auto& [n, _] : buffers_)
    NA_CHECK(n != name, type_name_.c_str(), "'", name, "' is already registered as a buffer");
  for (const auto& [n, _] : children_)
    NA_CHECK(n != name, type_name_.c_str(), "'", name, "' is already registered as a submodule");
  if (t.defined()) {
    NA_CHECK(!requires_grad || is_floating(t.dtype()), type_name_.c_str(), "parameter '", name,
             "' must be floating to require grad, got ", dtype_name(t.dtype()));
    // A parameter is a leaf: a tensor produced by an op is cut from its graph.
    if (!t.is_leaf()) t = t.detach();
    t.requires_grad_(requires_grad);
  }
  params_.emplace_back(name, t);
  return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t) {
  check_name(name, type_name_, "buffer");
  for (const auto& [n, _] : buffers_)
    NA_CHECK(n != name, type_name_.c_str(), "buffer '", name, "' is already registered");
  for (const auto& [n, _] : params_)
    NA_CHECK(n != name, type_name_.c_str(), "'", name, "' is already registered as a parameter");
  for (const auto& [n, _] : children_)
    NA_CHECK(n != name, type_name_.c_str(), "'", name, "' is already registered as a submodule");
  if (t.defined() && !t.is_leaf()) t = t.detach();
  buffers_.emplace_back(name, t);
  return t;
}

void Module::register_module_impl(const std::string& name, std::shared_ptr<Module> m) {
  check_name(name, type_name_, "submodule");
  NA_CHECK(m != nullptr, type_name_.c_str(), "submodule '", name, "' is a null module handle");
  NA_CHECK(m.get() != this, type_name_.c_str(), "a module cannot be registered as its own submodule ('", name,
           "')");
  for (const auto& [n, _] : children_)
    NA_CHECK(n != name, type_name_.c_str(), "submodule '", name, "' is already registered");
  for (const auto& [n, _] : params_)
    NA_CHECK(n != name, type_name_.c_str(), "'", name, "' is already registered as a parameter");
  for (const auto& [n, _] : buffers_)
    NA_CHECK(n != name, type_name_.c_str(), "'", name, "' is already registered as a buffer");
  children_.emplace_back(name, std::move(m));
}

void Module::replace_tensor(const std::string& name, const Tensor& t) {
  for (auto& [n, p] : params_) {
    if (n != name) continue;
    Tensor v = t;
    if (v.defined()) {
      const bool rg = p.defined() ? p.requires_grad() : true;
      NA_CHECK(!rg || is_floating(v.dtype()), type_name_.c_str(), "parameter '", name,
               "' must be floating to require grad, got ", dtype_name(v.dtype()));
      if (!v.is_leaf()) v = v.detach();
      v.requires_grad_(rg);
    }
    p = v;
    return;
  }
  for (auto& [n, b] : buffers_) {
    if (n != name) continue;
    b = (t.defined() && !t.is_leaf()) ? t.detach() : t;
    return;
  }
  NA_CHECK(false, type_name_.c_str(), "replace_tensor: no parameter or buffer named '", name, "'");
}

// ---------------------------------------------------------------- traversal

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [_, p] : named_parameters(recurse)) out.push_back(p);
  return out;
}

// Shared tensors (tied weights) and shared submodules are listed once, under the first name
// they are reached by, as torch does; state_dict() lists every name.
StateDict Module::named_tensors(bool recurse, StateDict Module::*kind) const {
  StateDict out;
  std::unordered_set<const void*> seen_tensors;
  std::unordered_set<const Module*> seen_modules;
  std::function<void(const Module&, const std::string&)> walk = [&](const Module& m,
                                                                    const std::string& prefix) {
    if (!seen_modules.insert(&m).second) return;
    for (const auto& [n, t] : m.*kind)
      if (t.defined() && seen_tensors.insert(t.impl()).second) out.emplace_back(join_name(prefix, n), t);
    if (!recurse) return;
    for (const auto& [n, c] : m.children_) walk(*c, join_name(prefix, n));
  };
  walk(*this, "");
  return out;
}

StateDict Module::named_parameters(bool recurse) const { return named_tensors(recurse, &Module::params_); }

std::vector<Tensor> Module::buffers(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [_, b] : named_buffers(recurse)) out.push_back(b);
  return out;
}

StateDict Module::named_buffers(bool recurse) const { return named_tensors(recurse, &Module::buffers_); }

std::vector<std::shared_ptr<Module>> Module::children() const {
  std::vector<std::shared_ptr<Module>> out;
  for (const auto& [_, c] : children_) out.push_back(c);
  return out;
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_children() const {
  return children_;
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_modules() {
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> out;
  // A module that is not owned by a shared_ptr (e.g. on the stack) still lists itself,
  // through a non-owning handle.
  std::shared_ptr<Module> self = weak_from_this().lock();
  if (!self) self = std::shared_ptr<Module>(std::shared_ptr<Module>(), this);
  std::unordered_set<const Module*> seen;
  std::function<void(const std::shared_ptr<Module>&, const std::string&)> walk =
      [&](const std::shared_ptr<Module>& m, const std::string& prefix) {
        if (!seen.insert(m.get()).second) return;
        out.emplace_back(prefix, m);
        for (const auto& [n, c] : m->children_) walk(c, join_name(prefix, n));
      };
  walk(self, "");
  return out;
}

// ---------------------------------------------------------------- mode and state

void Module::train(bool on) {
  training_ = on;
  for (auto& [_, c] : children_) c->train(on);
}

void Module::zero_grad(bool set_to_none) {
  NoGradGuard no_grad;
  for (const Tensor& p : parameters()) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    if (set_to_none) {
      p.set_grad(Tensor());
    } else {
      // A gradient built with create_graph is part of a graph; the zeroed one must not be.
      Tensor z = g.detach();
      z.zero_();
      if (g.requires_grad() || !g.is_leaf()) p.set_grad(z);
    }
  }
}

void Module::to(DType dtype) {
  NA_CHECK(is_floating(dtype), type_name_.c_str(), "to(", dtype_name(dtype),
           "): modules convert only to floating dtypes (integer buffers keep their type)");
  NoGradGuard no_grad;
  auto convert = [&](const Tensor& t) {
    if (!t.defined() || !is_floating(t.dtype()) || t.dtype() == dtype) return;
    Tensor g = t.grad();
    t.set_data(t.detach().to(dtype));
    if (g.defined()) t.set_grad(g.detach().to(dtype));
  };
  for (const Tensor& p : parameters()) convert(p);
  for (const Tensor& b : buffers()) convert(b);
  for (auto& [_, m] : named_modules()) m->on_dtype_changed(dtype);
}

StateDict Module::state_dict() const {
  StateDict out;
  std::function<void(const Module&, const std::string&)> walk = [&](const Module& m,
                                                                    const std::string& prefix) {
    for (const auto& [n, p] : m.params_)
      if (p.defined()) out.emplace_back(join_name(prefix, n), p.detach());
    for (const auto& [n, b] : m.buffers_)
      if (b.defined()) out.emplace_back(join_name(prefix, n), b.detach());
    for (const auto& [n, c] : m.children_) walk(*c, join_name(prefix, n));
  };
  walk(*this, "");
  return out;
}

Module::LoadResult Module::load_state_dict(const StateDict& state, bool strict) {
  const char* op = "load_state_dict";
  // The module's own tensors (the handles, not detached copies) under their keys.
  std::vector<std::pair<std::string, Tensor>> own;
  std::function<void(Module&, const std::string&)> walk = [&](Module& m, const std::string& prefix) {
    for (auto& [n, p] : m.params_)
      if (p.defined()) own.emplace_back(join_name(prefix, n), p);
    for (auto& [n, b] : m.buffers_)
      if (b.defined()) own.emplace_back(join_name(prefix, n), b);
    for (auto& [n, c] : m.children_) walk(*c, join_name(prefix, n));
  };
  walk(*this, "");

  std::map<std::string, const Tensor*> given;
  std::vector<std::string> problems;
  for (const auto& [k, t] : state) {
    if (!given.emplace(k, &t).second)
      problems.push_back("key \"" + k + "\" appears more than once in the state_dict");
  }

  LoadResult result;
  std::set<std::string> own_keys;
  std::vector<std::pair<Tensor, Tensor>> writes;  // destination, source
  for (const auto& [k, dst] : own) {
    own_keys.insert(k);
    auto it = given.find(k);
    if (it == given.end()) {
      result.missing_keys.push_back(k);
      continue;
    }
    const Tensor& src = *it->second;
    if (!src.defined()) {
      problems.push_back("the value for \"" + k + "\" is an undefined tensor");
      continue;
    }
    if (src.shape() != dst.shape()) {
      problems.push_back("size mismatch for " + k + ": copying a tensor with shape " +
                         shape_str(src.shape()) + " from the state_dict, the shape in the current model is " +
                         shape_str(dst.shape()));
      continue;
    }
    // A floating checkpoint loads into a floating tensor of another width (bf16/f16 published
    // weights into an f32 model), cast on write as PyTorch's copy_ does. A mismatch that crosses
    // floating/integer/bool is more likely a wrong key than an intended cast, so it stays an error.
    if (src.dtype() != dst.dtype() && !(is_floating(src.dtype()) && is_floating(dst.dtype()))) {
      problems.push_back(
          std::string("dtype mismatch for ") + k + ": copying a tensor of dtype " + dtype_name(src.dtype()) +
          " from the state_dict, the dtype in the current model is " + dtype_name(dst.dtype()));
      continue;
    }
    if (src.device() != dst.device()) {
      problems.push_back("device mismatch for " + k + ": state_dict tensor is on " + src.device().str() +
                         ", the model's is on " + dst.device().str());
      continue;
    }
    writes.emplace_back(dst, src);
  }
  for (const auto& [k, _] : state)
    if (!own_keys.count(k) && std::find(result.unexpected_keys.begin(), result.unexpected_keys.end(), k) ==
                                  result.unexpected_keys.end())
      result.unexpected_keys.push_back(k);

  // Key problems come first in the message: they are the usual cause (a renamed layer).
  std::vector<std::string> key_problems;
  if (strict && !result.missing_keys.empty())
    key_problems.push_back("missing key(s) in state_dict: " + quoted_list(result.missing_keys));
  if (strict && !result.unexpected_keys.empty())
    key_problems.push_back("unexpected key(s) in state_dict: " + quoted_list(result.unexpected_keys));
  problems.insert(problems.begin(), key_problems.begin(), key_problems.end());
  if (!problems.empty()) {
    std::ostringstream os;
    os << "error(s) in loading state_dict for " << type_name_ << " (nothing was loaded): ";
    for (size_t i = 0; i < problems.size(); ++i) os << (i ? "; " : "") << problems[i];
    NA_CHECK(false, op, os.str());
  }

  NoGradGuard no_grad;
  // A source that is exactly its destination (a module loading its own state_dict) needs no write.
  auto same_view = [](const Tensor& a, const Tensor& b) {
    return a.storage() == b.storage() && a.storage_offset() == b.storage_offset() &&
           a.strides() == b.strides();
  };
  std::erase_if(writes, [&](const std::pair<Tensor, Tensor>& w) { return same_view(w.first, w.second); });
  std::set<const Storage*> dst_storages;
  for (const auto& [dst, _] : writes) dst_storages.insert(dst.storage().get());
  // A source that shares memory with any destination (keys swapped on purpose, a view of
  // another parameter) is copied first, so that no write changes a later read.
  for (auto& [dst, src] : writes)
    if (dst_storages.count(src.storage().get())) src = src.clone();
  for (auto& [dst, src] : writes) Tensor(dst).copy_(src);
  return result;
}

// ---------------------------------------------------------------- description

int64_t Module::num_parameters(bool trainable_only) const {
  int64_t n = 0;
  for (const Tensor& p : parameters())
    if (!trainable_only || p.requires_grad()) n += p.numel();
  return n;
}

std::string Module::repr(int indent) const {
  std::vector<std::string> extra_lines;
  const std::string extra = extra_repr();
  if (!extra.empty()) {
    std::istringstream is(extra);
    for (std::string line; std::getline(is, line);) extra_lines.push_back(line);
  }
  std::vector<std::string> child_lines;
  for (const auto& [n, c] : children_)
    child_lines.push_back("(" + n + "): " + add_indent(c->repr(indent + 2), 2));
  std::string s = type_name_ + "(";
  if (extra_lines.size() == 1 && child_lines.empty()) {
    s += extra_lines[0];
  } else if (!extra_lines.empty() || !child_lines.empty()) {
    s += "\n";
    for (const auto& l : extra_lines) s += "  " + l + "\n";
    for (const auto& l : child_lines) s += "  " + l + "\n";
  }
  s += ")";
  return s;
}

std::string Module::str() const {
  const int64_t total = num_parameters(false), trainable = num_parameters(true);
  std::ostringstream os;
  os << repr(0) << "\nParameters: " << total << " total, " << trainable << " trainable";
  if (total != trainable) os << ", " << (total - trainable) << " frozen";
  return os.str();
}

}  // namespace neural_arch::nn
