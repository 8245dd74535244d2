// autograd::queue_callback: callbacks run once, after the outermost backward's whole graph.
#include <gtest/gtest.h>

#include "neural_arch/autograd.hpp"
#include "neural_arch/autograd_callback.hpp"
#include "neural_arch/ops.hpp"
#include "neural_arch/optimization/checkpoint.hpp"
#include "test_util.hpp"

namespace {
namespace na = neural_arch;

TEST(AutogradCallback, RunsOnceAfterEveryLeafGotItsGradient) {
  na::Tensor a = na::ones({3}).requires_grad_();
  na::Tensor b = na::full({3}, 2.0).requires_grad_();
  int calls = 0;
  bool grads_done_at_callback = false;
  // a's gradient arrives before b's is accumulated; the callback must still see both.
  a.register_hook([&](const na::Tensor&) {
    na::autograd::queue_callback([&] {
      ++calls;
      grads_done_at_callback = a.grad().defined() && b.grad().defined();
    });
    return na::Tensor();
  });
  ((a * b).sum() + (b * b).sum()).backward();
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(grads_done_at_callback);
  // A second backward without a hook call queues nothing new.
  (b * 3).sum().backward();
  EXPECT_EQ(calls, 1);
}

TEST(AutogradCallback, NestedBackwardDefersToTheOutermost) {
  na::Tensor w = na::full({4}, 0.5).requires_grad_();
  na::Tensor x = na::ones({4}).requires_grad_();
  std::vector<std::string> order;
  w.register_hook([&](const na::Tensor& g) {
    na::autograd::queue_callback([&] { order.push_back("callback"); });
    return g;
  });
  x.register_hook([&](const na::Tensor& g) {
    order.push_back("x grad");
    return g;
  });
  // checkpoint's backward runs a nested backward in which w's hook fires.
  na::Tensor y = na::optimization::checkpoint([&](const na::Tensor& in) { return (in * w).tanh(); }, x);
  y.sum().backward();
  ASSERT_EQ(order.size(), 2u);
  EXPECT_EQ(order.back(), "callback");
}

TEST(AutogradCallback, OutsideBackwardIsAnError) {
  na_test::expect_error([] { na::autograd::queue_callback([] {}); }, {"[queue_callback]", "backward"});
}

TEST(AutogradCallback, ErrorFromCallbackComesOutOfBackward) {
  na::Tensor a = na::ones({2}).requires_grad_();
  a.register_hook([](const na::Tensor&) {
    na::autograd::queue_callback([] { throw na::Error("[cb] boom"); });
    return na::Tensor();
  });
  na_test::expect_error([&] { (a * 2).sum().backward(); }, {"boom"});
  // The failed pass leaves nothing queued for the next one.
  na::Tensor c = na::ones({2}).requires_grad_();
  (c * 2).sum().backward();
  EXPECT_TRUE(c.grad().defined());
}

}  // namespace
