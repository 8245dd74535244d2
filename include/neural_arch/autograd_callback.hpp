// autograd::queue_callback: work to run when the backward pass in progress has finished.
#pragma once
#include <functional>

namespace neural_arch::autograd {

/// Runs cb once the outermost backward pass running on this thread has processed its whole
/// graph, just before backward()/grad() returns (torch's Engine::queue_callback). Callable
/// only from inside a backward pass, e.g. from a tensor hook; an exception thrown by cb comes
/// out of backward(). DistributedDataParallel uses it to wait for its gradient all-reduces.
void queue_callback(std::function<void()> cb);

}  // namespace neural_arch::autograd
