#include "neural_arch/io/npy.hpp"

#include <bit>
#include <cstring>
#include <optional>

#include "core/checked_size.hpp"
#include "io/file_io.hpp"
#include "neural_arch/ops.hpp"

namespace neural_arch::io {

static_assert(std::endian::native == std::endian::little, ".npy I/O assumes a little-endian host");

namespace {

constexpr const char* kOp = "npy";
constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;
// numpy itself refuses headers past this size unless told otherwise (max_header_size).
constexpr uint64_t kMaxHeaderBytes = 10000;

[[noreturn]] void fail(const std::string& path, const std::string& msg) {
  neural_arch::detail::throw_error(kOp, "'", path, "': ", msg);
}

const char* descr_of(DType t) {
  switch (t) {
    case DType::f32: return "<f4";
    case DType::f64: return "<f8";
    case DType::f16: return "<f2";
    case DType::i32: return "<i4";
    case DType::i64: return "<i8";
    case DType::u8: return "|u1";
    case DType::boolean: return "|b1";
    case DType::bf16: break;
  }
  return nullptr;
}

std::optional<DType> dtype_of_descr(const std::string& d) {
  if (d.size() != 3) return std::nullopt;
  const char order = d[0];
  const std::string kind = d.substr(1);
  // The byte-order mark is irrelevant for one-byte types, so numpy writes '|' there.
  if (kind == "u1")
    return order == '<' || order == '|' || order == '=' || order == '>' ? std::optional(DType::u8)
                                                                        : std::nullopt;
  if (kind == "b1")
    return order == '<' || order == '|' || order == '=' || order == '>' ? std::optional(DType::boolean)
                                                                        : std::nullopt;
  if (order != '<' && order != '=') return std::nullopt;  // '=' is native, i.e. little-endian here
  if (kind == "f4") return DType::f32;
  if (kind == "f8") return DType::f64;
  if (kind == "f2") return DType::f16;
  if (kind == "i4") return DType::i32;
  if (kind == "i8") return DType::i64;
  return std::nullopt;
}

// The header is a Python dict literal, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }.
// This parses exactly the subset numpy writes: quoted strings, True/False and int tuples.
class HeaderParser {
 public:
  HeaderParser(const std::string& s, const std::string& path) : s_(s), path_(path) {}

  struct Result {
    std::string descr;
    bool fortran_order = false;
    Shape shape;
  };

  Result parse() {
    Result r;
    bool has_descr = false, has_order = false, has_shape = false;
    ws();
    expect('{');
    while (true) {
      ws();
      if (peek() == '}') break;
      const std::string key = string_lit();
      ws();
      expect(':');
      ws();
      if (key == "descr") {
        if (peek() != '\'' && peek() != '"')
          bad("'descr' must be a simple dtype string such as '<f4' (structured dtypes are not supported)");
        r.descr = string_lit();
        has_descr = true;
      } else if (key == "fortran_order") {
        r.fortran_order = bool_lit();
        has_order = true;
      } else if (key == "shape") {
        r.shape = tuple_lit();
        has_shape = true;
      } else {
        bad("unknown key '" + key + "'");
      }
      ws();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      ws();
      if (peek() != '}') bad("expected ',' or '}'");
    }
    ++pos_;
    ws();
    if (pos_ != s_.size()) bad("unexpected text after the dict");
    if (!has_descr || !has_order || !has_shape)
      bad("the header must have the keys 'descr', 'fortran_order' and 'shape'");
    return r;
  }

 private:
  [[noreturn]] void bad(const std::string& msg) const {
    const std::string shown = s_.substr(0, s_.find_last_not_of(" \n") + 1);
    fail(path_, "malformed header (" + msg + " at byte " + std::to_string(pos_) + "): " + shown);
  }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t' || s_[pos_] == '\r'))
      ++pos_;
  }
  void expect(char c) {
    if (peek() != c) bad(std::string("expected '") + c + "'");
    ++pos_;
  }
  std::string string_lit() {
    const char q = peek();
    if (q != '\'' && q != '"') bad("expected a quoted string");
    ++pos_;
    const size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] != q) {
      if (s_[pos_] == '\\') bad("escapes are not supported in header strings");
      ++pos_;
    }
    if (pos_ >= s_.size()) bad("unterminated string");
    return s_.substr(start, pos_++ - start);
  }
  bool bool_lit() {
    if (s_.compare(pos_, 4, "True") == 0) return pos_ += 4, true;
    if (s_.compare(pos_, 5, "False") == 0) return pos_ += 5, false;
    bad("expected True or False");
  }
  Shape tuple_lit() {
    Shape shape;
    expect('(');
    bool trailing_comma = false;
    while (true) {
      ws();
      if (peek() == ')') break;
      const size_t start = pos_;
      uint64_t v = 0;
      while (peek() >= '0' && peek() <= '9') {
        if (__builtin_mul_overflow(v, uint64_t{10}, &v) ||
            __builtin_add_overflow(v, uint64_t(peek() - '0'), &v) || v > uint64_t(INT64_MAX))
          bad("shape entry too large");
        ++pos_;
      }
      if (pos_ == start) bad("shape entries must be non-negative integers");
      if (peek() == 'L') ++pos_;  // Python 2 long literals in old files
      shape.push_back(static_cast<int64_t>(v));
      ws();
      trailing_comma = false;
      if (peek() == ',') {
        ++pos_;
        trailing_comma = true;
        continue;
      }
      if (peek() != ')') bad("expected ',' or ')' in shape");
    }
    ++pos_;
    // "(3)" is the integer 3 in Python, not a tuple; numpy writes "(3,)".
    if (shape.size() == 1 && !trailing_comma) bad("a one-element shape needs a trailing comma");
    return shape;
  }

  const std::string& s_;
  const std::string& path_;
  size_t pos_ = 0;
};

}  // namespace

