#include "bench_util.hpp"

#include <immintrin.h>
#include <malloc.h>
#include <omp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include "neural_arch/backends/backend.hpp"
#include "neural_arch/ops.hpp"
#include "neural_arch/tensor.hpp"

#ifdef NA_HAVE_LIBTORCH
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <torch/csrc/api/include/torch/version.h>
#endif

namespace na_bench {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Nearest-rank percentile of a sorted list.
double percentile_sorted(const std::vector<double>& s, double p) {
  if (s.empty()) return 0;
  const double rank = std::ceil(p * static_cast<double>(s.size()));
  const size_t idx = rank < 1 ? 0 : static_cast<size_t>(rank) - 1;
  return s[std::min(idx, s.size() - 1)];
}

}  // namespace

// ------------------------------------------------------------------ timing

TimeStats summarize(std::vector<double> samples_ms) {
  TimeStats st;
  if (samples_ms.empty()) return st;
  std::sort(samples_ms.begin(), samples_ms.end());
  const size_t n = samples_ms.size();
  st.median_ms = n % 2 ? samples_ms[n / 2] : 0.5 * (samples_ms[n / 2 - 1] + samples_ms[n / 2]);
  st.min_ms = samples_ms.front();
  st.p90_ms = percentile_sorted(samples_ms, 0.9);
  st.repeats = static_cast<int>(n);
  return st;
}

TimeStats time_stats(const std::function<void()>& fn, int warmup, int repeats) {
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> samples;
  samples.reserve(static_cast<size_t>(std::max(repeats, 0)));
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = Clock::now();
    fn();
    samples.push_back(ms_since(t0));
  }
  return summarize(std::move(samples));
}

double time_median_ms(std::function<void()> fn, int warmup, int repeats) {
  return time_stats(fn, warmup, repeats).median_ms;
}

TimeStats time_adaptive(const std::function<void()>& fn, const AdaptiveOptions& opt) {
  return time_interleaved({fn}, opt).front();
}

namespace {

// Shared loop of the interleaved timers: `sample(i)` runs function i once (or a batch)
// and returns its time in ms together with the number of calls it made.
template <class Sample>
std::vector<TimeStats> interleave(size_t nfns, const AdaptiveOptions& opt, Sample&& sample) {
  std::vector<std::vector<double>> samples(nfns);
  std::vector<double> total_ms(nfns, 0.0);
  const double min_total_ms = opt.min_total_s * 1e3;
  for (int r = 0; r < opt.max_repeats; ++r) {
    bool done = r + 1 >= opt.min_repeats;
    for (size_t i = 0; i < nfns; ++i) {
      const auto [ms, calls] = sample(i);
      samples[i].push_back(ms / static_cast<double>(calls));
      total_ms[i] += ms;
      if (total_ms[i] < min_total_ms) done = false;
    }
    if (done) break;
  }
  std::vector<TimeStats> out;
  for (auto& s : samples) out.push_back(summarize(std::move(s)));
  return out;
}

}  // namespace

std::vector<TimeStats> time_interleaved(const std::vector<std::function<void()>>& fns,
                                        const AdaptiveOptions& opt) {
  for (const auto& f : fns)
    for (int i = 0; i < opt.warmup; ++i) f();
  return interleave(fns.size(), opt, [&](size_t i) {
    const auto t0 = Clock::now();
    fns[i]();
    return std::pair<double, int64_t>(ms_since(t0), 1);
  });
}

std::vector<TimeStats> time_per_call_interleaved(const std::vector<std::function<void()>>& fns,
                                                 const AdaptiveOptions& opt) {
  // A batch long enough that clock resolution and the loop itself do not matter.
  constexpr double kBatchMs = 2.0;
  std::vector<int64_t> batch(fns.size(), 1);
  for (size_t i = 0; i < fns.size(); ++i) {
    for (int w = 0; w < std::max(opt.warmup, 1) * 100; ++w) fns[i]();
    for (;;) {
      const auto t0 = Clock::now();
      for (int64_t k = 0; k < batch[i]; ++k) fns[i]();
      const double ms = ms_since(t0);
      if (ms >= kBatchMs || batch[i] >= (int64_t{1} << 30)) break;
      batch[i] *= ms < kBatchMs / 16 ? 16 : 2;
    }
  }
  return interleave(fns.size(), opt, [&](size_t i) {
    const auto t0 = Clock::now();
    for (int64_t k = 0; k < batch[i]; ++k) fns[i]();
    return std::pair<double, int64_t>(ms_since(t0), batch[i]);
  });
}

