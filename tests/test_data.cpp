// Data pipeline: TensorDataset, collate, DataLoader (batching, seeded shuffle, drop_last,
// prefetch), IDX files (raw and gzip, well-formed and malformed), Fashion-MNIST, and the
// character-level text dataset.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <set>
#include <sstream>
#include <thread>

#include "neural_arch/data/dataloader.hpp"
#include "neural_arch/data/dataset.hpp"
#include "neural_arch/data/idx.hpp"
#include "neural_arch/data/text.hpp"
#include "neural_arch/ops.hpp"
#include "test_util.hpp"

namespace na = neural_arch;
namespace data = neural_arch::data;
namespace fs = std::filesystem;
using na::Tensor;

namespace {

using na_test::error_of;
using na_test::TempDir;
using na_test::write_bytes;

// data[i] = {i, i + 0.5} (f32), target[i] = 10 * i (i64): every value names its example.
std::shared_ptr<data::TensorDataset> numbered_dataset(int64_t n) {
  std::vector<float> x;
  std::vector<int64_t> y;
  for (int64_t i = 0; i < n; ++i) {
    x.push_back(static_cast<float>(i));
    x.push_back(static_cast<float>(i) + 0.5f);
    y.push_back(10 * i);
  }
  return std::make_shared<data::TensorDataset>(na::tensor(x, na::Shape{n, 2}), na::tensor(y));
}

// The example indices of a batch of numbered_dataset, checking data and target agree.
std::vector<int64_t> ids_of(const data::Example& b) {
  const auto x = b.data.to_vector<float>();
  const auto y = b.target.to_vector<int64_t>();
  std::vector<int64_t> ids;
  EXPECT_EQ(x.size(), 2 * y.size());
  for (size_t k = 0; k < y.size(); ++k) {
    const auto i = static_cast<int64_t>(x[2 * k]);
    EXPECT_EQ(x[2 * k + 1], static_cast<float>(i) + 0.5f);
    EXPECT_EQ(y[k], 10 * i);
    ids.push_back(i);
  }
  return ids;
}

// All batches of one epoch, as example indices.
std::vector<std::vector<int64_t>> epoch_ids(data::DataLoader& loader) {
  std::vector<std::vector<int64_t>> out;
  for (const auto& b : loader) out.push_back(ids_of(b));
  return out;
}

}  // namespace

// ------------------------------------------------------------------ datasets

TEST(TensorDataset, GetAndBatch) {
  auto ds = numbered_dataset(5);
  EXPECT_EQ(ds->size(), 5);
  const auto e = ds->get(3);
  EXPECT_EQ(e.data.shape(), (na::Shape{2}));
  EXPECT_EQ(e.data.to_vector<float>(), (std::vector<float>{3, 3.5}));
  EXPECT_EQ(e.target.item<int64_t>(), 30);
  const auto b = ds->get_batch({4, 0, 4});
  EXPECT_EQ(b.data.shape(), (na::Shape{3, 2}));
  EXPECT_EQ(b.target.shape(), (na::Shape{3}));
  EXPECT_EQ(ids_of(b), (std::vector<int64_t>{4, 0, 4}));
  // The generic path (stacking get()) gives the same batch.
  const auto g = ds->Dataset::get_batch({4, 0, 4});
  EXPECT_EQ(g.data.to_vector<float>(), b.data.to_vector<float>());
  EXPECT_EQ(g.target.to_vector<int64_t>(), b.target.to_vector<int64_t>());

  EXPECT_NE(error_of([&] { ds->get(5); }).find("index 5 is out of range for 5 examples"), std::string::npos);
  EXPECT_NE(error_of([&] { ds->get_batch({1, -1}); }).find("index -1 is out of range"), std::string::npos);
  EXPECT_NE(error_of([&] {
              data::TensorDataset(na::zeros({3, 2}), na::zeros({4}));
            }).find("same number of examples"),
            std::string::npos);
  EXPECT_NE(error_of([&] { data::TensorDataset(na::scalar_tensor(1.0)); }).find("leading example dimension"),
            std::string::npos);
  // Without targets.
  data::TensorDataset unlabeled(na::arange(6, na::kFloat32).reshape({3, 2}));
  EXPECT_FALSE(unlabeled.get(1).target.defined());
  EXPECT_FALSE(unlabeled.get_batch({0, 2}).target.defined());
  EXPECT_EQ(unlabeled.get_batch({2, 0}).data.to_vector<float>(), (std::vector<float>{4, 5, 0, 1}));
}

