// Device: where a tensor's storage lives.
#pragma once
#include <string>

namespace neural_arch {

enum class DeviceType : uint8_t { cpu, cuda, mps };

/// A device: cpu, cuda:N or mps. Parses "cpu", "cuda", "cuda:1", "mps".
struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;
  Device() = default;
  Device(DeviceType t, int i = 0) : type(t), index(i) {}  // NOLINT
  explicit Device(const std::string& spec);
  std::string str() const;
  bool is_cpu() const { return type == DeviceType::cpu; }
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
};

inline const Device kCPU{DeviceType::cpu, 0};

}  // namespace neural_arch
