// The main job: trains a CNN (or an MLP) on Fashion-MNIST from Debian's dataset-fashion-mnist
// package, evaluates test accuracy each epoch, writes metrics (JSONL) and a checkpoint after
// every epoch, and resumes from a checkpoint when asked.
//
//   train_fashion_mnist [--model cnn|mlp] [--epochs N] [--batch-size B] [--lr LR]
//                       [--threads T] [--out DIR] [--resume CHECKPOINT] [--limit-train N] [--seed S]
//                       [--stop-after STEPS] [--amp none|bf16|f16] [--distributed]
//
// --distributed (under mpirun -np N, built with NA_DISTRIBUTED): data-parallel training with
// DistributedDataParallel. --batch-size stays the global batch, split evenly across the ranks;
// each rank reads its share of every epoch through a DistributedSampler; --threads is per rank.
// Rank 0 alone prints and writes the metrics and the checkpoint, which every rank loads on
// --resume. Test accuracy is counted on 1/N of the test set per rank and summed.
//
// --amp runs the forward pass and the loss under optimization::autocast: bf16 (the linears and
// convolutions in bf16, the loss in f32); f16 adds a GradScaler, because f16 gradients below
// 2^-24 flush to zero without loss scaling. Parameters stay f32 as in PyTorch AMP, so the
// optimizer updates f32 weights (its master-weight option is on for any narrow parameter).
//
// --stop-after ends the run after that many optimizer steps in all (also in the middle of an
// epoch) and writes the checkpoint there; --resume continues it exactly as if it had never
// stopped (io::training_checkpoint saves model, optimizer, scheduler, RNGs and data position).
//
// The last line printed is "test accuracy: NN.NN%".
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <neural_arch/autograd.hpp>
#include <neural_arch/data/dataloader.hpp>
#include <neural_arch/data/idx.hpp>
#include <neural_arch/functional/loss.hpp>
#include <neural_arch/io/training_checkpoint.hpp>
#include <neural_arch/nn/cnn.hpp>
#include <neural_arch/nn/mlp.hpp>
#include <neural_arch/ops.hpp>
#include <neural_arch/optim/adam.hpp>
#include <neural_arch/optim/lr_scheduler.hpp>
#include <neural_arch/optimization/autocast.hpp>
#include <neural_arch/optimization/grad_scaler.hpp>
#include <numeric>
#include <string>

#include "distributed_ranks.hpp"

namespace na = neural_arch;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
  std::string model = "cnn";
  int epochs = -1;  // default depends on the model
  int64_t batch_size = 128;
  double lr = -1;
  int threads = 2;
  std::string out = "runs/fashion_mnist";
  std::string resume;
  int64_t limit_train = 0;
  uint64_t seed = 0;
  int64_t stop_after = 0;  // 0: run every epoch
  std::string amp = "none";
  bool distributed = false;
};

// Prints the usage line and exits: to stdout with status 0 for --help (empty why), else to
// stderr with status 2.
[[noreturn]] void usage(const std::string& why) {
  std::ostream& os = why.empty() ? std::cout : std::cerr;
  if (!why.empty()) os << "train_fashion_mnist: " << why << "\n";
  os << "usage: train_fashion_mnist [--model cnn|mlp] [--epochs N] [--batch-size B] [--lr LR]"
        " [--threads T] [--out DIR] [--resume CHECKPOINT] [--limit-train N] [--seed S] [--stop-after STEPS]"
        " [--amp none|bf16|f16] [--distributed]\n";
  std::exit(why.empty() ? 0 : 2);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) usage("missing value after " + k);
      return argv[++i];
    };
    try {
      if (k == "-h" || k == "--help")
        usage("");
      else if (k == "--model")
        a.model = val();
      else if (k == "--epochs")
        a.epochs = std::stoi(val());
      else if (k == "--batch-size")
        a.batch_size = std::stoll(val());
      else if (k == "--lr")
        a.lr = std::stod(val());
      else if (k == "--threads")
        a.threads = std::stoi(val());
      else if (k == "--out")
        a.out = val();
      else if (k == "--resume")
        a.resume = val();
      else if (k == "--limit-train")
        a.limit_train = std::stoll(val());
      else if (k == "--seed")
        a.seed = std::stoull(val());
      else if (k == "--stop-after")
        a.stop_after = std::stoll(val());
      else if (k == "--amp")
        a.amp = val();
      else if (k == "--distributed")
        a.distributed = true;
      else
        usage("unknown argument " + k);
    } catch (const std::logic_error&) {
      usage("bad number for " + k);
    }
  }
  if (a.model != "cnn" && a.model != "mlp") usage("--model must be cnn or mlp");
  if (a.amp != "none" && a.amp != "bf16" && a.amp != "f16") usage("--amp must be none, bf16 or f16");
  if (a.epochs < 0) a.epochs = a.model == "cnn" ? 12 : 10;
  if (a.lr < 0) a.lr = a.model == "cnn" ? 2e-3 : 1e-3;
  if (a.batch_size <= 0 || a.threads <= 0 || a.epochs <= 0 || a.stop_after < 0)
    usage("sizes must be positive");
  return a;
}

