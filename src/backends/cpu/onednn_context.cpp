// Shared oneDNN plumbing of the CPU backend. See onednn_context.hpp.
#include "backends/cpu/onednn_context.hpp"

#include <omp.h>

#include <array>
#include <cstdlib>
#include <string>

#include "neural_arch/error.hpp"

namespace neural_arch::cpu::onednn {

dnnl::engine& engine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

dnnl::stream& stream() {
  thread_local dnnl::stream s(engine());
  return s;
}

void* thread_buffer(int slot, size_t bytes, const char* op) {
  struct Buffer {
    void* p = nullptr;
    size_t n = 0;
    ~Buffer() { std::free(p); }
  };
  thread_local std::array<Buffer, kThreadBufferSlots> bufs;
  Buffer& buf = bufs.at(static_cast<size_t>(slot));
  if (bytes > buf.n) {
    std::free(buf.p);
    buf.p = nullptr;
    buf.n = 0;
    const size_t n = (bytes + 63) / 64 * 64;
    buf.p = std::aligned_alloc(64, n);
    NA_CHECK(buf.p != nullptr, op, "out of memory allocating ", n, " bytes of oneDNN workspace");
    buf.n = n;
  }
  return buf.p;
}

dnnl::primitive_attr user_scratchpad_attr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

void add_scratchpad(std::unordered_map<int, dnnl::memory>& args, const dnnl::memory::desc& md, size_t bytes,
                    const char* op) {
  if (bytes) args.emplace(DNNL_ARG_SCRATCHPAD, wrap(md, thread_buffer(kScratchpadSlot, bytes, op)));
}

bool is_reference(const char* impl_info) { return std::string(impl_info).rfind("ref", 0) == 0; }

int primitive_threads() { return omp_in_parallel() ? 1 : omp_get_max_threads(); }

}  // namespace neural_arch::cpu::onednn
