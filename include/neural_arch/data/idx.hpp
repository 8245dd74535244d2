// IDX files (the MNIST format), raw or gzip-compressed, and the Fashion-MNIST data set.
#pragma once
#include <array>
#include <string>

#include "neural_arch/tensor.hpp"

namespace neural_arch::data {

/// Reads an IDX file: magic 0x00 0x00 <type> <ndim>, ndim big-endian uint32 sizes, then the
/// big-endian data. gzip files (detected by their magic bytes, not the name) are
/// decompressed on the fly. Element types: 0x08 unsigned byte -> u8, 0x09 signed byte,
/// 0x0B short and 0x0C int -> i32, 0x0D float -> f32, 0x0E double -> f64. Sizes are checked
/// against the data actually present: a truncated, over-long or corrupt file is an
/// Error("[idx] ...") naming the file.
///
///   Tensor labels = data::read_idx("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz");
Tensor read_idx(const std::string& path);

/// Where Debian's dataset-fashion-mnist package installs the files.
inline constexpr const char* kFashionMnistDebianDir = "/usr/share/datasets/fashion-mnist";

/// The Fashion-MNIST directory: dir if given, else $NA_FASHION_MNIST_DIR if set, else
/// kFashionMnistDebianDir. Throws Error (with the apt-get command) if the files are missing.
std::string find_fashion_mnist(const std::string& dir = "");

/// One split of Fashion-MNIST: images f32 in [0, 1] with shape (N, 1, 28, 28) (pixel / 255),
/// labels i64 in [0, 9] with shape (N). N is 60000 for "train" and 10000 for "test".
struct FashionMnist {
  Tensor images;
  Tensor labels;
};
/// Loads split "train" or "test" from find_fashion_mnist(dir); accepts the .gz files or
/// uncompressed ones of the same name without ".gz".
FashionMnist load_fashion_mnist(const std::string& split, const std::string& dir = "");

/// Class names by label: T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt,
/// Sneaker, Bag, Ankle boot.
const std::array<const char*, 10>& fashion_mnist_classes();

}  // namespace neural_arch::data
