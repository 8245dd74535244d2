#include "neural_arch/data/idx.hpp"

#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/checked_size.hpp"
#include "neural_arch/ops.hpp"

namespace neural_arch::data {

namespace {

constexpr const char* kOp = "idx";
// deflate cannot expand data by more than about 1032:1, so a gzip file of C bytes holds at
// most this many times C bytes: a bound on what a header may claim before we allocate.
constexpr uint64_t kMaxDeflateRatio = 1032;

[[noreturn]] void fail(const std::string& path, const std::string& msg) {
  neural_arch::detail::throw_error(kOp, "'", path, "': ", msg);
}

// A file read through zlib, which passes uncompressed files through unchanged.
class Source {
 public:
  explicit Source(const std::string& path) : path_(path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) fail(path, "cannot open: " + std::string(std::strerror(errno)));
    if (!S_ISREG(st.st_mode)) fail(path, "not a regular file");
    file_size_ = static_cast<uint64_t>(st.st_size);
    gz_ = gzopen(path.c_str(), "rb");
    if (!gz_) fail(path, "cannot open: " + std::string(std::strerror(errno)));
    gzbuffer(gz_, 1 << 17);
    compressed_ = gzdirect(gz_) == 0;
  }
  ~Source() {
    if (gz_) gzclose(gz_);
  }
  Source(const Source&) = delete;
  Source& operator=(const Source&) = delete;

  // gzerror() prefixes its message with the path, which our messages already name.
  std::string zlib_message(const char* msg) const {
    std::string m = msg ? msg : "unknown zlib error";
    if (m.rfind(path_ + ": ", 0) == 0) m.erase(0, path_.size() + 2);
    return m;
  }

  bool compressed() const { return compressed_; }
  uint64_t file_size() const { return file_size_; }

  // Reads up to n bytes; fewer only at the end of the data. Corrupt gzip data is an Error.
  uint64_t read(void* dst, uint64_t n) {
    char* p = static_cast<char*>(dst);
    uint64_t done = 0;
    while (done < n) {
      const unsigned want = static_cast<unsigned>(std::min<uint64_t>(n - done, uint64_t(1) << 30));
      const int got = gzread(gz_, p + done, want);
      if (got < 0) {
        int err = 0;
        const char* msg = gzerror(gz_, &err);
        fail(path_, "corrupt or truncated gzip data: " + zlib_message(msg));
      }
      if (got == 0) break;
      done += static_cast<uint64_t>(got);
    }
    // zlib reports a stream cut short (or a bad checksum) through gzerror, not the count.
    int err = Z_OK;
    gzerror(gz_, &err);
    if (err != Z_OK && err != Z_BUF_ERROR)
      fail(path_, "corrupt gzip data: " + zlib_message(gzerror(gz_, &err)));
    if (err == Z_BUF_ERROR) fail(path_, "truncated gzip data (unexpected end of file)");
    return done;
  }

  void read_exact(void* dst, uint64_t n, const char* what) {
    const uint64_t got = read(dst, n);
    if (got != n)
      fail(path_, "truncated: " + std::to_string(n) + " bytes of " + what + " expected, only " +
                      std::to_string(got) + " remain");
  }

