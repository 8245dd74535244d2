// bench_distributed: the distributed layer against the MPI library it runs on, and
// data-parallel training against one process. Run under mpirun (every rank runs it; rank 0
// prints and writes the rows):
//
//   mpirun -np 2 build/benchmarks/bench_distributed --threads 1 --json results/distributed.json
//
// Rows:
//   dist/allreduce/64MiB         all_reduce (sum) of a 64 MiB f32 tensor through our process
//                                group (metadata agreement + MPI_Allreduce on the communication
//                                thread) vs MPI_Allreduce called directly on the main thread,
//                                alternated sample by sample.
//   dist/ddp_step/mlp32x1024_b256/npN
//                                one AdamW training step of the benchmarks' MLP (mlp_model.hpp)
//                                on a global batch of 256: N ranks with DistributedDataParallel
//                                (256/N rows each, --threads threads per rank) vs one process
//                                (rank 0 alone, the others waiting) with the same threads on all
//                                256 rows. scaling = baseline / ours (N would be perfect).
//                                allreduce_alone_ms is the buckets' all-reduces run by themselves;
//                                exposed_wait_ms the time backward's end waited for them in the
//                                DDP step; hidden_fraction = 1 - exposed / alone.
// Every rank takes the same number of samples (fixed repeats, no adaptive stopping), so their
// collectives pair up.
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <iostream>

#include "bench_util.hpp"
#include "mlp_model.hpp"
#include "neural_arch/distributed.hpp"
#include "neural_arch/functional/loss.hpp"
#include "neural_arch/ops.hpp"

namespace na = neural_arch;
namespace dist = neural_arch::distributed;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

struct Settings {
  na_bench::CommonArgs common;
  int repeats = 10;  // timed samples of each all-reduce
  int steps = 5;     // timed training steps of each side
};

Settings parse(int argc, char** argv) {
  Settings s;
  s.common = na_bench::parse_args(argc, argv, "bench_distributed",
                                  {{"--steps", "N", "timed training steps of each side (default 5)",
                                    [&](const std::string& v) {
                                      s.steps = std::stoi(v);
                                      if (s.steps < 1) throw std::invalid_argument("--steps must be >= 1");
                                    }}},
                                  "run under mpirun -np N (N >= 2); rank 0 prints and writes --json\n",
                                  /*default_threads=*/1);
  if (s.common.quick) s.repeats = 2, s.steps = 1;
  return s;
}

