// Sensitivity and probing runs in the project file (sensitivity_store.h).
#include "bitscape/sensitivity_store.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <sstream>

#include "bitscape/error.h"
#include "bitscape/json_input.h"

namespace bitscape {

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + v[i];
  return s;
}
std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}
std::string join_ints(const std::vector<int>& v) {
  std::vector<std::string> s;
  for (int x : v) s.push_back(std::to_string(x));
  return join(s);
}
// "2,3,4,8" from the attribute `name` of `path`: bit-widths 1..16, or an InputError naming them.
std::vector<int> split_bits(const ProjectReader& r, const std::string& path, const std::string& name,
                            const std::string& s) {
  std::vector<int> out;
  for (const std::string& x : split(s)) {
    if (x.size() > 2 || x.find_first_not_of("0123456789") != std::string::npos ||
        std::atoi(x.c_str()) < 1 || std::atoi(x.c_str()) > 16)
      throw InputError(r.path(), "attribute '" + name + "' of " + path + " is " +
                                     quote_for_message(s) + ", not a list of bit-widths like 2,3,4,8");
    out.push_back(std::atoi(x.c_str()));
  }
  return out;
}
std::vector<float> to_float(const std::vector<double>& v) { return {v.begin(), v.end()}; }
std::vector<double> to_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }

std::string run_path(const std::string& run) { return "/sensitivity/" + run; }
std::string module_path(const std::string& run, const std::string& module) {
  return run_path(run) + "/modules/" + module;
}
std::string probe_path(const std::string& run) { return "/probing/" + run; }

std::string attr(const ProjectReader& r, const std::string& path, const std::string& name) {
  return r.string_attribute(path, name).value_or("");
}
double num(const ProjectReader& r, const std::string& path, const std::string& name) {
  return r.number_attribute(path, name).value_or(std::nan(""));
}

}  // namespace

void write_sensitivity_run(ProjectWriter& w, const SensitivityRunInfo& i) {
  const std::string p = run_path(i.name);
  w.set_attribute(p, "status", i.status);
  w.set_attribute(p, "created", i.created);
  w.set_attribute(p, "metrics", join(i.metrics));
  w.set_attribute(p, "bits", join_ints(i.bits));
  w.set_attribute(p, "group_size", static_cast<int64_t>(i.group_size));
  w.set_attribute(p, "quantizer", i.quantizer);
  w.set_attribute(p, "eval_data", i.eval_data);
  w.set_attribute(p, "eval_windows", i.eval_windows);
  w.set_attribute(p, "seqlen", i.seqlen);
  w.set_attribute(p, "gradient_windows", i.gradient_windows);
  w.set_attribute(p, "trace_samples", i.trace_samples);
  w.set_attribute(p, "baseline_ppl", i.baseline_ppl);
  w.set_attribute(p, "baseline_nll", i.baseline_nll);
  w.set_attribute(p, "seconds", i.seconds);
}

void write_module_saliency(ProjectWriter& w, const std::string& run, const std::string& module,
                           const SaliencySummary& s) {
  const std::string p = module_path(run, module) + "/saliency/" + s.metric;
  w.write_floats(p + "/column_sum", s.column_sum, {s.cols});
  w.write_floats(p + "/row_sum", s.row_sum, {s.rows});
  w.write_floats(p + "/group_sum", s.group_sum, {s.rows, s.groups()});
  w.write_floats(p + "/pooled_mean", s.pooled_mean, {s.pooled_rows, s.pooled_cols});
  w.write_floats(p + "/pooled_max", s.pooled_max, {s.pooled_rows, s.pooled_cols});
  w.set_attribute(p, "total", s.total);
  w.set_attribute(p, "group_size", static_cast<int64_t>(s.group_size));
  w.set_attribute(p, "rows", s.rows);
  w.set_attribute(p, "cols", s.cols);
}

