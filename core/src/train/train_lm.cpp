// Next-token training with AdamW (decoupled weight decay, Loshchilov & Hutter 2019, Alg. 2),
// linear warmup then cosine decay of the learning rate, and global gradient-norm clipping.
// Mixed precision follows Micikevicius et al., "Mixed Precision Training" (2018): fp32 master
// weights, the forward/backward on low-precision copies (bf16 needs no loss scaling; fp16 is
// given none here either, so it is meant for short runs only), the update in fp32.
#include "bitscape/train.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>

#include "bitscape/error.h"
#include "bitscape/model.h"
#include "train/loss.h"

namespace bitscape {
namespace {

using detail::next_token_loss;

double lr_at(const TrainOptions& o, int64_t step) {
  if (step < o.warmup_steps) return o.lr * static_cast<double>(step + 1) / o.warmup_steps;
  double progress = static_cast<double>(step - o.warmup_steps) /
                    std::max<int64_t>(1, o.steps - o.warmup_steps);
  progress = std::min(1.0, progress);
  double cosine = 0.5 * (1.0 + std::cos(M_PI * progress));
  return o.lr * (o.min_lr_ratio + (1.0 - o.min_lr_ratio) * cosine);
}

}  // namespace

TrainResult train_lm(Model& model, const std::vector<int32_t>& train_tokens,
                     const std::vector<int32_t>& val_tokens, const TrainOptions& o,
                     ProgressSink& progress, const CancelToken& cancel) {
  const int64_t L = o.seqlen + 1;  // inputs and shifted targets
  if (model.dtype() != at::kFloat)
    throw InputError("", "training needs the model's weights in fp32 (the master copy); "
                         "use TrainOptions::compute_dtype for bf16 compute");
  const bool mixed = o.compute_dtype != at::kFloat;
  if (mixed && o.compute_dtype != at::kBFloat16 && o.compute_dtype != at::kHalf)
    throw InputError("", "training compute dtype must be fp32, bf16 or fp16");
  // Mixed precision: a model of the same shape in the compute dtype whose weights are replaced
  // each step by casts of the fp32 weights that autograd differentiates through.
  std::unique_ptr<Model> shadow;
  if (mixed) {
    LoadOptions lo;
    lo.dtype = o.compute_dtype;
    lo.device = model.device().str();
    shadow = std::make_unique<Model>(Model::random(model.config(), 0, lo));
  }
  if (static_cast<int64_t>(train_tokens.size()) <= L)
    throw InputError("", "training corpus has " + std::to_string(train_tokens.size()) +
                             " tokens, fewer than one window of " + std::to_string(L));
  at::Tensor train = at::from_blob(const_cast<int32_t*>(train_tokens.data()),
                                   {static_cast<int64_t>(train_tokens.size())}, at::kInt)
                         .to(at::kLong);
  int64_t val_windows =
      std::min<int64_t>(o.eval_windows, static_cast<int64_t>(val_tokens.size()) / L);
  at::Tensor val;
  if (val_windows > 0)
    val = at::from_blob(const_cast<int32_t*>(val_tokens.data()), {val_windows * L}, at::kInt)
              .to(at::kLong)
              .view({val_windows, L});

  // Parameters, AdamW moments, and whether weight decay applies (2-D weights, not embeddings'
  // norms or biases).
  struct Slot {
    std::string name;
    at::Tensor p, m, v;
    bool decay;
  };
  std::vector<Slot> slots;
  for (const auto& [name, _] : model.parameters()) {
    at::Tensor& p = model.parameter(name);
    p.requires_grad_(true);
    bool decay = p.dim() == 2;
    slots.push_back({name, p, at::zeros_like(p), at::zeros_like(p), decay});
  }

  std::mt19937_64 rng(o.seed);
  std::uniform_int_distribution<int64_t> pick(0, train.size(0) - L);
  TrainResult result;
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  auto validate = [&](int64_t step) {
    if (val_windows == 0) return;
    at::NoGradGuard no_grad;
    double sum = 0.0;
    for (int64_t w = 0; w < val_windows; w += o.batch_size) {
      at::Tensor ids = val.slice(0, w, std::min(val_windows, w + o.batch_size)).to(model.device());
      sum += next_token_loss(model.forward(ids), ids).item<double>() * ids.size(0);
    }
    double loss = sum / val_windows;
    result.val_loss.emplace_back(step, loss);
    char line[128];
    std::snprintf(line, sizeof line, "step %lld  validation loss %.4f  (ppl %.2f)",
                  static_cast<long long>(step), loss, std::exp(loss));
    progress.log(line);
  };

  progress.stage("train", o.steps);
  double loss_acc = 0.0;
  int64_t loss_n = 0;
  for (int64_t step = 0; step < o.steps; ++step) {
    if (cancel.cancelled() || (o.max_seconds > 0 && elapsed() > o.max_seconds)) break;
    std::vector<at::Tensor> rows;
    for (int64_t b = 0; b < o.batch_size; ++b) {
      const int64_t start = pick(rng);
      rows.push_back(train.slice(0, start, start + L));
    }
    at::Tensor ids = at::stack(rows).to(model.device());
    if (shadow)
      for (auto& s : slots) shadow->parameter(s.name) = s.p.to(o.compute_dtype);
    at::Tensor loss = next_token_loss((shadow ? *shadow : model).forward(ids), ids);
    loss.backward();
    loss_acc += loss.item<double>();
    ++loss_n;
    {
      at::NoGradGuard no_grad;
      double scale = 1.0;
      if (o.grad_clip > 0) {
        double sq = 0.0;
        for (auto& s : slots)
          if (s.p.grad().defined()) sq += s.p.grad().pow(2).sum().item<double>();
        double norm = std::sqrt(sq);
        if (norm > o.grad_clip) scale = o.grad_clip / (norm + 1e-6);
      }
      const double lr = lr_at(o, step);
      const double bc1 = 1.0 - std::pow(o.beta1, step + 1);
      const double bc2 = 1.0 - std::pow(o.beta2, step + 1);
      for (auto& s : slots) {
        at::Tensor g = s.p.grad();
        if (!g.defined()) continue;
        if (scale != 1.0) g = g * scale;
        s.m.mul_(o.beta1).add_(g, 1.0 - o.beta1);
        s.v.mul_(o.beta2).addcmul_(g, g, 1.0 - o.beta2);
        if (s.decay && o.weight_decay > 0) s.p.mul_(1.0 - lr * o.weight_decay);
        at::Tensor denom = (s.v / bc2).sqrt_().add_(o.eps);
        s.p.addcdiv_(s.m, denom, -lr / bc1);
        s.p.mutable_grad() = at::Tensor();
      }
    }
    result.steps_done = step + 1;
    result.tokens_seen += o.batch_size * o.seqlen;
    progress.advance(step + 1);
    if ((step + 1) % 50 == 0 || step + 1 == o.steps) {
      result.train_loss.emplace_back(step + 1, loss_acc / loss_n);
      char line[160];
      std::snprintf(line, sizeof line, "step %lld  loss %.4f  lr %.2e  %.0f tokens/s",
                    static_cast<long long>(step + 1), loss_acc / loss_n, lr_at(o, step),
                    result.tokens_seen / elapsed());
      progress.log(line);
      loss_acc = 0.0;
      loss_n = 0;
    }
    if (o.eval_every > 0 && (step + 1) % o.eval_every == 0) validate(step + 1);
  }
  if (result.val_loss.empty() || result.val_loss.back().first != result.steps_done)
    validate(result.steps_done);
  for (auto& s : slots) s.p.requires_grad_(false);
  shadow.reset();
  result.seconds = elapsed();
  return result;
}

}  // namespace bitscape
