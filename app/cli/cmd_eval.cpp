#include <cmath>
#include <optional>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "bitscape/calibration.h"
#include "bitscape/model.h"
#include "bitscape/perplexity.h"
#include "bitscape/quantize_job.h"
#include "bitscape/runtime.h"
#include "cli.h"
#include "quant_args.h"

namespace bitscape::cli {
namespace {

int run_eval(const Args& args) {
  const std::string dir = args.get("model");
  const std::string data = args.get("data");
  int64_t seqlen = args.get_int("seqlen");
  if (seqlen == 0) {  // default: min(2048, the model's context)
    const ModelConfig config = ModelConfig::from_json_file(dir + "/config.json");
    seqlen = config.max_position_embeddings > 0
                 ? std::min<int64_t>(2048, config.max_position_embeddings) : 2048;
  }
  const int64_t max_windows = args.get_int("max-windows");
  if (seqlen < 2) throw UsageError("--seqlen must be at least 2");
  const std::string context_note =
      context_warning(ModelConfig::from_json_file(dir + "/config.json"), seqlen);
  const int threads = configure_threads(static_cast<int>(args.get_int("threads")));
  const LoadOptions load = load_options(device_options_from_args(args));
  StderrProgress progress(args.flag("quiet"));
  const CancelToken& cancel = interrupt_token();
  if (!context_note.empty()) progress.log(context_note);

  progress.stage("tokenize", 0);
  std::vector<int32_t> tokens = tokenize_eval_corpus(dir, data);
  at::Tensor windows = make_windows(tokens, seqlen, max_windows, data);
  cancel.throw_if_cancelled();

  progress.stage("load", 0);
  Model model = Model::load(dir, load);
  cancel.throw_if_cancelled();
  // --alloc / --bits: quantize in memory first.
  std::optional<QuantizeReport> quant;
  if (wants_quantization(args)) {
    const Allocation alloc = allocation_from_args(args, module_shapes(model));
    quant = quantize_model(model, alloc, job_options_from_args(args), progress, cancel);
  }

  PerplexityResult r = evaluate_perplexity(model, windows, progress, cancel);
  const double tps = r.seconds > 0 ? (r.windows * r.seqlen) / r.seconds : 0.0;
  if (args.flag("json")) {
    nlohmann::json j = {{"ppl", r.ppl},         {"nll", r.nll},
                        {"tokens", r.tokens},   {"windows", r.windows},
                        {"seqlen", r.seqlen},   {"seconds", r.seconds},
                        {"tokens_per_second", tps}, {"corpus_tokens", tokens.size()},
                        {"device", load.device}, {"dtype", args.get("dtype")},
                        {"threads", threads},   {"window_nll", r.window_nll}};
    if (quant) j["quantization"] = quantize_report_json(*quant);
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
  if (quant) print_quantize_summary(*quant);
  std::printf("%lld windows x %lld tokens (%lld predicted) in %.2f s, %.0f tokens/s, %s %s, %d threads\n",
              static_cast<long long>(r.windows), static_cast<long long>(r.seqlen),
              static_cast<long long>(r.tokens), r.seconds, tps, load.device.c_str(),
              args.get("dtype").c_str(), threads);
  return 0;
}

std::vector<OptionSpec> eval_options() {
  std::vector<OptionSpec> o = {
      {"model", "DIR", "Hugging Face model directory", "", true},
      {"data", "FILE", "text file, or .jsonl with a \"text\" field per line", "", true},
      {"seqlen", "N", "window length in tokens (0 = min(2048, the model's context))", "0"},
      {"max-windows", "K", "evaluate at most K windows (0 = all)", "0"}};
  for (const OptionSpec& s : runtime_options()) o.push_back(s);
  for (const OptionSpec& s : allocation_options()) o.push_back(s);
  for (const OptionSpec& s : calibration_source_options()) o.push_back(s);
  return o;
}

const bool registered = register_command(
    {"eval",
     "Perplexity of a model on a text or JSONL corpus, with the papers' protocol.\n"
     "Documents are joined with \"\\n\\n\", tokenized once (with the tokenizer's special tokens)\n"
     "and cut into non-overlapping windows of --seqlen tokens. With --alloc (or --bits) the\n"
     "model is first quantized in memory as the allocation says.",
     eval_options(),
     run_eval});

}  // namespace
}  // namespace bitscape::cli