void write_module_curve(ProjectWriter& w, const std::string& run, const SensitivityCurve& c) {
  const std::string p = module_path(run, c.module) + "/curve";
  const int64_t k = static_cast<int64_t>(c.bits.size());
  w.write_int64s(p + "/bits", std::vector<int64_t>(c.bits.begin(), c.bits.end()), {k});
  w.write_floats(p + "/ppl", to_float(c.ppl), {k});
  w.write_floats(p + "/delta_ppl", to_float(c.delta_ppl), {k});
  w.write_floats(p + "/kl", to_float(c.kl), {k});
  w.write_floats(p + "/jsd", to_float(c.jsd), {k});
  w.write_floats(p + "/top1", to_float(c.top1), {k});
  w.write_floats(p + "/objective", to_float(c.objective), {k});
  w.write_floats(p + "/hawq", to_float(c.hawq), {k});
  w.set_attribute(p, "hessian_trace", c.hessian_trace);
  w.set_attribute(p, "layer_hessian_trace", c.layer_hessian_trace);
  // Doubles for the values that need them (a 4-bit delta is a few 1e-3 of a ppl of ~40).
  std::vector<double> ppl = c.ppl, delta = c.delta_ppl;
  for (int64_t i = 0; i < k; ++i) {
    w.set_attribute(p, "ppl_" + std::to_string(c.bits[static_cast<size_t>(i)]), ppl[static_cast<size_t>(i)]);
    w.set_attribute(p, "delta_ppl_" + std::to_string(c.bits[static_cast<size_t>(i)]), delta[static_cast<size_t>(i)]);
  }
}

void write_proxy_correlations(ProjectWriter& w, const std::string& run,
                              const std::vector<ProxyCorrelation>& correlations) {
  const std::string p = run_path(run) + "/proxies";
  w.remove(p);
  for (const ProxyCorrelation& c : correlations) {
    const std::string q = p + "/" + c.proxy + "_vs_" + c.against;
    w.write_floats(q + "/spearman", to_float(c.spearman), {static_cast<int64_t>(c.spearman.size())});
    w.write_int64s(q + "/bits", std::vector<int64_t>(c.bits.begin(), c.bits.end()),
                   {static_cast<int64_t>(c.bits.size())});
    w.set_attribute(q, "proxy", c.proxy);
    w.set_attribute(q, "against", c.against);
  }
}

std::vector<std::string> sensitivity_runs(const ProjectReader& r) {
  return runs_in_order(r, "/sensitivity");
}

SensitivityRunInfo read_sensitivity_run(const ProjectReader& r, const std::string& run,
                                        const std::vector<std::string>& module_order) {
  const std::string p = run_path(run);
  if (!r.exists(p)) throw InputError(r.path(), "has no sensitivity run '" + run + "'");
  SensitivityRunInfo i;
  i.name = run;
  i.status = attr(r, p, "status");
  i.created = attr(r, p, "created");
  i.metrics = split(attr(r, p, "metrics"));
  i.bits = split_bits(r, p, "bits", attr(r, p, "bits"));
  i.group_size = static_cast<int>(r.integer_attribute(p, "group_size", 0, 1 << 20, 0));
  i.quantizer = attr(r, p, "quantizer");
  i.eval_data = attr(r, p, "eval_data");
  i.eval_windows = r.integer_attribute(p, "eval_windows", 0, int64_t(1) << 24, 0);
  i.seqlen = r.integer_attribute(p, "seqlen", 0, int64_t(1) << 24, 0);
  i.gradient_windows = r.integer_attribute(p, "gradient_windows", 0, int64_t(1) << 24, 0);
  i.trace_samples = r.integer_attribute(p, "trace_samples", 0, int64_t(1) << 24, 0);
  i.baseline_ppl = num(r, p, "baseline_ppl");
  i.baseline_nll = num(r, p, "baseline_nll");
  i.seconds = num(r, p, "seconds");
  if (r.exists(p + "/modules")) {
    const std::vector<std::string> stored = r.children(p + "/modules");
    for (const std::string& m : module_order)
      if (std::binary_search(stored.begin(), stored.end(), m)) i.modules.push_back(m);
  }
  return i;
}

