// NumPy .npy files (format versions 1.0, 2.0 and 3.0): one array per file.
#pragma once
#include <string>

#include "neural_arch/tensor.hpp"

namespace neural_arch::io {

/// Saves t (any layout; written C-ordered, little-endian, format 1.0) atomically, like
/// numpy.save. dtypes: f32 '<f4', f64 '<f8',
/// f16 '<f2', i32 '<i4', i64 '<i8', u8 '|u1', bool '|b1'; bf16 has no NumPy dtype and is an Error.
///
///   na::io::save_npy("x.npy", x);   // np.load("x.npy") in Python gives the same array
void save_npy(const std::string& path, const Tensor& t);

/// Loads a .npy file written by numpy.save (or save_npy). The header is checked against the
/// file size before any data is read; big-endian data, Fortran order, object arrays and
/// dtypes outside the list above are an Error("[npy] ...").
Tensor load_npy(const std::string& path);

}  // namespace neural_arch::io