std::string clock_str(double s) {
  char buf[32];
  int t = static_cast<int>(s + 0.5);
  std::snprintf(buf, sizeof buf, "%02d:%02d", t / 60, t % 60);
  return buf;
}

// One line, redrawn in place on a terminal; every 10% as a new line otherwise (logs, CI).
class Progress {
 public:
  Progress(int epoch, int epochs, int64_t total)
      : epoch_(epoch), epochs_(epochs), total_(total), tty_(isatty(1)) {}
  void update(int64_t done, double loss, double samples_per_s, double eta_s) {
    const int decile = static_cast<int>(10 * done / total_);
    const bool due = tty_ ? (Clock::now() - last_ > std::chrono::milliseconds(200) || done == total_)
                          : decile > last_decile_;
    if (!due) return;
    last_ = Clock::now();
    last_decile_ = decile;
    constexpr int kWidth = 24;
    const int filled = static_cast<int>(kWidth * done / total_);
    std::string bar(filled, '=');
    if (filled < kWidth) bar += '>' + std::string(kWidth - filled - 1, ' ');
    std::printf("%sepoch %d/%d [%s] %lld/%lld  loss %.4f  %.0f samples/s  ETA %s%s", tty_ ? "\r" : "", epoch_,
                epochs_, bar.c_str(), static_cast<long long>(done), static_cast<long long>(total_), loss,
                samples_per_s, clock_str(eta_s).c_str(), tty_ ? "" : "\n");
    std::fflush(stdout);
  }
  void finish() {
    if (tty_) std::printf("\n");
  }

 private:
  int epoch_, epochs_;
  int64_t total_;
  bool tty_;
  int last_decile_ = -1;
  Clock::time_point last_{};
};

