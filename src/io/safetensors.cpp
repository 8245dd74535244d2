#include "neural_arch/io/safetensors.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <numeric>
#include <set>

#include "core/checked_size.hpp"
#include "io/file_io.hpp"
#include "io/json.hpp"
#include "neural_arch/ops.hpp"

namespace neural_arch::io {

// Tensor bytes are written and read as they sit in memory; the format is little-endian.
static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

namespace {

constexpr const char* kOp = "safetensors";
// The reference implementation refuses larger headers too; it bounds what a hostile length
// field can make us allocate before anything is validated.
constexpr uint64_t kMaxHeaderBytes = uint64_t(100) << 20;

struct DTypeName {
  DType dtype;
  const char* name;
};
constexpr DTypeName kDTypes[] = {{DType::f32, "F32"},   {DType::f64, "F64"},     {DType::f16, "F16"},
                                 {DType::bf16, "BF16"}, {DType::i32, "I32"},     {DType::i64, "I64"},
                                 {DType::u8, "U8"},     {DType::boolean, "BOOL"}};

const char* safetensors_dtype_name(DType t) {
  for (const auto& d : kDTypes)
    if (d.dtype == t) return d.name;
  return "?";
}

std::string shape_text(const Shape& s) { return shape_str(s); }

[[noreturn]] void fail(const std::string& path, const std::string& msg) {
  neural_arch::detail::throw_error(kOp, "'", path, "': ", msg);
}

struct ParsedHeader {
  SafetensorsHeader header;
  uint64_t data_start = 0;  // file offset of the data section
};

TensorInfo parse_entry(const std::string& path, const std::string& name, const json::Value& v) {
  const std::string who = "tensor '" + name + "'";
  if (v.kind != json::Value::Kind::object) fail(path, who + " must be an object, got " + v.kind_name());
  for (const auto& [key, _] : v.members)
    if (key != "dtype" && key != "shape" && key != "data_offsets")
      fail(path, who + " has an unknown field '" + key + "' (expected dtype, shape, data_offsets)");
  const json::Value* dt = v.find("dtype");
  const json::Value* sh = v.find("shape");
  const json::Value* off = v.find("data_offsets");
  if (!dt || !sh || !off) fail(path, who + " needs the fields dtype, shape and data_offsets");

  TensorInfo info;
  info.name = name;
  if (dt->kind != json::Value::Kind::string) fail(path, who + ": dtype must be a string");
  bool known = false;
  for (const auto& d : kDTypes)
    if (dt->text == d.name) info.dtype = d.dtype, known = true;
  if (!known)
    fail(path, who + " has dtype '" + dt->text +
                   "', which neural_arch does not support (F32, F64, F16, BF16, I32, I64, U8, BOOL)");

  if (sh->kind != json::Value::Kind::array) fail(path, who + ": shape must be an array of integers");
  for (const auto& d : sh->items) {
    uint64_t n;
    if (!json::to_uint64(d, n) || n > uint64_t(INT64_MAX))
      fail(path, who + ": shape entries must be non-negative integers, got " +
                     (d.kind == json::Value::Kind::number ? d.text : std::string(d.kind_name())));
    info.shape.push_back(static_cast<int64_t>(n));
  }
  const auto nbytes = neural_arch::detail::shape_nbytes(info.shape, element_size(info.dtype));
  if (!nbytes) fail(path, who + " has shape " + shape_text(info.shape) + ", whose size overflows 64 bits");
  info.nbytes = *nbytes;

  if (off->kind != json::Value::Kind::array || off->items.size() != 2)
    fail(path, who + ": data_offsets must be an array [begin, end]");
  uint64_t begin, end;
  if (!json::to_uint64(off->items[0], begin) || !json::to_uint64(off->items[1], end))
    fail(path, who + ": data_offsets must be non-negative integers");
  if (end < begin)
    fail(path, who + " has data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                   "] with end before begin");
  if (end - begin != info.nbytes)
    fail(path, who + " has data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "] (" +
                   std::to_string(end - begin) + " bytes) but dtype " + dt->text + " and shape " +
                   shape_text(info.shape) + " need " + std::to_string(info.nbytes) + " bytes");
  info.offset = begin;
  return info;
}

ParsedHeader parse_header(const detail::InputFile& f) {
  const std::string& path = f.path();
  if (f.size() < 8)
    fail(path, "file is " + std::to_string(f.size()) + " bytes, too short for the 8-byte header length");
  unsigned char len_bytes[8];
  f.read_at(0, len_bytes, 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len_bytes[i];
  if (n == 0) fail(path, "header length is 0");
  if (n > f.size() - 8)
    fail(path, "header length " + std::to_string(n) + " runs past the end of the file (" +
                   std::to_string(f.size()) + " bytes): truncated or not a safetensors file");
  if (n > kMaxHeaderBytes)
    fail(path, "header length " + std::to_string(n) + " exceeds the " + std::to_string(kMaxHeaderBytes) +
                   "-byte limit");
  std::string text(n, '\0');
  f.read_at(8, text.data(), n);

  const std::string what = "'" + path + "': header";
  const json::Value root = json::parse(text, kOp, what.c_str());
  if (root.kind != json::Value::Kind::object)
    fail(path, std::string("header must be a JSON object, got ") + root.kind_name());

  ParsedHeader out;
  out.data_start = 8 + n;
  for (const auto& [name, v] : root.members) {
    if (name == "__metadata__") {
      if (v.kind != json::Value::Kind::object) fail(path, "__metadata__ must be an object of strings");
      for (const auto& [k, mv] : v.members) {
        if (mv.kind != json::Value::Kind::string)
          fail(path, "__metadata__ value for '" + k + "' must be a string, got " + mv.kind_name());
        out.header.metadata.emplace(k, mv.text);
      }
      continue;
    }
    out.header.tensors.push_back(parse_entry(path, name, v));
  }

  // The data section must be tiled exactly: sorted by offset, each tensor starts where the
  // previous one ended, and the last one ends at the end of the file.
  const uint64_t data_size = f.size() - out.data_start;
  std::vector<size_t> order(out.header.tensors.size());
  std::iota(order.begin(), order.end(), size_t{0});
  const auto& ts = out.header.tensors;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return ts[a].offset != ts[b].offset ? ts[a].offset < ts[b].offset : ts[a].nbytes < ts[b].nbytes;
  });
  uint64_t pos = 0;
  for (size_t i : order) {
    const TensorInfo& t = ts[i];
    std::string range = "[";  // built in steps: GCC 12 warns falsely (-Wrestrict) on "[" + string&&
    range += std::to_string(t.offset) + ", " + std::to_string(t.offset + t.nbytes) + "]";
    if (t.offset + t.nbytes > data_size)
      fail(path, "tensor '" + t.name + "' has data_offsets " + range + " beyond the data section (" +
                     std::to_string(data_size) + " bytes): truncated file or bad offsets");
    if (t.offset < pos)
      fail(path, "tensor '" + t.name + "' has data_offsets " + range + " overlapping another tensor");
    if (t.offset > pos)
      fail(path, "gap in the data section: bytes [" + std::to_string(pos) + ", " + std::to_string(t.offset) +
                     ") belong to no tensor");
    pos = t.offset + t.nbytes;
  }
  if (pos != data_size)
    fail(path, "data section is " + std::to_string(data_size) + " bytes but the tensors cover " +
                   std::to_string(pos) + " (trailing bytes belong to no tensor)");
  return out;
}

}  // namespace

