#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <numeric>

#include "bitscape/error.h"
#include "bitscape/project.h"
#include "bitscape/project_summary.h"
#include "bitscape/run_choice.h"
#include "bitscape/search_store.h"
#include "bitscape/sensitivity_store.h"
#include "cli.h"

namespace bitscape::cli {
namespace {

nlohmann::json number(double x) { return std::isnan(x) ? nlohmann::json(nullptr) : nlohmann::json(x); }
nlohmann::json numbers(const std::vector<double>& v) {
  nlohmann::json a = nlohmann::json::array();
  for (double x : v) a.push_back(number(x));
  return a;
}

// The k largest entries of v as (index, value).
std::vector<std::pair<int64_t, float>> top(const std::vector<float>& v, size_t k) {
  std::vector<int64_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  k = std::min(k, idx.size());
  std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(k), idx.end(),
                    [&](int64_t a, int64_t b) { return v[static_cast<size_t>(a)] > v[static_cast<size_t>(b)]; });
  std::vector<std::pair<int64_t, float>> out;
  for (size_t i = 0; i < k; ++i) out.emplace_back(idx[i], v[static_cast<size_t>(idx[i])]);
  return out;
}

nlohmann::json stats_json(const ModuleStatistics& s) {
  return {{"out_features", s.out_features}, {"in_features", s.in_features},
          {"hessian", s.hessian},           {"tokens", s.tokens},
          {"act_abs_mean", s.act_abs_mean}, {"act_abs_max", s.act_abs_max},
          {"act_l2", s.act_l2},             {"out_abs_mean", s.out_abs_mean},
          {"out_abs_max", s.out_abs_max},   {"out_mean", s.out_mean},
          {"out_std", s.out_std},           {"weight_row_norm", s.weight_row_norm},
          {"weight_row_abs_max", s.weight_row_abs_max}, {"weight_col_norm", s.weight_col_norm},
          {"weight_mean", s.weight_mean},   {"weight_std", s.weight_std},
          {"weight_abs_max", s.weight_abs_max}, {"weight_kurtosis", s.weight_kurtosis}};
}

nlohmann::json saliency_json(const SaliencySummary& s) {
  return {{"metric", s.metric},           {"rows", s.rows},
          {"cols", s.cols},               {"group_size", s.group_size},
          {"total", s.total},             {"column_sum", s.column_sum},
          {"row_sum", s.row_sum},         {"group_sum", s.group_sum},
          {"pooled_rows", s.pooled_rows}, {"pooled_cols", s.pooled_cols},
          {"pooled_mean", s.pooled_mean}, {"pooled_max", s.pooled_max}};
}

nlohmann::json curve_json(const SensitivityCurve& c) {
  return {{"bits", c.bits},           {"ppl", numbers(c.ppl)},     {"delta_ppl", numbers(c.delta_ppl)},
          {"kl", numbers(c.kl)},       {"jsd", numbers(c.jsd)},     {"top1", numbers(c.top1)},
          {"objective", numbers(c.objective)}, {"hawq", numbers(c.hawq)},
          {"hessian_trace", number(c.hessian_trace)},
          {"layer_hessian_trace", number(c.layer_hessian_trace)}};
}

// --run, or the run the workbench shows (run_choice.h).
std::string pick_run(const Args& args, const ProjectReader& r, const std::string& kind) {
  return choose_run(r, kind, RunChoice::kShown, args.has("run") ? args.get("run") : std::string());
}

int show_module(const Args& args, const ProjectReader& r, const std::vector<std::string>& order) {
  std::string module = args.get("module");
  if (module.rfind("layers.", 0) == 0) module = "model." + module;
  if (std::find(order.begin(), order.end(), module) == order.end())
    throw InputError(r.path(), "the model has no module '" + module + "'");
  nlohmann::json j = {{"project", r.path()}, {"module", module}};
  std::optional<ModuleStatistics> stats;
  if (r.has_calibration()) stats = r.module_statistics(module);
  const std::vector<std::string> runs = sensitivity_runs(r);
  const std::string run = pick_run(args, r, "sensitivity");
  std::vector<SaliencySummary> maps;
  std::optional<SensitivityCurve> curve;
  if (!run.empty()) {
    const SensitivityRunInfo info = read_sensitivity_run(r, run, order);
    for (const std::string& metric : info.metrics)
      if (auto s = read_module_saliency(r, run, module, metric)) maps.push_back(*s);
    curve = read_module_curve(r, run, module);
  }
  std::vector<std::pair<std::string, StoredProbe>> probes;
  for (const std::string& p : probing_runs(r))
    if (auto pr = read_module_probe(r, p, module)) probes.emplace_back(p, *pr);

  if (args.flag("json")) {
    if (stats) j["calibration"] = stats_json(*stats);
    if (!run.empty()) {
      j["run"] = run;
      j["saliency"] = nlohmann::json::array();
      for (const SaliencySummary& s : maps) j["saliency"].push_back(saliency_json(s));
      if (curve) j["curve"] = curve_json(*curve);
    }
    j["probing"] = nlohmann::json::array();
    for (const auto& [name, p] : probes)
      j["probing"].push_back({{"run", name}, {"compactness", p.compactness},
                              {"critical", p.critical}, {"non_critical", p.non_critical},
                              {"column_saliency", p.column_saliency},
                              {"groups_strategy1", p.groups_strategy1},
                              {"groups_strategy2", p.groups_strategy2}});
    std::cout << j.dump() << "\n";
    return 0;
  }
  std::printf("module        %s\n", module.c_str());
  if (stats) {
    std::printf("shape         %lld x %lld, %lld calibration tokens, Hessian %s\n",
                static_cast<long long>(stats->out_features), static_cast<long long>(stats->in_features),
                static_cast<long long>(stats->tokens), stats->hessian.c_str());
    std::printf("weights       mean %.3g, std %.3g, max |w| %.3g, kurtosis %.2f\n",
                stats->weight_mean, stats->weight_std, stats->weight_abs_max, stats->weight_kurtosis);
    std::printf("inputs        largest L2 norms at channels:");
    for (const auto& [i, v] : top(stats->act_l2, 5)) std::printf(" %lld (%.3g)", static_cast<long long>(i), v);
    std::printf("\noutputs       largest mean |y| at channels:");
    for (const auto& [i, v] : top(stats->out_abs_mean, 5)) std::printf(" %lld (%.3g)", static_cast<long long>(i), v);
    std::printf("\n");
  }
  for (const SaliencySummary& s : maps) {
    std::printf("saliency %-6s total %.4g, pooled %lldx%lld; top columns:", s.metric.c_str(), s.total,
                static_cast<long long>(s.pooled_rows), static_cast<long long>(s.pooled_cols));
    for (const auto& [i, v] : top(s.column_sum, 5)) std::printf(" %lld (%.3g)", static_cast<long long>(i), v);
    std::printf("\n");
  }
  if (curve) {
    std::printf("curve (%s)   bits:", run.c_str());
    for (int b : curve->bits) std::printf(" %10d", b);
    auto row = [](const char* name, const std::vector<double>& v) {
      std::printf("\n  %-12s", name);
      for (double x : v) std::printf(" %10.4g", x);
    };
    row("ppl", curve->ppl);
    row("delta ppl", curve->delta_ppl);
    row("KL", curve->kl);
    row("JSD", curve->jsd);
    row("top-1", curve->top1);
    row("objective", curve->objective);
    row("HAWQ", curve->hawq);
    std::printf("\n  Hessian trace %.4g (Hutchinson), %.4g (layer, O tr(H))\n", curve->hessian_trace,
                curve->layer_hessian_trace);
  }
  for (const auto& [name, p] : probes) {
    int64_t c1 = 0, s1 = 0;
    for (uint8_t g : p.groups_strategy1) {
      c1 += g == 2;
      s1 += g == 1;
    }
    std::printf("probing %-6s compactness %.3f over %zu sources; strategy 1: %lld critical, %lld sub-critical columns\n",
                name.c_str(), p.compactness, p.critical.size(), static_cast<long long>(c1),
                static_cast<long long>(s1));
  }
  return 0;
}

int run_show(const Args& args) {
  if (args.has("module")) {
    const ProjectReader r = ProjectReader::open(args.get("project"));
    std::vector<std::string> order;
    for (const ModuleShape& m : r.model().modules) order.push_back(m.name);
    return show_module(args, r, order);
  }
  NullProgress quiet;
  const ProjectReader r = ProjectReader::open(args.get("project"));
  const ProjectSummary summary = read_project_summary(r, quiet, CancelToken());
  std::vector<std::string> order;
  for (const ModuleShape& m : summary.model.modules) order.push_back(m.name);
  // --run, or the run the workbench shows.
  std::vector<std::pair<std::string, std::string>> statuses;
  std::vector<std::string> runs;
  for (const auto& s : summary.sensitivity_runs) {
    statuses.emplace_back(s.info.name, s.info.status);
    runs.push_back(s.info.name);
  }
  const std::string run = choose_run(statuses, RunChoice::kShown, args.has("run") ? args.get("run") : "",
                                     summary.path, "sensitivity");
  const ProjectSummary::Sensitivity* shown = nullptr;
  for (const auto& s : summary.sensitivity_runs)
    if (s.info.name == run) shown = &s;
  auto front_of = [](const SearchRunRecord& s) {
    ParetoArchive archive;
    for (const SearchPoint& p : s.points) archive.add(p);
    std::vector<SearchPoint> front;
    for (size_t i : archive.front()) front.push_back(archive.points()[i]);
    return front;
  };
  if (args.flag("json")) {
    nlohmann::json j = {{"project", summary.path}, {"model", summary.model.path}, {"modules", order}};
    if (summary.calibration) {
      const CalibrationSettings& c = *summary.calibration;
      j["calibration"] = {{"corpus", c.corpus}, {"samples", c.samples}, {"seqlen", c.seqlen},
                          {"seed", c.seed},     {"mode", c.mode},       {"hessians", c.hessians}};
    }
    j["sensitivity_runs"] = runs;
    j["probing_runs"] = nlohmann::json::array();
    for (const ProbingRunInfo& p : summary.probing_runs) j["probing_runs"].push_back(p.name);
    j["search_runs"] = nlohmann::json::array();
    for (const SearchRunRecord& s : summary.search_runs) {
      nlohmann::json front = nlohmann::json::array();
      for (const SearchPoint& p : front_of(s))
        front.push_back({{"method", p.method}, {"average_bits", p.average_bits},
                         {"ppl", number(p.ppl)}, {"kl", number(p.kl)}, {"genes", p.genes}});
      j["search_runs"].push_back({{"name", s.name}, {"method", s.method}, {"status", s.status},
                                  {"points", s.points.size()}, {"seconds", s.seconds},
                                  {"baseline_ppl", s.baseline_ppl}, {"log", s.log},
                                  {"front", front}});
    }
    j["edits"] = nlohmann::json::array();
    for (const EditRecord& e : summary.edits)
      j["edits"].push_back({{"name", e.name}, {"label", e.label}, {"created", e.created},
                            {"average_bits", e.point.average_bits}, {"ppl", number(e.point.ppl)},
                            {"kl", number(e.point.kl)}});
    j["evaluations"] = nlohmann::json::array();
    for (const EvaluationRecord& e : summary.evaluations)
      j["evaluations"].push_back({{"name", e.name}, {"label", e.label}, {"created", e.created},
                                  {"subject", e.subject}, {"average_bits", number(e.average_bits)},
                                  {"data", e.data}, {"windows", e.windows}, {"seqlen", e.seqlen},
                                  {"device", e.device}, {"dtype", e.dtype}, {"ppl", number(e.ppl)}});
    if (shown) {
      const SensitivityRunInfo& info = shown->info;
      nlohmann::json rj = {{"name", run},         {"status", info.status},
                           {"bits", info.bits},   {"metrics", info.metrics},
                           {"quantizer", info.quantizer}, {"group_size", info.group_size},
                           {"eval_data", info.eval_data}, {"eval_windows", info.eval_windows},
                           {"seqlen", info.seqlen}, {"baseline_ppl", info.baseline_ppl},
                           {"seconds", info.seconds}};
      rj["curves"] = nlohmann::json::object();
      for (const SensitivityCurve& c : shown->curves) rj["curves"][c.module] = curve_json(c);
      rj["correlations"] = nlohmann::json::array();
      for (const ProxyCorrelation& p : read_proxy_correlations(r, run))
        rj["correlations"].push_back({{"proxy", p.proxy}, {"against", p.against},
                                      {"bits", p.bits}, {"spearman", numbers(p.spearman)}});
      j["run"] = rj;
    }
    std::cout << j.dump() << "\n";
    return 0;
  }
  std::printf("project       %s\nmodel         %s (%zu modules)\n", summary.path.c_str(),
              summary.model.path.c_str(), order.size());
  if (summary.calibration) {
    const CalibrationSettings& c = *summary.calibration;
    std::printf("calibration   %lld x %lld tokens from %s (seed %llu), %s inputs, Hessians %s\n",
                static_cast<long long>(c.samples), static_cast<long long>(c.seqlen), c.corpus.c_str(),
                static_cast<unsigned long long>(c.seed), c.mode.c_str(), c.hessians.c_str());
  }
  for (const auto& s : summary.sensitivity_runs) {
    const SensitivityRunInfo& info = s.info;
    std::printf("sensitivity   %s: %s, %zu modules, baseline ppl %.4f, %s at bits", info.name.c_str(),
                info.status.c_str(), info.modules.size(), info.baseline_ppl, info.quantizer.c_str());
    for (int b : info.bits) std::printf(" %d", b);
    std::printf("\n");
  }
  for (const ProbingRunInfo& info : summary.probing_runs)
    std::printf("probing       %s: %zu sources, %s saliency, top %.1f%% critical\n", info.name.c_str(),
                info.sources.size(), info.metric.c_str(), 100 * info.critical_fraction);
  for (const SearchRunRecord& s : summary.search_runs)
    std::printf("search        %s: %s, %s, %zu points (%zu on the front), %.0f s\n", s.name.c_str(),
                s.method.c_str(), s.status.c_str(), s.points.size(), front_of(s).size(), s.seconds);
  for (const EditRecord& e : summary.edits)
    std::printf("edit          %s: %s, %.3f bits, ppl %.4f, KL %.5f\n", e.name.c_str(),
                e.label.empty() ? "(no label)" : e.label.c_str(), e.point.average_bits, e.point.ppl,
                e.point.kl);
  for (const EvaluationRecord& e : summary.evaluations)
    std::printf("evaluation    %s: %s, ppl %.4f on %lld windows of %lld tokens of %s (%s, %s)\n", e.name.c_str(),
                e.label.c_str(), e.ppl, static_cast<long long>(e.windows), static_cast<long long>(e.seqlen),
                e.data.c_str(), e.device.c_str(), e.dtype.c_str());
  if (shown) {
    std::printf("\n%-34s", ("ppl increase (" + run + ")").c_str());
    for (int b : shown->info.bits) std::printf(" %9d-bit", b);
    std::printf("\n");
    for (const SensitivityCurve& c : shown->curves) {
      std::printf("%-34s", c.module.c_str());
      for (double d : c.delta_ppl) std::printf(" %13.4f", d);
      std::printf("\n");
    }
  }
  return 0;
}

const bool registered = register_command(
    {"show",
     "Reads what a project holds: the calibration, the sensitivity and probing runs, and for one\n"
     "module its statistics, saliency summaries (per column, row, group, pooled maps), its\n"
     "sensitivity curve and its probing result.",
     {{"project", "FILE", "project file (*.bsproj.h5)", "", true},
      {"module", "NAME", "one module, e.g. model.layers.3.mlp.down_proj"},
      {"run", "NAME", "sensitivity run (default: the last one)"},
      {"json", "", "print one JSON object on stdout (with every stored array)"}},
     run_show});

}  // namespace
}  // namespace bitscape::cli
