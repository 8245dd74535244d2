// Training checkpoints: several state dicts (model, optimizer, scheduler, ...) under name
// prefixes plus scalar and random-generator state, stored in one safetensors file.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "neural_arch/io/safetensors.hpp"
#include "neural_arch/random.hpp"

namespace neural_arch::io {

/// A bag of named tensors and string metadata with typed helpers, saved atomically as
/// safetensors. Tensor groups are stored as "<prefix>.<name>"; scalars and generator states
/// go into the metadata, with doubles written to round-trip exactly.
///
///   io::Checkpoint ck;
///   ck.put_tensors("model", model->state_dict());
///   ck.put_tensors("optim", optimizer.state_dict());
///   ck.put_int("step", step);
///   ck.put_generator("rng", na::default_generator());
///   ck.save("run/ckpt.safetensors");
///   ...
///   auto ck = io::Checkpoint::load("run/ckpt.safetensors");
///   model->load_state_dict(ck.tensors("model"));
///   int64_t step = ck.get_int("step");
///   ck.restore_generator("rng", na::default_generator());
class Checkpoint {
 public:
  /// Adds every tensor of sd as "<prefix>.<name>". Throws if a resulting name already exists.
  void put_tensors(const std::string& prefix, const nn::StateDict& sd);
  /// The tensors stored under prefix (in saved order), with "<prefix>." stripped. Empty if none.
  nn::StateDict tensors(const std::string& prefix) const;
  void put_tensor(const std::string& name, const Tensor& t);
  /// The tensor called name; throws Error listing what exists when absent.
  const Tensor& tensor(const std::string& name) const;
  bool has_tensor(const std::string& name) const;

  void put(const std::string& key, const std::string& value);
  void put_int(const std::string& key, int64_t value);
  void put_double(const std::string& key, double value);
  void put_generator(const std::string& key, const Generator& gen);
  bool has(const std::string& key) const;
  /// Getters throw Error naming the key when it is absent or does not parse as the type.
  const std::string& get(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  double get_double(const std::string& key) const;
  /// Sets gen's state to the one stored under key.
  void restore_generator(const std::string& key, Generator& gen) const;

  const nn::StateDict& all_tensors() const { return tensors_; }
  const Metadata& metadata() const { return metadata_; }

  /// Atomic save (see save_safetensors): a crash during save keeps the previous file.
  void save(const std::string& path) const;
  static Checkpoint load(const std::string& path);

 private:
  nn::StateDict tensors_;
  Metadata metadata_;
};

}  // namespace neural_arch::io
