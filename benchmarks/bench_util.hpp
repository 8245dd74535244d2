// Shared harness for neural_arch's benchmark programs: timing, the machine's limits
// (STREAM triad bandwidth, measured FMA peak), thread setup for us and for libtorch,
// a table printer and the JSON rows writer.
//
// Every benchmark program writes a JSON *list* of rows, one per measurement:
//   {"name": "gemm/1024x1024x1024", "ours_ms": 4.1, "baseline": "onednn",
//    "baseline_ms": 4.0, "limit_ms": 3.2, "threads": 2, "isa": "avx512", ...}
// `baseline_ms` and `limit_ms` are null when there is no baseline or no limit.
// Machine facts (cpu, threads, isa, stream_gbs, fma_gflops) ride along on every row,
// so a row read on its own still says where it was measured.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace neural_arch {
class Tensor;
}
#ifdef NA_HAVE_LIBTORCH
namespace at {
class Tensor;
}
#endif

namespace na_bench {

// ------------------------------------------------------------------ timing

/// Summary of repeated timings of one piece of work, in milliseconds.
struct TimeStats {
  double median_ms = 0;
  double min_ms = 0;
  double p90_ms = 0;
  int repeats = 0;
};

/// Summary of a list of sample times (ms). An empty list gives all zeros.
TimeStats summarize(std::vector<double> samples_ms);

/// Runs fn `warmup` times untimed, then `repeats` timed times; median/min/p90 of those.
TimeStats time_stats(const std::function<void()>& fn, int warmup, int repeats);
/// Median of time_stats(fn, warmup, repeats).
double time_median_ms(std::function<void()> fn, int warmup, int repeats);

/// How long adaptive timing keeps sampling.
struct AdaptiveOptions {
  int warmup = 2;
  int min_repeats = 5;
  int max_repeats = 200;
  double min_total_s = 0.3;  // keep sampling until this much timed work, or max_repeats
};

/// Repeats fn until it has been timed for opt.min_total_s (at least min_repeats,
/// at most max_repeats times).
TimeStats time_adaptive(const std::function<void()>& fn, const AdaptiveOptions& opt = {});

/// Times several functions doing the same work by alternating them sample by sample,
/// so that load from elsewhere on a shared machine hits each of them alike. Stops when
/// every function has min_total_s of samples (or max_repeats).
std::vector<TimeStats> time_interleaved(const std::vector<std::function<void()>>& fns,
                                        const AdaptiveOptions& opt = {});

/// Per-call time of something too short to time once (a few microseconds): each sample
/// runs fn in a loop long enough (~2 ms) for the clock to be exact, and the stats are
/// per call. Functions are interleaved like time_interleaved.
std::vector<TimeStats> time_per_call_interleaved(const std::vector<std::function<void()>>& fns,
                                                 const AdaptiveOptions& opt = {});

// ------------------------------------------------------------------ machine limits

/// Result of a STREAM triad run: a[i] = b[i] + s*c[i] over doubles.
struct StreamResult {
  double best_gbs = 0;
  double median_gbs = 0;
  size_t bytes_per_array = 0;
  int threads = 0;
};

/// Bytes per STREAM array: 4x the last-level cache (STREAM's own sizing rule), at least 64 MiB.
size_t default_stream_bytes();

/// STREAM triad with `threads` OpenMP threads; arrays are first-touched by the same
/// static schedule that runs the triad, so each thread streams memory it placed.
/// Bandwidth counts 3 arrays x 8 bytes per element, like STREAM: the write-allocate
/// read of `a` is not counted, so this is the figure kernels' byte counts compare against.
StreamResult stream_triad(size_t bytes_per_array, int threads, int repeats = 10);
/// Best-of bandwidth of stream_triad, GB/s (1e9 bytes/s).
double stream_triad_gbs(size_t bytes_per_array, int threads);

/// Measured peak f32 FMA throughput in GFLOP/s (2 flops per lane per FMA) with
/// `threads` OpenMP threads, on AVX-512 when the CPU has it, else AVX2+FMA.
double fma_peak_gflops(int threads);

/// Widest vector ISA of this CPU that the harness knows: "avx512", "avx2" or "sse2".
std::string host_isa();
/// The CPU's model name from /proc/cpuinfo ("unknown" if unreadable).
std::string cpu_model();

/// Machine facts measured once per run and copied onto every row.
struct MachineInfo {
  std::string cpu;
  std::string isa;       // the instruction set neural_arch's CPU kernels run (NA_CPU_ISA can narrow it)
  std::string host_isa;  // the widest one this CPU has (what fma_peak_gflops uses)
  int threads = 0;
  StreamResult stream;
  double fma_gflops = 0;
};
/// Measures STREAM triad and FMA peak with `threads` threads (about a second in all).
MachineInfo measure_machine(int threads);

/// Machine facts as the lines every program prints before its table (cpu/isa/threads,
/// stream triad, fma peak).
std::string describe_machine(const MachineInfo& m);

/// Sets the thread count of OpenMP, of neural_arch, and (when built with libtorch) of
/// libtorch's intra-op pool; libtorch's inter-op pool is set too while that is still allowed.
void set_threads(int n);

// ------------------------------------------------------------------ rows, table, JSON

/// A JSON scalar: null, bool, integer, number or string.
class JsonValue {
 public:
  JsonValue() = default;                                // null
  JsonValue(std::nullptr_t) {}                          // NOLINT
  JsonValue(bool v) : v_(v) {}                          // NOLINT
  JsonValue(int v) : v_(static_cast<int64_t>(v)) {}     // NOLINT
  JsonValue(int64_t v) : v_(v) {}                       // NOLINT
  JsonValue(size_t v) : v_(static_cast<int64_t>(v)) {}  // NOLINT
  JsonValue(double v) : v_(v) {}                        // NOLINT
  JsonValue(std::optional<double> v) {
    if (v) v_ = *v;
  }                                                 // NOLINT
  JsonValue(const char* v) : v_(std::string(v)) {}  // NOLINT
  JsonValue(std::string v) : v_(std::move(v)) {}    // NOLINT
  /// JSON text of the value; NaN and infinities become null (JSON has no such numbers).
  std::string to_json() const;
  bool is_null() const { return std::holds_alternative<std::monostate>(v_); }

