// Backends: which compute devices this build and machine can use.
#pragma once
#include <string>
#include <vector>

#include "neural_arch/device.hpp"

namespace neural_arch::backends {

/// What a backend is and whether it can run here; `reason()` explains when it cannot.
///
///   auto cuda = na::backends::get_backend("cuda");
///   if (!cuda.is_available()) std::cout << cuda.reason() << "\n";
class Backend {
 public:
  Backend(std::string name, Device device, bool available, std::string reason)
      : name_(std::move(name)), device_(device), available_(available), reason_(std::move(reason)) {}
  const std::string& name() const { return name_; }
  Device device() const { return device_; }
  bool is_available() const { return available_; }
  /// Empty when available; otherwise a human-readable explanation.
  const std::string& reason() const { return reason_; }
  /// The CPU instruction set the kernels use ("avx512", "avx2", "base"); empty for other backends.
  std::string isa() const;

 private:
  std::string name_;
  Device device_;
  bool available_;
  std::string reason_;
};

/// "cpu", "cuda" or "mps" (case-sensitive, like the original). Unknown names throw.
Backend get_backend(const std::string& name);
/// Names of all backends, available or not.
std::vector<std::string> list_backends();

}  // namespace neural_arch::backends