TEST(TensorDataset, NonContiguousInputIsGatheredByLogicalRows) {
  const Tensor base = na::arange(12, na::kFloat32).reshape({3, 4});
  data::TensorDataset ds(base.t());  // rows are the columns of base
  EXPECT_EQ(ds.size(), 4);
  EXPECT_EQ(ds.get_batch({1}).data.to_vector<float>(), (std::vector<float>{1, 5, 9}));
  EXPECT_EQ(ds.get(3).data.to_vector<float>(), (std::vector<float>{3, 7, 11}));
}

TEST(Collate, StacksAndReportsMismatches) {
  std::vector<data::Example> ex = {{na::full({2, 2}, 1.0), na::scalar_tensor(int64_t{1})},
                                   {na::full({2, 2}, 2.0), na::scalar_tensor(int64_t{2})}};
  const auto b = data::collate(ex);
  EXPECT_EQ(b.data.shape(), (na::Shape{2, 2, 2}));
  EXPECT_EQ(b.data.to_vector<float>(), (std::vector<float>{1, 1, 1, 1, 2, 2, 2, 2}));
  EXPECT_EQ(b.target.to_vector<int64_t>(), (std::vector<int64_t>{1, 2}));

  ex.push_back({na::full({2, 3}, 3.0), na::scalar_tensor(int64_t{3})});
  const std::string msg = error_of([&] { data::collate(ex); });
  EXPECT_EQ(msg.rfind("[collate]", 0), 0u) << msg;
  EXPECT_NE(msg.find("tensor 2 has shape (2,3)"), std::string::npos) << msg;
  ex.back() = {na::full({2, 2}, 3.0), Tensor()};
  EXPECT_NE(error_of([&] { data::collate(ex); }).find("example 2 has no target"), std::string::npos);
  EXPECT_NE(error_of([&] { data::collate({}); }).find("zero examples"), std::string::npos);
}

// ------------------------------------------------------------------ DataLoader

TEST(DataLoader, SequentialBatchesAndLastPartialBatch) {
  auto ds = numbered_dataset(10);
  data::DataLoader loader(ds, data::DataLoaderOptions().batch_size(3));
  EXPECT_EQ(loader.num_batches(), 4);
  const auto batches = epoch_ids(loader);
  EXPECT_EQ(batches, (std::vector<std::vector<int64_t>>{{0, 1, 2}, {3, 4, 5}, {6, 7, 8}, {9}}));

  data::DataLoader dropping(ds, data::DataLoaderOptions().batch_size(3).drop_last());
  EXPECT_EQ(dropping.num_batches(), 3);
  EXPECT_EQ(epoch_ids(dropping), (std::vector<std::vector<int64_t>>{{0, 1, 2}, {3, 4, 5}, {6, 7, 8}}));

  data::DataLoader exact(ds, data::DataLoaderOptions().batch_size(5).drop_last());
  EXPECT_EQ(epoch_ids(exact).size(), 2u);
  data::DataLoader big(ds, data::DataLoaderOptions().batch_size(64).drop_last());
  EXPECT_EQ(big.num_batches(), 0);
  EXPECT_TRUE(epoch_ids(big).empty());
  data::DataLoader empty(numbered_dataset(0), data::DataLoaderOptions().batch_size(4));
  EXPECT_TRUE(epoch_ids(empty).empty());

  // Batch shapes.
  auto it = loader.begin();
  EXPECT_EQ(it->data.shape(), (na::Shape{3, 2}));
  EXPECT_EQ(it->target.shape(), (na::Shape{3}));
  EXPECT_EQ(it.index(), 0);

  EXPECT_NE(error_of([&] {
              data::DataLoader(ds, data::DataLoaderOptions().batch_size(0));
            }).find("batch_size must be positive"),
            std::string::npos);
  EXPECT_NE(error_of([&] { data::DataLoader(nullptr); }).find("dataset is null"), std::string::npos);
}

