// The quantize job (quantize_job.h): block by block, modules in execution order; AWQ's scales
// are searched jointly for the modules that read the same input (q/k/v, gate/up), as llm-awq
// folds one scale into the norm before them; for o_proj of a GQA model llm-awq cannot fold the
// scale into v_proj (their shapes differ) and leaves it unscaled, and it skips the clipping
// search for q_proj and k_proj: both are followed here.
#include "bitscape/quantize_job.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <chrono>
#include <cmath>

#include "bitscape/error.h"
#include "bitscape/gradient_statistics.h"
#include "bitscape/model.h"
#include "bitscape/perplexity.h"
#include "bitscape/project.h"
#include "util/text.h"

namespace bitscape {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

bool needs_full_hessian(const ModuleAllocation& m) {
  return m.quantized() &&
         (m.quantizer == QuantizerKind::kGptq || m.quantizer == QuantizerKind::kAwq);
}

at::Tensor to_tensor(const std::vector<float>& v) {
  return v.empty() ? at::Tensor() : at::tensor(v, at::kFloat);
}

}  // namespace

bool allocation_needs_calibration(const Allocation& allocation,
                                  const std::vector<ModuleShape>& shapes) {
  for (const ModuleShape& s : shapes)
    if (module_needs_calibration(allocation.module(s.name))) return true;
  return false;
}

