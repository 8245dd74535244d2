// nn: the Module base (subclassable from Python through a trampoline, so Python modules live in
// the C++ module tree that state_dict, optimizers and checkpointing walk) and the C++ layers.
#include "neural_arch/nn.hpp"

#include <nanobind/trampoline.h>

#include "common.hpp"

namespace neural_arch::python {

namespace {

using nn::Module;
using nn::ModulePtr;

/// Python subclasses of nn.Module: forward and extra_repr dispatch to Python overrides.
class PyModule : public Module {
 public:
  NB_TRAMPOLINE(Module, 2);
  explicit PyModule(std::string type_name) : Module(std::move(type_name)) {}
  Tensor forward(const Tensor& x) override { NB_OVERRIDE(forward, x); }
  std::string extra_repr() const override { NB_OVERRIDE(extra_repr); }
};

/// Module::register_module_impl is protected: registering a child from Python goes through here.
struct ModuleAccess : Module {
  static void add(Module& parent, const std::string& name, ModulePtr child) {
    (parent.*(&ModuleAccess::register_module_impl))(name, std::move(child));
  }
};

nb::list named_pairs(const nn::StateDict& sd) {
  nb::list l;
  for (const auto& [k, v] : sd) l.append(nb::make_tuple(k, v));
  return l;
}

template <class M> using Cls = nb::class_<M, Module>;

/// forward(input, target) of the loss modules.
template <class L> void loss_forward(Cls<L>& c) {
  c.def(
      "forward", [](L& l, const Tensor& input, const Tensor& target) { return l.forward(input, target); },
      nb::arg("input"), nb::arg("target"), nogil());
}

Tensor opt(const std::optional<Tensor>& t) { return t ? *t : Tensor(); }

void bind_module(nb::module_& m) {
  nb::class_<Module, PyModule>(m, "Module",
                               "Base of every layer; subclass it in Python (neural_arch.nn.Module).")
      .def(nb::init<std::string>(), nb::arg("type_name"))
      .def(
          "forward", [](Module& mod, const Tensor& x) { return mod.forward(x); }, nb::arg("input"), nogil())
      .def("__call__", [](nb::handle self, nb::args args,
                          nb::kwargs kwargs) { return self.attr("forward")(*args, **kwargs); })
      .def(
          "_register_parameter",
          [](Module& mod, const std::string& name, const Tensor& t, bool rg) {
            return mod.register_parameter(name, t, rg);
          },
          nb::arg("name"), nb::arg("tensor"), nb::arg("requires_grad") = true)
      .def(
          "_register_buffer",
          [](Module& mod, const std::string& name, std::optional<Tensor> t) {
            return mod.register_buffer(name, opt(t));
          },
          nb::arg("name"), nb::arg("tensor").none())
      .def("_register_module", &ModuleAccess::add, nb::arg("name"), nb::arg("module"))
      .def("_replace_tensor", &Module::replace_tensor, nb::arg("name"), nb::arg("tensor"))
      .def(
          "parameters", [](const Module& mod, bool recurse) { return mod.parameters(recurse); },
          nb::arg("recurse") = true)
      .def(
          "named_parameters",
          [](const Module& mod, bool recurse) { return named_pairs(mod.named_parameters(recurse)); },
          nb::arg("recurse") = true)
      .def(
          "buffers", [](const Module& mod, bool recurse) { return mod.buffers(recurse); },
          nb::arg("recurse") = true)
      .def(
          "named_buffers",
          [](const Module& mod, bool recurse) { return named_pairs(mod.named_buffers(recurse)); },
          nb::arg("recurse") = true)
      .def("children", &Module::children)
      .def("named_children", &Module::named_children)
      .def("named_modules", &Module::named_modules)
      .def("modules",
           [](Module& mod) {
             std::vector<ModulePtr> r;
             for (auto& [n, c] : mod.named_modules()) r.push_back(c);
             return r;
           })
      .def(
          "train",
          [](nb::handle self, bool on) {
            nb::cast<Module&>(self).train(on);
            return self;
          },
          nb::arg("mode") = true)
      .def("eval",
           [](nb::handle self) {
             nb::cast<Module&>(self).eval();
             return self;
           })
      .def_prop_ro("training", &Module::is_training)
      .def("zero_grad", &Module::zero_grad, nb::arg("set_to_none") = true)
      .def(
          "to",
          [](nb::handle self, nb::handle dtype) {
            nb::cast<Module&>(self).to(dtype_from_python(dtype));
            return self;
          },
          nb::arg("dtype"))
      .def("float",
           [](nb::handle self) {
             nb::cast<Module&>(self).to(DType::f32);
             return self;
           })
      .def("double",
           [](nb::handle self) {
             nb::cast<Module&>(self).to(DType::f64);
             return self;
           })
      .def("state_dict", [](const Module& mod) { return named_tensors_to_python(mod.state_dict()); })
      .def(
          "load_state_dict",
          [](Module& mod, nb::handle state, bool strict) {
            auto r = mod.load_state_dict(named_tensors_from_python(state), strict);
            return nb::make_tuple(r.missing_keys, r.unexpected_keys);
          },
          nb::arg("state_dict"), nb::arg("strict") = true,
          "Copies values in; returns (missing_keys, unexpected_keys).")
      .def("num_parameters", &Module::num_parameters, nb::arg("trainable_only") = false)
      .def("extra_repr", [](const Module& mod) { return mod.extra_repr(); })
      .def_prop_ro("_type_name", &Module::type_name)
      .def("__repr__", &Module::str)
      .def("__getattr__", [](const Module& mod, const std::string& name) -> nb::object {
        // Registered parameters, buffers and children of C++ layers (lin.weight, net.fc1).
        for (const auto& [n, t] : mod.named_parameters(false))
          if (n == name) return nb::cast(t);
        for (const auto& [n, t] : mod.named_buffers(false))
          if (n == name) return nb::cast(t);
        for (const auto& [n, c] : mod.named_children())
          if (n == name) return nb::cast(c);
        throw nb::attribute_error(
            ("'" + mod.type_name() + "' module has no attribute '" + name + "'").c_str());
      });
}

void bind_layers(nb::module_& m) {
  Cls<nn::Linear>(m, "Linear")
      .def(nb::init<int64_t, int64_t, bool>(), nb::arg("in_features"), nb::arg("out_features"),
           nb::arg("bias") = true)
      .def_ro("in_features", &nn::Linear::in_features)
      .def_ro("out_features", &nn::Linear::out_features)
      .def("reset_parameters", &nn::Linear::reset_parameters);
  Cls<nn::OptimizedLinear>(m, "OptimizedLinear")
      .def(nb::init<int64_t, int64_t, std::string, bool, bool>(), nb::arg("in_features"),
           nb::arg("out_features"), nb::arg("activation") = "none", nb::arg("enable_fusion") = true,
           nb::arg("bias") = true)
      .def_ro("in_features", &nn::OptimizedLinear::in_features)
      .def_ro("out_features", &nn::OptimizedLinear::out_features)
      .def_ro("activation", &nn::OptimizedLinear::activation)
      .def_ro("enable_fusion", &nn::OptimizedLinear::enable_fusion);
  Cls<nn::Bilinear>(m, "Bilinear")
      .def(nb::init<int64_t, int64_t, int64_t, bool>(), nb::arg("in1_features"), nb::arg("in2_features"),
           nb::arg("out_features"), nb::arg("bias") = true)
      .def(
          "forward", [](nn::Bilinear& b, const Tensor& x1, const Tensor& x2) { return b.forward(x1, x2); },
          nogil());
  Cls<nn::Identity>(m, "Identity").def(nb::init<>());
  Cls<nn::Flatten>(m, "Flatten")
      .def(nb::init<int64_t, int64_t>(), nb::arg("start_dim") = 1, nb::arg("end_dim") = -1);
  Cls<nn::ReLU>(m, "ReLU").def(nb::init<>());
  Cls<nn::LeakyReLU>(m, "LeakyReLU").def(nb::init<double>(), nb::arg("negative_slope") = 0.01);
  Cls<nn::GELU>(m, "GELU").def(nb::init<std::string>(), nb::arg("approximate") = "none");
  Cls<nn::SiLU>(m, "SiLU").def(nb::init<>());
  Cls<nn::Tanh>(m, "Tanh").def(nb::init<>());
  Cls<nn::Sigmoid>(m, "Sigmoid").def(nb::init<>());
  Cls<nn::Softplus>(m, "Softplus")
      .def(nb::init<double, double>(), nb::arg("beta") = 1.0, nb::arg("threshold") = 20.0);
  Cls<nn::Mish>(m, "Mish").def(nb::init<>());
  Cls<nn::GLU>(m, "GLU").def(nb::init<int64_t>(), nb::arg("dim") = -1);
  Cls<nn::Softmax>(m, "Softmax").def(nb::init<int64_t>(), nb::arg("dim"));
  Cls<nn::LogSoftmax>(m, "LogSoftmax").def(nb::init<int64_t>(), nb::arg("dim"));
  Cls<nn::Dropout>(m, "Dropout").def(nb::init<double>(), nb::arg("p") = 0.5);
  Cls<nn::Embedding>(m, "Embedding")
      .def(nb::init<int64_t, int64_t, std::optional<int64_t>>(), nb::arg("num_embeddings"),
           nb::arg("embedding_dim"), nb::arg("padding_idx") = nb::none());
  Cls<nn::Conv2d>(m, "Conv2d")
      .def(
          "__init__",
          [](nn::Conv2d* self, int64_t in, int64_t out, nb::handle k, nb::handle stride, nb::handle padding,
             nb::handle dilation, int64_t groups, bool bias) {
            new (self)
                nn::Conv2d(in, out, int2_from(k, "Conv2d"), int2_from(stride, "Conv2d"),
                           padding_from(padding, "Conv2d"), int2_from(dilation, "Conv2d"), groups, bias);
          },
          nb::arg("in_channels"), nb::arg("out_channels"), nb::arg("kernel_size"), nb::arg("stride") = 1,
          nb::arg("padding") = 0, nb::arg("dilation") = 1, nb::arg("groups") = 1, nb::arg("bias") = true);
  Cls<nn::Conv1d>(m, "Conv1d")
      .def(
          "__init__",
          [](nn::Conv1d* self, int64_t in, int64_t out, int64_t k, int64_t stride, nb::handle padding,
             int64_t dilation, int64_t groups, bool bias) {
            new (self)
                nn::Conv1d(in, out, k, stride, padding_from(padding, "Conv1d"), dilation, groups, bias);
          },
          nb::arg("in_channels"), nb::arg("out_channels"), nb::arg("kernel_size"), nb::arg("stride") = 1,
          nb::arg("padding") = 0, nb::arg("dilation") = 1, nb::arg("groups") = 1, nb::arg("bias") = true);
  Cls<nn::MaxPool2d>(m, "MaxPool2d")
      .def(
          "__init__",
          [](nn::MaxPool2d* self, nb::handle k, nb::handle s, nb::handle p, nb::handle d, bool ceil_mode) {
            new (self) nn::MaxPool2d(int2_from(k, "MaxPool2d"),
                                     s.is_none() ? functional::Int2(0) : int2_from(s, "MaxPool2d"),
                                     int2_from(p, "MaxPool2d"), int2_from(d, "MaxPool2d"), ceil_mode);
          },
          nb::arg("kernel_size"), nb::arg("stride") = nb::none(), nb::arg("padding") = 0,
          nb::arg("dilation") = 1, nb::arg("ceil_mode") = false);
  Cls<nn::AvgPool2d>(m, "AvgPool2d")
      .def(
          "__init__",
          [](nn::AvgPool2d* self, nb::handle k, nb::handle s, nb::handle p) {
            new (self) nn::AvgPool2d(int2_from(k, "AvgPool2d"),
                                     s.is_none() ? functional::Int2(0) : int2_from(s, "AvgPool2d"),
                                     int2_from(p, "AvgPool2d"));
          },
          nb::arg("kernel_size"), nb::arg("stride") = nb::none(), nb::arg("padding") = 0);
  Cls<nn::AdaptiveAvgPool2d>(m, "AdaptiveAvgPool2d")
      .def(
          "__init__",
          [](nn::AdaptiveAvgPool2d* self, nb::handle s) {
            new (self) nn::AdaptiveAvgPool2d(int2_from(s, "AdaptiveAvgPool2d"));
          },
          nb::arg("output_size"));
  Cls<nn::LayerNorm>(m, "LayerNorm")
      .def(
          "__init__",
          [](nn::LayerNorm* self, nb::handle shape, double eps, bool affine) {
            new (self) nn::LayerNorm(dims_from(shape), eps, affine);
          },
          nb::arg("normalized_shape"), nb::arg("eps") = 1e-5, nb::arg("elementwise_affine") = true);
  Cls<nn::RMSNorm>(m, "RMSNorm")
      .def(
          "__init__",
          [](nn::RMSNorm* self, nb::handle shape, std::optional<double> eps) {
            new (self) nn::RMSNorm(dims_from(shape), eps);
          },
          nb::arg("normalized_shape"), nb::arg("eps") = nb::none());
  Cls<nn::GroupNorm>(m, "GroupNorm")
      .def(nb::init<int64_t, int64_t, double, bool>(), nb::arg("num_groups"), nb::arg("num_channels"),
           nb::arg("eps") = 1e-5, nb::arg("affine") = true);
  Cls<nn::BatchNorm1d>(m, "BatchNorm1d")
      .def(nb::init<int64_t, double, std::optional<double>>(), nb::arg("num_features"), nb::arg("eps") = 1e-5,
           nb::arg("momentum") = 0.1);
  Cls<nn::BatchNorm2d>(m, "BatchNorm2d")
      .def(nb::init<int64_t, double, std::optional<double>>(), nb::arg("num_features"), nb::arg("eps") = 1e-5,
           nb::arg("momentum") = 0.1);
  Cls<nn::MLP>(m, "MLP").def(nb::init<std::vector<int64_t>, const std::string&, double>(), nb::arg("sizes"),
                             nb::arg("activation") = "relu", nb::arg("dropout") = 0.0);

  // --- containers
  Cls<nn::Sequential>(m, "Sequential")
      .def("__init__",
           [](nn::Sequential* self, nb::args mods) {
             std::vector<ModulePtr> v;
             for (nb::handle h : mods) {
               ModulePtr mod;
               if (!nb::try_cast(h, mod))
                 throw nb::type_error(("Sequential takes modules, got " + py_type_name(h)).c_str());
               v.push_back(mod);
             }
             new (self) nn::Sequential(v);
           })
      .def("append",
           [](nb::handle self, ModulePtr mod) {
             nb::cast<nn::Sequential&>(self).push_back(mod);
             return self;
           })
      .def("__len__", &nn::Sequential::size)
      .def("__getitem__", [](const nn::Sequential& s, int64_t i) { return s.at(i); })
      .def("__iter__", [](const nn::Sequential& s) { return nb::iter(nb::cast(s.modules())); });
  Cls<nn::ModuleList>(m, "ModuleList")
      .def(
          "__init__",
          [](nn::ModuleList* self, std::optional<std::vector<ModulePtr>> mods) {
            new (self) nn::ModuleList(mods ? *mods : std::vector<ModulePtr>{});
          },
          nb::arg("modules") = nb::none())
      .def("append",
           [](nb::handle self, ModulePtr mod) {
             nb::cast<nn::ModuleList&>(self).push_back(mod);
             return self;
           })
      .def("extend",
           [](nb::handle self, const std::vector<ModulePtr>& mods) {
             nb::cast<nn::ModuleList&>(self).extend(mods);
             return self;
           })
      .def("__len__", &nn::ModuleList::size)
      .def("__getitem__", [](const nn::ModuleList& s, int64_t i) { return s.at(i); })
      .def("__iter__", [](const nn::ModuleList& s) {
        std::vector<ModulePtr> v(s.begin(), s.end());
        return nb::iter(nb::cast(v));
      });
  Cls<nn::ModuleDict>(m, "ModuleDict")
      .def(
          "__init__",
          [](nn::ModuleDict* self, std::optional<nb::dict> d) {
            std::vector<std::pair<std::string, ModulePtr>> items;
            if (d)
              for (auto [k, v] : *d) items.emplace_back(nb::cast<std::string>(k), nb::cast<ModulePtr>(v));
            new (self) nn::ModuleDict(items);
          },
          nb::arg("modules") = nb::none())
      .def("__getitem__", [](const nn::ModuleDict& d, const std::string& k) { return d.at(k); })
      .def("__setitem__", [](nn::ModuleDict& d, const std::string& k, ModulePtr v) { d.insert(k, v); })
      .def("__contains__", &nn::ModuleDict::contains)
      .def("__len__", &nn::ModuleDict::size)
      .def("keys", &nn::ModuleDict::keys)
      .def("items", [](const nn::ModuleDict& d) { return d.items(); })
      .def("values",
           [](const nn::ModuleDict& d) {
             std::vector<ModulePtr> v;
             for (auto& [k, mod] : d) v.push_back(mod);
             return v;
           })
      .def("__iter__", [](const nn::ModuleDict& d) { return nb::iter(nb::cast(d.keys())); });

  // --- losses
  auto ce = Cls<nn::CrossEntropyLoss>(m, "CrossEntropyLoss");
  ce.def(
      "__init__",
      [](nn::CrossEntropyLoss* self, std::optional<Tensor> w, int64_t ignore_index, std::string reduction,
         double label_smoothing) {
        new (self) nn::CrossEntropyLoss(nn::CrossEntropyLossOptions()
                                            .weight(opt(w))
                                            .ignore_index(ignore_index)
                                            .reduction(reduction)
                                            .label_smoothing(label_smoothing));
      },
      nb::arg("weight") = nb::none(), nb::arg("ignore_index") = -100, nb::arg("reduction") = "mean",
      nb::arg("label_smoothing") = 0.0);
  loss_forward(ce);
  auto nll = Cls<nn::NLLLoss>(m, "NLLLoss");
  nll.def(
      "__init__",
      [](nn::NLLLoss* self, std::optional<Tensor> w, int64_t ii, std::string r) {
        new (self) nn::NLLLoss(opt(w), ii, r);
      },
      nb::arg("weight") = nb::none(), nb::arg("ignore_index") = -100, nb::arg("reduction") = "mean");
  loss_forward(nll);
  auto mse = Cls<nn::MSELoss>(m, "MSELoss");
  mse.def(nb::init<std::string>(), nb::arg("reduction") = "mean");
  loss_forward(mse);
  auto l1 = Cls<nn::L1Loss>(m, "L1Loss");
  l1.def(nb::init<std::string>(), nb::arg("reduction") = "mean");
  loss_forward(l1);
  auto sl1 = Cls<nn::SmoothL1Loss>(m, "SmoothL1Loss");
  sl1.def(nb::init<std::string, double>(), nb::arg("reduction") = "mean", nb::arg("beta") = 1.0);
  loss_forward(sl1);
  auto hub = Cls<nn::HuberLoss>(m, "HuberLoss");
  hub.def(nb::init<std::string, double>(), nb::arg("reduction") = "mean", nb::arg("delta") = 1.0);
  loss_forward(hub);
  auto bce = Cls<nn::BCELoss>(m, "BCELoss");
  bce.def(
      "__init__",
      [](nn::BCELoss* self, std::optional<Tensor> w, std::string r) { new (self) nn::BCELoss(opt(w), r); },
      nb::arg("weight") = nb::none(), nb::arg("reduction") = "mean");
  loss_forward(bce);
  auto kl = Cls<nn::KLDivLoss>(m, "KLDivLoss");
  kl.def(nb::init<std::string, bool>(), nb::arg("reduction") = "mean", nb::arg("log_target") = false);
  loss_forward(kl);
}

}  // namespace

void init_nn(nb::module_& m) {
  bind_module(m);
  bind_layers(m);
}

}  // namespace neural_arch::python