 private:
  std::string path_;
  gzFile gz_ = nullptr;
  uint64_t file_size_ = 0;
  bool compressed_ = false;
};

uint32_t be32(const unsigned char* b) {
  return uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | uint32_t(b[3]);
}

struct IdxType {
  unsigned char code;
  const char* name;
  uint64_t file_size;  // bytes per element in the file
  DType dtype;         // what it becomes
};
constexpr IdxType kTypes[] = {{0x08, "unsigned byte", 1, DType::u8}, {0x09, "signed byte", 1, DType::i32},
                              {0x0B, "short", 2, DType::i32},        {0x0C, "int", 4, DType::i32},
                              {0x0D, "float", 4, DType::f32},        {0x0E, "double", 8, DType::f64}};

// Converts n big-endian elements of type code in src to the tensor's element type in dst.
void convert(unsigned char code, const unsigned char* src, void* dst, uint64_t n) {
  switch (code) {
    case 0x08: std::memcpy(dst, src, n); break;
    case 0x09: {
      auto* d = static_cast<int32_t*>(dst);
      for (uint64_t i = 0; i < n; ++i) d[i] = static_cast<int8_t>(src[i]);
      break;
    }
    case 0x0B: {
      auto* d = static_cast<int32_t*>(dst);
      for (uint64_t i = 0; i < n; ++i)
        d[i] = static_cast<int16_t>(uint16_t(src[2 * i]) << 8 | src[2 * i + 1]);
      break;
    }
    case 0x0C:
    case 0x0D: {
      auto* d = static_cast<uint32_t*>(dst);
      for (uint64_t i = 0; i < n; ++i) d[i] = be32(src + 4 * i);
      break;
    }
    case 0x0E: {
      auto* d = static_cast<uint64_t*>(dst);
      for (uint64_t i = 0; i < n; ++i) d[i] = uint64_t(be32(src + 8 * i)) << 32 | be32(src + 8 * i + 4);
      break;
    }
    default: break;
  }
}

bool is_file(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// name.gz if present, else name, else "".
std::string pick(const std::string& dir, const std::string& name) {
  if (is_file(dir + "/" + name + ".gz")) return dir + "/" + name + ".gz";
  if (is_file(dir + "/" + name)) return dir + "/" + name;
  return "";
}

constexpr const char* kFiles[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                  "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};

}  // namespace

Tensor read_idx(const std::string& path) {
  Source src(path);
  unsigned char magic[4];
  if (src.read(magic, 4) != 4) fail(path, "file is shorter than the 4-byte IDX magic number");
  if (magic[0] != 0 || magic[1] != 0)
    fail(path, "not an IDX file (magic number must start with two zero bytes)");
  const IdxType* type = nullptr;
  for (const auto& t : kTypes)
    if (t.code == magic[2]) type = &t;
  if (!type)
    fail(
        path, "unknown IDX element type code 0x" + [&] {
          char b[3];
          std::snprintf(b, sizeof b, "%02x", magic[2]);
          return std::string(b);
        }());
  const int ndim = magic[3];
  std::vector<unsigned char> dims_raw(4 * static_cast<size_t>(ndim));
  src.read_exact(dims_raw.data(), dims_raw.size(), "dimension sizes");
  Shape shape;
  for (int d = 0; d < ndim; ++d) shape.push_back(be32(&dims_raw[4 * d]));
  // Checked at 8 bytes per element: the widest in-memory dtype the elements decode to.
  const auto checked = neural_arch::detail::shape_nbytes(shape, 8);
  if (!checked) fail(path, "shape " + shape_str(shape) + " is too large");
  const uint64_t numel = *checked / 8;
  const uint64_t nbytes = numel * type->file_size;
  const uint64_t header = 4 + 4 * static_cast<uint64_t>(ndim);
  const std::string claim =
      "shape " + shape_str(shape) + " of " + type->name + " needs " + std::to_string(nbytes) + " data bytes";
  if (!src.compressed()) {
    if (src.file_size() - header != nbytes)
      fail(path, claim + " but the file has " + std::to_string(src.file_size() - header) +
                     (src.file_size() - header < nbytes ? " (truncated)" : " (trailing bytes)"));
  } else if (nbytes / kMaxDeflateRatio > src.file_size()) {
    fail(path, claim + ", more than a " + std::to_string(src.file_size()) + "-byte gzip file can hold");
  }

  Tensor out = empty(shape, type->dtype);
  if (type->code == 0x08) {
    src.read_exact(out.raw_data(), nbytes, "data");
  } else {
    // Read and convert in blocks so wide types never need a second full-size buffer.
    constexpr uint64_t kBlockElems = uint64_t(1) << 16;
    std::vector<unsigned char> buf(kBlockElems * type->file_size);
    auto* dst = static_cast<unsigned char*>(out.raw_data());
    const uint64_t out_size = element_size(type->dtype);
    for (uint64_t i = 0; i < numel; i += kBlockElems) {
      const uint64_t n = std::min(kBlockElems, numel - i);
      src.read_exact(buf.data(), n * type->file_size, "data");
      convert(type->code, buf.data(), dst + i * out_size, n);
    }
  }
  unsigned char extra;
  if (src.compressed() && src.read(&extra, 1) != 0)
    fail(path, claim + " but the decompressed data is longer (trailing bytes)");
  return out;
}

std::string find_fashion_mnist(const std::string& dir) {
  std::string d = dir;
  if (d.empty()) {
    const char* env = std::getenv("NA_FASHION_MNIST_DIR");
    d = env && *env ? env : kFashionMnistDebianDir;
  }
  for (const char* f : kFiles)
    NA_CHECK(!pick(d, f).empty(), "fashion_mnist", "cannot find ", f, "(.gz) in '", d,
             "'; install Debian's package with `apt-get install dataset-fashion-mnist`, "
             "or point NA_FASHION_MNIST_DIR at a directory holding the four IDX files");
  return d;
}

FashionMnist load_fashion_mnist(const std::string& split, const std::string& dir) {
  NA_CHECK(split == "train" || split == "test", "fashion_mnist",
           "split must be \"train\" or \"test\", got \"", split, "\"");
  const std::string d = find_fashion_mnist(dir);
  const std::string prefix = split == "train" ? "train" : "t10k";
  const std::string ipath = pick(d, prefix + "-images-idx3-ubyte");
  const std::string lpath = pick(d, prefix + "-labels-idx1-ubyte");
  const Tensor img = read_idx(ipath);
  const Tensor lab = read_idx(lpath);
  NA_CHECK(img.dtype() == DType::u8 && img.dim() == 3 && img.size(1) == 28 && img.size(2) == 28,
           "fashion_mnist", "'", ipath, "' holds ", dtype_name(img.dtype()), " ", shape_str(img.shape()),
           ", expected uint8 (N,28,28)");
  NA_CHECK(lab.dtype() == DType::u8 && lab.dim() == 1 && lab.size(0) == img.size(0), "fashion_mnist", "'",
           lpath, "' holds ", dtype_name(lab.dtype()), " ", shape_str(lab.shape()), ", expected uint8 (",
           img.size(0), ")");

  const int64_t n = img.size(0);
  FashionMnist out;
  out.images = empty({n, 1, 28, 28}, kFloat32);
  const auto* p = img.data_ptr<uint8_t>();
  auto* q = out.images.data_ptr<float>();
  for (int64_t i = 0; i < img.numel(); ++i) q[i] = static_cast<float>(p[i]) / 255.0f;
  out.labels = empty({n}, kInt64);
  const auto* l = lab.data_ptr<uint8_t>();
  auto* y = out.labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    NA_CHECK(l[i] < 10, "fashion_mnist", "'", lpath, "': label ", int(l[i]), " at index ", i,
             " is outside [0, 9]");
    y[i] = l[i];
  }
  return out;
}

const std::array<const char*, 10>& fashion_mnist_classes() {
  static const std::array<const char*, 10> names = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                                    "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                                    "Bag",         "Ankle boot"};
  return names;
}

}  // namespace neural_arch::data