// ------------------------------------------------------------------ machine limits

namespace {

// Size in bytes of the largest cache level Linux describes in sysfs; 0 if none.
// Preferred over sysconf(_SC_LEVEL3_CACHE_SIZE), which glibc derives from CPUID and
// which reads ten times too large inside some VMs (320 MiB for a 32 MiB L3 here).
size_t sysfs_llc_bytes() {
  size_t best = 0;
  int best_level = 0;
  for (int idx = 0; idx < 8; ++idx) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(idx) + "/";
    std::ifstream level_in(dir + "level"), size_in(dir + "size");
    int level = 0;
    std::string size;
    if (!(level_in >> level) || !(size_in >> size) || size.empty()) continue;
    size_t mult = 1;
    if (size.back() == 'K') mult = size_t{1} << 10;
    if (size.back() == 'M') mult = size_t{1} << 20;
    const size_t bytes = std::strtoull(size.c_str(), nullptr, 10) * mult;
    if (level > best_level) best_level = level, best = bytes;
  }
  return best;
}

}  // namespace

size_t default_stream_bytes() {
  size_t llc = sysfs_llc_bytes();
  if (llc == 0) {
    const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    llc = l3 > 0 ? static_cast<size_t>(l3) : size_t{32} << 20;  // unknown: a large server L3
  }
  return std::max<size_t>(4 * llc, size_t{64} << 20);
}

StreamResult stream_triad(size_t bytes_per_array, int threads, int repeats) {
  const size_t n = std::max<size_t>(bytes_per_array / sizeof(double), 1024);
  constexpr size_t kHuge = size_t{2} << 20;
  const size_t bytes = ((n * sizeof(double) + kHuge - 1) / kHuge) * kHuge;
  const size_t alloc = bytes + kHuge;  // room to align the start to 2 MiB
  // Straight from mmap, not malloc: freeing blocks this large through malloc would raise
  // glibc's dynamic mmap threshold and change how a baseline measured later in the same
  // process gets its memory. 2 MiB-aligned with MADV_HUGEPAGE, as the memory pool maps large
  // tensors: with 4 KiB pages the triad measured about 15% less here (TLB misses), which would
  // make the limit easier to reach than the bandwidth our own kernels see.
  std::vector<void*> bases;
  auto map = [&]() -> double* {
    void* p = mmap(nullptr, alloc, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    bases.push_back(p);
    const auto start = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~uintptr_t{kHuge - 1};
    madvise(reinterpret_cast<void*>(start), bytes, MADV_HUGEPAGE);  // advice: failure is harmless
    return reinterpret_cast<double*>(start);
  };
  auto unmap_all = [&]() {
    for (void* p : bases) munmap(p, alloc);
  };
  double* a = map();
  double* b = map();
  double* c = map();
  if (!a || !b || !c) {
    unmap_all();
    throw std::runtime_error("[stream_triad] cannot map 3 x " + std::to_string(alloc) + " bytes");
  }
  const auto ln = static_cast<int64_t>(n);
  // First touch with the triad's own schedule puts each page near the thread that streams it.
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t i = 0; i < ln; ++i) {
    a[i] = 0.0;
    b[i] = 1.0;
    c[i] = 2.0;
  }
  const double s = 3.0;
  std::vector<double> gbs;
  // Pass 0 is untimed warm-up, as STREAM itself discards its first iteration.
  for (int r = 0; r <= repeats; ++r) {
    const auto t0 = Clock::now();
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < ln; ++i) a[i] = b[i] + s * c[i];
    const double sec = ms_since(t0) * 1e-3;
    if (r > 0) gbs.push_back(3.0 * sizeof(double) * static_cast<double>(n) / sec * 1e-9);
  }
  // Read the result so the triad cannot be dropped.
  volatile double sink = a[n / 2];
  (void)sink;
  unmap_all();
  StreamResult res;
  std::sort(gbs.begin(), gbs.end());
  res.best_gbs = gbs.empty() ? 0 : gbs.back();
  res.median_gbs = summarize(gbs).median_ms;  // summarize is unit-agnostic
  res.bytes_per_array = n * sizeof(double);
  res.threads = threads;
  return res;
}