std::optional<SensitivityCurve> read_module_curve(const ProjectReader& r, const std::string& run,
                                                  const std::string& module) {
  const std::string p = module_path(run, module) + "/curve";
  if (!r.exists(p + "/bits")) return std::nullopt;
  SensitivityCurve c;
  c.module = module;
  for (int64_t b : r.read_int64s(p + "/bits")) c.bits.push_back(static_cast<int>(b));
  c.kl = to_double(r.read_floats(p + "/kl"));
  c.jsd = to_double(r.read_floats(p + "/jsd"));
  c.top1 = to_double(r.read_floats(p + "/top1"));
  c.objective = to_double(r.read_floats(p + "/objective"));
  c.hawq = to_double(r.read_floats(p + "/hawq"));
  for (int b : c.bits) {
    c.ppl.push_back(num(r, p, "ppl_" + std::to_string(b)));
    c.delta_ppl.push_back(num(r, p, "delta_ppl_" + std::to_string(b)));
  }
  c.hessian_trace = num(r, p, "hessian_trace");
  c.layer_hessian_trace = num(r, p, "layer_hessian_trace");
  // A curve is read by searches and views as it is: check it whole (NaN marks "not measured").
  auto damaged = [&](const std::string& what) {
    return InputError(r.path(), "the sensitivity curve of " + module + " in run '" + run +
                                    "' is damaged: " + what);
  };
  for (int b : c.bits)
    if (b < 1 || b > 16) throw damaged("bit-width " + std::to_string(b));
  const std::pair<const std::vector<double>*, const char*> measures[] = {
      {&c.kl, "kl"}, {&c.jsd, "jsd"}, {&c.top1, "top1"}, {&c.objective, "objective"}, {&c.hawq, "hawq"}};
  for (const auto& [v, name] : measures) {
    if (v->size() != c.bits.size())
      throw damaged(std::string("'") + name + "' has " + std::to_string(v->size()) + " values for " +
                    std::to_string(c.bits.size()) + " bit-widths");
    // Finite; divergences and agreement within their ranges (up to rounding; the proxies,
    // Hutchinson estimates among them, may be negative).
    const std::string n = name;
    const bool divergence = n == "kl" || n == "jsd";
    for (double x : *v)
      if (!std::isnan(x) && (!std::isfinite(x) || (divergence && x < -1e-3) ||
                             (n == "top1" && (x < 0 || x > 1))))
        throw damaged("'" + n + "' holds " + std::to_string(x));
  }
  for (double x : c.ppl)
    if (!std::isnan(x) && (!std::isfinite(x) || x <= 0)) throw damaged("a perplexity of " + std::to_string(x));
  for (double x : c.delta_ppl)
    if (!std::isnan(x) && !std::isfinite(x)) throw damaged("a perplexity increase of " + std::to_string(x));
  return c;
}

std::optional<SaliencySummary> read_module_saliency(const ProjectReader& r, const std::string& run,
                                                    const std::string& module,
                                                    const std::string& metric) {
  const std::string p = module_path(run, module) + "/saliency/" + metric;
  if (!r.exists(p + "/column_sum")) return std::nullopt;
  SaliencySummary s;
  s.metric = metric;
  s.rows = r.integer_attribute(p, "rows", 1, int64_t(1) << 20);
  s.cols = r.integer_attribute(p, "cols", 1, int64_t(1) << 20);
  s.group_size = static_cast<int>(r.integer_attribute(p, "group_size", 0, 1 << 20));
  s.total = num(r, p, "total");
  s.column_sum = r.read_floats(p + "/column_sum");
  s.row_sum = r.read_floats(p + "/row_sum");
  s.group_sum = r.read_floats(p + "/group_sum");
  std::vector<int64_t> shape;
  s.pooled_mean = r.read_floats(p + "/pooled_mean", &shape);
  s.pooled_rows = shape.size() == 2 ? shape[0] : 0;
  s.pooled_cols = shape.size() == 2 ? shape[1] : 0;
  s.pooled_max = r.read_floats(p + "/pooled_max");
  auto damaged = [&](const std::string& what) {
    return InputError(r.path(), "the " + metric + " saliency of " + module + " in run '" + run +
                                    "' is damaged: " + what);
  };
  auto sized = [&](const std::vector<float>& v, int64_t n, const char* name) {
    if (static_cast<int64_t>(v.size()) != n)
      throw damaged(std::string("'") + name + "' has " + std::to_string(v.size()) +
                    " values, expected " + std::to_string(n));
  };
  sized(s.column_sum, s.cols, "column_sum");
  sized(s.row_sum, s.rows, "row_sum");
  sized(s.group_sum, s.rows * s.groups(), "group_sum");
  if (shape.size() != 2 || s.pooled_rows < 1 || s.pooled_cols < 1 || s.pooled_rows > s.rows ||
      s.pooled_cols > s.cols)
    throw damaged("the pooled map is not a [rows, columns] table within the module's shape");
  sized(s.pooled_max, s.pooled_rows * s.pooled_cols, "pooled_max");
  return s;
}

std::vector<ProxyCorrelation> read_proxy_correlations(const ProjectReader& r, const std::string& run) {
  std::vector<ProxyCorrelation> out;
  const std::string p = run_path(run) + "/proxies";
  if (!r.exists(p)) return out;
  for (const std::string& name : r.children(p)) {
    ProxyCorrelation c;
    c.proxy = attr(r, p + "/" + name, "proxy");
    c.against = attr(r, p + "/" + name, "against");
    for (int64_t b : r.read_int64s(p + "/" + name + "/bits")) c.bits.push_back(static_cast<int>(b));
    c.spearman = to_double(r.read_floats(p + "/" + name + "/spearman"));
    out.push_back(c);
  }
  return out;
}