const Tensor& SafetensorsFile::at(const std::string& name) const {
  for (const auto& [k, t] : tensors)
    if (k == name) return t;
  std::string keys;
  for (const auto& [k, _] : tensors) keys += (keys.empty() ? "" : ", ") + k;
  neural_arch::detail::throw_error(kOp, "no tensor named '", name, "' (the file has: ", keys, ")");
}

bool SafetensorsFile::contains(const std::string& name) const {
  for (const auto& [k, _] : tensors)
    if (k == name) return true;
  return false;
}

SafetensorsHeader read_safetensors_header(const std::string& path) {
  detail::InputFile f(path, kOp);
  return parse_header(f).header;
}

SafetensorsFile load_safetensors(const std::string& path) {
  detail::InputFile f(path, kOp);
  const ParsedHeader h = parse_header(f);
  SafetensorsFile out;
  out.metadata = h.header.metadata;
  out.tensors.reserve(h.header.tensors.size());
  for (const TensorInfo& info : h.header.tensors) {
    Tensor t = empty(info.shape, info.dtype);
    if (info.nbytes) f.read_at(h.data_start + info.offset, t.raw_data(), info.nbytes);
    if (info.dtype == DType::boolean) {
      // Any byte other than 0 or 1 would be an invalid C++ bool.
      const auto* b = static_cast<const unsigned char*>(t.raw_data());
      for (uint64_t i = 0; i < info.nbytes; ++i)
        if (b[i] > 1)
          fail(path, "BOOL tensor '" + info.name + "' holds the byte " + std::to_string(b[i]) +
                         " (only 0 and 1 are valid)");
    }
    out.tensors.emplace_back(info.name, std::move(t));
  }
  return out;
}

