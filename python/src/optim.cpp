// optim: the C++ optimizers (hyper-parameters as PyTorch keyword arguments, param groups as
// dicts) and the learning-rate schedulers.
#include "common.hpp"
#include "neural_arch/optim/adagrad.hpp"
#include "neural_arch/optim/adam.hpp"
#include "neural_arch/optim/clip_grad.hpp"
#include "neural_arch/optim/lion.hpp"
#include "neural_arch/optim/lr_scheduler.hpp"
#include "neural_arch/optim/rmsprop.hpp"
#include "neural_arch/optim/sgd.hpp"

namespace neural_arch::python {

namespace {

using optim::Optimizer;
using optim::OptimizerOptions;

/// Sets the hyper-parameters named in a Python mapping (lr=..., betas=(..., ...)), marking which
/// keys it used so unknown ones are reported, and marking each on the options as given, so a
/// param-group dict inherits only the keys it lacks (OptimizerOptions::is_set).
struct KwargsSetter : optim::OptionsVisitor {
  nb::handle kwargs;
  OptimizerOptions* options = nullptr;
  std::vector<std::string> used;
  template <class T> void set(const char* name, T& value) {
    if (!nb::cast<bool>(kwargs.attr("__contains__")(name))) return;
    value = nb::cast<T>(kwargs[name]);
    options->mark_set(name);
    used.emplace_back(name);
  }
  void field(const char* name, double& v) override { set(name, v); }
  void field(const char* name, bool& v) override { set(name, v); }
  void field(const char* name, optim::Betas& v) override { set(name, v); }
};

/// Reads one hyper-parameter by name as a Python object.
struct FieldGetter : optim::OptionsVisitor {
  std::string want;
  nb::object found;
  void field(const char* name, double& v) override {
    if (want == name) found = nb::float_(v);
  }
  void field(const char* name, bool& v) override {
    if (want == name) found = nb::bool_(v);
  }
  void field(const char* name, optim::Betas& v) override {
    if (want == name) found = nb::make_tuple(v.first, v.second);
  }
};

void apply_kwargs(OptimizerOptions& o, nb::handle kwargs, const char* opt_name, bool allow_params) {
  KwargsSetter s;
  s.kwargs = kwargs;
  s.options = &o;
  o.visit(s);
  for (nb::handle key : nb::iter(kwargs)) {
    std::string k = nb::cast<std::string>(nb::str(key));
    if (allow_params && k == "params") continue;
    NA_CHECK(std::find(s.used.begin(), s.used.end(), k) != s.used.end(), opt_name,
             "unexpected hyper-parameter '", k, "'");
  }
}

std::vector<Tensor> tensors_of(nb::handle seq, const char* opt_name) {
  std::vector<Tensor> v;
  for (nb::handle h : nb::iter(seq)) {
    Tensor t;
    if (!nb::try_cast(h, t))
      detail::throw_error(opt_name, "parameters must be Tensors, got ", py_type_name(h));
    v.push_back(t);
  }
  return v;
}

/// params: an iterable of Tensors, or of dicts {"params": [...], "lr": ...} (param groups).
template <class Options>
std::vector<optim::ParamGroup> groups_from(nb::handle params, const Options& defaults, const char* opt_name) {
  nb::list items = nb::list(params);  // a generator (model.parameters()) is consumed once
  std::vector<optim::ParamGroup> groups;
  if (items.size() > 0 && nb::isinstance<nb::dict>(items[0])) {
    for (nb::handle g : items) {
      NA_CHECK(nb::isinstance<nb::dict>(g), opt_name, "param groups must all be dicts");
      NA_CHECK(nb::cast<bool>(g.attr("__contains__")("params")), opt_name,
               "a param group needs a 'params' entry");
      Options o = defaults;
      apply_kwargs(o, g, opt_name, true);
      groups.emplace_back(tensors_of(g["params"], opt_name), o);
    }
  } else {
    groups.emplace_back(tensors_of(items, opt_name), defaults);
  }
  return groups;
}

template <class Opt, class Options> void bind_optimizer(nb::module_& m, const char* name) {
  nb::class_<Opt, Optimizer>(m, name).def(
      "__init__",
      [name](Opt* self, nb::handle params, nb::kwargs kwargs) {
        Options o;
        apply_kwargs(o, kwargs, name, false);
        new (self) Opt(groups_from(params, o, name), o);
      },
      nb::arg("params"), nb::arg("kwargs"));
}

/// One entry of optimizer.param_groups, read and written like PyTorch's dicts (g['lr'] = 0.1).
struct GroupRef {
  Optimizer* opt;
  size_t index;
  nb::object owner;  // the Python optimizer, kept alive while the group is referenced
  optim::ParamGroup& group() const {
    NA_CHECK(index < opt->param_groups().size(), "param_groups", "group ", index, " no longer exists");
    return opt->param_groups()[index];
  }
};

template <class S> using Sched = nb::class_<S, optim::LRScheduler>;

}  // namespace

void init_optim(nb::module_& m) {
  nb::class_<GroupRef>(m, "ParamGroup")
      .def("__getitem__",
           [](const GroupRef& g, const std::string& key) -> nb::object {
             auto& grp = g.group();
             if (key == "params") return nb::cast(grp.params);
             if (key == "initial_lr")
               return grp.initial_lr ? nb::object(nb::float_(*grp.initial_lr)) : nb::none();
             FieldGetter f;
             f.want = key;
             grp.options->visit(f);
             if (!f.found.is_valid()) throw nb::key_error(key.c_str());
             return f.found;
           })
      .def("__setitem__",
           [](const GroupRef& g, const std::string& key, nb::handle value) {
             nb::dict d;
             d[key.c_str()] = value;
             apply_kwargs(*g.group().options, d, g.opt->name().c_str(), false);
           })
      .def("keys", [](const GroupRef& g) {
        struct Names : optim::OptionsVisitor {
          std::vector<std::string> n{"params"};
          void field(const char* name, double&) override { n.emplace_back(name); }
          void field(const char* name, bool&) override { n.emplace_back(name); }
          void field(const char* name, optim::Betas&) override { n.emplace_back(name); }
        } names;
        g.group().options->visit(names);
        return names.n;
      });

  nb::class_<Optimizer>(m, "Optimizer", "Base of the C++ optimizers (fused per-parameter update kernels).")
      .def(
          "step", [](Optimizer& o) { o.step(); }, nogil())
      .def(
          "step",
          [](Optimizer& o, nb::callable closure) {
            return o.step([closure]() { return nb::cast<Tensor>(closure()); });
          },
          nb::arg("closure"))
      .def("zero_grad", &Optimizer::zero_grad, nb::arg("set_to_none") = true)
      .def_prop_ro("param_groups",
                   [](nb::handle self) {
                     Optimizer& o = nb::cast<Optimizer&>(self);
                     std::vector<GroupRef> v;
                     for (size_t i = 0; i < o.param_groups().size(); ++i)
                       v.push_back({&o, i, nb::borrow(self)});
                     return v;
                   })
      .def("add_param_group",
           [](Optimizer& o, nb::dict g) {
             auto opts = o.defaults().clone();
             apply_kwargs(*opts, g, o.name().c_str(), true);
             NA_CHECK(g.contains("params"), o.name().c_str(), "a param group needs a 'params' entry");
             o.add_param_group(optim::ParamGroup(tensors_of(g["params"], o.name().c_str()), *opts));
           })
      .def("state_dict", [](const Optimizer& o) { return named_tensors_to_python(o.state_dict()); })
      .def("load_state_dict",
           [](Optimizer& o, nb::handle d) { o.load_state_dict(named_tensors_from_python(d)); })
      .def_prop_rw("master_weights", &Optimizer::master_weights, &Optimizer::set_master_weights)
      .def("__repr__", [](const Optimizer& o) {
        return o.name() + "(" + std::to_string(o.param_groups().size()) + " groups)";
      });

  bind_optimizer<optim::SGD, optim::SGDOptions>(m, "SGD");
  bind_optimizer<optim::Adam, optim::AdamOptions>(m, "Adam");
  bind_optimizer<optim::AdamW, optim::AdamWOptions>(m, "AdamW");
  bind_optimizer<optim::Lion, optim::LionOptions>(m, "Lion");
  bind_optimizer<optim::RMSprop, optim::RMSpropOptions>(m, "RMSprop");
  bind_optimizer<optim::Adagrad, optim::AdagradOptions>(m, "Adagrad");

  m.def(
      "clip_grad_norm_",
      [](nb::handle params, double max_norm, double norm_type) {
        return optim::clip_grad_norm_(tensors_of(params, "clip_grad_norm_"), max_norm, norm_type);
      },
      nb::arg("parameters"), nb::arg("max_norm"), nb::arg("norm_type") = 2.0);
  m.def(
      "clip_grad_value_",
      [](nb::handle params, double v) { optim::clip_grad_value_(tensors_of(params, "clip_grad_value_"), v); },
      nb::arg("parameters"), nb::arg("clip_value"));

  nb::class_<optim::LRScheduler>(m, "LRScheduler")
      .def("step", &optim::LRScheduler::step)
      .def("get_last_lr", &optim::LRScheduler::get_last_lr)
      .def_prop_ro("base_lrs", &optim::LRScheduler::base_lrs)
      .def_prop_ro("last_epoch", &optim::LRScheduler::last_epoch)
      .def("state_dict", [](const optim::LRScheduler& s) { return named_tensors_to_python(s.state_dict()); })
      .def("load_state_dict",
           [](optim::LRScheduler& s, nb::handle d) { s.load_state_dict(named_tensors_from_python(d)); });
  // Each scheduler keeps its optimizer alive (keep_alive<1, 2>): it holds a reference to it.
  Sched<optim::StepLR>(m, "StepLR")
      .def(nb::init<Optimizer&, int64_t, double>(), nb::arg("optimizer"), nb::arg("step_size"),
           nb::arg("gamma") = 0.1, nb::keep_alive<1, 2>());
  Sched<optim::MultiStepLR>(m, "MultiStepLR")
      .def(nb::init<Optimizer&, std::vector<int64_t>, double>(), nb::arg("optimizer"), nb::arg("milestones"),
           nb::arg("gamma") = 0.1, nb::keep_alive<1, 2>());
  Sched<optim::ExponentialLR>(m, "ExponentialLR")
      .def(nb::init<Optimizer&, double>(), nb::arg("optimizer"), nb::arg("gamma"), nb::keep_alive<1, 2>());
  Sched<optim::CosineAnnealingLR>(m, "CosineAnnealingLR")
      .def(nb::init<Optimizer&, int64_t, double>(), nb::arg("optimizer"), nb::arg("T_max"),
           nb::arg("eta_min") = 0.0, nb::keep_alive<1, 2>());
  Sched<optim::LinearLR>(m, "LinearLR")
      .def(nb::init<Optimizer&, double, double, int64_t>(), nb::arg("optimizer"),
           nb::arg("start_factor") = 1.0 / 3, nb::arg("end_factor") = 1.0, nb::arg("total_iters") = 5,
           nb::keep_alive<1, 2>());
  Sched<optim::LambdaLR>(m, "LambdaLR")
      .def(nb::init<Optimizer&, std::function<double(int64_t)>>(), nb::arg("optimizer"), nb::arg("lr_lambda"),
           nb::keep_alive<1, 2>());
  Sched<optim::WarmupCosineLR>(m, "WarmupCosineLR")
      .def(nb::init<Optimizer&, int64_t, int64_t, double, double>(), nb::arg("optimizer"),
           nb::arg("warmup_steps"), nb::arg("total_steps"), nb::arg("eta_min") = 0.0,
           nb::arg("start_factor") = 0.0, nb::keep_alive<1, 2>());
  Sched<optim::OneCycleLR>(m, "OneCycleLR")
      .def(
          "__init__",
          [](optim::OneCycleLR* self, Optimizer& o, nb::handle max_lr, int64_t total_steps, int64_t epochs,
             int64_t steps_per_epoch, double pct_start, std::string anneal_strategy, bool cycle_momentum,
             double base_momentum, double max_momentum, double div_factor, double final_div_factor,
             bool three_phase) {
            std::vector<double> lrs;
            if (PyFloat_Check(max_lr.ptr()) || PyLong_Check(max_lr.ptr()))
              lrs.assign(o.param_groups().size(), nb::cast<double>(max_lr));
            else
              lrs = nb::cast<std::vector<double>>(max_lr);
            new (self) optim::OneCycleLR(o, lrs,
                                         optim::OneCycleLROptions()
                                             .total_steps(total_steps)
                                             .epochs(epochs)
                                             .steps_per_epoch(steps_per_epoch)
                                             .pct_start(pct_start)
                                             .anneal_strategy(anneal_strategy)
                                             .cycle_momentum(cycle_momentum)
                                             .base_momentum(base_momentum)
                                             .max_momentum(max_momentum)
                                             .div_factor(div_factor)
                                             .final_div_factor(final_div_factor)
                                             .three_phase(three_phase));
          },
          nb::arg("optimizer"), nb::arg("max_lr"), nb::arg("total_steps") = 0, nb::arg("epochs") = 0,
          nb::arg("steps_per_epoch") = 0, nb::arg("pct_start") = 0.3, nb::arg("anneal_strategy") = "cos",
          nb::arg("cycle_momentum") = true, nb::arg("base_momentum") = 0.85, nb::arg("max_momentum") = 0.95,
          nb::arg("div_factor") = 25.0, nb::arg("final_div_factor") = 1e4, nb::arg("three_phase") = false,
          nb::keep_alive<1, 2>());
  nb::class_<optim::ReduceLROnPlateau>(m, "ReduceLROnPlateau")
      .def(
          "__init__",
          [](optim::ReduceLROnPlateau* self, Optimizer& o, std::string mode, double factor, int64_t patience,
             double threshold, std::string threshold_mode, int64_t cooldown, double min_lr, double eps) {
            new (self) optim::ReduceLROnPlateau(o, optim::ReduceLROnPlateauOptions()
                                                       .mode(mode)
                                                       .factor(factor)
                                                       .patience(patience)
                                                       .threshold(threshold)
                                                       .threshold_mode(threshold_mode)
                                                       .cooldown(cooldown)
                                                       .min_lr({min_lr})
                                                       .eps(eps));
          },
          nb::arg("optimizer"), nb::arg("mode") = "min", nb::arg("factor") = 0.1, nb::arg("patience") = 10,
          nb::arg("threshold") = 1e-4, nb::arg("threshold_mode") = "rel", nb::arg("cooldown") = 0,
          nb::arg("min_lr") = 0.0, nb::arg("eps") = 1e-8, nb::keep_alive<1, 2>())
      .def("step", &optim::ReduceLROnPlateau::step, nb::arg("metrics"))
      .def("get_last_lr", &optim::ReduceLROnPlateau::get_last_lr);
}

}  // namespace neural_arch::python
