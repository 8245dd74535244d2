// Small helpers shared by the test files (one test binary): error capture, tensor comparison
// and scratch files. Everything is inline so each test file can include this header.
#pragma once
#include <gtest/gtest.h>
#include <stdlib.h>  // mkdtemp

#include <algorithm>
#include <cmath>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "neural_arch/error.hpp"
#include "neural_arch/tensor.hpp"

namespace na_test {

namespace na = neural_arch;

/// GoogleTest prints a test parameter through PrintTo found by argument-dependent lookup; for
/// the case structs with a `name` this prints the name (instead of their bytes, which hold
/// pointers and so change from run to run). A test file opts in with `using na_test::PrintTo;`
/// in the namespace of its case structs.
template <class T>
requires requires(const T& t) { std::string_view(t.name); }
void PrintTo(const T& t, std::ostream* os) { *os << t.name; }

/// The message of the neural_arch::Error that f throws; any other exception is named as such,
/// and a call that throws nothing gives "no exception", so a test that expects a particular
/// message fails with a readable diff either way.
template <class F> std::string error_of(F&& f) {
  try {
    f();
  } catch (const na::Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("non-na::Error exception: ") + e.what();
  }
  return "no exception";
}

/// Runs f, expecting a neural_arch::Error whose message contains every one of `parts`.
inline void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
  } catch (const na::Error& e) {
    const std::string msg = e.what();
    for (const auto& p : parts)
      EXPECT_NE(msg.find(p), std::string::npos) << "missing '" << p << "' in: " << msg;
    return;
  }
  ADD_FAILURE() << "expected a neural_arch::Error";
}

/// Same dtype, same shape and |actual - expected| <= atol + rtol * |expected| everywhere; a NaN
/// never matches unless nan_equal, where a NaN expected value asks for a NaN. `what` prefixes
/// the failure message.
inline ::testing::AssertionResult close(const na::Tensor& actual, const na::Tensor& expected, double rtol,
                                        double atol, const std::string& what = "", bool nan_equal = false) {
  const std::string prefix = what.empty() ? "" : what + ": ";
  if (!actual.defined()) return ::testing::AssertionFailure() << prefix << "result is undefined";
  if (actual.dtype() != expected.dtype() || actual.shape() != expected.shape())
    return ::testing::AssertionFailure()
           << prefix << "got " << na::shape_str(actual.shape()) << " " << na::dtype_name(actual.dtype())
           << ", expected " << na::shape_str(expected.shape()) << " " << na::dtype_name(expected.dtype());
  const auto a = actual.to_vector<double>(), e = expected.to_vector<double>();
  size_t bad = 0, worst = 0;
  double worst_excess = -1.0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double excess = std::abs(a[i] - e[i]) - (atol + rtol * std::abs(e[i]));
    const bool ok = nan_equal && std::isnan(e[i]) ? std::isnan(a[i]) : excess <= 0;
    if (!ok) {
      ++bad;
      if (excess > worst_excess || std::isnan(excess)) worst_excess = excess, worst = i;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  std::ostringstream os;
  os.precision(10);
  os << prefix << bad << " of " << a.size() << " elements differ beyond rtol " << rtol << " atol " << atol
     << "; worst at flat index " << worst << ": " << a[worst] << " vs expected " << e[worst];
  return ::testing::AssertionFailure() << os.str();
}

/// A fresh directory under the system temp directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "na_test_XXXXXX").string();
    char* p = ::mkdtemp(tmpl.data());
    if (!p) throw std::runtime_error("mkdtemp failed");
    path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string file(const std::string& name) const { return (path_ / name).string(); }
  /// The names of the directory's entries, sorted.
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(path_))
      out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  std::filesystem::path path_;
};

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(f.good()) << path;
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace na_test
