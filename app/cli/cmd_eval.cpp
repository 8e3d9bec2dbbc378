#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "bitscape/model.h"
#include "bitscape/perplexity.h"
#include "bitscape/runtime.h"
#include "cli.h"

namespace bitscape::cli {
namespace {

int run_eval(const Args& args) {
  const std::string dir = args.get("model");
  const std::string data = args.get("data");
  const int64_t seqlen = args.get_int("seqlen");
  const int64_t max_windows = args.get_int("max-windows");
  if (seqlen < 2) throw UsageError("--seqlen must be at least 2");
  const int threads = configure_threads(static_cast<int>(args.get_int("threads")));
  LoadOptions load;
  load.dtype = parse_compute_dtype(args.get("dtype"));
  load.device = args.get("device");
  StderrProgress progress(args.flag("quiet"));
  const CancelToken& cancel = interrupt_token();

  progress.stage("tokenize", 0);
  std::vector<int32_t> tokens = tokenize_eval_corpus(dir, data);
  at::Tensor windows = make_windows(tokens, seqlen, max_windows, data);
  cancel.throw_if_cancelled();

  progress.stage("load", 0);
  Model model = Model::load(dir, load);
  cancel.throw_if_cancelled();

  PerplexityResult r = evaluate_perplexity(model, windows, progress, cancel);
  const double tps = r.seconds > 0 ? (r.windows * r.seqlen) / r.seconds : 0.0;
  if (args.flag("json")) {
    nlohmann::json j = {{"ppl", r.ppl},         {"nll", r.nll},
                        {"tokens", r.tokens},   {"windows", r.windows},
                        {"seqlen", r.seqlen},   {"seconds", r.seconds},
                        {"tokens_per_second", tps}, {"corpus_tokens", tokens.size()},
                        {"device", load.device}, {"dtype", args.get("dtype")},
                        {"threads", threads},   {"window_nll", r.window_nll}};
    std::cout << j.dump() << "\n";
    return 0;
  }
  // llama.cpp-style running estimate per window, then the final line.
  double sum = 0.0;
  for (size_t i = 0; i < r.window_nll.size(); ++i) {
    sum += r.window_nll[i];
    std::printf("%s[%zu]%.4f", i ? "," : "", i + 1, std::exp(sum / static_cast<double>(i + 1)));
  }
  std::printf("\nFinal estimate: PPL = %.4f\n", r.ppl);
  std::printf("%lld windows x %lld tokens (%lld predicted) in %.2f s, %.0f tokens/s, %s %s, %d threads\n",
              static_cast<long long>(r.windows), static_cast<long long>(r.seqlen),
              static_cast<long long>(r.tokens), r.seconds, tps, load.device.c_str(),
              args.get("dtype").c_str(), threads);
  return 0;
}

const bool registered = register_command(
    {"eval",
     "Perplexity of a model on a text or JSONL corpus, with the papers' protocol.\n"
     "Documents are joined with \"\\n\\n\", tokenized once (with the tokenizer's special tokens)\n"
     "and cut into non-overlapping windows of --seqlen tokens.",
     {{"model", "DIR", "Hugging Face model directory", "", true},
      {"data", "FILE", "text file, or .jsonl with a \"text\" field per line", "", true},
      {"seqlen", "N", "window length in tokens", "2048"},
      {"max-windows", "K", "evaluate at most K windows (0 = all)", "0"},
      {"device", "DEV", "cpu, cuda or cuda:N", "cpu"},
      {"dtype", "T", "fp32, bf16 or fp16", "fp32"},
      {"threads", "T", "CPU threads (0 = one per core)", "0"},
      {"json", "", "print one JSON object on stdout"},
      {"quiet", "", "no progress on stderr"}},
     run_eval});

}  // namespace
}  // namespace bitscape::cli
