#include "neural_arch/io/checkpoint.hpp"

#include <charconv>

namespace neural_arch::io {

namespace {
constexpr const char* kOp = "checkpoint";
}

void Checkpoint::put_tensor(const std::string& name, const Tensor& t) {
  NA_CHECK(!has_tensor(name), kOp, "tensor '", name, "' is already in the checkpoint");
  NA_CHECK(t.defined(), kOp, "tensor '", name, "' is undefined");
  tensors_.emplace_back(name, t);
}

void Checkpoint::put_tensors(const std::string& prefix, const nn::StateDict& sd) {
  for (const auto& [name, t] : sd) put_tensor(prefix + "." + name, t);
}

nn::StateDict Checkpoint::tensors(const std::string& prefix) const {
  nn::StateDict out;
  const std::string p = prefix + ".";
  for (const auto& [name, t] : tensors_)
    if (name.compare(0, p.size(), p) == 0) out.emplace_back(name.substr(p.size()), t);
  return out;
}

bool Checkpoint::has_tensor(const std::string& name) const {
  for (const auto& [k, _] : tensors_)
    if (k == name) return true;
  return false;
}

const Tensor& Checkpoint::tensor(const std::string& name) const {
  for (const auto& [k, t] : tensors_)
    if (k == name) return t;
  std::string keys;
  for (const auto& [k, _] : tensors_) keys += (keys.empty() ? "" : ", ") + k;
  neural_arch::detail::throw_error(kOp, "no tensor named '", name, "' (have: ", keys, ")");
}

void Checkpoint::put(const std::string& key, const std::string& value) { metadata_[key] = value; }

void Checkpoint::put_int(const std::string& key, int64_t value) { put(key, std::to_string(value)); }

void Checkpoint::put_double(const std::string& key, double value) {
  // Shortest text that parses back to the same double.
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, value);
  put(key, std::string(buf, r.ptr));
}

void Checkpoint::put_generator(const std::string& key, const Generator& gen) { put(key, gen.get_state()); }

bool Checkpoint::has(const std::string& key) const { return metadata_.count(key) != 0; }

const std::string& Checkpoint::get(const std::string& key) const {
  const auto it = metadata_.find(key);
  if (it == metadata_.end()) {
    std::string keys;
    for (const auto& [k, _] : metadata_) keys += (keys.empty() ? "" : ", ") + k;
    neural_arch::detail::throw_error(kOp, "no metadata key '", key, "' (have: ", keys, ")");
  }
  return it->second;
}

int64_t Checkpoint::get_int(const std::string& key) const {
  const std::string& s = get(key);
  int64_t v = 0;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  NA_CHECK(r.ec == std::errc() && r.ptr == s.data() + s.size() && !s.empty(), kOp, "metadata '", key, "' = '",
           s, "' is not an integer");
  return v;
}

double Checkpoint::get_double(const std::string& key) const {
  const std::string& s = get(key);
  double v = 0;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  NA_CHECK(r.ec == std::errc() && r.ptr == s.data() + s.size() && !s.empty(), kOp, "metadata '", key, "' = '",
           s, "' is not a number");
  return v;
}

void Checkpoint::restore_generator(const std::string& key, Generator& gen) const { gen.set_state(get(key)); }

void Checkpoint::save(const std::string& path) const { save_safetensors(path, tensors_, metadata_); }

Checkpoint Checkpoint::load(const std::string& path) {
  SafetensorsFile f = load_safetensors(path);
  Checkpoint c;
  c.tensors_ = std::move(f.tensors);
  c.metadata_ = std::move(f.metadata);
  return c;
}

}  // namespace neural_arch::io
