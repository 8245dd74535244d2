// nn::Module: the base of every layer. Parameters, buffers and submodules are registered by
// name; state_dict()/load_state_dict() and printing walk that tree, as in torch.nn.Module.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "neural_arch/tensor.hpp"

namespace neural_arch::nn {

/// Ordered name -> tensor map (dotted names, e.g. "blocks.0.attn.in_proj.weight").
using StateDict = std::vector<std::pair<std::string, Tensor>>;

/// The base of every layer. Handles are shared_ptr<ModuleType>; copying the handle shares
/// the module. Subclasses register their tensors in the constructor and override forward().
///
///   auto lin = std::make_shared<na::nn::Linear>(4, 3);
///   auto y = lin->forward(x);
///   for (auto& [name, p] : lin->named_parameters()) ...
class Module : public std::enable_shared_from_this<Module> {
 public:
  explicit Module(std::string type_name) : type_name_(std::move(type_name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  /// The single-tensor forward used by Sequential. Modules with other signatures add
  /// their own overloads; calling this on them throws naming the module.
  virtual Tensor forward(const Tensor& x);

  // --- registration (call from the subclass constructor)
  /// Registers a parameter (a leaf; requires_grad set unless false) and returns it.
  Tensor register_parameter(const std::string& name, Tensor t, bool requires_grad = true);
  /// Registers a buffer (saved in state_dict, not a parameter), e.g. BatchNorm running stats.
  /// An undefined tensor registers a placeholder that state_dict skips.
  Tensor register_buffer(const std::string& name, Tensor t);
  template <class M> std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    register_module_impl(name, m);
    return m;
  }
  /// Replaces the tensor of an already registered parameter or buffer (same name).
  void replace_tensor(const std::string& name, const Tensor& t);

  // --- traversal
  std::vector<Tensor> parameters(bool recurse = true) const;
  StateDict named_parameters(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  StateDict named_buffers(bool recurse = true) const;
  std::vector<std::shared_ptr<Module>> children() const;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const;
  /// This module and all descendants, depth first (self first), with dotted names ("" for self).
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_modules();

  // --- mode and state
  /// Sets training mode on this module and all descendants.
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  /// Clears (set_to_none) or zeroes every parameter's gradient.
  void zero_grad(bool set_to_none = true);
  /// Converts floating parameters and buffers to dtype in place (handles keep their identity).
  void to(DType dtype);
  /// Parameters and buffers with dotted names.
  StateDict state_dict() const;
  struct LoadResult {
    std::vector<std::string> missing_keys;
    std::vector<std::string> unexpected_keys;
  };
  /// Copies values in. strict=true: missing or unexpected keys are an Error. Shape mismatches
  /// are always an Error; a floating tensor is cast to the floating dtype of its destination
  /// (as torch does), other dtype mismatches are an Error. Everything is checked before
  /// anything is written, so a failed load leaves the module unchanged.
  LoadResult load_state_dict(const StateDict& state, bool strict = true);

  // --- description
  const std::string& type_name() const { return type_name_; }
  /// The part inside the parentheses when printed, e.g. "in_features=4, out_features=3, bias=true".
  virtual std::string extra_repr() const { return ""; }
  /// torch-style multi-line summary ending with the parameter count.
  std::string str() const;
  int64_t num_parameters(bool trainable_only = false) const;

 protected:
  void register_module_impl(const std::string& name, std::shared_ptr<Module> m);
  /// Called by to(dtype) on this module and every descendant after their tensors were
  /// converted: a module whose buffer is a formula (a fixed table) recomputes it in the new
  /// dtype here instead of keeping the rounded values of the old one.
  virtual void on_dtype_changed(DType) {}

 private:
  std::string repr(int indent) const;
  // named_parameters / named_buffers: `kind` is params_ or buffers_ (both StateDict's type).
  StateDict named_tensors(bool recurse, StateDict Module::*kind) const;
  std::string type_name_;
  bool training_ = true;
  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

using ModulePtr = std::shared_ptr<Module>;

}  // namespace neural_arch::nn
