// A character-level GPT trained on the text of Debian's fortune cookies (the `fortunes`
// package; scripts/install_deps.sh --data installs it), with AdamW and a linear-warmup +
// cosine schedule. Prints a progress line, the train/validation loss and a few samples.
//
//   train_char_gpt [--steps N] [--batch-size B] [--block-size T] [--layers L] [--heads H]
//                  [--embd E] [--lr LR] [--warmup W] [--threads T] [--seed S]
//                  [--samples K] [--sample-length N] [--temperature X] [--top-k K]
//                  [--amp none|bf16|f16] [--distributed]
//
// --distributed (under mpirun -np N, built with NA_DISTRIBUTED): DistributedDataParallel over
// MPI. --batch-size stays the global batch, split evenly across the ranks, each drawing its
// own random windows (its data generator is seeded by its rank); rank 0 alone prints,
// evaluates and samples.
//
// --amp runs the forward passes (training, evaluation, sampling) under optimization::autocast:
// the linears and attention in bf16 or f16, softmax, norms and the loss in f32; f16 adds a
// GradScaler (gradients are unscaled before clipping). Parameters stay f32.
//
// The defaults (a 0.8M-parameter model, 1000 steps of 32 x 64 characters) take a few
// minutes on 2 cores and give text with recognisable words and fortune-file structure.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <neural_arch/autograd.hpp>
#include <neural_arch/data/text.hpp>
#include <neural_arch/nn/gpt.hpp>
#include <neural_arch/ops.hpp>
#include <neural_arch/optim/adam.hpp>
#include <neural_arch/optim/clip_grad.hpp>
#include <neural_arch/optim/lr_scheduler.hpp>
#include <neural_arch/optimization/autocast.hpp>
#include <neural_arch/optimization/grad_scaler.hpp>
#include <string>

#include "distributed_ranks.hpp"

namespace na = neural_arch;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
  int64_t steps = 1000, batch_size = 32, block_size = 64, layers = 4, heads = 4, embd = 128;
  double lr = 2e-3;
  int64_t warmup = 100;
  int threads = 2;
  uint64_t seed = 1337;
  int samples = 3;
  int64_t sample_length = 240;
  double temperature = 0.8;
  int64_t top_k = 20;
  std::string amp = "none";
  bool distributed = false;
};

[[noreturn]] void usage(const std::string& why) {
  (why.empty() ? std::cout : std::cerr)
      << (why.empty() ? "" : "train_char_gpt: " + why + "\n")
      << "usage: train_char_gpt [--steps N] [--batch-size B] [--block-size T] [--layers L] [--heads H]"
         " [--embd E] [--lr LR] [--warmup W] [--threads T] [--seed S] [--samples K]"
         " [--sample-length N] [--temperature X] [--top-k K] [--amp none|bf16|f16] [--distributed]\n";
  std::exit(why.empty() ? 0 : 2);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) usage("missing value after " + k);
      return argv[++i];
    };
    if (k == "-h" || k == "--help") usage("");
    try {
      if (k == "--steps")
        a.steps = std::stoll(val());
      else if (k == "--batch-size")
        a.batch_size = std::stoll(val());
      else if (k == "--block-size")
        a.block_size = std::stoll(val());
      else if (k == "--layers")
        a.layers = std::stoll(val());
      else if (k == "--heads")
        a.heads = std::stoll(val());
      else if (k == "--embd")
        a.embd = std::stoll(val());
      else if (k == "--lr")
        a.lr = std::stod(val());
      else if (k == "--warmup")
        a.warmup = std::stoll(val());
      else if (k == "--threads")
        a.threads = std::stoi(val());
      else if (k == "--seed")
        a.seed = std::stoull(val());
      else if (k == "--samples")
        a.samples = std::stoi(val());
      else if (k == "--sample-length")
        a.sample_length = std::stoll(val());
      else if (k == "--temperature")
        a.temperature = std::stod(val());
      else if (k == "--top-k")
        a.top_k = std::stoll(val());
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
  if (a.steps <= 0 || a.batch_size <= 0 || a.block_size <= 0 || a.layers <= 0 || a.heads <= 0 ||
      a.embd <= 0 || a.threads <= 0 || a.warmup < 0 || a.samples < 0 || a.sample_length < 0)
    usage("sizes must be positive");
  if (a.amp != "none" && a.amp != "bf16" && a.amp != "f16") usage("--amp must be none, bf16 or f16");
  return a;
}