TEST(DataLoader, ShuffleIsASeededPermutationPerEpoch) {
  auto ds = numbered_dataset(50);
  auto opts = data::DataLoaderOptions().batch_size(8).shuffle().seed(1234);
  data::DataLoader a(ds, opts), b(ds, opts), other(ds, data::DataLoaderOptions(opts).seed(1235));
  std::vector<std::vector<int64_t>> orders;
  for (int epoch = 0; epoch < 3; ++epoch) {
    const auto ea = epoch_ids(a);
    EXPECT_EQ(ea, epoch_ids(b)) << "same seed, same batches (epoch " << epoch << ")";
    std::vector<int64_t> flat;
    for (const auto& batch : ea) flat.insert(flat.end(), batch.begin(), batch.end());
    EXPECT_EQ(flat, a.order());
    std::vector<int64_t> sorted = flat;
    std::sort(sorted.begin(), sorted.end());
    std::vector<int64_t> all(50);
    std::iota(all.begin(), all.end(), 0);
    EXPECT_EQ(sorted, all) << "each epoch visits every example exactly once";
    orders.push_back(flat);
    epoch_ids(other);
    EXPECT_NE(other.order(), flat) << "another seed gives another order";
  }
  EXPECT_NE(orders[0], orders[1]) << "epochs are reshuffled";
  EXPECT_NE(orders[1], orders[2]);
  std::vector<int64_t> identity(50);
  std::iota(identity.begin(), identity.end(), 0);
  EXPECT_NE(orders[0], identity);
}

TEST(DataLoader, ResumeFromGeneratorStateReproducesTheNextEpochs) {
  auto ds = numbered_dataset(40);
  auto opts = data::DataLoaderOptions().batch_size(6).shuffle().seed(7);
  data::DataLoader run(ds, opts);
  epoch_ids(run);
  const std::string state = run.generator().get_state();  // saved with a checkpoint after epoch 0
  const auto e1 = epoch_ids(run);
  const auto e2 = epoch_ids(run);

  data::DataLoader resumed(ds, data::DataLoaderOptions(opts).seed(999));
  resumed.generator().set_state(state);
  EXPECT_EQ(epoch_ids(resumed), e1);
  EXPECT_EQ(epoch_ids(resumed), e2);
}

TEST(DataLoader, PrefetchGivesTheSameBatches) {
  auto ds = numbered_dataset(103);
  for (bool drop : {false, true}) {
    auto opts = data::DataLoaderOptions().batch_size(10).shuffle().seed(5).drop_last(drop);
    data::DataLoader plain(ds, opts), ahead(ds, data::DataLoaderOptions(opts).prefetch());
    for (int epoch = 0; epoch < 3; ++epoch)
      EXPECT_EQ(epoch_ids(ahead), epoch_ids(plain)) << "epoch " << epoch;
  }
  // Abandoning an epoch half-way (break, or a new begin()) stops the worker cleanly.
  data::DataLoader ahead(ds, data::DataLoaderOptions().batch_size(7).prefetch());
  for (const auto& b : ahead) {
    (void)b;
    break;
  }
  auto it = ahead.begin();
  ++it;
  EXPECT_EQ(ids_of(*it), (std::vector<int64_t>{7, 8, 9, 10, 11, 12, 13}));
  auto fresh = ahead.begin();
  EXPECT_EQ(ids_of(*fresh).front(), 0);
  const std::string msg = error_of([&] { ++it; });
  EXPECT_NE(msg.find("epoch that has ended"), std::string::npos) << msg;
}

