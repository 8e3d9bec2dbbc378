// Gradient statistics of the language-model loss for every linear module's weight, through
// LibTorch autograd. The empirical Fisher diagonal is the F_ii that weights SqueezeLLM's k-means
// (Kim et al. 2024; the survey papers/001_731e6ef7b719b4af.txt, Sec. 3.1.14, Eq. 37): the
// diagonal of F = 1/N sum over windows of g g^T, i.e. the mean squared per-window gradient. The
// Hessian trace is HAWQ-v2's (Dong et al. 2020): Hutchinson's estimator
// tr(H) ~ 1/m sum_i v_i^T H v_i with Rademacher v_i, where Hv is the gradient of g . v
// (g = dL/dW computed with its graph kept), so H itself is never formed.
#include "bitscape/gradient_statistics.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/autograd/autograd.h>

#include <random>
#include <stdexcept>
#include <utility>
#include <vector>

#include "bitscape/model.h"
#include "train/loss.h"

namespace bitscape {
namespace {

using torch::autograd::variable_list;

// Autograd on, whatever the caller holds: InferenceMode(false) leaves an enclosing
// c10::InferenceMode (tensors made inside are normal tensors that autograd may save), and
// AutoGradMode undoes an enclosing at::NoGradGuard. Restores both on destruction.
struct GradModeScope {
  c10::InferenceMode not_inference{false};
  at::AutoGradMode grad_enabled{true};
};

// Makes exactly the linear modules' weights require grad, and gives every parameter of the
// model its previous requires_grad flag back when it goes out of scope (also when the
// computation throws, Cancelled included).
class RequiresGradScope {
 public:
  explicit RequiresGradScope(Model& model) {
    for (const auto& [name, _] : model.parameters()) {
      at::Tensor& p = model.parameter(name);
      saved_.emplace_back(p, p.requires_grad());
    }
  }
  RequiresGradScope(const RequiresGradScope&) = delete;
  RequiresGradScope& operator=(const RequiresGradScope&) = delete;
  ~RequiresGradScope() {
    for (auto& [p, flag] : saved_)
      if (p.requires_grad() != flag) p.requires_grad_(flag);
  }

  // Turns requires_grad off for every parameter, then on for the weights of `modules`; returns
  // those weights (the model's own tensors) in the order of `modules`.
  std::vector<at::Tensor> enable(Model& model, const std::vector<std::string>& modules) {
    for (auto& [p, flag] : saved_)
      if (flag) p.requires_grad_(false);
    std::vector<at::Tensor> weights;
    for (const std::string& m : modules) {
      at::Tensor& w = model.parameter(m + ".weight");
      w.requires_grad_(true);
      weights.push_back(w);
    }
    return weights;
  }

 private:
  std::vector<std::pair<at::Tensor, bool>> saved_;
};

void check_inputs(const Model& model, const at::Tensor& windows, const char* function) {
  if (windows.dim() != 2 || !at::isIntegralType(windows.scalar_type(), /*includeBool=*/false) ||
      windows.size(0) < 1 || windows.size(1) < 2)
    throw std::invalid_argument(std::string(function) +
                                ": windows must be integer token ids [N >= 1, T >= 2]");
  for (const std::string& m : model.linear_modules())
    if (model.parameter(m + ".weight").is_inference())
      throw std::invalid_argument(std::string(function) + ": '" + m +
                                  ".weight' is an inference tensor (the model was loaded under "
                                  "c10::InferenceMode); autograd cannot differentiate it");
}

// The windows as int64 ids on the model's device, copied so that they are a normal tensor even
// when the caller made them under InferenceMode (embedding saves its indices for backward).
at::Tensor device_ids(const Model& model, const at::Tensor& windows) {
  return windows.to(model.device(), at::kLong, /*non_blocking=*/false, /*copy=*/true);
}

// dL/dW for every weight in `weights`; throws when one of them did not take part in the forward
// (the forward then read a copy of it, e.g. weights staged with Model::stage_block).
variable_list gradients(const at::Tensor& loss, const std::vector<at::Tensor>& weights,
                        bool create_graph) {
  variable_list g = torch::autograd::grad({loss}, weights, /*grad_outputs=*/{},
                                          /*retain_graph=*/create_graph, create_graph,
                                          /*allow_unused=*/true);
  for (const at::Tensor& t : g)
    if (!t.defined())
      throw std::logic_error(
          "gradient statistics: a linear weight is not part of the forward graph (staged "
          "weights? call Model::unstage() first)");
  return g;
}

// A stream of Rademacher signs from std::mt19937_64(seed): each 64-bit output gives 64 signs,
// lowest bit first, bit 1 -> +1 and bit 0 -> -1. Tensors are filled in row-major order and the
// stream continues across tensors, so the draws depend only on the seed and the order of the
// requests, not on the device.
class RademacherStream {
 public:
  explicit RademacherStream(uint64_t seed) : engine_(seed) {}