double stream_triad_gbs(size_t bytes_per_array, int threads) {
  return stream_triad(bytes_per_array, threads).best_gbs;
}

namespace {

// 12 independent FMA chains: FMA latency is 4 cycles on current x86 cores with up to
// 2 FMA pipes, so 8 chains hide it; 12 leaves margin. The multiplier slightly below one
// and the small addend keep every chain bounded and out of denormals.
#define NA_FMA_CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
constexpr int kChains = 12;

__attribute__((target("avx512f,fma"))) float fma_chains_avx512(int64_t iters, float seed) {
  const __m512 m = _mm512_set1_ps(0.999999f);
  const __m512 add = _mm512_set1_ps(1e-6f);
#define NA_DECL(i) __m512 acc##i = _mm512_set1_ps(seed + static_cast<float>(i));
  NA_FMA_CHAINS(NA_DECL)
#undef NA_DECL
  for (int64_t k = 0; k < iters; ++k) {
#define NA_STEP(i) acc##i = _mm512_fmadd_ps(acc##i, m, add);
    NA_FMA_CHAINS(NA_STEP)
#undef NA_STEP
  }
  __m512 sum = _mm512_setzero_ps();
#define NA_SUM(i) sum = _mm512_add_ps(sum, acc##i);
  NA_FMA_CHAINS(NA_SUM)
#undef NA_SUM
  // Stored and summed in scalar code: _mm512_reduce_add_ps trips a false
  // -Wuninitialized in GCC 12's headers.
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, sum);
  float s = 0;
  for (float v : lanes) s += v;
  return s;
}

__attribute__((target("avx2,fma"))) float fma_chains_avx2(int64_t iters, float seed) {
  const __m256 m = _mm256_set1_ps(0.999999f);
  const __m256 add = _mm256_set1_ps(1e-6f);
#define NA_DECL(i) __m256 acc##i = _mm256_set1_ps(seed + static_cast<float>(i));
  NA_FMA_CHAINS(NA_DECL)
#undef NA_DECL
  for (int64_t k = 0; k < iters; ++k) {
#define NA_STEP(i) acc##i = _mm256_fmadd_ps(acc##i, m, add);
    NA_FMA_CHAINS(NA_STEP)
#undef NA_STEP
  }
  __m256 sum = _mm256_setzero_ps();
#define NA_SUM(i) sum = _mm256_add_ps(sum, acc##i);
  NA_FMA_CHAINS(NA_SUM)
#undef NA_SUM
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, sum);
  float s = 0;
  for (float v : lanes) s += v;
  return s;
}
#undef NA_FMA_CHAINS

bool has_avx512() { return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma"); }
bool has_avx2() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }

}  // namespace

double fma_peak_gflops(int threads) {
  const bool wide = has_avx512();
  if (!wide && !has_avx2()) return 0;  // no FMA unit to measure
  const int lanes = wide ? 16 : 8;
  auto kernel = wide ? fma_chains_avx512 : fma_chains_avx2;

  // Returns seconds of the slowest thread: the parallel region ends when all finish.
  auto run = [&](int64_t iters) {
    double sec = 0;
    float sink = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    {
#pragma omp barrier
      const auto t0 = Clock::now();
      sink += kernel(iters, 1.0f + static_cast<float>(omp_get_thread_num()));
#pragma omp barrier
#pragma omp master
      sec = ms_since(t0) * 1e-3;
    }
    volatile float keep = sink;
    (void)keep;
    return sec;
  };

  // Calibrate to ~50 ms a run so frequency ramp-up and timer resolution vanish.
  int64_t iters = 1 << 16;
  for (double sec = run(iters); sec < 0.05; sec = run(iters)) {
    iters = sec < 1e-3 ? iters * 16 : static_cast<int64_t>(static_cast<double>(iters) * 0.06 / sec);
  }
  double best = 0;
  for (int r = 0; r < 5; ++r) {
    const double sec = run(iters);
    const double flops = 2.0 * lanes * kChains * static_cast<double>(iters) * threads;
    best = std::max(best, flops / sec * 1e-9);
  }
  return best;
}