namespace {
// Fails on one index; counts the threads that call it.
class FailingDataset : public data::Dataset {
 public:
  explicit FailingDataset(int64_t bad) : bad_(bad) {}
  int64_t size() const override { return 20; }
  data::Example get(int64_t i) const override {
    NA_CHECK(i != bad_, "FailingDataset", "example ", i, " is corrupt");
    return {na::full({1}, static_cast<double>(i)), Tensor()};
  }

 private:
  int64_t bad_;
};
}  // namespace

TEST(DataLoader, DatasetErrorsSurfaceAtTheirBatch) {
  for (bool prefetch : {false, true}) {
    data::DataLoader loader(std::make_shared<FailingDataset>(13),
                            data::DataLoaderOptions().batch_size(4).prefetch(prefetch));
    int64_t seen = 0;
    std::string msg;
    try {
      for (const auto& b : loader) {
        EXPECT_FALSE(b.target.defined());
        ++seen;
      }
    } catch (const na::Error& e) {
      msg = e.what();
    }
    EXPECT_EQ(seen, 3) << "batches 0-2 arrive before the failing batch 3 (prefetch " << prefetch << ")";
    EXPECT_NE(msg.find("[FailingDataset] example 13 is corrupt"), std::string::npos) << msg;
    // A new epoch starts cleanly after the failure.
    auto it = loader.begin();
    EXPECT_EQ(it->data.to_vector<float>(), (std::vector<float>{0, 1, 2, 3}));
  }
}

TEST(DataLoader, PrefetchOverlapsWithTheConsumer) {
  // A dataset that records which thread builds each batch: with prefetch, batches after the
  // first come from another thread than the consumer's.
  class ThreadRecorder : public data::Dataset {
   public:
    int64_t size() const override { return 16; }
    data::Example get(int64_t i) const override { return {na::full({1}, static_cast<double>(i)), Tensor()}; }
    data::Example get_batch(const std::vector<int64_t>& idx) const override {
      if (std::this_thread::get_id() != main_) other_.fetch_add(1);
      return Dataset::get_batch(idx);
    }
    std::thread::id main_ = std::this_thread::get_id();
    mutable std::atomic<int> other_{0};
  };
  auto ds = std::make_shared<ThreadRecorder>();
  data::DataLoader loader(ds, data::DataLoaderOptions().batch_size(4).prefetch());
  int n = 0;
  for (const auto& b : loader) {
    EXPECT_EQ(b.data.shape(), (na::Shape{4, 1}));
    ++n;
  }
  EXPECT_EQ(n, 4);
  EXPECT_EQ(ds->other_.load(), 4) << "every batch was built on the prefetch thread";
}

// ------------------------------------------------------------------ IDX

namespace {
std::string be32(uint32_t v) { return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; }
std::string idx_header(unsigned char type, const std::vector<uint32_t>& dims) {
  std::string s = {'\0', '\0', char(type), char(dims.size())};
  for (uint32_t d : dims) s += be32(d);
  return s;
}

uint32_t crc32(const std::string& s) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : s) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}

// A gzip file (RFC 1952) whose deflate stream uses stored blocks: written by hand so the
// tests need no compressor and can corrupt it precisely.
std::string gzip_stored(const std::string& payload) {
  std::string out = {'\x1f', '\x8b', '\x08', '\0', '\0', '\0', '\0', '\0', '\0', '\x03'};
  size_t pos = 0;
  do {
    const size_t n = std::min<size_t>(65535, payload.size() - pos);
    const bool last = pos + n == payload.size();
    out += char(last ? 1 : 0);
    out += char(n & 0xff);
    out += char(n >> 8);
    out += char(~n & 0xff);
    out += char((~n >> 8) & 0xff);
    out.append(payload, pos, n);
    pos += n;
  } while (pos < payload.size());
  const uint32_t crc = crc32(payload), size = static_cast<uint32_t>(payload.size());
  for (int i = 0; i < 4; ++i) out += char(crc >> (8 * i));
  for (int i = 0; i < 4; ++i) out += char(size >> (8 * i));
  return out;
}
}  // namespace

