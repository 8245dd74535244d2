// Containers: Sequential (chains forward), ModuleList and ModuleDict (hold and register).
#pragma once
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "neural_arch/nn/module.hpp"

namespace neural_arch::nn {

/// Runs its modules in order, feeding each one's output to the next (torch.nn.Sequential).
/// Children are named "0", "1", ... unless pushed with a name.
///
///   auto net = std::make_shared<na::nn::Sequential>(
///       std::make_shared<na::nn::Linear>(4, 8), std::make_shared<na::nn::ReLU>(),
///       std::make_shared<na::nn::Linear>(8, 2));
///   auto y = net->forward(x);
class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  explicit Sequential(const std::vector<ModulePtr>& modules);
  Sequential(std::initializer_list<ModulePtr> modules) : Sequential(std::vector<ModulePtr>(modules)) {}
  template <class M, class... Ms>
  explicit Sequential(std::shared_ptr<M> first, std::shared_ptr<Ms>... rest)
      : Sequential(std::vector<ModulePtr>{ModulePtr(std::move(first)), ModulePtr(std::move(rest))...}) {}

  /// Appends m under the name str(size()); returns m.
  template <class M> std::shared_ptr<M> push_back(std::shared_ptr<M> m) {
    push_back_impl(std::to_string(modules_.size()), m);
    return m;
  }
  /// Appends m under an explicit name (torch's OrderedDict form).
  template <class M> std::shared_ptr<M> push_back(const std::string& name, std::shared_ptr<M> m) {
    push_back_impl(name, m);
    return m;
  }

  Tensor forward(const Tensor& x) override;

  size_t size() const { return modules_.size(); }
  bool empty() const { return modules_.empty(); }
  /// The i-th module; negative i counts from the end. Errors name the index and the size.
  ModulePtr operator[](int64_t i) const { return at(i); }
  ModulePtr at(int64_t i) const;
  /// The i-th module as type M; an Error if it is not an M.
  template <class M> std::shared_ptr<M> at(int64_t i) const {
    auto m = std::dynamic_pointer_cast<M>(at(i));
    if (!m) throw_wrong_type(i);
    return m;
  }
  std::vector<ModulePtr>::const_iterator begin() const { return modules_.begin(); }
  std::vector<ModulePtr>::const_iterator end() const { return modules_.end(); }
  const std::vector<ModulePtr>& modules() const { return modules_; }

  /// > 0: forward in training mode with grad enabled runs
  /// optimization::checkpoint_sequential with this many segments (set by
  /// optimization::enable_gradient_checkpointing).
  int64_t gradient_checkpointing_segments = 0;

 private:
  void push_back_impl(const std::string& name, ModulePtr m);
  [[noreturn]] void throw_wrong_type(int64_t i) const;
  std::vector<ModulePtr> modules_;
};

/// Holds modules in a list and registers them (names "0", "1", ...); has no forward
/// (torch.nn.ModuleList). Iterate it to call the modules yourself.
class ModuleList : public Module {
 public:
  ModuleList() : Module("ModuleList") {}
  explicit ModuleList(const std::vector<ModulePtr>& modules);
  ModuleList(std::initializer_list<ModulePtr> modules) : ModuleList(std::vector<ModulePtr>(modules)) {}

  template <class M> std::shared_ptr<M> push_back(std::shared_ptr<M> m) {
    push_back_impl(m);
    return m;
  }
  void extend(const std::vector<ModulePtr>& modules) {
    for (const auto& m : modules) push_back_impl(m);
  }
  size_t size() const { return modules_.size(); }
  bool empty() const { return modules_.empty(); }
  ModulePtr operator[](int64_t i) const { return at(i); }
  ModulePtr at(int64_t i) const;
  template <class M> std::shared_ptr<M> at(int64_t i) const {
    auto m = std::dynamic_pointer_cast<M>(at(i));
    if (!m) throw_wrong_type(i);
    return m;
  }
  std::vector<ModulePtr>::const_iterator begin() const { return modules_.begin(); }
  std::vector<ModulePtr>::const_iterator end() const { return modules_.end(); }

 private:
  void push_back_impl(ModulePtr m);
  [[noreturn]] void throw_wrong_type(int64_t i) const;
  std::vector<ModulePtr> modules_;
};

/// Holds named modules in insertion order and registers them under their names
/// (torch.nn.ModuleDict).
class ModuleDict : public Module {
 public:
  ModuleDict() : Module("ModuleDict") {}
  explicit ModuleDict(const std::vector<std::pair<std::string, ModulePtr>>& items);

  /// Adds m under key (an Error if key is already present); returns m.
  template <class M> std::shared_ptr<M> insert(const std::string& key, std::shared_ptr<M> m) {
    insert_impl(key, m);
    return m;
  }
  bool contains(const std::string& key) const;
  /// The module under key; an Error listing the keys when absent.
  ModulePtr operator[](const std::string& key) const { return at(key); }
  ModulePtr at(const std::string& key) const;
  template <class M> std::shared_ptr<M> at(const std::string& key) const {
    auto m = std::dynamic_pointer_cast<M>(at(key));
    if (!m) throw_wrong_type(key);
    return m;
  }
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  std::vector<std::string> keys() const;
  const std::vector<std::pair<std::string, ModulePtr>>& items() const { return items_; }
  std::vector<std::pair<std::string, ModulePtr>>::const_iterator begin() const { return items_.begin(); }
  std::vector<std::pair<std::string, ModulePtr>>::const_iterator end() const { return items_.end(); }

 private:
  void insert_impl(const std::string& key, ModulePtr m);
  [[noreturn]] void throw_wrong_type(const std::string& key) const;
  std::vector<std::pair<std::string, ModulePtr>> items_;
};

}  // namespace neural_arch::nn