 private:
  std::variant<std::monostate, bool, int64_t, double, std::string> v_;
};

/// One measurement. Extra fields keep their insertion order in the JSON.
struct Row {
  std::string name;
  double ours_ms = 0;
  std::string baseline;  // "" when there is none (written as null)
  std::optional<double> baseline_ms;
  std::optional<double> limit_ms;
  std::vector<std::pair<std::string, JsonValue>> extra;

  /// Adds or replaces an extra field.
  Row& set(const std::string& key, JsonValue value);
  /// The value of an extra field, if set.
  const JsonValue* get(const std::string& key) const;
};

/// The rows of one benchmark program, with fields common to all of them.
class Report {
 public:
  /// A field written on every row unless the row sets the same key itself.
  void set_common(const std::string& key, JsonValue value);
  /// Copies machine facts (cpu, isa, host_isa, threads, stream_gbs, stream_median_gbs, fma_gflops)
  /// into the common fields.
  void set_machine(const MachineInfo& m);
  /// Records how the run was made on every row: "command" (the program's base name and its
  /// arguments), "date" (UTC, ISO 8601) and "loadavg_1m" (the 1-minute load average at the
  /// start, from /proc/loadavg), so scripts/gen_benchmarks_md.py can cite them.
  void set_run_info(int argc, char** argv);
  void add(Row row);
  const std::vector<Row>& rows() const { return rows_; }