// Mean loss over a few random batches, without grad and without dropout.
// Under the training run's autocast mode (the caller's scope), so it is the mixed-precision model's loss.
double estimate_loss(na::nn::GPT& gpt, const na::data::CharTextDataset& ds, int64_t batch,
                     na::Generator& gen) {
  na::NoGradGuard no_grad;
  gpt.eval();
  double sum = 0;
  constexpr int kBatches = 10;
  for (int i = 0; i < kBatches; ++i) {
    const auto b = ds.random_batch(batch, gen);
    sum += gpt.forward(b.data, b.target).item();
  }
  gpt.train();
  return sum / kBatches;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  try {
    const Ranks ranks = start_ranks(args.distributed, args.batch_size, "train_char_gpt");
    const int rank = ranks.rank, world = ranks.world;
    const int64_t local_batch = ranks.local_batch;
    na::set_num_threads(args.threads);
    na::manual_seed(args.seed);
    const std::string text = na::data::read_fortunes();
    // Vocabulary of the whole text; the last 10% (whole fortunes mixed as they come) is held out.
    const na::data::CharVocab vocab(text);
    const size_t cut = text.size() * 9 / 10;
    const na::data::CharTextDataset train(text.substr(0, cut), args.block_size, vocab);
    const na::data::CharTextDataset val(text.substr(cut), args.block_size, vocab);

    na::nn::GPTConfig cfg;
    cfg.vocab_size = vocab.size();
    cfg.block_size = args.block_size;
    cfg.n_layer = args.layers;
    cfg.n_head = args.heads;
    cfg.n_embd = args.embd;
    cfg.dropout = 0.0;
    auto gpt = std::make_shared<na::nn::GPT>(cfg);
    int64_t n_params = 0;
    for (const auto& p : gpt->parameters()) n_params += p.numel();
    std::printf("neural_arch char-GPT on fortunes: %zu characters (%s), vocabulary %lld, %.2fM parameters\n",
                text.size(), na::data::kFortunesDebianDir, static_cast<long long>(vocab.size()),
                n_params / 1e6);
    const bool amp = args.amp != "none";
    const na::DType amp_dtype = args.amp == "f16" ? na::kFloat16 : na::kBFloat16;
    std::printf(
        "%lld layers, %lld heads, embd %lld, block %lld, batch %lld, %lld steps, AdamW lr %g, %d threads, "
        "%s\n",
        static_cast<long long>(args.layers), static_cast<long long>(args.heads),
        static_cast<long long>(args.embd), static_cast<long long>(args.block_size),
        static_cast<long long>(args.batch_size), static_cast<long long>(args.steps), args.lr, args.threads,
        amp ? ("autocast " + args.amp + (args.amp == "f16" ? " + GradScaler" : "")).c_str() : "f32");

#ifdef NA_HAVE_DISTRIBUTED
    // Averages the gradients over the ranks in backward (gpt->forward still runs the model:
    // the wrapper's hooks sit on the parameters). Rank 0's initial parameters go to all.
    std::shared_ptr<na::distributed::DistributedDataParallel> ddp;
    if (args.distributed) ddp = std::make_shared<na::distributed::DistributedDataParallel>(gpt);
    if (world > 1)
      std::printf("distributed: %d ranks (mpi), %lld sequences per rank per step\n", world,
                  static_cast<long long>(local_batch));
#endif
    na::optim::AdamW opt(gpt->parameters(),
                         na::optim::AdamWOptions().lr(args.lr).betas({0.9, 0.99}).weight_decay(0.1));
    na::optim::WarmupCosineLR sched(opt, std::min(args.warmup, args.steps), args.steps, args.lr / 10);
    na::Generator data_gen(args.seed + 1 + 1000 * static_cast<uint64_t>(rank)), eval_gen(args.seed + 2),
        sample_gen(args.seed + 3);
    // f16's 5-bit exponent needs loss scaling; bf16 has f32's range and does not.
    na::optimization::GradScaler scaler(na::optimization::GradScalerOptions{.enabled = args.amp == "f16"});

    const bool tty = isatty(1);
    const auto t0 = Clock::now();
    auto last_print = t0;
    double ema = 0;
    for (int64_t step = 1; step <= args.steps; ++step) {
      const auto batch = train.random_batch(local_batch, data_gen);
      na::Tensor loss;
      {
        na::optimization::autocast ac(amp_dtype, amp);
        loss = gpt->forward(batch.data, batch.target);
      }
      opt.zero_grad();
      scaler.scale(loss).backward();  // a disabled scaler returns loss unchanged
      scaler.unscale_(opt);           // clip the true gradients
      na::optim::clip_grad_norm_(gpt->parameters(), 1.0);
      scaler.step(opt);  // opt.step(), skipped when an f16 gradient overflowed
      scaler.update();
      sched.step();
      const double l = loss.item();
      ema = step == 1 ? l : 0.95 * ema + 0.05 * l;
      const auto now = Clock::now();
      const double secs = std::chrono::duration<double>(now - t0).count();
      const bool due = step == args.steps || (tty ? now - last_print > std::chrono::milliseconds(250)
                                                  : step % std::max<int64_t>(1, args.steps / 10) == 0);
      if (due) {
        last_print = now;
        const double tok_s = static_cast<double>(step * args.batch_size * args.block_size) / secs;
        std::printf("%sstep %lld/%lld  loss %.3f  lr %.2e  %.0f tokens/s  ETA %.0f s%s", tty ? "\r" : "",
                    static_cast<long long>(step), static_cast<long long>(args.steps), ema,
                    sched.get_last_lr()[0], tok_s,
                    secs / static_cast<double>(step) * static_cast<double>(args.steps - step),
                    tty ? "" : "\n");
        std::fflush(stdout);
      }
    }
    if (tty) std::printf("\n");
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
#ifdef NA_HAVE_DISTRIBUTED
    if (args.distributed) {
      ddp.reset();
      na::distributed::destroy_process_group();  // evaluation and samples: rank 0 alone
      if (rank != 0) return 0;
    }
#endif
    na::optimization::autocast ac(amp_dtype, amp);
    std::printf("trained in %.1f s: train loss %.3f, validation loss %.3f (uniform guess: %.3f)\n", secs,
                estimate_loss(*gpt, train, args.batch_size, eval_gen),
                estimate_loss(*gpt, val, args.batch_size, eval_gen),
                std::log(static_cast<double>(vocab.size())));

    gpt->eval();
    const na::Tensor prompt = na::tensor(vocab.encode("%\n"), na::Shape{1, 2});
    for (int s = 0; s < args.samples; ++s) {
      const na::Tensor out =
          gpt->generate(prompt, args.sample_length, args.temperature, args.top_k, &sample_gen);
      std::printf("--- sample %d (temperature %g, top-k %lld)\n%s\n", s + 1, args.temperature,
                  static_cast<long long>(args.top_k),
                  vocab.decode(out.narrow(1, 2, out.size(1) - 2)).c_str());
    }
    return 0;
  } catch (const na::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
