#include "neural_arch/device.hpp"

#include "neural_arch/error.hpp"

namespace neural_arch {

Device::Device(const std::string& spec) {
  std::string kind = spec, idx;
  if (auto colon = spec.find(':'); colon != std::string::npos) {
    kind = spec.substr(0, colon);
    idx = spec.substr(colon + 1);
  }
  if (kind == "cpu")
    type = DeviceType::cpu;
  else if (kind == "cuda")
    type = DeviceType::cuda;
  else if (kind == "mps")
    type = DeviceType::mps;
  else
    detail::throw_error("device", "unknown device '", spec, "' (expected cpu, cuda, cuda:N or mps)");
  if (!idx.empty()) {
    NA_CHECK(idx.find_first_not_of("0123456789") == std::string::npos && idx.size() < 6, "device",
             "bad device index in '", spec, "'");
    index = std::stoi(idx);
  }
}

std::string Device::str() const {
  switch (type) {
    case DeviceType::cpu: return "cpu";
    case DeviceType::cuda: return "cuda:" + std::to_string(index);
    case DeviceType::mps: return "mps";
  }
  return "?";
}

}  // namespace neural_arch
