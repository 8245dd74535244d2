#include "neural_arch/distributed/ddp.hpp"

#include <chrono>

#include "neural_arch/autograd.hpp"
#include "neural_arch/autograd_callback.hpp"
#include "neural_arch/ops.hpp"

namespace neural_arch::distributed {

namespace {
ProcessGroup& group_of(const DDPOptions& o) { return o.process_group ? *o.process_group : default_group(); }
}  // namespace

// The gradient buckets and the state of the backward pass in progress.
struct DistributedDataParallel::Reducer {
  struct Bucket {
    std::vector<size_t> params;   // indices into Reducer::params
    std::vector<int64_t> offset;  // element offset of each in flat
    Tensor flat;                  // the bucket's gradients, all-reduced in place
    size_t pending = 0;           // parameters of this backward still to arrive
    WorkPtr work;
  };
  ProcessGroup* group = nullptr;
  std::vector<Tensor> params;
  std::vector<Bucket> buckets;
  std::vector<std::pair<size_t, size_t>> where;  // param -> (bucket, slot)
  bool no_sync = false;
  // The backward pass in progress (between the first hook and the final callback).
  bool in_backward = false;
  std::vector<bool> arrived;
  size_t next_launch = 0;
  double last_wait = 0;

  void start_backward() {
    in_backward = true;
    arrived.assign(params.size(), false);
    for (auto& b : buckets) {
      // A bucket still in flight from a backward that threw must land before its buffer is
      // refilled; its error was that backward's.
      if (b.work) {
        try {
          b.work->wait();
        } catch (const Error&) {
        }
      }
      b.work.reset();
      b.pending = b.params.size();
    }
    next_launch = 0;
  }

  // Writes the gradient to all-reduce for parameter i into its bucket: what .grad holds already
  // (accumulated under no_sync) plus this backward's contribution g (undefined: nothing new).
  void put(size_t i, const Tensor& g) {
    NoGradGuard no_grad;
    auto [b, slot] = where[i];
    Bucket& bk = buckets[b];
    const Tensor& p = params[i];
    Tensor dst = bk.flat.narrow(0, bk.offset[slot], p.numel());
    Tensor acc = p.grad();
    if (g.defined() && acc.defined()) {
      dst.copy_((acc + g).reshape({p.numel()}));
    } else if (g.defined() || acc.defined()) {
      dst.copy_((g.defined() ? g : acc).reshape({p.numel()}));
    } else {
      dst.zero_();
    }
    arrived[i] = true;
    --bk.pending;
  }

  // Starts every full bucket whose predecessors have started (same order on every rank).
  void launch_ready() {
    while (next_launch < buckets.size() && buckets[next_launch].pending == 0) {
      Bucket& bk = buckets[next_launch++];
      bk.work = group->all_reduce(bk.flat, ReduceOp::avg);
    }
  }

  void on_grad(size_t i, const Tensor& g) {
    if (!in_backward) {
      start_backward();
      // `end` clears in_backward also when the backward throws and drops its callbacks.
      struct EndOfBackward {
        Reducer* r;
        ~EndOfBackward() { r->in_backward = false; }
      };
      autograd::queue_callback(
          [this, end = std::shared_ptr<EndOfBackward>(new EndOfBackward{this})] { finish_backward(); });
    }
    NA_CHECK(!arrived[i], "DistributedDataParallel", "parameter ", i,
             " received two gradients in one backward pass");
    put(i, g);
    launch_ready();
  }