std::vector<ProxyCorrelation> proxy_correlations(
    const std::vector<SensitivityCurve>& curves,
    const std::map<std::string, std::map<std::string, double>>& saliency_totals) {
  std::vector<ProxyCorrelation> out;
  if (curves.empty()) return out;
  const std::vector<int> bits = curves.front().bits;
  auto measured = [&](const std::string& against, size_t k) {
    std::vector<double> v;
    for (const SensitivityCurve& c : curves) v.push_back(against == "kl" ? c.kl[k] : c.delta_ppl[k]);
    return v;
  };
  std::vector<std::string> metrics;
  if (!saliency_totals.empty())
    for (const auto& [metric, _] : saliency_totals.begin()->second) metrics.push_back(metric);
  for (const std::string against : {"delta_ppl", "kl"}) {
    auto add = [&](const std::string& proxy, const std::function<double(const SensitivityCurve&, size_t)>& value) {
      ProxyCorrelation pc;
      pc.proxy = proxy;
      pc.against = against;
      pc.bits = bits;
      bool any = false;
      for (size_t k = 0; k < bits.size(); ++k) {
        std::vector<double> v;
        for (const SensitivityCurve& c : curves) v.push_back(value(c, k));
        for (double x : v) any = any || !std::isnan(x);
        pc.spearman.push_back(spearman(v, measured(against, k)));
      }
      if (any) out.push_back(pc);
    };
    add("objective", [](const SensitivityCurve& c, size_t k) { return c.objective[k]; });
    add("hawq", [](const SensitivityCurve& c, size_t k) { return c.hawq[k]; });
    add("hessian_trace", [](const SensitivityCurve& c, size_t) { return c.hessian_trace; });
    add("layer_hessian_trace", [](const SensitivityCurve& c, size_t) { return c.layer_hessian_trace; });
    for (const std::string& metric : metrics)
      add("saliency_" + metric, [&](const SensitivityCurve& c, size_t) {
        auto it = saliency_totals.find(c.module);
        if (it == saliency_totals.end() || !it->second.count(metric)) return std::nan("");
        return it->second.at(metric);
      });
  }
  return out;
}

void write_probing_run(ProjectWriter& w, const ProbingRunInfo& i) {
  const std::string p = probe_path(i.name);
  w.set_attribute(p, "created", i.created);
  w.set_attribute(p, "sources", join(i.sources));
  w.set_attribute(p, "metric", i.metric);
  w.set_attribute(p, "critical_fraction", i.critical_fraction);
  w.set_attribute(p, "non_critical_fraction", i.non_critical_fraction);
  w.set_attribute(p, "consensus", static_cast<int64_t>(i.consensus));
  w.set_attribute(p, "samples", i.samples);
  w.set_attribute(p, "seqlen", i.seqlen);
}

namespace {

void write_sets(ProjectWriter& w, const std::string& p, const std::vector<std::vector<int64_t>>& sets) {
  std::vector<int64_t> counts, flat;
  for (const auto& s : sets) {
    counts.push_back(static_cast<int64_t>(s.size()));
    flat.insert(flat.end(), s.begin(), s.end());
  }
  w.write_int64s(p + "_counts", counts, {static_cast<int64_t>(counts.size())});
  w.write_int64s(p + "_indices", flat, {static_cast<int64_t>(flat.size())});
}

// Sets of column indices stored as counts and their concatenation; every count and index is
// checked against the stored data and the module's `cols` columns.
std::vector<std::vector<int64_t>> read_sets(const ProjectReader& r, const std::string& p, int64_t cols) {
  const std::vector<int64_t> counts = r.read_int64s(p + "_counts");
  const std::vector<int64_t> flat = r.read_int64s(p + "_indices");
  std::vector<std::vector<int64_t>> sets;
  size_t at = 0;
  for (int64_t n : counts) {
    if (n < 0 || static_cast<uint64_t>(n) > flat.size() - at)
      throw InputError(r.path(), "dataset '" + p + "_counts' holds a count of " + std::to_string(n) +
                                     " where " + std::to_string(flat.size() - at) +
                                     " indices remain in '" + p + "_indices'");
    sets.emplace_back(flat.begin() + static_cast<std::ptrdiff_t>(at),
                      flat.begin() + static_cast<std::ptrdiff_t>(at + static_cast<size_t>(n)));
    at += static_cast<size_t>(n);
  }
  if (at != flat.size())
    throw InputError(r.path(), "dataset '" + p + "_indices' holds " + std::to_string(flat.size()) +
                                   " indices, its counts " + std::to_string(at));
  for (int64_t c : flat)
    if (c < 0 || c >= cols)
      throw InputError(r.path(), "dataset '" + p + "_indices' holds column " + std::to_string(c) +
                                     " of a module with " + std::to_string(cols) + " columns");
  return sets;
}

}  // namespace

