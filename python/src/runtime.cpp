// Runtime services: memory pool and statistics, backends, fused linear+activation, gradient
// checkpointing (with Python callables), autocast, GradScaler and safetensors I/O.
#include <nanobind/stl/map.h>

#include "common.hpp"
#include "neural_arch/backends/backend.hpp"
#include "neural_arch/backends/memory_pool.hpp"
#include "neural_arch/data/idx.hpp"
#include "neural_arch/io/safetensors.hpp"
#include "neural_arch/nn/module.hpp"
#include "neural_arch/optim/optimizer.hpp"
#include "neural_arch/optimization/autocast.hpp"
#include "neural_arch/optimization/checkpoint.hpp"
#include "neural_arch/optimization/fusion.hpp"
#include "neural_arch/optimization/grad_scaler.hpp"
#include "neural_arch/optimization/memory.hpp"

namespace neural_arch::python {

namespace {

namespace O = neural_arch::optimization;

/// A Python callable as a checkpointed segment: called with the GIL, returning a Tensor or a
/// sequence of Tensors.
O::SegmentFn segment_from(nb::callable fn) {
  auto ref = std::make_shared<PyRef>(fn);
  return [ref](const std::vector<Tensor>& inputs) {
    nb::gil_scoped_acquire acq;
    nb::list args;
    for (const auto& t : inputs) args.append(nb::cast(t));
    nb::object r = ref->get()(*nb::tuple(args));
    Tensor t;
    if (nb::try_cast(r, t)) return std::vector<Tensor>{t};
    std::vector<Tensor> v;
    if (!nb::try_cast(r, v))
      detail::throw_error("checkpoint", "the function must return a Tensor or a sequence of Tensors, got ",
                          py_type_name(r));
    return v;
  };
}

nb::dict stats_dict(const backends::MemoryStats& s) {
  nb::dict d;
  d["allocated_bytes"] = s.allocated_bytes;
  d["peak_allocated_bytes"] = s.peak_allocated_bytes;
  d["reserved_bytes"] = s.reserved_bytes;
  d["cached_bytes"] = s.cached_bytes;
  d["allocation_count"] = s.allocation_count;
  d["hits"] = s.hits;
  d["misses"] = s.misses;
  d["pool_hit_rate"] = s.pool_hit_rate();
  return d;
}

/// `with pool.context():` — caching on inside the block, the previous setting restored after.
struct PoolContext {
  backends::MemoryPool* pool;
  bool caching;
  std::optional<bool> prev;
};

/// `with autocast(dtype):` as a Python context manager over the C++ RAII scope.
struct AutocastContext {
  DType dtype;
  bool enabled;
  std::unique_ptr<O::autocast> scope;
};

}  // namespace

void init_runtime(nb::module_& m) {
  // --- memory
  nb::class_<PoolContext>(m, "PoolContext")
      .def(
          "__enter__",
          [](PoolContext& c) {
            c.prev = c.pool->caching();
            c.pool->set_caching(c.caching);
            return &c;
          },
          nb::rv_policy::reference)
      .def("__exit__", [](PoolContext& c, nb::args) {
        if (c.prev) c.pool->set_caching(*c.prev);
        c.prev.reset();
        return false;
      });
  nb::class_<backends::MemoryPool>(m, "MemoryPool", "The caching CPU allocator behind every tensor.")
      .def(
          "context",
          [](backends::MemoryPool& p, bool caching) {
            return PoolContext{&p, caching, std::nullopt};
          },
          nb::arg("caching") = true, "Context manager: caching on (or off) inside the block.")
      .def("stats", [](const backends::MemoryPool& p) { return stats_dict(p.stats()); })
      .def("reset_peak", &backends::MemoryPool::reset_peak)
      .def("empty_cache", &backends::MemoryPool::empty_cache)
      .def_prop_rw("caching", &backends::MemoryPool::caching, &backends::MemoryPool::set_caching)
      .def_prop_rw("cache_limit", &backends::MemoryPool::cache_limit, &backends::MemoryPool::set_cache_limit);
  m.def("get_memory_pool", &backends::get_memory_pool, nb::rv_policy::reference,
        "The process-wide CPU memory pool.");
  m.def(
      "get_memory_stats", []() { return stats_dict(O::get_memory_stats()); },
      "Allocator statistics as a dict (allocated_bytes, ..., pool_hit_rate).");
  m.def("reset_peak_memory_stats", &O::reset_peak);

  // --- backends
  nb::class_<backends::Backend>(m, "Backend")
      .def_prop_ro("name", &backends::Backend::name)
      .def_prop_ro("device", &backends::Backend::device)
      .def("is_available", &backends::Backend::is_available)
      .def_prop_ro("reason", &backends::Backend::reason)
      .def_prop_ro("isa", &backends::Backend::isa)
      .def("__repr__", [](const backends::Backend& b) {
        return "Backend(name='" + b.name() + "', available=" + (b.is_available() ? "True" : "False") + ")";
      });
  m.def("get_backend", &backends::get_backend, nb::arg("name"));
  m.def("list_backends", &backends::list_backends);

  // --- fusion
  m.def(
      "fuse_linear_activation",
      [](const Tensor& x, const Tensor& w, std::optional<Tensor> b, const std::string& act) {
        return O::fuse_linear_activation(x, w, b ? *b : Tensor(), act);
      },
      nb::arg("input"), nb::arg("weight"), nb::arg("bias").none(), nb::arg("activation") = "none", nogil());
  m.def("is_fusable_activation", &O::is_fusable_activation, nb::arg("activation"));

  // --- gradient checkpointing
  m.def(
      "checkpoint",
      [](nb::callable fn, nb::args inputs) -> nb::object {
        std::vector<Tensor> in;
        for (nb::handle h : inputs) in.push_back(nb::cast<Tensor>(h));
        auto out = O::checkpoint(segment_from(fn), in);
        if (out.size() == 1) return nb::cast(out[0]);
        return nb::tuple(nb::cast(out));
      },
      nb::arg("function"), nb::arg("args"),
      "Runs function(*args) without keeping its activations; recomputes it in backward.");
  m.def(
      "checkpoint_sequential",
      [](std::vector<nn::ModulePtr> modules, int64_t segments, const Tensor& input) {
        return O::checkpoint_sequential(modules, segments, input);
      },
      nb::arg("functions"), nb::arg("segments"), nb::arg("input"));
  m.def("enable_gradient_checkpointing", &O::enable_gradient_checkpointing, nb::arg("model"),
        nb::arg("segments") = 0);
  m.def("disable_gradient_checkpointing", &O::disable_gradient_checkpointing, nb::arg("model"));

  // --- autocast and GradScaler
  nb::class_<AutocastContext>(m, "autocast", "Mixed precision scope (torch.autocast): `with autocast():`.")
      .def(
          "__init__",
          [](AutocastContext* self, nb::handle dtype, bool enabled) {
            new (self)
                AutocastContext{dtype.is_none() ? DType::bf16 : dtype_from_python(dtype), enabled, nullptr};
          },
          nb::arg("dtype") = nb::none(), nb::arg("enabled") = true)
      .def(
          "__enter__",
          [](AutocastContext& c) {
            c.scope = std::make_unique<O::autocast>(c.dtype, c.enabled);
            return &c;
          },
          nb::rv_policy::reference)
      .def("__exit__", [](AutocastContext& c, nb::args) {
        c.scope.reset();
        return false;
      });
  m.def("is_autocast_enabled", &O::is_autocast_enabled);
  nb::class_<O::GradScaler>(m, "GradScaler")
      .def(
          "__init__",
          [](O::GradScaler* self, double init_scale, double growth_factor, double backoff_factor,
             int64_t growth_interval, bool enabled) {
            O::GradScalerOptions o;
            o.init_scale = init_scale;
            o.growth_factor = growth_factor;
            o.backoff_factor = backoff_factor;
            o.growth_interval = growth_interval;
            o.enabled = enabled;
            new (self) O::GradScaler(o);
          },
          nb::arg("init_scale") = 65536.0, nb::arg("growth_factor") = 2.0, nb::arg("backoff_factor") = 0.5,
          nb::arg("growth_interval") = 2000, nb::arg("enabled") = true)
      .def("scale", &O::GradScaler::scale, nb::arg("outputs"))
      .def("unscale_", &O::GradScaler::unscale_, nb::arg("optimizer"))
      .def("step", &O::GradScaler::step, nb::arg("optimizer"), nogil())
      .def("update", &O::GradScaler::update, nb::arg("new_scale") = nb::none())
      .def("get_scale", &O::GradScaler::get_scale)
      .def("is_enabled", &O::GradScaler::is_enabled);

  // --- data sets
  m.def(
      "load_fashion_mnist",
      [](const std::string& split, const std::string& dir) {
        auto d = data::load_fashion_mnist(split, dir);
        return std::pair<Tensor, Tensor>(d.images, d.labels);  // made a tuple after the GIL is back
      },
      nb::arg("split"), nb::arg("dir") = "", nogil(),
      "(images float32 (N,1,28,28) in [0,1], labels int64 (N)) of Debian's dataset-fashion-mnist.");
  m.def("read_idx", &data::read_idx, nb::arg("path"), nogil());

  // --- safetensors
  m.def(
      "save_safetensors",
      [](nb::handle tensors, const std::string& path, std::optional<io::Metadata> metadata) {
        io::save_safetensors(path, named_tensors_from_python(tensors), metadata ? *metadata : io::Metadata{});
      },
      nb::arg("tensors"), nb::arg("filename"), nb::arg("metadata") = nb::none());
  m.def(
      "load_safetensors",
      [](const std::string& path) { return named_tensors_to_python(io::load_safetensors(path).tensors); },
      nb::arg("filename"));
}

}  // namespace neural_arch::python
