// Quickstart: tensors, broadcasting, autograd and a few steps of gradient descent on a tiny
// linear regression. Prints what it does; exits non-zero if training did not converge.
#include <cstdio>
#include <iostream>
#include <neural_arch/autograd.hpp>
#include <neural_arch/backends/backend.hpp>
#include <neural_arch/ops.hpp>

namespace na = neural_arch;

int main() {
  na::manual_seed(0);
  auto cpu = na::backends::get_backend("cpu");
  auto cuda = na::backends::get_backend("cuda");
  std::cout << "backend cpu: available, kernels " << cpu.isa() << "\n";
  std::cout << "backend cuda: " << (cuda.is_available() ? "available" : cuda.reason()) << "\n\n";

  // y = 3x - 2 + noise; learn w and b by gradient descent.
  auto x = na::randn({256, 1});
  auto y = x * 3.0 - 2.0 + na::randn({256, 1}) * 0.1;
  auto w = na::zeros({1, 1}).requires_grad_();
  auto b = na::zeros({1}).requires_grad_();
  const double lr = 0.1;
  double loss_value = 0;
  for (int step = 0; step < 100; ++step) {
    auto pred = na::linear(x, w, b);
    auto diff = pred - y;
    auto loss = na::mean(diff * diff);
    w.set_grad(na::Tensor());
    b.set_grad(na::Tensor());
    loss.backward();
    {
      na::NoGradGuard no_grad;
      w.sub_(w.grad() * lr);
      b.sub_(b.grad() * lr);
    }
    loss_value = loss.item();
    if (step % 20 == 0 || step == 99) std::printf("step %3d  loss %.6f\n", step, loss_value);
  }
  std::cout << "\nlearned w = " << w.item() << " (true 3), b = " << b.item() << " (true -2)\n";
  std::cout << "a tensor: " << na::softmax(na::arange(0, 4, 1, na::TensorOptions(na::kFloat32)), 0) << "\n";
  return loss_value < 0.05 ? 0 : 1;
}
