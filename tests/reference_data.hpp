// Loader for the PyTorch reference cases written by tests/reference/generate.py.
//
// File layout (see generate.py for the naming convention of the tensors):
//   NAREF 1
//   tensor <name> <dtype> <ndim> <d0> ... <d{ndim-1}>
//   ...
//   data
//   <raw little-endian row-major bytes of every tensor, in header order>
//
// Every count, size and offset is checked before it is used; a malformed or truncated
// file throws neural_arch::Error("[reference] ...") rather than reading out of bounds.
#pragma once
#include <bit>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "neural_arch/error.hpp"
#include "neural_arch/ops.hpp"
#include "neural_arch/tensor.hpp"

#ifndef NA_REFERENCE_DIR
#error "NA_REFERENCE_DIR must point at tests/reference/data (tests/CMakeLists.txt defines it)"
#endif

namespace na_reference {

namespace na = neural_arch;

static_assert(std::endian::native == std::endian::little,
              "reference files store little-endian data and are read without byte swapping");

/// The named tensors of one reference case, in file order.
class RefCase {
 public:
  RefCase() = default;
  explicit RefCase(std::string name) : name_(std::move(name)) {}

  const std::string& name() const { return name_; }
  bool has(std::string_view tensor_name) const { return find(tensor_name) != nullptr; }
  /// The stored tensor; throws neural_arch::Error naming the case when it is absent.
  const na::Tensor& at(std::string_view tensor_name) const {
    const na::Tensor* t = find(tensor_name);
    NA_CHECK(t != nullptr, "reference", "case '", name_, "' has no tensor '", tensor_name, "'");
    return *t;
  }
  const std::vector<std::pair<std::string, na::Tensor>>& tensors() const { return tensors_; }
  void add(std::string tensor_name, na::Tensor t) {
    NA_CHECK(!has(tensor_name), "reference", "case '", name_, "' names tensor '", tensor_name, "' twice");
    tensors_.emplace_back(std::move(tensor_name), std::move(t));
  }

 private:
  const na::Tensor* find(std::string_view tensor_name) const {
    for (const auto& [n, t] : tensors_)
      if (n == tensor_name) return &t;
    return nullptr;
  }
  std::string name_;
  std::vector<std::pair<std::string, na::Tensor>> tensors_;
};

namespace detail {

// Limits that no legitimate reference file comes near; they bound what a hostile file can ask for.
inline constexpr size_t kMaxHeaderBytes = 1 << 16;
inline constexpr int64_t kMaxDims = 16;
inline constexpr int64_t kMaxTensorBytes = int64_t{1} << 30;

inline std::vector<std::string_view> split_words(std::string_view line) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    size_t j = i;
    while (j < line.size() && line[j] != ' ') ++j;
    if (j > i) words.push_back(line.substr(i, j - i));
    i = j;
  }
  return words;
}

inline int64_t parse_int(std::string_view word, const std::string& where) {
  int64_t v = 0;
  const char* end = word.data() + word.size();
  auto [ptr, ec] = std::from_chars(word.data(), end, v);
  NA_CHECK(ec == std::errc() && ptr == end && !word.empty(), "reference", where, ": '", word,
           "' is not an integer");
  return v;
}

inline na::DType parse_dtype(std::string_view word, const std::string& where) {
  if (word == "float32") return na::DType::f32;
  if (word == "float64") return na::DType::f64;
  if (word == "int32") return na::DType::i32;
  if (word == "int64") return na::DType::i64;
  if (word == "uint8") return na::DType::u8;
  if (word == "bool") return na::DType::boolean;
  na::detail::throw_error("reference", where, ": unknown dtype '", word, "'");
}

struct TensorHeader {
  std::string name;
  na::DType dtype;
  na::Shape shape;
  int64_t nbytes;
};

}  // namespace detail