  // float32 CPU tensor of `sizes` filled with the next signs of the stream.
  at::Tensor next(at::IntArrayRef sizes) {
    at::Tensor v = at::empty(sizes, at::kFloat);
    float* p = v.data_ptr<float>();
    const int64_t n = v.numel();
    for (int64_t i = 0; i < n; ++i) {
      if (bits_left_ == 0) {
        bits_ = engine_();
        bits_left_ = 64;
      }
      p[i] = (bits_ & 1u) ? 1.0f : -1.0f;
      bits_ >>= 1;
      --bits_left_;
    }
    return v;
  }

 private:
  std::mt19937_64 engine_;
  uint64_t bits_ = 0;
  int bits_left_ = 0;
};

}  // namespace

std::map<std::string, at::Tensor> fisher_diagonal(Model& model, const at::Tensor& windows,
                                                  ProgressSink& progress,
                                                  const CancelToken& cancel) {
  check_inputs(model, windows, "fisher_diagonal");
  const std::vector<std::string> modules = model.linear_modules();
  GradModeScope grad_mode;
  RequiresGradScope requires_grad(model);
  const std::vector<at::Tensor> W = requires_grad.enable(model, modules);
  const at::Tensor ids = device_ids(model, windows);
  const int64_t N = ids.size(0);

  // Sum over windows of the squared gradients, float32 where each weight lives.
  std::vector<at::Tensor> sum_sq;
  for (const at::Tensor& w : W)
    sum_sq.push_back(at::zeros(w.sizes(), w.options().dtype(at::kFloat).requires_grad(false)));

  progress.stage("fisher", N);
  for (int64_t n = 0; n < N; ++n) {
    cancel.throw_if_cancelled();
    const at::Tensor window = ids.slice(0, n, n + 1);
    const at::Tensor loss = detail::next_token_loss(model.forward(window), window);
    const variable_list g = gradients(loss, W, /*create_graph=*/false);
    for (size_t m = 0; m < W.size(); ++m) {
      const at::Tensor gm = g[m].to(at::kFloat);
      sum_sq[m].addcmul_(gm, gm);  // g_d * g_d (elementwise): the diagonal of g_d g_d^T
    }
    progress.advance(n + 1);
  }

  std::map<std::string, at::Tensor> fisher;
  for (size_t m = 0; m < modules.size(); ++m)
    fisher.emplace(modules[m], sum_sq[m].div_(static_cast<double>(N)).to(at::kCPU));
  return fisher;
}

std::map<std::string, double> hessian_traces(Model& model, const at::Tensor& windows,
                                             int64_t samples, uint64_t seed, ProgressSink& progress,
                                             const CancelToken& cancel) {
  check_inputs(model, windows, "hessian_traces");
  if (samples < 1) throw std::invalid_argument("hessian_traces: samples must be at least 1");
  const std::vector<std::string> modules = model.linear_modules();
  GradModeScope grad_mode;
  RequiresGradScope requires_grad(model);
  const std::vector<at::Tensor> W = requires_grad.enable(model, modules);
  const at::Tensor ids = device_ids(model, windows);

  progress.stage("hutchinson", samples);
  cancel.throw_if_cancelled();
  // One batch of all windows: next_token_loss averages over all N * (T - 1) predicted tokens,
  // which (the windows having equal length) is the mean of the windows' losses.
  const at::Tensor loss = detail::next_token_loss(model.forward(ids), ids);
  // g = dL/dW with its graph, kept for every sample's Hessian-vector product.
  const variable_list g = gradients(loss, W, /*create_graph=*/true);

  RademacherStream rademacher(seed);
  std::vector<double> sum(W.size(), 0.0);
  for (int64_t s = 0; s < samples; ++s) {
    cancel.throw_if_cancelled();
    std::vector<at::Tensor> v;
    at::Tensor g_dot_v;  // sum over modules of g_m . v_m
    for (size_t m = 0; m < W.size(); ++m) {
      v.push_back(rademacher.next(W[m].sizes()).to(W[m].device()));
      const at::Tensor term = (g[m].to(at::kFloat) * v[m]).sum();
      g_dot_v = g_dot_v.defined() ? g_dot_v + term : term;
    }
    // Hv = d(g . v)/dW (HAWQ-v2, Alg. 1); the graph of g stays for the next sample.
    const variable_list Hv = torch::autograd::grad({g_dot_v}, W, /*grad_outputs=*/{},
                                                   /*retain_graph=*/true, /*create_graph=*/false,
                                                   /*allow_unused=*/true);
    std::vector<at::Tensor> vHv;  // v_m . (Hv)_m per module
    for (size_t m = 0; m < W.size(); ++m) {
      // A module whose gradient does not depend on the weights has Hv = 0.
      vHv.push_back(Hv[m].defined() ? (v[m] * Hv[m].to(at::kFloat)).sum(at::kDouble)
                                    : at::zeros({}, v[m].options().dtype(at::kDouble)));
    }
    const at::Tensor values = at::stack(vHv).to(at::kCPU);
    const double* value = values.data_ptr<double>();
    for (size_t m = 0; m < W.size(); ++m) sum[m] += value[m];
    progress.advance(s + 1);
  }

  std::map<std::string, double> traces;
  for (size_t m = 0; m < modules.size(); ++m)
    traces.emplace(modules[m], sum[m] / static_cast<double>(samples));
  return traces;
}

}  // namespace bitscape