TEST(Idx, ReadsEveryElementTypeRawAndGzip) {
  TempDir dir;
  struct Case {
    unsigned char type;
    std::string data;  // big-endian elements
    na::DType dtype;
    std::vector<double> values;
  };
  auto f32 = [](float v) {
    uint32_t u;
    std::memcpy(&u, &v, 4);
    return be32(u);
  };
  auto f64 = [](double v) {
    uint64_t u;
    std::memcpy(&u, &v, 8);
    return be32(uint32_t(u >> 32)) + be32(uint32_t(u));
  };
  const std::vector<Case> cases = {
      {0x08, std::string("\x00\x7f\x80\xff", 4), na::kUInt8, {0, 127, 128, 255}},
      {0x09, std::string("\x00\x7f\x80\xff", 4), na::kInt32, {0, 127, -128, -1}},
      {0x0B, std::string("\x00\x01\x7f\xff\x80\x00\xff\xfe", 8), na::kInt32, {1, 32767, -32768, -2}},
      {0x0C,
       be32(1) + be32(0x7fffffff) + be32(0x80000000u) + be32(0xffffffffu),
       na::kInt32,
       {1, 2147483647, -2147483648.0, -1}},
      {0x0D, f32(1.5f) + f32(-0.25f) + f32(3e38f) + f32(0.0f), na::kFloat32, {1.5, -0.25, double(3e38f), 0}},
      {0x0E, f64(1.0 / 3) + f64(-1e300) + f64(5e-324) + f64(2.0), na::kFloat64, {1.0 / 3, -1e300, 5e-324, 2}},
  };
  for (const auto& c : cases) {
    const std::string bytes = idx_header(c.type, {2, 2}) + c.data;
    for (bool gz : {false, true}) {
      const std::string path = dir.file(gz ? "x.idx.gz" : "x.idx");
      write_bytes(path, gz ? gzip_stored(bytes) : bytes);
      const Tensor t = data::read_idx(path);
      EXPECT_EQ(t.dtype(), c.dtype) << int(c.type);
      EXPECT_EQ(t.shape(), (na::Shape{2, 2})) << int(c.type);
      EXPECT_EQ(t.to_vector<double>(), c.values) << "type 0x" << std::hex << int(c.type) << " gzip " << gz;
    }
  }
  // gzip is recognised by content, not by name; a 1-D file; an empty dimension.
  const std::string labels = idx_header(0x08, {3}) + std::string("\x01\x02\x03", 3);
  write_bytes(dir.file("labels"), gzip_stored(labels));
  EXPECT_EQ(data::read_idx(dir.file("labels")).to_vector<int64_t>(), (std::vector<int64_t>{1, 2, 3}));
  write_bytes(dir.file("empty.idx"), idx_header(0x08, {0, 28, 28}));
  EXPECT_EQ(data::read_idx(dir.file("empty.idx")).shape(), (na::Shape{0, 28, 28}));
  // A payload longer than one stored block (several gzip reads).
  std::string big = idx_header(0x0C, {70000});
  for (uint32_t i = 0; i < 70000; ++i) big += be32(i * 7);
  write_bytes(dir.file("big.gz"), gzip_stored(big));
  const auto v = data::read_idx(dir.file("big.gz")).to_vector<int32_t>();
  ASSERT_EQ(v.size(), 70000u);
  for (uint32_t i = 0; i < 70000; i += 997) EXPECT_EQ(v[i], static_cast<int32_t>(i * 7));
  EXPECT_EQ(v.back(), 69999 * 7);
}