  /// Table: name, ours ms, baseline, baseline ms, baseline/ours, limit ms, ours/limit.
  void print_table(std::ostream& os) const;
  /// The JSON list of rows.
  std::string to_json() const;
  /// Writes to_json() to a temporary file beside `path` and renames it over `path`,
  /// so a reader never sees half a file. Creates the parent folder. Throws on failure.
  void write_json(const std::string& path) const;

 private:
  std::vector<std::pair<std::string, JsonValue>> common_;
  std::vector<Row> rows_;
};

// ------------------------------------------------------------------ libtorch baseline set-up

/// libtorch's best configuration found on this machine (DESIGN.md, "Measuring fairly"), to
/// call first thing in main: ATEN_CPU_CAPABILITY=avx512 when the CPU has it (unless the caller
/// set it), OPENBLAS_CORETYPE unset, and a re-exec of the program so that libtorch sees them
/// before its first op. With keep_freed_memory, glibc keeps large freed blocks (mmap and trim
/// thresholds 1 GiB) so libtorch's outputs reuse warm pages like ours do from the pool.
/// Does nothing without libtorch.
void prepare_libtorch(char** argv, bool keep_freed_memory = true);

/// The BLAS library this process really loaded, from /proc/self/maps with symlinks resolved
/// (e.g. /usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3); "?" when none is mapped.
/// libtorch's BLAS_INFO ("generic") names only the API it calls; Debian's alternatives decide
/// which library answers.
std::string loaded_blas();
/// Whether `path` (as loaded_blas returns it) is netlib's reference BLAS (Debian installs it
/// as .../blas/libblas.so.3), with which libtorch's fp32 GEMM runs at about 1 GFLOP/s.
bool is_reference_blas(const std::string& path);
/// A warning to print under the baseline line when libtorch's BLAS is the reference one
/// (its GEMM rows would then compare against a straw man); "" otherwise.
std::string reference_blas_note();

#ifdef NA_HAVE_LIBTORCH
/// One line describing libtorch's configuration: version, threads, CPU capability, BLAS as
/// "blas=<BLAS_INFO>(<loaded_blas()>)", and malloc (as prepare_libtorch set it).
std::string torch_config(bool keep_freed_memory = true);
/// A contiguous libtorch copy of t: f64 stays f64, every other dtype becomes f32.
at::Tensor to_torch(const neural_arch::Tensor& t);
#endif

// ------------------------------------------------------------------ command line

/// Options every benchmark program understands.
struct CommonArgs {
  std::string json_path;          // --json FILE: where to write rows ("" = don't)
  int threads = 2;                // --threads N
  std::string filter;             // --filter S: run only rows whose name contains S
  bool quick = false;             // --quick: fewer repeats (a smoke run, not a measurement)
  std::vector<std::string> rest;  // arguments this parser does not know, in order
  bool wants(const std::string& row_name) const;
};

/// Parses --json FILE / --json=FILE, --threads N, --filter S, --quick. Unknown
/// arguments go to `rest`. Throws std::invalid_argument on a missing or bad value.
CommonArgs parse_common_args(int argc, char** argv, int default_threads = 2);
/// Usage text for the options parse_common_args knows.
std::string common_usage();

/// A program's own command-line option: `--name VALUE` or `--name=VALUE` when `value` names the
/// value (for the usage text), a bare flag `--name` when it is empty. `set` receives the value
/// ("" for a flag) and throws std::invalid_argument for a bad one.
struct ProgramOption {
  std::string name, value, help;
  std::function<void(const std::string&)> set;
};

/// parse_common_args, then the program's own options, so that no program repeats the loop:
/// -h / --help prints the usage (program name, common options, own options, then `notes`) and
/// exits 0; any other unknown argument throws std::invalid_argument with the usage.
CommonArgs parse_args(int argc, char** argv, const std::string& program,
                      const std::vector<ProgramOption>& own = {}, const std::string& notes = "",
                      int default_threads = 2);

}  // namespace na_bench