void bench_allreduce(const Settings& s, na_bench::Report& rep) {
  const std::string name = "dist/allreduce/64MiB";
  if (!s.common.wants(name)) return;
  const int64_t n = 64 * 1024 * 1024 / 4;
  na::Tensor ours = na::ones({n});
  na::Tensor direct = na::ones({n});
  std::vector<double> t_ours, t_direct;
  for (int i = 0; i < s.repeats + 2; ++i) {
    dist::barrier();
    auto t0 = Clock::now();
    dist::all_reduce(ours);
    const double a = ms_since(t0);
    dist::barrier();
    t0 = Clock::now();
    MPI_Allreduce(MPI_IN_PLACE, direct.raw_data(), static_cast<int>(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    const double b = ms_since(t0);
    if (i >= 2) t_ours.push_back(a), t_direct.push_back(b);  // the first two warm up
  }
  na_bench::Row row;
  row.name = name;
  row.ours_ms = median(t_ours);
  row.baseline = "MPI_Allreduce";
  row.baseline_ms = median(t_direct);
  row.set("ours_over_baseline", row.ours_ms / *row.baseline_ms);
  row.set("ranks", dist::get_world_size());
  rep.add(row);
}

void step(na_bench::MlpModel& m, na::nn::Module& runner) {
  m.opt->zero_grad();
  auto loss = na::functional::mse_loss(runner.forward(m.x), m.y);
  loss.backward();
  m.opt->step();
}

void bench_ddp_step(const Settings& s, na_bench::Report& rep) {
  const int world = dist::get_world_size(), rank = dist::get_rank();
  const std::string name = "dist/ddp_step/mlp32x1024_b256/np" + std::to_string(world);
  if (!s.common.wants(name)) return;
  na_bench::MlpShape shape;  // 32 x 1024, batch 256
  // One process, rank 0 alone (the others wait at the barrier).
  std::vector<double> single;
  if (rank == 0) {
    na_bench::MlpModel m(shape, 1);
    step(m, *m.net);
    for (int i = 0; i < s.steps; ++i) {
      auto t0 = Clock::now();
      step(m, *m.net);
      single.push_back(ms_since(t0));
    }
  }
  dist::barrier();

  na_bench::MlpShape local = shape;
  local.batch = shape.batch / world;
  na_bench::MlpModel m(local, 1);
  dist::DistributedDataParallel ddp(m.net);
  std::vector<double> t_step, t_wait;
  step(m, ddp);
  for (int i = 0; i < s.steps; ++i) {
    dist::barrier();
    auto t0 = Clock::now();
    step(m, ddp);
    t_step.push_back(ms_since(t0));
    t_wait.push_back(ddp.last_wait_seconds() * 1e3);
  }
  // The same buckets all-reduced by themselves, one after the other.
  std::vector<na::Tensor> buckets;
  const auto params = m.net->parameters();
  for (const auto& b : ddp.bucket_assignment()) {
    int64_t numel = 0;
    for (size_t i : b) numel += params[i].numel();
    buckets.push_back(na::ones({numel}));
  }
  std::vector<double> t_alone;
  for (int i = 0; i < s.steps + 1; ++i) {
    dist::barrier();
    auto t0 = Clock::now();
    std::vector<dist::WorkPtr> works;
    for (auto& b : buckets) works.push_back(dist::all_reduce(b, dist::ReduceOp::avg, /*async_op=*/true));
    for (auto& w : works) w->wait();
    if (i > 0) t_alone.push_back(ms_since(t0));
  }
  if (rank != 0) return;
  na_bench::Row row;
  row.name = name;
  row.ours_ms = median(t_step);
  row.baseline = "1 process";
  row.baseline_ms = median(single);
  const double alone = median(t_alone), exposed = median(t_wait);
  row.set("scaling", *row.baseline_ms / row.ours_ms);
  row.set("ranks", world);
  row.set("threads_per_rank", s.common.threads);
  row.set("buckets", buckets.size());
  row.set("allreduce_alone_ms", alone);
  row.set("exposed_wait_ms", exposed);
  row.set("hidden_fraction", alone > 0 ? 1.0 - exposed / alone : 0.0);
  rep.add(row);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Settings s = parse(argc, argv);
    na_bench::set_threads(s.common.threads);
    dist::init_process_group("mpi");
    const int rank = dist::get_rank();
    na_bench::Report rep;
    rep.set_run_info(argc, argv);
    if (rank == 0) {
      const auto mi = na_bench::measure_machine(s.common.threads);
      std::cout << na_bench::describe_machine(mi) << "ranks: " << dist::get_world_size() << "\n\n";
      rep.set_machine(mi);
    }
    dist::barrier();
    bench_allreduce(s, rep);
    bench_ddp_step(s, rep);
    if (rank == 0) {
      rep.print_table(std::cout);
      for (const auto& r : rep.rows())
        for (const char* k :
             {"ours_over_baseline", "scaling", "allreduce_alone_ms", "exposed_wait_ms", "hidden_fraction"})
          if (const auto* v = r.get(k)) std::cout << r.name << " " << k << " = " << v->to_json() << "\n";
      if (!s.common.json_path.empty()) {
        rep.write_json(s.common.json_path);
        std::cout << "wrote " << s.common.json_path << "\n";
      }
    }
    dist::destroy_process_group();
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bench_distributed: " << e.what() << "\n";
    return 1;
  }
}