TEST(Idx, MalformedFilesAreClearErrors) {
  const std::string good = idx_header(0x08, {2, 3}) + std::string(6, '\x05');
  std::string bad_crc = gzip_stored(good);
  bad_crc[bad_crc.size() - 8] ^= 0x5a;  // first byte of the CRC
  std::string bad_data = gzip_stored(good);
  bad_data[29] ^= 0x01;  // a pixel byte of the payload: the CRC no longer matches
  struct Case {
    const char* name;
    std::string bytes;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {"empty", "", "shorter than the 4-byte IDX magic"},
      {"nonzero magic", "\x01\x02\x08\x01" + be32(0), "not an IDX file"},
      {"unknown type", idx_header(0x0A, {1}) + "x", "unknown IDX element type code 0x0a"},
      {"truncated dims", idx_header(0x08, {2, 3}).substr(0, 7),
       "truncated: 8 bytes of dimension sizes expected, only 3 remain"},
      {"truncated data", good.substr(0, good.size() - 1),
       "needs 6 data bytes but the file has 5 (truncated)"},
      {"trailing data", good + "x", "the file has 7 (trailing bytes)"},
      {"huge dims", idx_header(0x0E, {0xffffffffu, 0xffffffffu, 0xffffffffu}), "too large"},
      {"gzip truncated", gzip_stored(good).substr(0, 25), "truncated"},
      {"gzip cut in header", gzip_stored(good).substr(0, 5), ""},
      {"gzip bad crc", bad_crc, "corrupt"},
      {"gzip bad payload", bad_data, "corrupt"},
      {"gzip short payload", gzip_stored(good.substr(0, good.size() - 2)), "truncated"},
      {"gzip trailing payload", gzip_stored(good + "zz"), "trailing bytes"},
      {"gzip claims more than it can hold", gzip_stored(idx_header(0x08, {100000, 100000})),
       "gzip file can hold"},
  };
  TempDir dir;
  for (const auto& c : cases) {
    const std::string path = dir.file("bad.idx");
    write_bytes(path, c.bytes);
    const std::string msg = error_of([&] { data::read_idx(path); });
    EXPECT_EQ(msg.rfind("[idx] '" + path + "'", 0), 0u) << c.name << ": " << msg;
    EXPECT_NE(msg.find(c.expected), std::string::npos)
        << c.name << ": expected \"" << c.expected << "\" in: " << msg;
  }
  EXPECT_NE(error_of([&] { data::read_idx(dir.file("missing")); }).find("cannot open"), std::string::npos);
}

TEST(FashionMnist, FindsFilesAndReportsMissingOnes) {
  TempDir dir;
  const std::string msg = error_of([&] { data::find_fashion_mnist(dir.file("")); });
  EXPECT_NE(msg.find("apt-get install dataset-fashion-mnist"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { data::load_fashion_mnist("valid"); }).find("split must be"), std::string::npos);

  // A miniature data set in the same layout (raw files here, gzip for the labels).
  const std::string img =
      idx_header(0x08, {2, 28, 28}) + std::string(28 * 28, '\0') + std::string(28 * 28, '\xff');
  const std::string lab = idx_header(0x08, {2}) + std::string("\x09\x00", 2);
  for (const char* split : {"train", "t10k"}) {
    write_bytes(dir.file(std::string(split) + "-images-idx3-ubyte"), img);
    write_bytes(dir.file(std::string(split) + "-labels-idx1-ubyte.gz"), gzip_stored(lab));
  }
  const auto fm = data::load_fashion_mnist("test", dir.file(""));
  EXPECT_EQ(fm.images.shape(), (na::Shape{2, 1, 28, 28}));
  EXPECT_EQ(fm.images.dtype(), na::kFloat32);
  EXPECT_EQ(fm.images.select(0, 0).max().item<float>(), 0.0f);
  EXPECT_EQ(fm.images.select(0, 1).min().item<float>(), 1.0f);
  EXPECT_EQ(fm.labels.dtype(), na::kInt64);
  EXPECT_EQ(fm.labels.to_vector<int64_t>(), (std::vector<int64_t>{9, 0}));
  EXPECT_STREQ(data::fashion_mnist_classes()[9], "Ankle boot");

  write_bytes(dir.file("t10k-labels-idx1-ubyte.gz"),
              gzip_stored(idx_header(0x08, {2}) + std::string("\x0a\x00", 2)));
  EXPECT_NE(error_of([&] {
              data::load_fashion_mnist("test", dir.file(""));
            }).find("label 10 at index 0 is outside [0, 9]"),
            std::string::npos);
  write_bytes(dir.file("t10k-labels-idx1-ubyte.gz"),
              gzip_stored(idx_header(0x08, {3}) + std::string(3, '\0')));
  EXPECT_NE(error_of([&] { data::load_fashion_mnist("test", dir.file("")); }).find("expected uint8 (2)"),
            std::string::npos);
}