Tensor load_npy(const std::string& path) {
  detail::InputFile f(path, kOp);
  if (f.size() < kMagicLen + 4 || [&] {
        char m[kMagicLen];
        f.read_at(0, m, kMagicLen);
        return std::memcmp(m, kMagic, kMagicLen) != 0;
      }())
    fail(path, "not a .npy file (missing the \\x93NUMPY magic)");
  unsigned char ver[2];
  f.read_at(kMagicLen, ver, 2);
  if (ver[0] < 1 || ver[0] > 3 || ver[1] != 0)
    fail(path, "unsupported .npy format version " + std::to_string(ver[0]) + "." + std::to_string(ver[1]));
  const uint64_t len_size = ver[0] == 1 ? 2 : 4;
  const uint64_t prefix = kMagicLen + 2 + len_size;
  if (f.size() < prefix)
    fail(path, "file is " + std::to_string(f.size()) + " bytes, too short for a .npy header");
  unsigned char len_bytes[4] = {0, 0, 0, 0};
  f.read_at(kMagicLen + 2, len_bytes, len_size);
  const uint64_t header_len = uint64_t(len_bytes[0]) | uint64_t(len_bytes[1]) << 8 |
                              uint64_t(len_bytes[2]) << 16 | uint64_t(len_bytes[3]) << 24;
  if (header_len > f.size() - prefix)
    fail(path, "header length " + std::to_string(header_len) + " runs past the end of the file (" +
                   std::to_string(f.size()) + " bytes): truncated file");
  if (header_len > kMaxHeaderBytes)
    fail(path, "header length " + std::to_string(header_len) + " exceeds the " +
                   std::to_string(kMaxHeaderBytes) + "-byte limit");
  std::string header(header_len, '\0');
  f.read_at(prefix, header.data(), header_len);
  const auto h = HeaderParser(header, path).parse();

  const auto dtype = dtype_of_descr(h.descr);
  if (!dtype) {
    if (!h.descr.empty() && h.descr[0] == '>')
      fail(path, "big-endian dtype '" + h.descr +
                     "' is not supported (save it little-endian: arr.astype(arr.dtype.newbyteorder('<')))");
    fail(path, "dtype '" + h.descr + "' is not supported (<f4, <f8, <f2, <i4, <i8, |u1, |b1)");
  }
  if (h.fortran_order)
    fail(path, "Fortran-order arrays are not supported (save np.ascontiguousarray(arr) instead)");

  const auto checked = neural_arch::detail::shape_nbytes(h.shape, element_size(*dtype));
  if (!checked) fail(path, "shape " + shape_str(h.shape) + " overflows 64 bits");
  const uint64_t nbytes = *checked;
  const uint64_t data_size = f.size() - prefix - header_len;
  if (data_size != nbytes)
    fail(path, "shape " + shape_str(h.shape) + " of '" + h.descr + "' needs " + std::to_string(nbytes) +
                   " data bytes but the file has " + std::to_string(data_size) +
                   (data_size < nbytes ? " (truncated)" : " (trailing bytes)"));

  Tensor t = empty(h.shape, *dtype);
  if (nbytes) f.read_at(prefix + header_len, t.raw_data(), nbytes);
  if (*dtype == DType::boolean) {
    const auto* b = static_cast<const unsigned char*>(t.raw_data());
    for (uint64_t i = 0; i < nbytes; ++i)
      if (b[i] > 1)
        fail(path, "bool array holds the byte " + std::to_string(b[i]) + " (only 0 and 1 are valid)");
  }
  return t;
}

void save_npy(const std::string& path, const Tensor& t) {
  NA_CHECK(t.defined(), kOp, "cannot save an undefined tensor to '", path, "'");
  const char* descr = descr_of(t.dtype());
  NA_CHECK(descr, kOp, "dtype ", dtype_name(t.dtype()), " has no NumPy equivalent; save '", path,
           "' as float32 (t.to(kFloat32)) or use safetensors");
  Tensor c = t.detach();
  if (!c.device().is_cpu()) c = c.to(kCPU);
  if (!c.is_contiguous()) c = c.contiguous();

  std::string dict = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (";
  for (int64_t d = 0; d < c.dim(); ++d) {
    if (d) dict += ", ";
    dict += std::to_string(c.size(d));
  }
  if (c.dim() == 1) dict += ',';
  dict += "), }";
  // numpy pads with spaces and a final newline so the data starts 64-byte aligned. Version 1.0
  // (2-byte length) always suffices: readers refuse headers past kMaxHeaderBytes anyway.
  const uint64_t base = kMagicLen + 2 + 2 + dict.size() + 1;
  const uint64_t header_len = dict.size() + 1 + (64 - base % 64) % 64;
  NA_CHECK(header_len <= kMaxHeaderBytes, kOp, "a ", c.dim(), "-dimensional array needs a ", header_len,
           "-byte header, more than .npy readers accept (", kMaxHeaderBytes, ")");
  std::string header = dict;
  header.append(header_len - dict.size() - 1, ' ');
  header += '\n';

  std::string prefix(kMagic, kMagicLen);
  prefix += char(1);
  prefix += char(0);
  prefix += char(header_len & 0xFF);
  prefix += char(header_len >> 8);

  detail::AtomicFileWriter w(path, kOp);
  w.write(prefix.data(), prefix.size());
  w.write(header.data(), header.size());
  const uint64_t nbytes = static_cast<uint64_t>(c.numel()) * c.element_size();
  if (nbytes) w.write(c.raw_data(), nbytes);
  w.commit();
}

}  // namespace neural_arch::io