void write_module_probe(ProjectWriter& w, const std::string& run, const StoredProbe& pr) {
  const std::string p = probe_path(run) + "/modules/" + pr.module;
  std::vector<float> flat;
  for (const auto& s : pr.column_saliency) flat.insert(flat.end(), s.begin(), s.end());
  const int64_t K = static_cast<int64_t>(pr.column_saliency.size());
  const int64_t cols = K ? static_cast<int64_t>(pr.column_saliency.front().size()) : 0;
  w.write_floats(p + "/column_saliency", flat, {K, cols});
  write_sets(w, p + "/critical", pr.critical);
  write_sets(w, p + "/non_critical", pr.non_critical);
  w.write_int64s(p + "/groups_strategy1",
                 std::vector<int64_t>(pr.groups_strategy1.begin(), pr.groups_strategy1.end()), {cols});
  w.write_int64s(p + "/groups_strategy2",
                 std::vector<int64_t>(pr.groups_strategy2.begin(), pr.groups_strategy2.end()), {cols});
  w.set_attribute(p, "compactness", pr.compactness);
}

std::vector<std::string> probing_runs(const ProjectReader& r) {
  return runs_in_order(r, "/probing");
}

ProbingRunInfo read_probing_run(const ProjectReader& r, const std::string& run) {
  const std::string p = probe_path(run);
  if (!r.exists(p)) throw InputError(r.path(), "has no probing run '" + run + "'");
  ProbingRunInfo i;
  i.name = run;
  i.created = attr(r, p, "created");
  i.sources = split(attr(r, p, "sources"));
  i.metric = attr(r, p, "metric");
  i.critical_fraction = num(r, p, "critical_fraction");
  i.non_critical_fraction = num(r, p, "non_critical_fraction");
  i.consensus = static_cast<int>(r.integer_attribute(p, "consensus", 0, 1 << 20, 0));
  i.samples = r.integer_attribute(p, "samples", 0, int64_t(1) << 24, 0);
  i.seqlen = r.integer_attribute(p, "seqlen", 0, int64_t(1) << 24, 0);
  return i;
}

std::optional<StoredProbe> read_module_probe(const ProjectReader& r, const std::string& run,
                                             const std::string& module) {
  const std::string p = probe_path(run) + "/modules/" + module;
  if (!r.exists(p + "/column_saliency")) return std::nullopt;
  StoredProbe pr;
  pr.module = module;
  std::vector<int64_t> shape;
  const std::vector<float> flat = r.read_floats(p + "/column_saliency", &shape);
  if (shape.size() != 2)
    throw InputError(r.path(), "dataset '" + p + "/column_saliency' is not a matrix of sources x columns");
  const int64_t cols = shape[1];
  for (int64_t k = 0; k < shape[0]; ++k)
    pr.column_saliency.emplace_back(flat.begin() + k * cols, flat.begin() + (k + 1) * cols);
  pr.critical = read_sets(r, p + "/critical", cols);
  pr.non_critical = read_sets(r, p + "/non_critical", cols);
  // The column groups: one of 0 (non-critical), 1 (sub-critical), 2 (critical) per column.
  auto groups = [&](const std::string& name) {
    const std::vector<int64_t> g = r.read_int64s(p + "/" + name);
    if (static_cast<int64_t>(g.size()) != cols)
      throw InputError(r.path(), "dataset '" + p + "/" + name + "' holds " + std::to_string(g.size()) +
                                     " groups for " + std::to_string(cols) + " columns");
    std::vector<uint8_t> out;
    for (int64_t v : g) {
      if (v < 0 || v > 2)
        throw InputError(r.path(), "dataset '" + p + "/" + name + "' holds group " + std::to_string(v) +
                                       " (0, 1 or 2 expected)");
      out.push_back(static_cast<uint8_t>(v));
    }
    return out;
  };
  pr.groups_strategy1 = groups("groups_strategy1");
  pr.groups_strategy2 = groups("groups_strategy2");
  pr.compactness = num(r, p, "compactness");
  return pr;
}

}  // namespace bitscape