QuantizeReport quantize_model(Model& model, const Allocation& allocation,
                              const QuantizeJobOptions& options, ProgressSink& progress,
                              const CancelToken& cancel) {
  c10::InferenceMode guard;
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<ModuleShape> shapes = module_shapes(model);
  allocation.validate(shapes, "allocation");
  QuantizeReport report;
  report.cost = allocation_cost(allocation, shapes, other_parameter_count(model));
  const bool gqa = model.config().num_key_value_heads != model.config().num_attention_heads;
  int64_t done = 0;

  // SqueezeLLM's sensitivity: the Fisher information of the unquantized model, when asked.
  std::map<std::string, at::Tensor> fisher;
  auto compute_fisher = [&](const at::Tensor& windows) {
    bool any = false;
    for (const ModuleShape& m : shapes) {
      const ModuleAllocation a = allocation.module(m.name);
      any = any || (a.quantized() && a.quantizer == QuantizerKind::kKmeans &&
                    a.codebook_axis == ChannelAxis::kOut);
    }
    if (!options.kmeans_fisher || !any) return;
    const int64_t n = options.fisher_windows > 0
                          ? std::min<int64_t>(options.fisher_windows, windows.size(0))
                          : windows.size(0);
    c10::InferenceMode not_inference(false);
    fisher = fisher_diagonal(model, windows.slice(0, 0, n), progress, cancel);
  };

  // Quantizes the modules of one block with the given statistics; returns the new weights.
  auto quantize_block = [&](int64_t block, std::map<std::string, ModuleCalibration>& calib,
                            bool advance) {
    std::map<std::string, at::Tensor> replaced;
    for (const InputGroup& g : block_input_groups(model, block)) {
      std::vector<at::Tensor> awq_w;
      std::vector<ModuleAllocation> awq_m;
      for (const std::string& name : g.modules) {
        const ModuleAllocation m = allocation.module(name);
        if (m.quantized() && m.quantizer == QuantizerKind::kAwq) {
          awq_w.push_back(model.weight(name + ".weight").to(at::kFloat));
          awq_m.push_back(m);
        }
      }
      if (!awq_w.empty()) {
        const ModuleCalibration& lead = calib[g.modules.front()];
        if (!lead.hessian.defined() || !lead.act_abs_mean.defined())
          throw InputError("", "module " + g.modules.front() +
                                   ": AWQ needs the Hessian and the activation means");
        at::Tensor s = ends_with(g.key, "self_attn.o_proj") && gqa
                           ? at::ones({awq_w.front().size(1)}, at::kFloat)
                           : awq_search_scales(awq_w, awq_m, lead.hessian, lead.act_abs_mean);
        for (const std::string& name : g.modules) calib[name].awq_scale = s;
      }
      for (const std::string& name : g.modules) {
        cancel.throw_if_cancelled();
        const auto tm = std::chrono::steady_clock::now();
        const ModuleAllocation m = allocation.module(name);
        ModuleCalibration& c = calib[name];
        c.awq_clip = !ends_with(name, "q_proj") && !ends_with(name, "k_proj");
        if (fisher.count(name)) c.fisher = fisher.at(name);
        const at::Tensor W = model.weight(name + ".weight").to(at::kFloat).cpu();
        QuantizedModule q = quantize_module(W, m, c, name);
        // A module kept whole at 16 bits keeps the checkpoint's own values in the model (its
        // packed form, for files, holds them in fp16 as the cost model counts them).
        const bool untouched = !m.quantized() && m.channels.empty() && m.outliers.empty();
        ModuleQuantReport r;
        r.name = name;
        r.quantizer = m.quantized() ? quantizer_name(m.quantizer) : "fp16";
        r.bits = m.bits;
        r.storage_bits = q.packed.storage_bits();
        if (c.hessian.defined()) r.objective = layer_objective(W, q.weight, c.hessian);
        r.seconds = seconds_since(tm);
        report.modules.push_back(r);
        if (options.keep_packed) report.packed.emplace(name, std::move(q.packed));
        if (!untouched) replaced[name] = q.weight;
        if (advance) progress.advance(++done);
      }
    }
    return replaced;
  };
  auto install = [&](const std::map<std::string, at::Tensor>& weights) {
    for (const auto& [name, w] : weights) model.set_parameter(name + ".weight", w);
  };
  // Calibrates block by block on `ids` and quantizes each block as soon as it is measured;
  // `sequential`: the next block sees the quantized block's outputs (GPTQ's mode).
  auto calibrate_and_quantize = [&](const at::Tensor& ids, bool sequential) {
    std::map<std::string, at::Tensor> deferred;
    run_calibration(
        model, ids, /*full_hessians=*/true,
        [&](BlockCalibration& bc) -> std::map<std::string, at::Tensor> {
          if (options.on_block_measured) options.on_block_measured(bc);
          std::map<std::string, ModuleCalibration> calib;
          for (const ModuleStatistics& s : bc.modules) {
            auto it = bc.hessian_of.find(s.name);
            calib[s.name] =
                module_calibration(s, it == bc.hessian_of.end() ? at::Tensor() : it->second);
          }
          std::map<std::string, at::Tensor> q = quantize_block(bc.block, calib, false);
          if (sequential) return q;
          deferred.insert(q.begin(), q.end());
          return {};
        },
        progress, cancel);
    install(deferred);
  };

  if (!allocation_needs_calibration(allocation, shapes)) {
    report.calibration = "none";
    progress.stage("quantize", static_cast<int64_t>(shapes.size()));
    for (int64_t b = 0; b < model.num_blocks(); ++b) {
      std::map<std::string, ModuleCalibration> calib;
      install(quantize_block(b, calib, true));
    }
  } else if (!options.project.empty()) {
    const ProjectReader project = ProjectReader::open(options.project);
    if (!project.has_calibration())
      throw InputError(options.project, "has no calibration (run bitscape-cli calibrate first)");
    const ProjectModelInfo stored = project.model();
    const ProjectModelInfo current = project_model_info(model);
    if (!stored.fingerprint.empty() && !current.fingerprint.empty() &&
        stored.fingerprint != current.fingerprint)
      throw InputError(options.project, "was calibrated on another model ('" + stored.path +
                                            "', a different fingerprint)");
    report.calibration = "project " + options.project;
    const CalibrationSettings settings = project.calibration();
    bool need_full = false;
    for (const ModuleShape& m : shapes) need_full = need_full || needs_full_hessian(allocation.module(m.name));
    if (need_full && settings.hessians != "full") {
      // The project keeps only Hessian diagonals: measure again on its own windows.
      if (settings.mode != "fp")
        throw InputError(options.project,
                         "stores only Hessian diagonals of a calibration in quantized mode, which "
                         "cannot be repeated: quantize with --calib-data instead");
      // Full-precision inputs, as the project's statistics were measured.
      calibrate_and_quantize(project_calibration_windows(model, settings, options.project),
                             /*sequential=*/false);
      report.calibration += " (Hessians recomputed on its " + std::to_string(settings.samples) +
                            " x " + std::to_string(settings.seqlen) + " windows)";
      report.seconds = seconds_since(t0);
      return report;
    }
    if (options.kmeans_fisher)
      compute_fisher(project_calibration_windows(model, settings, options.project));
    progress.stage("quantize", static_cast<int64_t>(shapes.size()));
    for (int64_t b = 0; b < model.num_blocks(); ++b) {
      std::map<std::string, ModuleCalibration> calib;
      for (const InputGroup& g : block_input_groups(model, b)) {
        bool need_any = false;
        need_full = false;
        for (const std::string& name : g.modules) {
          need_full = need_full || needs_full_hessian(allocation.module(name));
          need_any = need_any || module_needs_calibration(allocation.module(name));
        }
        if (!need_any) continue;
        const ModuleStatistics lead = project.module_statistics(g.modules.front());
        const HessianData h = project.hessian(lead.hessian, need_full);
        if (need_full && !h.has_full())
          throw InputError(options.project, "lacks the full Hessian of " + g.key);
        at::Tensor H;
        if (h.has_full()) H = at::tensor(h.full(), at::kFloat).view({h.n, h.n});
        for (const std::string& name : g.modules) {
          ModuleCalibration c = module_calibration(project.module_statistics(name), H);
          if (!c.hessian_diag.defined()) c.hessian_diag = to_tensor(h.diag);
          calib[name] = c;
        }
      }
      install(quantize_block(b, calib, true));
    }
  } else if (!options.calib_data.empty()) {
    const std::vector<int32_t> tokens = tokenize_eval_corpus(model.dir(), options.calib_data);
    const int64_t seqlen = default_seqlen(model, options.calib.seqlen);
    if (const std::string note = context_warning(model.config(), seqlen); !note.empty())
      progress.log(note);
    const CalibrationWindows w = draw_calibration_windows(
        tokens, options.calib.samples, seqlen, options.calib.seed, options.calib_data);
    report.calibration = std::to_string(options.calib.samples) + " x " + std::to_string(seqlen) +
                         " tokens from " + options.calib_data + " (seed " +
                         std::to_string(options.calib.seed) + ")";
    compute_fisher(w.ids);
    calibrate_and_quantize(w.ids, options.sequential);
  } else {
    throw InputError("", "the allocation quantizes modules with GPTQ, AWQ or k-means, or selects "
                         "channels by activation, which needs calibration: give a project "
                         "(--project) or a calibration corpus (--calib-data)");
  }
  report.seconds = seconds_since(t0);
  return report;
}

}  // namespace bitscape