// Under the training run's autocast mode too, so the accuracy is that of the mixed-precision model.
// Distributed: each rank counts its 1/world of the test set, and the counts are summed.
double evaluate(na::nn::Module& model, const na::data::FashionMnist& test, bool amp, na::DType amp_dtype,
                int rank = 0, int world = 1) {
  na::NoGradGuard no_grad;
  na::optimization::autocast ac(amp_dtype, amp);
  model.eval();
  const int64_t n = test.images.size(0);
  const int64_t lo = n * rank / world, hi = n * (rank + 1) / world;
  int64_t correct = 0;
  for (int64_t s = lo; s < hi; s += 1000) {
    const int64_t len = std::min<int64_t>(1000, hi - s);
    auto pred = na::argmax(model.forward(test.images.narrow(0, s, len)), 1);
    correct += na::sum(na::eq(pred, test.labels.narrow(0, s, len))).item<int64_t>();
  }
#ifdef NA_HAVE_DISTRIBUTED
  if (world > 1) {
    na::Tensor c = na::full({1}, correct, na::kInt64);
    na::distributed::all_reduce(c);
    correct = c.item<int64_t>();
  }
#endif
  model.train();
  return 100.0 * static_cast<double>(correct) / static_cast<double>(n);
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  try {
    const Ranks ranks = start_ranks(args.distributed, args.batch_size, "train_fashion_mnist");
    const int rank = ranks.rank, world = ranks.world;
    const int64_t local_batch = ranks.local_batch;
    na::set_num_threads(args.threads);
    na::manual_seed(args.seed);
    const bool amp = args.amp != "none";
    const na::DType amp_dtype = args.amp == "f16" ? na::kFloat16 : na::kBFloat16;
    std::printf("neural_arch Fashion-MNIST: model %s, %d epochs, batch %lld, AdamW lr %g, %d threads, %s\n",
                args.model.c_str(), args.epochs, static_cast<long long>(args.batch_size), args.lr,
                args.threads,
                amp ? ("autocast " + args.amp + (args.amp == "f16" ? " + GradScaler" : "")).c_str() : "f32");
    if (world > 1)
      std::printf("distributed: %d ranks (mpi), %lld examples per rank per step\n", world,
                  static_cast<long long>(local_batch));
    auto train = na::data::load_fashion_mnist("train");
    auto test = na::data::load_fashion_mnist("test");
    if (args.limit_train > 0 && args.limit_train < train.images.size(0)) {
      train.images = train.images.narrow(0, 0, args.limit_train).contiguous();
      train.labels = train.labels.narrow(0, 0, args.limit_train).contiguous();
    }
    const int64_t n = train.images.size(0);
    const int64_t steps_per_epoch = (n / world) / local_batch;  // drop_last: equal batches
    std::printf("train %lld images, test %lld images (%s)\n", static_cast<long long>(n),
                static_cast<long long>(test.images.size(0)), na::data::find_fashion_mnist().c_str());

    std::shared_ptr<na::nn::Module> model;
    if (args.model == "cnn")
      model = std::make_shared<na::nn::CNN>();
    else
      model = std::make_shared<na::nn::MLP>(std::vector<int64_t>{784, 512, 256, 10}, "relu", 0.2);
    std::printf("%s\n", model->str().c_str());
    // The model the steps run: the DDP wrapper when distributed (its hooks average gradients);
    // `model` stays the plain module for the optimizer, evaluation and checkpoints.
    std::shared_ptr<na::nn::Module> runner = model;
#ifdef NA_HAVE_DISTRIBUTED
    if (args.distributed) runner = std::make_shared<na::distributed::DistributedDataParallel>(model);
#endif

    na::optim::AdamW opt(model->parameters(), na::optim::AdamWOptions().lr(args.lr).weight_decay(1e-4));
    opt.set_master_weights(amp);  // only acts on f16/bf16 parameters (none unless a model is converted)
    na::optim::CosineAnnealingLR sched(opt, args.epochs * steps_per_epoch);
    // Loss scaling only for f16: bf16 has f32's exponent range, so its gradients do not underflow.
    na::optimization::GradScaler scaler(na::optimization::GradScalerOptions{.enabled = args.amp == "f16"});

    // drop_last: equal batches. The loader's shuffle order is its own seeded generator; when
    // distributed, the sampler shuffles (seed and epoch) and the loader reads this rank's share.
    auto train_set = std::make_shared<na::data::TensorDataset>(train.images, train.labels);
    std::function<void(int64_t)> set_epoch = [](int64_t) {};
    std::shared_ptr<const na::data::Dataset> loader_set = train_set;
#ifdef NA_HAVE_DISTRIBUTED
    if (args.distributed) {
      auto sampler =
          std::make_shared<na::distributed::DistributedSampler>(train_set, world, rank, true, args.seed + 1);
      loader_set = sampler->dataset();
      set_epoch = [sampler](int64_t e) { sampler->set_epoch(static_cast<uint64_t>(e)); };
    }
#endif
    na::data::DataLoader loader(loader_set, na::data::DataLoaderOptions()
                                                .batch_size(local_batch)
                                                .shuffle(!args.distributed)
                                                .seed(args.seed + 1)
                                                .drop_last());
    const na::io::TrainingState state{model.get(), &opt, &sched, &loader, {}};

    std::filesystem::create_directories(args.out);
    const std::string ckpt_path = args.out + "/checkpoint.safetensors";
    const std::string metrics_path = args.out + "/metrics.jsonl";
    na::io::TrainingPosition pos;
    if (!args.resume.empty()) {
      auto ck = na::io::Checkpoint::load(args.resume);
      NA_CHECK(ck.get("model_type") == args.model, "train_fashion_mnist", "checkpoint holds a ",
               ck.get("model_type"), " model, not ", args.model);
      const std::string ck_amp = ck.has("amp") ? ck.get("amp") : "none";
      NA_CHECK(ck_amp == args.amp, "train_fashion_mnist", "checkpoint was trained with --amp ", ck_amp,
               ", not ", args.amp);
      pos = na::io::restore_training(ck, state);
      if (scaler.is_enabled()) scaler.load_state_dict(ck.tensors("scaler"));
      std::printf("resumed from %s at step %lld (epoch %lld, batch %lld)\n", args.resume.c_str(),
                  static_cast<long long>(pos.step), static_cast<long long>(pos.epoch + 1),
                  static_cast<long long>(pos.batch));
    } else if (rank == 0) {
      std::ofstream(metrics_path, std::ios::trunc);
    }
    // One checkpoint, from rank 0 (every rank holds the same model and optimizer state).
    auto save_checkpoint = [&] {
      if (rank != 0) return;
      na::io::Checkpoint ck = na::io::training_checkpoint(state, pos);
      ck.put("model_type", args.model);
      ck.put("amp", args.amp);
      if (scaler.is_enabled()) ck.put_tensors("scaler", scaler.state_dict());
      ck.save(ckpt_path);
    };

    double accuracy = 0;
    bool stopped = false;
    while (pos.epoch < args.epochs && !stopped) {
      const int epoch = static_cast<int>(pos.epoch);
      set_epoch(pos.epoch);
      Progress bar(epoch + 1, args.epochs, steps_per_epoch * args.batch_size);
      const auto t0 = Clock::now();
      const int64_t first = pos.batch;
      double loss_sum = 0;
      for (auto it = first > 0 ? loader.begin_at(first) : loader.begin(); it != loader.end(); ++it) {
        na::Tensor loss;
        {
          // Forward and loss only: backward() runs each op in its forward's dtypes by itself.
          na::optimization::autocast ac(amp_dtype, amp);
          loss = na::functional::cross_entropy(runner->forward(it->data), it->target);
        }
        opt.zero_grad();
        scaler.scale(loss).backward();  // a disabled scaler returns loss unchanged
        scaler.step(opt);               // opt.step(), skipped when an f16 gradient overflowed
        scaler.update();
        sched.step();
        ++pos.step;
        ++pos.batch;
        loss_sum += loss.item();
        const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
        const int64_t done = pos.batch * args.batch_size, here = pos.batch - first;
        bar.update(done, loss_sum / static_cast<double>(here),
                   static_cast<double>(here * args.batch_size) / secs,
                   secs / static_cast<double>(here) * static_cast<double>(steps_per_epoch - pos.batch));
        if (args.stop_after > 0 && pos.step >= args.stop_after && pos.batch < steps_per_epoch) {
          stopped = true;
          break;
        }
      }
      bar.finish();
      if (stopped) {
        save_checkpoint();
        std::printf("stopped after step %lld (epoch %d, batch %lld); continue with --resume %s\n",
                    static_cast<long long>(pos.step), epoch + 1, static_cast<long long>(pos.batch),
                    ckpt_path.c_str());
        break;
      }
      const double train_secs = std::chrono::duration<double>(Clock::now() - t0).count();
      accuracy = evaluate(*model, test, amp, amp_dtype, rank, world);
      const double train_loss = loss_sum / static_cast<double>(pos.batch - first);
      std::printf("epoch %d/%d: train loss %.4f, test accuracy %.2f%%, %.1f s\n", epoch + 1, args.epochs,
                  train_loss, accuracy, train_secs);
      if (rank == 0)
        std::ofstream(metrics_path, std::ios::app)
            << "{\"epoch\": " << epoch + 1 << ", \"train_loss\": " << train_loss
            << ", \"test_accuracy\": " << accuracy << ", \"train_seconds\": " << train_secs
            << ", \"samples_per_second\": "
            << static_cast<double>((pos.batch - first) * args.batch_size) / train_secs << "}\n";
      ++pos.epoch;
      pos.batch = 0;
      save_checkpoint();
      stopped = args.stop_after > 0 && pos.step >= args.stop_after;
    }
    if (accuracy == 0) accuracy = evaluate(*model, test, amp, amp_dtype, rank, world);
    std::printf("metrics: %s, checkpoint: %s\n", metrics_path.c_str(), ckpt_path.c_str());
    std::printf("test accuracy: %.2f%%\n", accuracy);
#ifdef NA_HAVE_DISTRIBUTED
    if (args.distributed) na::distributed::destroy_process_group();
#endif
    return 0;
  } catch (const na::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