std::string host_isa() {
  if (has_avx512()) return "avx512";
  if (has_avx2()) return "avx2";
  return "sse2";
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        auto v = line.substr(colon + 1);
        v.erase(0, v.find_first_not_of(" \t"));
        return v;
      }
    }
  }
  return "unknown";
}

MachineInfo measure_machine(int threads) {
  MachineInfo m;
  m.cpu = cpu_model();
  m.isa = neural_arch::backends::get_backend("cpu").isa();
  m.host_isa = host_isa();
  m.threads = threads;
  m.stream = stream_triad(default_stream_bytes(), threads);
  m.fma_gflops = fma_peak_gflops(threads);
  return m;
}

std::string describe_machine(const MachineInfo& m) {
  std::ostringstream os;
  os << "cpu: " << m.cpu << "  isa: " << m.isa << " (host " << m.host_isa << ")  threads: " << m.threads
     << "\nstream triad: best " << m.stream.best_gbs << " GB/s, median " << m.stream.median_gbs << " GB/s ("
     << (m.stream.bytes_per_array >> 20) << " MiB/array)"
     << "\nfma peak: " << m.fma_gflops << " GFLOP/s f32\n";
  return os.str();
}

void set_threads(int n) {
  if (n < 1) throw std::invalid_argument("[set_threads] thread count must be >= 1, got " + std::to_string(n));
  omp_set_num_threads(n);
  neural_arch::set_num_threads(n);
#ifdef NA_HAVE_LIBTORCH
  at::set_num_threads(n);
  // libtorch allows setting the inter-op pool only before it has started; later calls throw.
  static bool interop_set = false;
  if (!interop_set) {
    try {
      at::set_num_interop_threads(n);
      interop_set = true;
    } catch (const c10::Error&) {
      interop_set = true;  // already started: nothing more can be done in this process
    }
  }
#endif
}

// ------------------------------------------------------------------ JSON

namespace {

std::string json_escape(const std::string& s) {
  std::string out = "\"";
  for (unsigned char ch : s) {
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (ch < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", ch);
          out += buf;
        } else {
          out += static_cast<char>(ch);
        }
    }
  }
  return out + "\"";
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

void set_field(std::vector<std::pair<std::string, JsonValue>>& fields, const std::string& key,
               JsonValue value) {
  for (auto& kv : fields) {
    if (kv.first == key) {
      kv.second = std::move(value);
      return;
    }
  }
  fields.emplace_back(key, std::move(value));
}

}  // namespace

std::string JsonValue::to_json() const {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::monostate>)
          return "null";
        else if constexpr (std::is_same_v<T, bool>)
          return v ? "true" : "false";
        else if constexpr (std::is_same_v<T, int64_t>)
          return std::to_string(v);
        else if constexpr (std::is_same_v<T, double>)
          return json_number(v);
        else
          return json_escape(v);
      },
      v_);
}

Row& Row::set(const std::string& key, JsonValue value) {
  set_field(extra, key, std::move(value));
  return *this;
}

