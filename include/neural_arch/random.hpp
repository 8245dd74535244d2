// Seedable random generator (Philox-free, simple and reproducible: mt19937_64).
#pragma once
#include <cstdint>
#include <random>
#include <string>

namespace neural_arch {

/// A random generator with a seed and a state that can be saved and restored
/// (gradient checkpointing restores it so dropout masks match).
class Generator {
 public:
  explicit Generator(uint64_t seed = 0x5eed) { manual_seed(seed); }
  void manual_seed(uint64_t seed) {
    seed_ = seed;
    engine_.seed(seed);
  }
  uint64_t seed() const { return seed_; }
  std::mt19937_64& engine() { return engine_; }
  /// Opaque state string (the engine's textual state).
  std::string get_state() const;
  void set_state(const std::string& state);

 private:
  uint64_t seed_ = 0;
  std::mt19937_64 engine_;
};

/// The process-wide default generator.
Generator& default_generator();
/// Seeds the default generator (torch.manual_seed).
void manual_seed(uint64_t seed);

}  // namespace neural_arch