  // The end of backward: parameters that got no gradient contribute zeros (or what they had
  // accumulated), the remaining buckets start, then every bucket is waited for and copied out.
  void finish_backward() {
    in_backward = false;
    for (size_t i = 0; i < params.size(); ++i)
      if (!arrived[i]) put(i, Tensor());
    launch_ready();
    const auto t0 = std::chrono::steady_clock::now();
    for (auto& bk : buckets) bk.work->wait();
    last_wait = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    NoGradGuard no_grad;
    for (auto& bk : buckets) {
      bk.work.reset();
      for (size_t s = 0; s < bk.params.size(); ++s) {
        const Tensor& p = params[bk.params[s]];
        Tensor v = bk.flat.narrow(0, bk.offset[s], p.numel()).view(p.shape());
        Tensor g = p.grad();
        if (g.defined())
          g.copy_(v);
        else
          p.set_grad(v.clone());
      }
    }
  }
};

DistributedDataParallel::DistributedDataParallel(std::shared_ptr<nn::Module> module, DDPOptions options)
    : nn::Module("DistributedDataParallel"), module_(std::move(module)), options_(options) {
  NA_CHECK(module_ != nullptr, "DistributedDataParallel", "the module is null");
  NA_CHECK(options_.bucket_cap_mb > 0, "DistributedDataParallel", "bucket_cap_mb must be positive, got ",
           options_.bucket_cap_mb);
  register_module("module", module_);
  ProcessGroup& group = group_of(options_);
  // Every rank starts from rank 0's state.
  for (const Tensor& p : module_->parameters()) group.broadcast(p, 0)->wait();
  for (const Tensor& b : module_->buffers()) group.broadcast(b, 0)->wait();

  reducer_ = std::make_shared<Reducer>();
  Reducer& r = *reducer_;
  r.group = &group;
  for (const Tensor& p : module_->parameters())
    if (p.requires_grad()) r.params.push_back(p);
  const auto cap = static_cast<int64_t>(options_.bucket_cap_mb * 1024 * 1024);
  int64_t bytes = 0;
  for (size_t k = r.params.size(); k-- > 0;) {
    const Tensor& p = r.params[k];
    const bool fresh =
        r.buckets.empty() || bytes >= cap || r.params[r.buckets.back().params.front()].dtype() != p.dtype();
    if (fresh) {
      r.buckets.emplace_back();
      bytes = 0;
    }
    auto& bk = r.buckets.back();
    const int64_t off = bk.offset.empty() ? 0 : bk.offset.back() + r.params[bk.params.back()].numel();
    bk.params.push_back(k);
    bk.offset.push_back(off);
    bytes += p.numel() * static_cast<int64_t>(p.element_size());
  }
  r.where.resize(r.params.size());
  for (size_t b = 0; b < r.buckets.size(); ++b) {
    auto& bk = r.buckets[b];
    const Tensor& last = r.params[bk.params.back()];
    bk.flat = zeros({bk.offset.back() + last.numel()}, last.dtype());
    for (size_t s = 0; s < bk.params.size(); ++s) r.where[bk.params[s]] = {b, s};
  }
  std::weak_ptr<Reducer> weak = reducer_;
  for (size_t i = 0; i < r.params.size(); ++i) {
    r.params[i].register_hook([weak, i](const Tensor& g) -> Tensor {
      auto red = weak.lock();
      if (red && !red->no_sync) red->on_grad(i, g);
      return Tensor();
    });
  }
}

DistributedDataParallel::~DistributedDataParallel() = default;

void DistributedDataParallel::sync_buffers() {
  ProcessGroup& group = group_of(options_);
  if (group.size() == 1) return;
  for (const Tensor& b : module_->buffers()) group.broadcast(b, 0)->wait();
}

Tensor DistributedDataParallel::forward(const Tensor& x) {
  if (options_.broadcast_buffers) sync_buffers();
  return module_->forward(x);
}

DistributedDataParallel::NoSyncGuard::NoSyncGuard(DistributedDataParallel& ddp)
    : ddp_(ddp), prev_(ddp.reducer_->no_sync) {
  ddp_.reducer_->no_sync = true;
}
DistributedDataParallel::NoSyncGuard::~NoSyncGuard() { ddp_.reducer_->no_sync = prev_; }

std::vector<std::vector<size_t>> DistributedDataParallel::bucket_assignment() const {
  std::vector<std::vector<size_t>> out;
  for (const auto& bk : reducer_->buckets) out.push_back(bk.params);
  return out;
}

double DistributedDataParallel::last_wait_seconds() const { return reducer_->last_wait; }

}  // namespace neural_arch::distributed