void save_safetensors(const std::string& path, const nn::StateDict& tensors, const Metadata& metadata) {
  std::set<std::string> seen;
  std::vector<Tensor> data;
  data.reserve(tensors.size());
  for (const auto& [name, t] : tensors) {
    NA_CHECK(name != "__metadata__", kOp,
             "a tensor cannot be named \"__metadata__\" (reserved for metadata)");
    NA_CHECK(seen.insert(name).second, kOp, "duplicate tensor name '", name, "'");
    NA_CHECK(json::is_valid_utf8(name), kOp, "tensor name '", name, "' is not valid UTF-8");
    NA_CHECK(t.defined(), kOp, "tensor '", name, "' is undefined");
    Tensor c = t.detach();
    if (!c.device().is_cpu()) c = c.to(kCPU);
    if (!c.is_contiguous()) c = c.contiguous();
    data.push_back(c);
  }
  for (const auto& [k, v] : metadata)
    NA_CHECK(json::is_valid_utf8(k) && json::is_valid_utf8(v), kOp, "metadata entry '", k,
             "' is not valid UTF-8");

  // Lay the data out by decreasing element size so every tensor starts aligned to its
  // element (for readers that map the file); the header keeps the caller's order.
  std::vector<size_t> order(data.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return data[a].element_size() > data[b].element_size(); });
  std::vector<uint64_t> offset(data.size());
  uint64_t pos = 0;
  for (size_t i : order) {
    offset[i] = pos;
    pos += static_cast<uint64_t>(data[i].numel()) * data[i].element_size();
  }

  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : metadata) {
      if (!first) header += ',';
      first = false;
      json::append_string(header, k);
      header += ':';
      json::append_string(header, v);
    }
    header += '}';
  }
  for (size_t i = 0; i < data.size(); ++i) {
    if (header.size() > 1) header += ',';
    json::append_string(header, tensors[i].first);
    header += ":{\"dtype\":\"";
    header += safetensors_dtype_name(data[i].dtype());
    header += "\",\"shape\":[";
    for (int64_t d = 0; d < data[i].dim(); ++d) {
      if (d) header += ',';
      header += std::to_string(data[i].size(d));
    }
    const uint64_t end = offset[i] + static_cast<uint64_t>(data[i].numel()) * data[i].element_size();
    header += "],\"data_offsets\":[" + std::to_string(offset[i]) + "," + std::to_string(end) + "]}";
  }
  header += '}';
  // Spaces (JSON whitespace) pad the header so the data section starts 8-byte aligned.
  header.append((8 - header.size() % 8) % 8, ' ');
  NA_CHECK(header.size() <= kMaxHeaderBytes, kOp, "header of ", header.size(), " bytes exceeds the ",
           kMaxHeaderBytes, "-byte limit (too many tensors or too much metadata)");

  detail::AtomicFileWriter w(path, kOp);
  unsigned char len_bytes[8];
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<unsigned char>(n >> (8 * i));
  w.write(len_bytes, 8);
  w.write(header.data(), header.size());
  for (size_t i : order) {
    const uint64_t nbytes = static_cast<uint64_t>(data[i].numel()) * data[i].element_size();
    if (nbytes) w.write(data[i].raw_data(), nbytes);
  }
  w.commit();
}

}  // namespace neural_arch::io
