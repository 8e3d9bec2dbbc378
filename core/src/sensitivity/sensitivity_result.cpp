// Plain computations on sensitivity results (sensitivity_result.h): metric names, Spearman's rank
// correlation, TAMMP's consensus Jaccard compactness and column grouping.
#include "bitscape/sensitivity_result.h"

#include "bitscape/error.h"
#include "bitscape/json_input.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <set>

namespace bitscape {

std::string saliency_metric_name(SaliencyMetric m) {
  switch (m) {
    case SaliencyMetric::kObs: return "obs";
    case SaliencyMetric::kTammp: return "tammp";
    case SaliencyMetric::kActivation: return "act";
    case SaliencyMetric::kHessianDiagonal: return "diag";
    case SaliencyMetric::kFisher: return "fisher";
  }
  return "?";
}

bool parse_saliency_metric(const std::string& name, SaliencyMetric* out) {
  for (SaliencyMetric m : all_saliency_metrics())
    if (saliency_metric_name(m) == name) {
      *out = m;
      return true;
    }
  return false;
}

std::vector<SaliencyMetric> all_saliency_metrics() {
  return {SaliencyMetric::kObs, SaliencyMetric::kTammp, SaliencyMetric::kActivation,
          SaliencyMetric::kHessianDiagonal, SaliencyMetric::kFisher};
}

namespace {

// Ranks 1..n with ties sharing their average rank.
std::vector<double> average_ranks(const std::vector<double>& v) {
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> rank(v.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
    const double r = (static_cast<double>(i) + static_cast<double>(j)) / 2.0 + 1.0;
    for (size_t k = i; k <= j; ++k) rank[order[k]] = r;
    i = j + 1;
  }
  return rank;
}

}  // namespace

double spearman(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size() || a.size() < 2) return std::nan("");
  const std::vector<double> ra = average_ranks(a), rb = average_ranks(b);
  const double n = static_cast<double>(a.size());
  const double ma = std::accumulate(ra.begin(), ra.end(), 0.0) / n;
  const double mb = std::accumulate(rb.begin(), rb.end(), 0.0) / n;
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < ra.size(); ++i) {
    sab += (ra[i] - ma) * (rb[i] - mb);
    saa += (ra[i] - ma) * (ra[i] - ma);
    sbb += (rb[i] - mb) * (rb[i] - mb);
  }
  if (saa == 0 || sbb == 0) return std::nan("");
  return sab / std::sqrt(saa * sbb);
}

double consensus_jaccard(const std::vector<std::vector<int64_t>>& sets, int p) {
  if (sets.empty()) return std::nan("");
  std::map<int64_t, int> frequency;
  for (const auto& s : sets)
    for (int64_t x : std::set<int64_t>(s.begin(), s.end())) ++frequency[x];
  std::set<int64_t> core;
  for (const auto& [x, f] : frequency)
    if (f >= p) core.insert(x);
  double sum = 0;
  for (const auto& s : sets) {
    const std::set<int64_t> a(s.begin(), s.end());
    size_t inter = 0;
    for (int64_t x : a) inter += core.count(x);
    const size_t uni = a.size() + core.size() - inter;
    sum += uni == 0 ? 1.0 : static_cast<double>(inter) / static_cast<double>(uni);
  }
  return sum / static_cast<double>(sets.size());
}

std::vector<uint8_t> tammp_column_groups(int64_t columns,
                                         const std::vector<std::vector<int64_t>>& critical,
                                         const std::vector<std::vector<int64_t>>& non_critical,
                                         int strategy) {
  const size_t K = critical.size();
  std::vector<int> in_critical(static_cast<size_t>(columns), 0);
  for (const auto& s : critical)
    for (int64_t c : std::set<int64_t>(s.begin(), s.end())) ++in_critical[static_cast<size_t>(c)];
  std::vector<char> in_non(static_cast<size_t>(columns), 0);
  for (const auto& s : non_critical)
    for (int64_t c : s) in_non[static_cast<size_t>(c)] = 1;
  std::vector<uint8_t> g(static_cast<size_t>(columns));
  for (int64_t c = 0; c < columns; ++c) {
    const size_t i = static_cast<size_t>(c);
    const bool all = K > 0 && in_critical[i] == static_cast<int>(K);
    if (all) {
      g[i] = 2;
    } else if (strategy == 1) {
      g[i] = in_critical[i] > 0 ? 1 : 0;
    } else {
      g[i] = in_non[i] ? 0 : 1;
    }
  }
  return g;
}

namespace {

nlohmann::json numbers_json(const std::vector<double>& v) {
  nlohmann::json a = nlohmann::json::array();
  for (double x : v) a.push_back(json_number_or_null(x));
  return a;
}

std::vector<double> numbers_from(const nlohmann::json& j, const char* key, size_t n) {
  std::vector<double> v;
  if (!j.contains(key)) return v;
  const nlohmann::json& a = j.at(key);
  if (!a.is_array() || a.size() > n) throw InputError("", std::string("sensitivity curve: ") + key + " is not a list of the bits' values");
  for (const nlohmann::json& x : a) v.push_back(x.is_number() ? x.get<double>() : std::nan(""));
  return v;
}

}  // namespace

std::string sensitivity_curve_json(const SensitivityCurve& c) {
  const nlohmann::json j = {{"module", c.module},
                            {"bits", c.bits},
                            {"ppl", numbers_json(c.ppl)},
                            {"delta_ppl", numbers_json(c.delta_ppl)},
                            {"kl", numbers_json(c.kl)},
                            {"jsd", numbers_json(c.jsd)},
                            {"top1", numbers_json(c.top1)},
                            {"objective", numbers_json(c.objective)},
                            {"hawq", numbers_json(c.hawq)},
                            {"hessian_trace", json_number_or_null(c.hessian_trace)},
                            {"layer_hessian_trace", json_number_or_null(c.layer_hessian_trace)}};
  return j.dump();
}

SensitivityCurve sensitivity_curve_from_json(const std::string& json) {
  const nlohmann::json j = parse_json(json, "", "sensitivity curve");
  if (!j.is_object() || !j.contains("module") || !j["module"].is_string() || !j.contains("bits") ||
      !j["bits"].is_array())
    throw InputError("", "sensitivity curve: needs a module name and its bits");
  SensitivityCurve c;
  c.module = j["module"].get<std::string>();
  for (const nlohmann::json& b : j["bits"]) {
    if (!b.is_number_integer()) throw InputError("", "sensitivity curve: a bit-width is not an integer");
    c.bits.push_back(b.get<int>());
  }
  const size_t n = c.bits.size();
  c.ppl = numbers_from(j, "ppl", n);
  c.delta_ppl = numbers_from(j, "delta_ppl", n);
  c.kl = numbers_from(j, "kl", n);
  c.jsd = numbers_from(j, "jsd", n);
  c.top1 = numbers_from(j, "top1", n);
  c.objective = numbers_from(j, "objective", n);
  c.hawq = numbers_from(j, "hawq", n);
  c.hessian_trace = json_number(j, "hessian_trace");
  c.layer_hessian_trace = json_number(j, "layer_hessian_trace");
  return c;
}

}  // namespace bitscape
