// Saliency maps, sensitivity curves and multi-source probing (sensitivity.h).
// Curves: for each block, every (module, bits) variant of that block is quantized once; the
// held-out windows' hidden states at the block's input are cached from the unquantized model, so
// that a variant runs only from its own block on; per batch of windows the unquantized
// continuation is computed once and every variant is compared with it token by token (KL, JSD,
// top-1) without keeping logits beyond the batch. Batching and the chunked head follow
// evaluate_perplexity, so a curve point equals an `eval` of the model with only that module
// quantized.
#include "bitscape/sensitivity.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "bitscape/calibration.h"
#include "bitscape/cost_model.h"
#include "bitscape/error.h"
#include "bitscape/fidelity.h"
#include "bitscape/gradient_statistics.h"
#include "bitscape/model.h"
#include "eval/reference.h"
#include "quant/linalg.h"

namespace bitscape {

namespace {

std::vector<float> to_vector(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kFloat).contiguous().cpu();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

void require(bool ok, const std::string& module, const std::string& metric, const std::string& what) {
  if (!ok)
    throw InputError("", "module " + module + ": the " + metric + " saliency needs " + what);
}

// Windows per forward, as evaluate_perplexity batches them.
int64_t batch_windows(int64_t seqlen) { return std::max<int64_t>(1, 2048 / seqlen); }

}  // namespace

at::Tensor damped_inverse_diagonal(const at::Tensor& H_in, double damp, const std::string& module) {
  at::Tensor H = H_in.to(at::kFloat).cpu().contiguous().clone();
  const at::Tensor dead = H.diagonal() == 0;
  H.diagonal().masked_fill_(dead, 1.0);
  H.diagonal().add_(damp * H.diagonal().mean().item<double>());
  // H^-1 = U^T U with U upper triangular: [H^-1]_jj is the squared norm of column j of U.
  const at::Tensor U = detail::upper_cholesky_of_inverse(std::move(H), module).triu();
  return U.pow(2).sum(0);
}

at::Tensor saliency_map(SaliencyMetric metric, const at::Tensor& W_in, const SaliencyInputs& in,
                        const std::string& module) {
  const at::Tensor W = W_in.to(at::kFloat).cpu();
  const std::string name = saliency_metric_name(metric);
  switch (metric) {
    case SaliencyMetric::kObs:
    case SaliencyMetric::kTammp: {
      require(in.hessian.defined() || in.hessian_inverse_diag.defined(), module, name,
              "the calibration Hessian");
      const at::Tensor d = in.hessian_inverse_diag.defined()
                               ? in.hessian_inverse_diag.to(at::kFloat).cpu()
                               : damped_inverse_diagonal(in.hessian, in.damp, module);
      const at::Tensor w2 = W * W;
      return metric == SaliencyMetric::kObs ? w2 / d.unsqueeze(0) : w2 / (d * d).unsqueeze(0);
    }
    case SaliencyMetric::kActivation:
      require(in.act_l2.defined(), module, name, "the activation norms");
      return W.abs() * in.act_l2.to(at::kFloat).cpu().reshape({1, -1});
    case SaliencyMetric::kHessianDiagonal: {
      const at::Tensor d = in.hessian_diag.defined() ? in.hessian_diag
                           : in.hessian.defined()    ? in.hessian.diagonal()
                                                     : at::Tensor();
      require(d.defined(), module, name, "the Hessian diagonal");
      return W * W * d.to(at::kFloat).cpu().reshape({1, -1});
    }
    case SaliencyMetric::kFisher:
      require(in.fisher.defined(), module, name, "the Fisher information");
      return in.fisher.to(at::kFloat).cpu().reshape(W.sizes()).clone();
  }
  throw std::logic_error("unknown saliency metric");
}

SaliencySummary summarize_saliency(const at::Tensor& map_in, SaliencyMetric metric, int group_size,
                                   int64_t max_rows, int64_t max_cols) {
  const at::Tensor map = map_in.to(at::kFloat).contiguous().cpu();
  SaliencySummary s;
  s.metric = saliency_metric_name(metric);
  s.rows = map.size(0);
  s.cols = map.size(1);
  s.group_size = group_size > 0 ? group_size : static_cast<int>(s.cols);
  s.total = map.to(at::kDouble).sum().item<double>();
  s.column_sum = to_vector(map.sum(0));
  s.row_sum = to_vector(map.sum(1));
  const int64_t g = s.group_size, G = s.groups();
  const at::Tensor padded = at::constant_pad_nd(map, {0, G * g - s.cols}, 0.0);
  s.group_sum = to_vector(padded.view({s.rows, G, g}).sum(2));
  s.pooled_rows = std::max<int64_t>(1, std::min(s.rows, max_rows));
  s.pooled_cols = std::max<int64_t>(1, std::min(s.cols, max_cols));
  const at::Tensor m4 = map.unsqueeze(0).unsqueeze(0);
  s.pooled_mean = to_vector(at::adaptive_avg_pool2d(m4, {s.pooled_rows, s.pooled_cols}));
  s.pooled_max =
      to_vector(std::get<0>(at::adaptive_max_pool2d(m4, {s.pooled_rows, s.pooled_cols})));
  return s;
}

SensitivityBaseline run_sensitivity(Model& model, const SensitivityInputs& inputs,
                                    const SensitivityOptions& options,
                                    const std::set<std::string>& skip,
                                    const std::function<void(const ModuleSensitivity&)>& on_module,
                                    ProgressSink& progress, const CancelToken& cancel) {
  const bool want_fisher =
      std::find(options.metrics.begin(), options.metrics.end(), SaliencyMetric::kFisher) !=
      options.metrics.end();
  std::map<std::string, at::Tensor> fisher;
  std::map<std::string, double> traces;
  const bool any_left = [&] {
    for (const std::string& m : model.linear_modules())
      if (!skip.count(m)) return true;
    return false;
  }();
  if (any_left && (want_fisher || (options.curves && options.trace_samples > 0))) {
    if (!inputs.gradient_windows.defined())
      throw InputError("", "the Fisher information and the Hessian traces need calibration windows");
    if (want_fisher) fisher = fisher_diagonal(model, inputs.gradient_windows, progress, cancel);
    if (options.curves && options.trace_samples > 0)
      traces = hessian_traces(model, inputs.gradient_windows, options.trace_samples, options.seed,
                              progress, cancel);
  }

  c10::InferenceMode guard;
  const at::Tensor& ids_all = inputs.eval_windows;
  const int64_t N = ids_all.size(0), T = ids_all.size(1);
  const int64_t batch = batch_windows(T);
  SensitivityBaseline base;
  base.windows = N;
  base.seqlen = T;
  base.tokens = N * (T - 1);

  // Hidden states of the evaluation windows at the current block's input (unquantized model).
  at::Tensor hidden;
  for (int64_t b0 = 0; b0 < N; b0 += batch) {
    const at::Tensor h = model.embed(ids_all.slice(0, b0, std::min(N, b0 + batch)));
    if (!hidden.defined()) hidden = at::empty({N, T, h.size(2)}, h.options());
    hidden.slice(0, b0, b0 + h.size(0)).copy_(h);
  }
  auto run_from = [&](int64_t first_block, at::Tensor h) {
    for (int64_t b = first_block; b < model.num_blocks(); ++b) h = model.run_block(b, h);
    return h;
  };

  const bool needs_inverse =
      std::find(options.metrics.begin(), options.metrics.end(), SaliencyMetric::kObs) !=
          options.metrics.end() ||
      std::find(options.metrics.begin(), options.metrics.end(), SaliencyMetric::kTammp) !=
          options.metrics.end();
  const void* inverse_key = nullptr;
  at::Tensor inverse_diag;
  int64_t total_steps = 0;
  const int64_t batches = (N + batch - 1) / batch;
  for (const std::string& m : model.linear_modules())
    if (!skip.count(m) && options.curves) total_steps += static_cast<int64_t>(options.bits.size()) * batches;
  progress.stage("sensitivity", total_steps);
  int64_t done = 0;
  bool have_baseline = false;
  FidelityAccumulator baseline_acc;

  for (int64_t block = 0; block < model.num_blocks(); ++block) {
    const std::string prefix = "model.layers." + std::to_string(block) + ".";
    std::vector<std::string> modules;
    for (const std::string& m : model.linear_modules())
      if (m.rfind(prefix, 0) == 0 && !skip.count(m)) modules.push_back(m);

    // Saliency and the quantized variants of this block's modules.
    struct Variant {
      std::string module;
      size_t k;  // index into bits
      at::Tensor weight;
    };
    std::vector<Variant> variants;
    std::map<std::string, ModuleSensitivity> results;
    for (const std::string& m : modules) {
      cancel.throw_if_cancelled();
      const ModuleCalibration calib = inputs.calibration(m);
      const at::Tensor& stored = model.parameter(m + ".weight");
      const at::Tensor W = stored.to(at::kFloat).cpu();
      ModuleSensitivity r;
      r.module = m;
      SaliencyInputs si;
      si.hessian = calib.hessian;
      if (calib.hessian.defined() && needs_inverse) {
        // Modules reading the same input share H: invert it once.
        const void* key = calib.hessian.data_ptr();
        if (key != inverse_key) {
          inverse_diag = damped_inverse_diagonal(calib.hessian, si.damp, m);
          inverse_key = key;
        }
        si.hessian_inverse_diag = inverse_diag;
      }
      si.hessian_diag = calib.hessian_diag;
      si.act_l2 = calib.act_l2;
      if (fisher.count(m)) si.fisher = fisher.at(m);
      for (SaliencyMetric metric : options.metrics)
        r.saliency.push_back(summarize_saliency(saliency_map(metric, W, si, m), metric,
                                                options.group_size, options.pooled_rows,
                                                options.pooled_cols));
      if (options.curves) {
        SensitivityCurve& c = r.curve;
        c.module = m;
        if (traces.count(m)) c.hessian_trace = traces.at(m);
        if (calib.hessian.defined())
          c.layer_hessian_trace = static_cast<double>(W.size(0)) *
                                  calib.hessian.diagonal().to(at::kDouble).sum().item<double>();
        for (size_t k = 0; k < options.bits.size(); ++k) {
          ModuleAllocation a;
          a.bits = options.bits[k];
          a.group_size = options.group_size;
          a.quantizer = options.quantizer;
          const at::Tensor Q = quantize_module(W, a, calib, m).weight;
          c.bits.push_back(a.bits);
          c.objective.push_back(calib.hessian.defined() ? layer_objective(W, Q, calib.hessian)
                                                        : std::nan(""));
          const double dw2 = (Q - W).to(at::kDouble).pow(2).sum().item<double>();
          c.hawq.push_back(std::isnan(c.hessian_trace)
                               ? std::nan("")
                               : c.hessian_trace / static_cast<double>(W.numel()) * dw2);
          variants.push_back({m, k, Q.to(stored.device(), stored.scalar_type())});
        }
      }
      results.emplace(m, std::move(r));
    }

    // Every variant on every batch of windows, against the unquantized continuation.
    std::map<std::pair<std::string, size_t>, FidelityAccumulator> acc;
    if (!variants.empty() || !have_baseline) {
      for (int64_t b0 = 0; b0 < N; b0 += batch) {
        const int64_t b1 = std::min(N, b0 + batch);
        const at::Tensor ids = ids_all.slice(0, b0, b1);
        const at::Tensor h_in = hidden.slice(0, b0, b1);
        const detail::BatchReference ref(model, run_from(block, h_in), ids);
        if (!have_baseline) ref.add_baseline(baseline_acc);
        for (const Variant& v : variants) {
          cancel.throw_if_cancelled();
          at::Tensor& param = model.parameter(v.module + ".weight");
          const at::Tensor original = param;
          param = v.weight;
          at::Tensor out;
          try {
            out = run_from(block + 1, model.run_block(block, h_in));
          } catch (...) {
            param = original;
            throw;
          }
          param = original;
          ref.compare(out, acc[{v.module, v.k}]);
          progress.advance(++done);
        }
      }
      if (!have_baseline) {
        base.nll = baseline_acc.nll();
        base.ppl = baseline_acc.ppl();
        have_baseline = true;
      }
    }
    for (const std::string& m : modules) {
      ModuleSensitivity& r = results.at(m);
      SensitivityCurve& c = r.curve;
      for (size_t k = 0; k < c.bits.size(); ++k) {
        const FidelityAccumulator& a = acc.at({m, k});
        c.ppl.push_back(a.ppl());
        c.delta_ppl.push_back(a.ppl() - base.ppl);
        c.kl.push_back(a.kl());
        c.jsd.push_back(a.jsd());
        c.top1.push_back(a.top1());
      }
      on_module(r);
    }
    // Advance the cached hidden states through this block (unquantized).
    for (int64_t b0 = 0; b0 < N; b0 += batch) {
      const int64_t b1 = std::min(N, b0 + batch);
      hidden.slice(0, b0, b1).copy_(model.run_block(block, hidden.slice(0, b0, b1)));
    }
  }
  return base;
}

// --- multi-source probing ------------------------------------------------------------------------

void run_probing(Model& model, const std::vector<at::Tensor>& windows, const ProbingOptions& options,
                 const std::function<void(const ModuleProbing&)>& on_module,
                 ProgressSink& progress, const CancelToken& cancel) {
  const size_t K = windows.size();
  if (K == 0) throw InputError("", "multi-source probing needs at least one corpus");
  std::map<std::string, ModuleProbing> probes;
  for (const std::string& m : model.linear_modules()) {
    probes[m].module = m;
    probes[m].column_saliency.resize(K);
  }
  for (size_t k = 0; k < K; ++k) {
    run_calibration(
        model, windows[k], /*full_hessians=*/true,
        [&](BlockCalibration& bc) -> std::map<std::string, at::Tensor> {
          for (const ModuleStatistics& s : bc.modules) {
            SaliencyInputs in;
            in.hessian = bc.hessian_of.count(s.name) ? bc.hessian_of.at(s.name) : at::Tensor();
            in.act_l2 = at::tensor(s.act_l2, at::kFloat);
            in.damp = options.damp;
            const at::Tensor W = model.parameter(s.name + ".weight").to(at::kFloat).cpu();
            probes[s.name].column_saliency[k] =
                to_vector(saliency_map(options.metric, W, in, s.name).sum(0));
          }
          return {};
        },
        progress, cancel);
  }
  const int p = options.consensus > 0 ? options.consensus : static_cast<int>((K + 1) / 2);
  for (const std::string& m : model.linear_modules()) {
    ModuleProbing& pr = probes.at(m);
    const int64_t cols = static_cast<int64_t>(pr.column_saliency.front().size());
    const int64_t n_crit = std::clamp<int64_t>(std::llround(options.critical_fraction * cols), 0, cols);
    const int64_t n_non = std::clamp<int64_t>(std::llround(options.non_critical_fraction * cols), 0, cols);
    for (size_t k = 0; k < K; ++k) {
      const std::vector<float>& s = pr.column_saliency[k];
      std::vector<int64_t> order(static_cast<size_t>(cols));
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(),
                       [&](int64_t a, int64_t b) { return s[static_cast<size_t>(a)] > s[static_cast<size_t>(b)]; });
      std::vector<int64_t> crit(order.begin(), order.begin() + n_crit);
      std::vector<int64_t> non(order.end() - n_non, order.end());
      std::sort(crit.begin(), crit.end());
      std::sort(non.begin(), non.end());
      pr.critical.push_back(crit);
      pr.non_critical.push_back(non);
    }
    pr.compactness = consensus_jaccard(pr.critical, p);
    pr.groups_strategy1 = tammp_column_groups(cols, pr.critical, pr.non_critical, 1);
    pr.groups_strategy2 = tammp_column_groups(cols, pr.critical, pr.non_critical, 2);
    on_module(pr);
  }
}

