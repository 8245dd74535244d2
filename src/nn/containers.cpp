// Sequential, ModuleList, ModuleDict.
#include "neural_arch/nn/containers.hpp"

#include <sstream>

#include "neural_arch/autograd.hpp"
#include "neural_arch/optimization/checkpoint.hpp"

namespace neural_arch::nn {

namespace {

ModulePtr checked_at(const std::vector<ModulePtr>& modules, int64_t i, const char* owner) {
  const int64_t n = static_cast<int64_t>(modules.size());
  NA_CHECK(i >= -n && i < n, owner, "index ", i, " is out of range for a container of ", n, " module(s)");
  return modules[static_cast<size_t>(i < 0 ? i + n : i)];
}

}  // namespace

// ---------------------------------------------------------------- Sequential

Sequential::Sequential(const std::vector<ModulePtr>& modules) : Module("Sequential") {
  for (const auto& m : modules) push_back_impl(std::to_string(modules_.size()), m);
}

void Sequential::push_back_impl(const std::string& name, ModulePtr m) {
  NA_CHECK(m != nullptr, "Sequential", "cannot add a null module handle (at position ", modules_.size(), ")");
  register_module(name, m);
  modules_.push_back(std::move(m));
}

Tensor Sequential::forward(const Tensor& x) {
  if (gradient_checkpointing_segments > 0 && is_training() && is_grad_enabled())
    return optimization::checkpoint_sequential(modules_, gradient_checkpointing_segments, x);
  Tensor h = x;
  for (const auto& m : modules_) h = m->forward(h);
  return h;
}

ModulePtr Sequential::at(int64_t i) const { return checked_at(modules_, i, "Sequential"); }

void Sequential::throw_wrong_type(int64_t i) const {
  detail::throw_error("Sequential", "module ", i, " is a ", at(i)->type_name(), ", not the requested type");
}

// ---------------------------------------------------------------- ModuleList

ModuleList::ModuleList(const std::vector<ModulePtr>& modules) : Module("ModuleList") {
  for (const auto& m : modules) push_back_impl(m);
}

void ModuleList::push_back_impl(ModulePtr m) {
  NA_CHECK(m != nullptr, "ModuleList", "cannot add a null module handle (at position ", modules_.size(), ")");
  register_module(std::to_string(modules_.size()), m);
  modules_.push_back(std::move(m));
}

ModulePtr ModuleList::at(int64_t i) const { return checked_at(modules_, i, "ModuleList"); }

void ModuleList::throw_wrong_type(int64_t i) const {
  detail::throw_error("ModuleList", "module ", i, " is a ", at(i)->type_name(), ", not the requested type");
}

// ---------------------------------------------------------------- ModuleDict

ModuleDict::ModuleDict(const std::vector<std::pair<std::string, ModulePtr>>& items) : Module("ModuleDict") {
  for (const auto& [k, m] : items) insert_impl(k, m);
}

void ModuleDict::insert_impl(const std::string& key, ModulePtr m) {
  NA_CHECK(m != nullptr, "ModuleDict", "cannot add a null module handle under key '", key, "'");
  NA_CHECK(!contains(key), "ModuleDict", "key '", key, "' is already present");
  register_module(key, m);
  items_.emplace_back(key, std::move(m));
}

bool ModuleDict::contains(const std::string& key) const {
  for (const auto& [k, _] : items_)
    if (k == key) return true;
  return false;
}

ModulePtr ModuleDict::at(const std::string& key) const {
  for (const auto& [k, m] : items_)
    if (k == key) return m;
  std::ostringstream keys;
  for (size_t i = 0; i < items_.size(); ++i) keys << (i ? ", " : "") << '\'' << items_[i].first << '\'';
  detail::throw_error("ModuleDict", "no module under key '", key, "' (keys: ", keys.str(), ")");
}

std::vector<std::string> ModuleDict::keys() const {
  std::vector<std::string> out;
  for (const auto& [k, _] : items_) out.push_back(k);
  return out;
}

void ModuleDict::throw_wrong_type(const std::string& key) const {
  detail::throw_error("ModuleDict", "module '", key, "' is a ", at(key)->type_name(),
                      ", not the requested type");
}

}  // namespace neural_arch::nn