TEST(FashionMnist, LoadsDebianPackageTestSplit) {
  if (!fs::exists(std::string(data::kFashionMnistDebianDir) + "/t10k-labels-idx1-ubyte.gz"))
    GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)";
  const auto fm = data::load_fashion_mnist("test", data::kFashionMnistDebianDir);
  ASSERT_EQ(fm.images.shape(), (na::Shape{10000, 1, 28, 28}));
  ASSERT_EQ(fm.labels.shape(), (na::Shape{10000}));
  EXPECT_GE(fm.images.min().item<float>(), 0.0f);
  EXPECT_LE(fm.images.max().item<float>(), 1.0f);
  EXPECT_GT(fm.images.mean().item<float>(), 0.1f) << "not all black";
  // The Fashion-MNIST test split has 1000 images of each class.
  std::vector<int> counts(10, 0);
  for (int64_t y : fm.labels.to_vector<int64_t>()) ++counts.at(static_cast<size_t>(y));
  EXPECT_EQ(counts, std::vector<int>(10, 1000));
}

// ------------------------------------------------------------------ text

TEST(CharText, VocabEncodeDecode) {
  data::CharVocab v("hello world");
  EXPECT_EQ(v.size(), 8);
  EXPECT_EQ(v.chars(), " dehlorw");
  const auto ids = v.encode("world hello");
  EXPECT_EQ(ids.front(), 7);  // 'w' is the largest byte
  EXPECT_EQ(v.decode(ids), "world hello");
  EXPECT_EQ(v.decode(na::tensor(ids, na::Shape{1, 11})), "world hello");
  EXPECT_NE(error_of([&] { v.encode("hex"); }).find("character 'x' at position 2 is not in the vocabulary"),
            std::string::npos);
  EXPECT_NE(error_of([&] { v.decode(std::vector<int64_t>{8}); }).find("outside the vocabulary [0, 8)"),
            std::string::npos);
  EXPECT_NE(error_of([&] { v.decode(na::ones({2})); }).find("integer tensor"), std::string::npos);
  // Bytes, so UTF-8 text round-trips whatever its characters.
  const std::string utf8 = "na\xc3\xafve \xe2\x9c\x93\n";
  data::CharVocab u(utf8);
  EXPECT_EQ(u.decode(u.encode(utf8)), utf8);
  EXPECT_NE(error_of([&] { data::CharVocab(""); }).find("empty text"), std::string::npos);
}

TEST(CharText, BlocksAreShiftedWindows) {
  const std::string text = "abcdefgh";
  data::CharTextDataset ds(text, 3);
  EXPECT_EQ(ds.size(), 5);
  EXPECT_EQ(ds.vocab().size(), 8);
  const auto e = ds.get(2);
  EXPECT_EQ(ds.vocab().decode(e.data), "cde");
  EXPECT_EQ(ds.vocab().decode(e.target), "def");
  EXPECT_EQ(e.data.dtype(), na::kInt64);
  const auto last = ds.get(4);
  EXPECT_EQ(ds.vocab().decode(last.target), "fgh");
  EXPECT_NE(error_of([&] { ds.get(5); }).find("out of range for 5 windows"), std::string::npos);
  EXPECT_NE(error_of([&] { data::CharTextDataset("abc", 3); }).find("too short"), std::string::npos);

  // Through a DataLoader.
  data::DataLoader loader(std::make_shared<data::CharTextDataset>(text, 3),
                          data::DataLoaderOptions().batch_size(2));
  auto it = loader.begin();
  EXPECT_EQ(it->data.shape(), (na::Shape{2, 3}));
  EXPECT_EQ(ds.vocab().decode(it->data), "abcbcd");
}