Allocation tammp_allocation(const std::vector<ModuleProbing>& probes, int strategy,
                            const std::vector<ModuleShape>& shapes, int sub_bits, int non_bits,
                            QuantizerKind quantizer, int group_size) {
  Allocation a;
  a.name = "TAMMP strategy " + std::to_string(strategy);
  for (const ModuleProbing& p : probes) {
    const std::vector<uint8_t>& g = strategy == 1 ? p.groups_strategy1 : p.groups_strategy2;
    ModuleAllocation m;
    m.bits = non_bits;
    m.quantizer = quantizer;
    m.group_size = group_size;
    m.channels.axis = ChannelAxis::kIn;
    ChannelClass critical, sub;
    critical.bits = kUnquantizedBits;
    critical.select = ChannelSelect::kIndices;
    sub.bits = sub_bits;
    sub.select = ChannelSelect::kIndices;
    for (size_t c = 0; c < g.size(); ++c) {
      if (g[c] == 2) critical.indices.push_back(static_cast<int64_t>(c));
      if (g[c] == 1) sub.indices.push_back(static_cast<int64_t>(c));
    }
    if (!critical.indices.empty()) m.channels.classes.push_back(critical);
    if (!sub.indices.empty()) m.channels.classes.push_back(sub);
    a.modules[p.module] = m;
  }
  a.validate(shapes, "TAMMP allocation");
  return a;
}

}  // namespace bitscape
