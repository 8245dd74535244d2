// safetensors files: named tensors plus string metadata, in the format used by Hugging Face
// (https://github.com/huggingface/safetensors): an 8-byte little-endian header length, a
// JSON header {"name": {"dtype", "shape", "data_offsets"}, "__metadata__": {str: str}},
// then the raw little-endian tensor bytes.
#pragma once
#include <map>
#include <string>

#include "neural_arch/nn/module.hpp"
#include "neural_arch/tensor.hpp"

namespace neural_arch::io {

/// String metadata stored in the header's "__metadata__" object.
using Metadata = std::map<std::string, std::string>;

/// The contents of a safetensors file: tensors in the order of the file's header (which is
/// the order they were saved in), and the metadata.
struct SafetensorsFile {
  nn::StateDict tensors;
  Metadata metadata;
  /// The tensor called name; throws Error naming the file's keys when absent.
  const Tensor& at(const std::string& name) const;
  bool contains(const std::string& name) const;
};

/// Saves tensors (any layout; written contiguous, on the CPU) and metadata to path. The write
/// is atomic: a crash leaves either the old file or the new one, never a partial file.
/// Names must be unique, valid UTF-8 and not "__metadata__"; every tensor must be defined.
///
///   na::io::save_safetensors("model.safetensors", model->state_dict(), {{"step", "100"}});
void save_safetensors(const std::string& path, const nn::StateDict& tensors, const Metadata& metadata = {});

/// Loads a safetensors file. The header is validated completely (length against the file
/// size, JSON syntax, dtype names, shapes, offsets: in order, without gaps or overlaps,
/// covering the data exactly and matching numel * element size) before any data is read;
/// any violation is an Error("[safetensors] ...") naming the file and the problem.
/// Supported dtypes: F32, F64, F16, BF16, I32, I64, U8, BOOL.
///
///   auto f = na::io::load_safetensors("model.safetensors");
///   model->load_state_dict(f.tensors);
SafetensorsFile load_safetensors(const std::string& path);

/// One tensor's entry in a safetensors header.
struct TensorInfo {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t offset;  // from the start of the data section
  uint64_t nbytes;
};
struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;  // header order
  Metadata metadata;
};
/// Reads and validates only the header (as load_safetensors does), without the tensor data:
/// for listing a checkpoint's contents cheaply.
SafetensorsHeader read_safetensors_header(const std::string& path);

}  // namespace neural_arch::io
