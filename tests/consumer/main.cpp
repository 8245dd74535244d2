// Builds against the installed package only: the public headers and neural_arch::neural_arch.
// Exits 0 only when a small computation through the library gives the right answer.
#include <cstdio>
#include <iostream>
#include <neural_arch/ops.hpp>
#include <neural_arch/tensor.hpp>
#include <vector>

namespace na = neural_arch;

int main() {
  try {
    const std::vector<float> a_values = {1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f};
    const std::vector<float> b_values = {0.5f, -1.0f, 2.0f, 10.0f, 0.0f, -6.0f};
    auto a = na::tensor(a_values, na::Shape{2, 3});
    auto b = na::tensor(b_values, na::Shape{2, 3});
    auto c = a + b;
    std::cout << "a + b =\n" << c << "\n";

    bool ok = c.shape() == na::Shape{2, 3} && c.dtype() == na::DType::f32;
    const auto got = c.to_vector<float>();
    ok = ok && got.size() == a_values.size();
    for (size_t i = 0; ok && i < got.size(); ++i) ok = got[i] == a_values[i] + b_values[i];
    if (!ok) {
      std::fprintf(stderr, "consumer: wrong result from a + b\n");
      return 1;
    }
    std::printf("consumer: OK\n");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "consumer: exception: %s\n", e.what());
    return 1;
  }
}