/// Parses a whole reference file held in memory. `source` names it in error messages.
inline RefCase parse_reference(std::string_view bytes, const std::string& source) {
  using detail::TensorHeader;
  RefCase result(source);
  std::vector<TensorHeader> headers;
  size_t pos = 0;
  bool saw_magic = false;
  bool saw_data = false;
  int line_no = 0;
  while (!saw_data) {
    NA_CHECK(pos < bytes.size(), "reference", source, ": header ends before the 'data' line");
    size_t nl = bytes.find('\n', pos);
    NA_CHECK(nl != std::string_view::npos && nl < detail::kMaxHeaderBytes, "reference", source,
             ": header line ", line_no + 1, " is unterminated or the header exceeds ",
             detail::kMaxHeaderBytes, " bytes");
    std::string_view line = bytes.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    const std::string where = source + ":" + std::to_string(line_no);
    auto words = detail::split_words(line);
    if (!saw_magic) {
      NA_CHECK(words.size() == 2 && words[0] == "NAREF" && words[1] == "1", "reference", where,
               ": expected 'NAREF 1', got '", line, "'");
      saw_magic = true;
      continue;
    }
    NA_CHECK(!words.empty(), "reference", where, ": empty header line");
    if (words[0] == "data") {
      NA_CHECK(words.size() == 1, "reference", where, ": trailing words after 'data'");
      saw_data = true;
      continue;
    }
    NA_CHECK(words[0] == "tensor" && words.size() >= 4, "reference", where,
             ": expected 'tensor <name> <dtype> <ndim> <dims...>', got '", line, "'");
    TensorHeader h;
    h.name = std::string(words[1]);
    h.dtype = detail::parse_dtype(words[2], where);
    int64_t ndim = detail::parse_int(words[3], where);
    NA_CHECK(ndim >= 0 && ndim <= detail::kMaxDims, "reference", where, ": ndim ", ndim, " outside [0, ",
             detail::kMaxDims, "]");
    NA_CHECK(static_cast<int64_t>(words.size()) == 4 + ndim, "reference", where, ": ndim is ", ndim, " but ",
             words.size() - 4, " sizes follow");
    int64_t nbytes = static_cast<int64_t>(na::element_size(h.dtype));
    for (int64_t d = 0; d < ndim; ++d) {
      int64_t s = detail::parse_int(words[4 + d], where);
      NA_CHECK(s >= 0, "reference", where, ": negative size ", s);
      // Checked before multiplying so that the product cannot overflow.
      NA_CHECK(s == 0 || nbytes <= detail::kMaxTensorBytes / s, "reference", where, ": tensor '", h.name,
               "' is larger than ", detail::kMaxTensorBytes, " bytes");
      nbytes *= s;
      h.shape.push_back(s);
    }
    for (const auto& other : headers)
      NA_CHECK(other.name != h.name, "reference", where, ": tensor '", h.name, "' named twice");
    h.nbytes = nbytes;
    headers.push_back(std::move(h));
  }

  size_t remaining = bytes.size() - pos;
  size_t needed = 0;
  for (const auto& h : headers) {
    NA_CHECK(static_cast<size_t>(h.nbytes) <= remaining - needed, "reference", source,
             ": data section holds ", remaining, " bytes, too few for tensor '", h.name, "'");
    needed += static_cast<size_t>(h.nbytes);
  }
  NA_CHECK(needed == remaining, "reference", source, ": data section holds ", remaining,
           " bytes but the header describes ", needed);

  for (const auto& h : headers) {
    // A fresh buffer gives the element alignment that a pointer into the file would lack.
    std::vector<uint64_t> aligned((static_cast<size_t>(h.nbytes) + 7) / 8 + 1);
    std::memcpy(aligned.data(), bytes.data() + pos, static_cast<size_t>(h.nbytes));
    if (h.dtype == na::DType::boolean) {
      const auto* b = reinterpret_cast<const unsigned char*>(aligned.data());
      for (int64_t i = 0; i < h.nbytes; ++i)
        NA_CHECK(b[i] <= 1, "reference", source, ": bool tensor '", h.name, "' holds byte ",
                 static_cast<int>(b[i]), " at element ", i);
    }
    result.add(h.name, na::from_blob_copy(aligned.data(), h.shape, h.dtype));
    pos += static_cast<size_t>(h.nbytes);
  }
  return result;
}

/// Path of a case's file: NA_REFERENCE_DIR/<case_name>.bin.
inline std::string reference_path(const std::string& case_name) {
  return std::string(NA_REFERENCE_DIR) + "/" + case_name + ".bin";
}

/// Reads and parses NA_REFERENCE_DIR/<case_name>.bin.
inline RefCase load_reference(const std::string& case_name) {
  const std::string path = reference_path(case_name);
  std::ifstream in(path, std::ios::binary);
  NA_CHECK(in.good(), "reference", "cannot open ", path,
           " (regenerate with /usr/bin/python3 tests/reference/generate.py)");
  std::ostringstream buf;
  buf << in.rdbuf();
  NA_CHECK(!in.bad(), "reference", "error while reading ", path);
  RefCase c = parse_reference(buf.str(), case_name);
  return c;
}

}  // namespace na_reference