const JsonValue* Row::get(const std::string& key) const {
  for (const auto& kv : extra)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

void Report::set_common(const std::string& key, JsonValue value) {
  set_field(common_, key, std::move(value));
}

void Report::set_machine(const MachineInfo& m) {
  set_common("cpu", m.cpu);
  set_common("isa", m.isa);
  set_common("host_isa", m.host_isa);
  set_common("threads", m.threads);
  set_common("stream_gbs", m.stream.best_gbs);
  set_common("stream_median_gbs", m.stream.median_gbs);
  set_common("fma_gflops", m.fma_gflops);
}

void Report::set_run_info(int argc, char** argv) {
  std::string cmd = argc > 0 ? std::filesystem::path(argv[0]).filename().string() : "?";
  for (int i = 1; i < argc; ++i) cmd += std::string(" ") + argv[i];
  set_common("command", cmd);
  char buf[32];
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  set_common("date", std::string(buf));
  // On a shared machine the load says how much to trust the run.
  std::ifstream la("/proc/loadavg");
  double load1 = 0;
  if (la >> load1) set_common("loadavg_1m", load1);
}

void Report::add(Row row) { rows_.push_back(std::move(row)); }

std::string Report::to_json() const {
  static const char* kFixed[] = {"name", "ours_ms", "baseline", "baseline_ms", "limit_ms"};
  std::ostringstream os;
  os << "[";
  for (size_t r = 0; r < rows_.size(); ++r) {
    const Row& row = rows_[r];
    os << (r ? ",\n " : "\n ") << "{\"name\": " << json_escape(row.name)
       << ", \"ours_ms\": " << json_number(row.ours_ms)
       << ", \"baseline\": " << (row.baseline.empty() ? "null" : json_escape(row.baseline))
       << ", \"baseline_ms\": " << JsonValue(row.baseline_ms).to_json()
       << ", \"limit_ms\": " << JsonValue(row.limit_ms).to_json();
    auto fixed = [&](const std::string& k) {
      return std::find(std::begin(kFixed), std::end(kFixed), k) != std::end(kFixed);
    };
    for (const auto& [k, v] : row.extra)
      if (!fixed(k)) os << ", " << json_escape(k) << ": " << v.to_json();
    for (const auto& [k, v] : common_)
      if (!fixed(k) && !row.get(k)) os << ", " << json_escape(k) << ": " << v.to_json();
    os << "}";
  }
  os << (rows_.empty() ? "]\n" : "\n]\n");
  return os.str();
}

void Report::write_json(const std::string& path) const {
  namespace fs = std::filesystem;
  const fs::path target(path);
  if (target.has_parent_path()) fs::create_directories(target.parent_path());
  const fs::path tmp = target.string() + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << to_json();
    out.flush();
    if (!out) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw std::runtime_error("[write_json] cannot write " + tmp.string());
    }
  }
  std::error_code ec;
  fs::rename(tmp, target, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw std::runtime_error("[write_json] cannot rename " + tmp.string() + " to " + path + ": " +
                             ec.message());
  }
}

void Report::print_table(std::ostream& os) const {
  auto num = [](std::optional<double> v, int prec) {
    if (!v || !std::isfinite(*v)) return std::string("-");
    std::ostringstream s;
    s << std::fixed << std::setprecision(prec) << *v;
    return s.str();
  };
  size_t wname = 4;
  for (const auto& r : rows_) wname = std::max(wname, r.name.size());
  const auto flags = os.flags();
  os << std::left << std::setw(static_cast<int>(wname) + 2) << "name" << std::right << std::setw(12)
     << "ours ms" << std::setw(14) << "baseline" << std::setw(14) << "baseline ms" << std::setw(10)
     << "base/ours" << std::setw(12) << "limit ms" << std::setw(12) << "ours/limit"
     << "\n";
  for (const auto& r : rows_) {
    std::optional<double> ratio, of_limit;
    if (r.baseline_ms && r.ours_ms > 0) ratio = *r.baseline_ms / r.ours_ms;
    if (r.limit_ms && *r.limit_ms > 0) of_limit = r.ours_ms / *r.limit_ms;
    const int prec = r.ours_ms < 0.01 ? 6 : 3;
    os << std::left << std::setw(static_cast<int>(wname) + 2) << r.name << std::right << std::setw(12)
       << num(r.ours_ms, prec) << std::setw(14) << (r.baseline.empty() ? "-" : r.baseline) << std::setw(14)
       << num(r.baseline_ms, prec) << std::setw(10) << num(ratio, 2) << std::setw(12) << num(r.limit_ms, 3)
       << std::setw(12) << num(of_limit, 2) << "\n";
  }
  os.flags(flags);
}

