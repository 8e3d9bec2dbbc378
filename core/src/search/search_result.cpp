// The Pareto archive and the exact budgeted choice (search_result.h).
#include "bitscape/search_result.h"

#include <nlohmann/json.hpp>

#include "bitscape/error.h"
#include "bitscape/json_input.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <stdexcept>

namespace bitscape {


std::string search_point_json(const SearchPoint& p) {
  const nlohmann::json j = {
      {"method", p.method},       {"index", p.index},        {"iteration", p.iteration},
      {"average_bits", p.average_bits}, {"code_bits", p.code_bits},
      {"total_bytes", p.total_bytes},   {"ppl", json_number_or_null(p.ppl)},
      {"kl", json_number_or_null(p.kl)},     {"jsd", json_number_or_null(p.jsd)},
      {"top1", json_number_or_null(p.top1)}, {"loss", json_number_or_null(p.loss)},
      {"predicted", json_number_or_null(p.predicted)}, {"seconds", p.seconds}, {"genes", p.genes}};
  return j.dump();
}

SearchPoint search_point_from_json(const std::string& json) {
  try {
    const nlohmann::json j = parse_json(json, "", "search point");
    SearchPoint p;
    p.method = j.at("method").get<std::string>();
    p.index = j.value("index", int64_t(0));
    p.iteration = j.value("iteration", -1);
    p.average_bits = j.at("average_bits").get<double>();
    p.code_bits = json_number(j, "code_bits");
    p.total_bytes = j.value("total_bytes", int64_t(0));
    p.ppl = json_number(j, "ppl");
    p.kl = json_number(j, "kl");
    p.jsd = json_number(j, "jsd");
    p.top1 = json_number(j, "top1");
    p.loss = json_number(j, "loss");
    p.predicted = json_number(j, "predicted");
    p.seconds = j.value("seconds", 0.0);
    if (j.contains("genes")) p.genes = j["genes"].get<std::vector<int>>();
    return p;
  } catch (const nlohmann::json::exception& e) {
    throw InputError("", std::string("malformed search point: ") + e.what());
  }
}


double ParetoArchive::value(const SearchPoint& p) const {
  switch (objective_) {
    case Objective::kKl: return p.kl;
    case Objective::kPpl: return p.ppl;
    case Objective::kJsd: return p.jsd;
    case Objective::kLoss: return p.loss;
  }
  return std::nan("");
}

bool ParetoArchive::add(const SearchPoint& p) {
  points_.push_back(p);
  const double v = value(p);
  if (std::isnan(v)) return false;
  for (size_t i = 0; i + 1 < points_.size(); ++i) {
    const double w = value(points_[i]);
    if (std::isnan(w)) continue;
    // Weakly dominated (an equal point counts): not a new front point.
    if (points_[i].average_bits <= p.average_bits && w <= v) return false;
  }
  return true;
}

std::vector<size_t> ParetoArchive::front() const {
  std::vector<size_t> order;
  for (size_t i = 0; i < points_.size(); ++i)
    if (!std::isnan(value(points_[i]))) order.push_back(i);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (points_[a].average_bits != points_[b].average_bits)
      return points_[a].average_bits < points_[b].average_bits;
    return value(points_[a]) < value(points_[b]);
  });
  std::vector<size_t> f;
  double best = std::numeric_limits<double>::infinity();
  for (size_t i : order)
    if (value(points_[i]) < best) {
      f.push_back(i);
      best = value(points_[i]);
    }
  return f;
}

int64_t ParetoArchive::best_within(double budget, const std::string& method) const {
  int64_t best = -1;
  for (size_t i = 0; i < points_.size(); ++i) {
    const SearchPoint& p = points_[i];
    if (p.average_bits > budget + 1e-12 || std::isnan(value(p))) continue;
    if (!method.empty() && p.method != method) continue;
    if (best < 0 || value(p) < value(points_[static_cast<size_t>(best)])) best = static_cast<int64_t>(i);
  }
  return best;
}

BudgetedChoice budgeted_choice(const std::vector<std::vector<int64_t>>& size,
                               const std::vector<std::vector<double>>& loss, int64_t max_states) {
  const size_t M = size.size();
  if (loss.size() != M) throw std::invalid_argument("budgeted_choice: size and loss differ");
  BudgetedChoice out;
  if (M == 0) return out;
  std::vector<int64_t> min_size(M);
  int64_t base = 0, span = 0, g = 0;
  for (size_t m = 0; m < M; ++m) {
    if (size[m].empty() || size[m].size() != loss[m].size() || size[m].size() > 255)
      throw std::invalid_argument("budgeted_choice: every module needs 1..255 options");
    min_size[m] = *std::min_element(size[m].begin(), size[m].end());
    base += min_size[m];
    int64_t widest = 0;
    for (int64_t s : size[m]) {
      widest = std::max(widest, s - min_size[m]);
      g = std::gcd(g, s - min_size[m]);
    }
    span += widest;
  }
  int64_t unit = g > 0 ? g : 1;
  const int64_t limit = std::max<int64_t>(1, max_states / static_cast<int64_t>(M));
  if (span / unit + 1 > limit) {
    unit = (span + limit - 2) / (limit - 1);
    out.exact = false;
  }
  auto units = [&](size_t m, size_t o) {  // rounded up: a solution never exceeds its size
    const int64_t d = size[m][o] - min_size[m];
    return (d + unit - 1) / unit;
  };
  int64_t R = 1;
  for (size_t m = 0; m < M; ++m) {
    int64_t widest = 0;
    for (size_t o = 0; o < size[m].size(); ++o) widest = std::max(widest, units(m, o));
    R += widest;
  }
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> best(static_cast<size_t>(R), inf), next(static_cast<size_t>(R));
  std::vector<std::vector<uint8_t>> pick(M, std::vector<uint8_t>(static_cast<size_t>(R), 0));
  best[0] = 0.0;
  int64_t reach = 0;  // highest reachable state so far
  for (size_t m = 0; m < M; ++m) {
    std::fill(next.begin(), next.end(), inf);
    int64_t new_reach = 0;
    for (size_t o = 0; o < size[m].size(); ++o) {
      const int64_t u = units(m, o);
      const double l = loss[m][o];
      for (int64_t r = 0; r <= reach; ++r) {
        const double v = best[static_cast<size_t>(r)];
        if (v == inf) continue;
        const int64_t t = r + u;
        if (v + l < next[static_cast<size_t>(t)]) {
          next[static_cast<size_t>(t)] = v + l;
          pick[m][static_cast<size_t>(t)] = static_cast<uint8_t>(o);
        }
        new_reach = std::max(new_reach, t);
      }
    }
    std::swap(best, next);
    reach = new_reach;
  }
  // The front: states whose loss is below every smaller state's.
  double running = inf;
  for (int64_t r = 0; r <= reach; ++r) {
    const double v = best[static_cast<size_t>(r)];
    if (!(v < running)) continue;
    running = v;
    std::vector<int> choice(M);
    int64_t t = r;
    for (size_t m = M; m-- > 0;) {
      const uint8_t o = pick[m][static_cast<size_t>(t)];
      choice[m] = o;
      t -= units(m, o);
    }
    int64_t total = 0;
    for (size_t m = 0; m < M; ++m) total += size[m][static_cast<size_t>(choice[m])];
    out.sizes.push_back(total);
    out.losses.push_back(v);
    out.choices.push_back(std::move(choice));
  }
  (void)base;
  return out;
}

}  // namespace bitscape
