#include "neural_arch/backends/backend.hpp"

#include "backends/cpu/kernels.hpp"
#include "neural_arch/error.hpp"

namespace neural_arch::backends {

std::string Backend::isa() const { return device_.is_cpu() ? cpu::active_isa() : ""; }

Backend get_backend(const std::string& name) {
  if (name == "cpu") return Backend("cpu", Device(DeviceType::cpu), true, "");
  if (name == "cuda")
    return Backend("cuda", Device(DeviceType::cuda), false,
                   "not built: this build of neural_arch has no CUDA backend (configure with -DNA_CUDA=ON "
                   "once it exists)");
  if (name == "mps")
    return Backend("mps", Device(DeviceType::mps), false,
                   "MPS needs Apple silicon and macOS; this is not an Apple platform");
  detail::throw_error("get_backend", "unknown backend '", name, "' (expected one of: cpu, cuda, mps)");
}

std::vector<std::string> list_backends() { return {"cpu", "cuda", "mps"}; }

}  // namespace neural_arch::backends