// ------------------------------------------------------------------ libtorch baseline set-up

void prepare_libtorch(char** argv, bool keep_freed_memory) {
#ifdef NA_HAVE_LIBTORCH
  bool changed = false;
  if (!std::getenv("ATEN_CPU_CAPABILITY") && host_isa() == "avx512") {
    setenv("ATEN_CPU_CAPABILITY", "avx512", 1);
    changed = true;
  }
  if (std::getenv("OPENBLAS_CORETYPE")) {
    unsetenv("OPENBLAS_CORETYPE");  // lets OpenBLAS (when it is the BLAS) pick its own kernels
    changed = true;
  }
  if (changed && !std::getenv("NA_BENCH_REEXEC")) {
    setenv("NA_BENCH_REEXEC", "1", 1);
    execv("/proc/self/exe", argv);
    // execv failing leaves the variables set in this process; ATen reads its capability
    // lazily at the first op, so they still take effect for it.
    std::perror("re-exec with libtorch settings failed, continuing");
  }
  if (keep_freed_memory) {
    // Keeps large freed blocks in the heap instead of unmapping them, so libtorch's
    // outputs reuse warm pages like ours do from the caching allocator. Older glibc rejected
    // an mmap threshold above 32 MiB (DEFAULT_MMAP_THRESHOLD_MAX); say so rather than
    // measuring with a setting that silently did not apply.
    if (mallopt(M_MMAP_THRESHOLD, 1 << 30) != 1 || mallopt(M_TRIM_THRESHOLD, 1 << 30) != 1)
      std::cerr << "prepare_libtorch: mallopt rejected the 1 GiB thresholds; libtorch's large "
                   "temporaries come from mmap\n";
  }
#else
  (void)argv;
  (void)keep_freed_memory;
#endif
}

std::string loaded_blas() {
  std::ifstream maps("/proc/self/maps");
  std::string line, any;
  while (std::getline(maps, line)) {
    const auto slash = line.find('/');
    if (slash == std::string::npos) continue;
    const std::string path = line.substr(slash);
    const std::string file = std::filesystem::path(path).filename().string();
    // libtorch links libblas.so.3 (the alternatives' name); libopenblas.so.0 is mapped too
    // when OpenBLAS answers, so prefer libblas and fall back to any BLAS library.
    if (file.find("blas") == std::string::npos) continue;
    std::error_code ec;
    const auto real = std::filesystem::canonical(path, ec);
    const std::string resolved = ec ? path : real.string();
    if (file.rfind("libblas", 0) == 0) return resolved;
    if (any.empty()) any = resolved;
  }
  return any.empty() ? "?" : any;
}

bool is_reference_blas(const std::string& path) { return path.find("/blas/libblas") != std::string::npos; }

std::string reference_blas_note() {
  if (!is_reference_blas(loaded_blas())) return "";
  return "note: libtorch's fp32 GEMM runs on netlib's reference BLAS (" + loaded_blas() +
         ", about 1 GFLOP/s):\n"
         "      its GEMM rows compare against a straw man. Run scripts/install_deps.sh --bench, which\n"
         "      installs OpenBLAS (OpenMP build) and so selects it through Debian's alternatives.\n";
}

#ifdef NA_HAVE_LIBTORCH
namespace {
std::string show_config_value(const std::string& key) {
  const std::string cfg = at::show_config();
  const auto p = cfg.find(key);
  if (p == std::string::npos) return "?";
  auto start = p + key.size();
  auto end = cfg.find_first_of(",\n", start);
  std::string v = cfg.substr(start, end == std::string::npos ? std::string::npos : end - start);
  v.erase(0, v.find_first_not_of(" :="));
  return v;
}
}  // namespace

std::string torch_config(bool keep_freed_memory) {
  std::ostringstream os;
  os << "libtorch " << TORCH_VERSION_MAJOR << '.' << TORCH_VERSION_MINOR << '.' << TORCH_VERSION_PATCH
     << " threads=" << at::get_num_threads() << " interop=" << at::get_num_interop_threads()
     << " cpu_capability=" << show_config_value("CPU capability usage")
     << " blas=" << show_config_value("BLAS_INFO") << '(' << loaded_blas() << ')'
     << " malloc=" << (keep_freed_memory ? "glibc-keep(mmap/trim threshold 1GiB)" : "glibc-default");
  return os.str();
}

