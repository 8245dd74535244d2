#include "neural_arch/random.hpp"

#include <sstream>

#include "neural_arch/error.hpp"

namespace neural_arch {

std::string Generator::get_state() const {
  std::ostringstream os;
  os << seed_ << ' ' << engine_;
  return os.str();
}

void Generator::set_state(const std::string& state) {
  std::istringstream is(state);
  uint64_t seed = 0;
  std::mt19937_64 e;
  is >> seed >> e;
  NA_CHECK(!is.fail(), "Generator.set_state", "malformed generator state (", state.size(), " bytes)");
  seed_ = seed;
  engine_ = e;
}

Generator& default_generator() {
  static Generator gen(0x5eed);
  return gen;
}

void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

}  // namespace neural_arch
