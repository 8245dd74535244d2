#include "core/checked_size.hpp"

#include <unistd.h>

#include <atomic>
#include <limits>

#include "neural_arch/limits.hpp"

namespace neural_arch {

namespace {
size_t physical_memory() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page <= 0) return std::numeric_limits<size_t>::max();
  return static_cast<size_t>(pages) * static_cast<size_t>(page);
}
std::atomic<size_t>& limit() {
  static std::atomic<size_t> l{physical_memory()};
  return l;
}
}  // namespace

size_t max_allocation_bytes() { return limit().load(std::memory_order_relaxed); }

void set_max_allocation_bytes(size_t nbytes) {
  limit().store(nbytes ? nbytes : physical_memory(), std::memory_order_relaxed);
}

namespace detail {

int64_t mul_size(int64_t a, int64_t b, const char* op, const char* what) {
  int64_t r;
  NA_CHECK(!__builtin_mul_overflow(a, b, &r), op, what, " overflows int64 (", a, " * ", b, ")");
  return r;
}

int64_t add_size(int64_t a, int64_t b, const char* op, const char* what) {
  int64_t r;
  NA_CHECK(!__builtin_add_overflow(a, b, &r), op, what, " overflows int64 (", a, " + ", b, ")");
  return r;
}

namespace {
// Element count and the largest contiguous stride; false on a negative dim or int64 overflow.
bool numel_fits(const Shape& shape, int64_t& numel) {
  int64_t n = 1, strides = 1;
  for (int64_t d : shape) {
    if (d < 0) return false;
    if (__builtin_mul_overflow(strides, d > 0 ? d : 1, &strides)) return false;
    n = d == 0 ? 0 : n * d;  // |n| <= strides, so this cannot overflow
  }
  numel = n;
  return true;
}
}  // namespace

int64_t checked_numel(const Shape& shape, const char* op) {
  for (int64_t d : shape) NA_CHECK(d >= 0, op, "negative dimension ", d, " in shape ", shape_str(shape));
  int64_t n = 0;
  NA_CHECK(numel_fits(shape, n), op, "shape ", shape_str(shape), " has more elements than int64 can index");
  return n;
}

void check_allocation(size_t nbytes, const char* op, const std::string& what) {
  const size_t cap = max_allocation_bytes();
  NA_CHECK(nbytes <= cap, op, what, " needs ", nbytes, " bytes, more than the allocation limit of ", cap,
           " bytes (neural_arch::set_max_allocation_bytes)");
}

size_t checked_nbytes(const Shape& shape, DType dtype, const char* op) {
  const int64_t n = checked_numel(shape, op);
  int64_t bytes;
  NA_CHECK(!__builtin_mul_overflow(n, static_cast<int64_t>(element_size(dtype)), &bytes), op, "shape ",
           shape_str(shape), " of ", dtype_name(dtype), " needs more bytes than int64 can count");
  check_allocation(static_cast<size_t>(bytes), op,
                   std::string("a tensor of shape ") + shape_str(shape) + " and dtype " + dtype_name(dtype));
  return static_cast<size_t>(bytes);
}

std::optional<uint64_t> shape_nbytes(const Shape& shape, uint64_t elsize) {
  int64_t n = 0, bytes = 0;
  if (!numel_fits(shape, n) || __builtin_mul_overflow(n, static_cast<int64_t>(elsize), &bytes))
    return std::nullopt;
  return static_cast<uint64_t>(bytes);
}

int64_t window_span(int64_t kernel, int64_t dilation, const char* op) {
  return add_size(mul_size(dilation, kernel - 1, op, "dilated kernel span"), 1, op, "dilated kernel span");
}

}  // namespace detail
}  // namespace neural_arch
