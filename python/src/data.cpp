// data: Dataset (subclassable from Python: __len__ and __getitem__ returning (data, target)),
// TensorDataset and the C++ DataLoader (seeded shuffling, optional prefetch thread).
#include <nanobind/trampoline.h>

#include "common.hpp"
#include "neural_arch/data/dataloader.hpp"

namespace neural_arch::python {

namespace {

using data::Dataset;
using data::Example;

/// (data, target), (data,) or a lone Tensor from Python as an Example.
Example example_from(nb::handle r) {
  Tensor t;
  if (nb::try_cast(r, t)) return {t, Tensor()};
  std::vector<std::optional<Tensor>> parts;
  if (!nb::try_cast(r, parts) || parts.empty() || parts.size() > 2 || !parts[0])
    detail::throw_error("Dataset",
                        "__getitem__ must return a Tensor or a (data, target) pair of Tensors, got ",
                        py_type_name(r));
  return {*parts[0], parts.size() == 2 && parts[1] ? *parts[1] : Tensor()};
}

/// Python subclasses: size() is __len__, get(i) is __getitem__(i). Calls take the GIL, so the
/// loader's prefetch thread can use a Python dataset while the main thread runs (without it).
class PyDataset : public Dataset {
 public:
  NB_TRAMPOLINE(Dataset, 2);
  int64_t size() const override {
    nb::gil_scoped_acquire acq;
    return nb::cast<int64_t>(nb_trampoline.base().attr("__len__")());
  }
  Example get(int64_t index) const override {
    nb::gil_scoped_acquire acq;
    return example_from(nb_trampoline.base().attr("__getitem__")(index));
  }
};

/// One epoch of a DataLoader as a Python iterator (the loader is kept alive by `owner`).
struct EpochIterator {
  nb::object owner;
  data::DataLoader* loader;
  data::DataLoader::Iterator it, end;
  bool started = false;
};

nb::object batch_tuple(const Example& e) {
  return e.target.defined() ? nb::make_tuple(e.data, e.target) : nb::make_tuple(e.data);
}

}  // namespace

void init_data(nb::module_& m) {
  nb::class_<Dataset, PyDataset>(m, "Dataset",
                                 "Subclass with __len__ and __getitem__ (neural_arch.data.Dataset).")
      .def(nb::init<>())
      .def("__len__", [](const Dataset& d) { return d.size(); })
      .def("__getitem__", [](const Dataset& d, int64_t i) { return batch_tuple(d.get(i)); });
  nb::class_<data::TensorDataset, Dataset>(m, "TensorDataset")
      .def(
          "__init__",
          [](data::TensorDataset* self, const Tensor& x, std::optional<Tensor> y) {
            new (self) data::TensorDataset(x, y ? *y : Tensor());
          },
          nb::arg("data"), nb::arg("targets") = nb::none());
  nb::class_<EpochIterator>(m, "DataLoaderIterator")
      .def("__iter__", [](nb::handle self) { return self; })
      .def("__next__", [](EpochIterator& e) {
        {
          nb::gil_scoped_release rel;  // a Python dataset is called from here or the prefetch thread
          if (!e.started) {
            e.it = e.loader->begin();
            e.end = e.loader->end();
            e.started = true;
          } else {
            ++e.it;
          }
        }
        if (e.it == e.end) throw nb::stop_iteration();
        return batch_tuple(*e.it);
      });
  nb::class_<data::DataLoader>(m, "DataLoader",
                               "Batches of a Dataset (torch.utils.data.DataLoader's counterpart).")
      .def(
          "__init__",
          [](data::DataLoader* self, std::shared_ptr<Dataset> ds, int64_t batch_size, bool shuffle,
             uint64_t seed, bool drop_last, bool prefetch) {
            new (self) data::DataLoader(ds, data::DataLoaderOptions()
                                                .batch_size(batch_size)
                                                .shuffle(shuffle)
                                                .seed(seed)
                                                .drop_last(drop_last)
                                                .prefetch(prefetch));
          },
          nb::arg("dataset"), nb::arg("batch_size") = 1, nb::arg("shuffle") = false, nb::arg("seed") = 0,
          nb::arg("drop_last") = false, nb::arg("prefetch") = false)
      .def("__len__", &data::DataLoader::num_batches)
      .def("__iter__", [](nb::handle self) {
        return EpochIterator{nb::borrow(self), &nb::cast<data::DataLoader&>(self), {}, {}, false};
      });
}

}  // namespace neural_arch::python