TEST(CharText, RandomBatchesAreSeededWindowsOfTheText) {
  const std::string text =
      "The quick brown fox jumps over the lazy dog.\n%\nPack my box with five dozen liquor jugs.\n";
  data::CharTextDataset ds(text, 8);
  na::Generator g1(42), g2(42);
  const auto a = ds.random_batch(16, g1);
  const auto b = ds.random_batch(16, g2);
  EXPECT_EQ(a.data.shape(), (na::Shape{16, 8}));
  EXPECT_EQ(a.target.shape(), (na::Shape{16, 8}));
  EXPECT_EQ(a.data.to_vector<int64_t>(), b.data.to_vector<int64_t>()) << "same seed, same batch";
  std::set<std::string> starts;
  for (int64_t r = 0; r < 16; ++r) {
    const std::string x = ds.vocab().decode(a.data.select(0, r));
    const std::string y = ds.vocab().decode(a.target.select(0, r));
    const auto pos = text.find(x + y.back());
    EXPECT_NE(pos, std::string::npos) << "row " << r << " is a window of the text: " << x;
    EXPECT_EQ(x.substr(1), y.substr(0, 7));
    starts.insert(x);
  }
  EXPECT_GT(starts.size(), 8u) << "positions are spread over the text";
  const auto c = ds.random_batch(16, g1);
  EXPECT_NE(c.data.to_vector<int64_t>(), a.data.to_vector<int64_t>()) << "the generator advances";
}

TEST(CharText, ReadFortunesFromADirectory) {
  TempDir dir;
  write_bytes(dir.file("alpha"), "First fortune.\n%\nB\bBold and under_\bs_\bc_\bo_\br_\be\x07.\n%\n");
  write_bytes(dir.file("alpha.dat"), "index");
  write_bytes(dir.file("notes"), "no .dat beside me, not a database\n");
  write_bytes(dir.file("beta"), "Second file.");
  write_bytes(dir.file("beta.dat"), "index");
  fs::create_symlink(dir.file("alpha"), dir.file("alpha.u8"));
  fs::create_symlink(dir.file("alpha.dat"), dir.file("alpha.u8.dat"));
  EXPECT_EQ(data::read_fortunes(dir.file("")), "First fortune.\n%\nBold and underscore.\n%\nSecond file.\n");
  TempDir empty;
  EXPECT_NE(error_of([&] { data::read_fortunes(empty.file("")); }).find("apt-get install fortunes"),
            std::string::npos);
  EXPECT_NE(error_of([&] { data::read_fortunes(empty.file("nope")); }).find("is not a directory"),
            std::string::npos);
}

TEST(CharText, DebianFortunes) {
  if (!fs::exists(std::string(data::kFortunesDebianDir) + "/fortunes.dat"))
    GTEST_SKIP() << "Debian's fortunes-min is not installed (apt-get install fortunes-min)";
  const std::string text = data::read_fortunes();
  EXPECT_GT(text.size(), 100000u);
  EXPECT_NE(text.find("\n%\n"), std::string::npos);
  for (unsigned char c : text) ASSERT_TRUE(c >= 0x20 || c == '\n' || c == '\t') << int(c);
  data::CharTextDataset ds(text, 64);
  EXPECT_LT(ds.vocab().size(), 256);
  EXPECT_EQ(ds.vocab().decode(ds.tokens().narrow(0, 0, 200)), text.substr(0, 200));
}
