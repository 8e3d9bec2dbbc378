// Perplexity as GPTQ, AWQ and AMQ measure it (WikiText-2 protocol): non-overlapping windows of
// `seqlen` tokens over the whole tokenized corpus; each window starts with a fresh context.
// We average the negative log-likelihood over exactly the predicted tokens (seqlen - 1 per
// window); the reference scripts weight each window's mean loss by seqlen instead, which gives
// the same number because every window has the same length.
#include "bitscape/perplexity.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

#include "bitscape/config.h"
#include "bitscape/corpus.h"
#include "bitscape/error.h"
#include "bitscape/model.h"
#include "bitscape/tokenizer.h"

namespace bitscape {

std::vector<int32_t> tokenize_eval_corpus(const std::string& model_dir, const std::string& data_path) {
  const ModelConfig config = ModelConfig::from_json_file(model_dir + "/config.json");
  const std::string tokenizer_path = model_dir + "/tokenizer.json";
  const Tokenizer tokenizer = Tokenizer::from_file(tokenizer_path);
  std::vector<int32_t> ids = tokenizer.encode(read_corpus(data_path), /*add_special_tokens=*/true);
  for (int32_t id : ids)
    if (id < 0 || id >= config.vocab_size)
      throw InputError(tokenizer_path, "produces token id " + std::to_string(id) +
                                           " but the model's vocab_size is " +
                                           std::to_string(config.vocab_size));
  return ids;
}

at::Tensor make_windows(const std::vector<int32_t>& tokens, int64_t seqlen, int64_t max_windows,
                        const std::string& source) {
  if (seqlen < 2) throw InputError(source, "seqlen must be at least 2, got " + std::to_string(seqlen));
  int64_t n = static_cast<int64_t>(tokens.size()) / seqlen;
  if (n == 0)
    throw InputError(source, "corpus has " + std::to_string(tokens.size()) +
                                 " tokens, shorter than one window of " + std::to_string(seqlen));
  if (max_windows > 0 && max_windows < n) n = max_windows;
  at::Tensor all = at::from_blob(const_cast<int32_t*>(tokens.data()), {n * seqlen}, at::kInt);
  return all.to(at::kLong).view({n, seqlen});
}

PerplexityResult evaluate_perplexity(const Model& model, const at::Tensor& windows,
                                     ProgressSink& progress, const CancelToken& cancel) {
  c10::InferenceMode guard;
  const auto t0 = std::chrono::steady_clock::now();
  PerplexityResult r;
  r.windows = windows.size(0);
  r.seqlen = windows.size(1);
  progress.stage("perplexity", r.windows);
  double total = 0.0;
  // Windows are independent, so several are stacked into one batch (about kBatchTokens tokens
  // per forward) to give the matrix products enough rows; the result is the same as scoring
  // them one at a time. The head is applied to slices of positions so that the logits of a
  // long window over a large vocabulary never exist all at once.
  const int64_t kBatchTokens = 2048;
  const int64_t batch = std::max<int64_t>(1, kBatchTokens / r.seqlen);
  const int64_t chunk = std::max<int64_t>(1, 256 / batch);
  const int64_t predicted = r.seqlen - 1;
  for (int64_t w0 = 0; w0 < r.windows; w0 += batch) {
    cancel.throw_if_cancelled();
    const int64_t n = std::min(batch, r.windows - w0);
    at::Tensor ids = windows.slice(0, w0, w0 + n);
    at::Tensor h = model.embed(ids);
    for (int64_t b = 0; b < model.num_blocks(); ++b) {
      cancel.throw_if_cancelled();
      h = model.run_block(b, h);
    }
    at::Tensor targets = ids.slice(1, 1, r.seqlen).to(h.device());
    at::Tensor sums = at::zeros({n}, at::TensorOptions().dtype(at::kDouble).device(h.device()));
    for (int64_t s = 0; s < predicted; s += chunk) {
      const int64_t e = std::min(predicted, s + chunk);
      at::Tensor logp = at::log_softmax(model.head(h.slice(1, s, e)).to(at::kFloat), -1);
      at::Tensor picked = logp.gather(2, targets.slice(1, s, e).unsqueeze(2)).squeeze(2);
      sums -= picked.to(at::kDouble).sum(1);
    }
    at::Tensor cpu_sums = sums.cpu();
    for (int64_t i = 0; i < n; ++i) {
      const double window_sum = cpu_sums[i].item<double>();
      if (!std::isfinite(window_sum))
        throw_non_finite(model, ids.slice(0, i, i + 1),
                         "the loss of window " + std::to_string(w0 + i + 1));
      r.window_nll.push_back(window_sum / static_cast<double>(predicted));
      total += window_sum;
      r.tokens += predicted;
    }
    // The batch's windows the moment they are scored (the workbench draws them as they come).
    std::string json = "{\"first\":" + std::to_string(w0) + ",\"windows\":" + std::to_string(r.windows) + ",\"nll\":[";
    for (int64_t i = 0; i < n; ++i) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%s%.17g", i ? "," : "", r.window_nll[size_t(w0 + i)]);
      json += buf;
    }
    progress.result("window_nll", json + "]}");
    progress.advance(w0 + n);
  }
  r.nll = total / static_cast<double>(r.tokens);
  r.ppl = std::exp(r.nll);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace bitscape
