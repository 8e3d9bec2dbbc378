// The registry of search methods (search_methods.h). The implementations are in method_*.cpp,
// found by name in search.cpp; the project stores a point's method as a code of its own
// (search_store.cpp), which must know every name listed here (tests/core/search).
#include "bitscape/search_methods.h"

namespace bitscape {

const std::vector<SearchMethodInfo>& search_methods() {
  static const std::vector<SearchMethodInfo> kMethods = {
      {"dp", "dp: exact budgeted choice over measured sensitivity curves",
       "the multiple-choice knapsack over per-module curves (HAWQ-V3 and its successors)", "rtn",
       true, true},
      {"amq", "AMQ: pruned space, RBF predictor, NSGA-II, iterative updates",
       "AMQ (Lee et al. 2025)", "hqq", false, false},
      {"automixq", "AutoMixQ: perturbation search with elites", "AutoMixQ, Algorithm 1", "rtn",
       false, false},
      {"cmpq", "CMPQ: channel-wise k-means allocation at each budget", "CMPQ, Algorithm 1", "rtn",
       false, true},
  };
  return kMethods;
}

const SearchMethodInfo* find_search_method(const std::string& name) {
  for (const SearchMethodInfo& m : search_methods())
    if (m.name == name) return &m;
  return nullptr;
}

std::string search_method_names() {
  const auto& all = search_methods();
  std::string s;
  for (size_t i = 0; i < all.size(); ++i)
    s += (i == 0 ? "" : i + 1 == all.size() ? " or " : ", ") + all[i].name;
  return s;
}

}  // namespace bitscape