at::Tensor to_torch(const neural_arch::Tensor& t) {
  const bool f64 = t.dtype() == neural_arch::DType::f64;
  // bf16/f16 and the rest go through f32: the caller converts on the libtorch side (.to(kBFloat16)).
  const neural_arch::Tensor c =
      (f64 || t.dtype() == neural_arch::DType::f32 ? t : t.to(neural_arch::DType::f32)).contiguous();
  return at::from_blob(c.raw_data(), at::IntArrayRef(c.shape().data(), c.shape().size()),
                       at::TensorOptions().dtype(f64 ? at::kDouble : at::kFloat))
      .clone();
}
#endif

// ------------------------------------------------------------------ command line

bool CommonArgs::wants(const std::string& row_name) const {
  return filter.empty() || row_name.find(filter) != std::string::npos;
}

CommonArgs parse_common_args(int argc, char** argv, int default_threads) {
  CommonArgs args;
  args.threads = default_threads;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    // Accepts "--opt VALUE" and "--opt=VALUE".
    auto value_of = [&](const std::string& opt, std::string& out) {
      if (a == opt) {
        if (i + 1 >= argc) throw std::invalid_argument(opt + " needs a value");
        out = argv[++i];
        return true;
      }
      if (a.rfind(opt + "=", 0) == 0) {
        out = a.substr(opt.size() + 1);
        return true;
      }
      return false;
    };
    std::string v;
    if (value_of("--json", v)) {
      if (v.empty()) throw std::invalid_argument("--json needs a file name");
      args.json_path = v;
    } else if (value_of("--threads", v)) {
      size_t used = 0;
      int n = 0;
      try {
        n = std::stoi(v, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != v.size() || n < 1)
        throw std::invalid_argument("--threads needs a positive integer, got '" + v + "'");
      args.threads = n;
    } else if (value_of("--filter", v)) {
      args.filter = v;
    } else if (a == "--quick") {
      args.quick = true;
    } else {
      args.rest.push_back(a);
    }
  }
  return args;
}

CommonArgs parse_args(int argc, char** argv, const std::string& program,
                      const std::vector<ProgramOption>& own, const std::string& notes, int default_threads) {
  CommonArgs args = parse_common_args(argc, argv, default_threads);
  std::string usage = "usage: " + program + " [options]\n" + common_usage();
  for (const ProgramOption& o : own) {
    std::string left = "  " + o.name + (o.value.empty() ? "" : " " + o.value);
    left.resize(std::max<size_t>(left.size() + 1, 18), ' ');
    usage += left + o.help + "\n";
  }
  usage += notes;
  for (size_t i = 0; i < args.rest.size(); ++i) {
    const std::string& a = args.rest[i];
    if (a == "-h" || a == "--help") {
      std::cout << usage;
      std::exit(0);
    }
    const ProgramOption* match = nullptr;
    std::string value;
    for (const ProgramOption& o : own) {
      if (a == o.name) {
        if (!o.value.empty()) {
          if (i + 1 >= args.rest.size()) throw std::invalid_argument(o.name + " needs a value\n" + usage);
          value = args.rest[++i];
        }
        match = &o;
      } else if (!o.value.empty() && a.rfind(o.name + "=", 0) == 0) {
        value = a.substr(o.name.size() + 1);
        match = &o;
      }
      if (match) break;
    }
    if (!match) throw std::invalid_argument("unknown argument '" + a + "'\n" + usage);
    match->set(value);
  }
  args.rest.clear();
  return args;
}

std::string common_usage() {
  return "  --json FILE     write the rows as a JSON list to FILE (atomically)\n"
         "  --threads N     threads for us and for the baseline (default 2)\n"
         "  --filter S      run only rows whose name contains S\n"
         "  --quick         few repeats: a smoke run, not a measurement\n";
}

}  // namespace na_bench
