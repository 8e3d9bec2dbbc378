// The option lists and default budgets of the search methods (search_options.h).
#include "bitscape/search_options.h"

#include "bitscape/allocation.h"

namespace bitscape {

std::vector<ModuleAllocation> search_options_for(const SearchOptions& o) {
  std::vector<ModuleAllocation> options;
  auto plain = [&](int bits, QuantizerKind q) {
    ModuleAllocation m;
    m.bits = bits;
    m.quantizer = q;
    m.group_size = o.group_size;
    return m;
  };
  if (o.method == "cmpq") {
    for (double b : o.budgets) options.push_back(cmpq_module_allocation(b));
    return options;
  }
  if (o.method == "automixq") {
    // 4-bit, the four protection strategies (2-bit with `fraction` of the output channels at 4
    // bits: 1 top and low by activation, 2 top by activation, 3/4 the same by weight), 2-bit.
    options.push_back(plain(4, o.quantizer));
    if (o.automixq_three_bit) options.push_back(plain(3, o.quantizer));
    for (int strategy = 1; strategy <= 4; ++strategy) {
      ModuleAllocation m = plain(2, o.quantizer);
      m.channels.axis = ChannelAxis::kOut;
      ChannelClass c;
      c.bits = 4;
      c.select = strategy % 2 == 1 ? ChannelSelect::kTopAndLow : ChannelSelect::kTop;
      c.by = strategy <= 2 ? ChannelStatistic::kActivation : ChannelStatistic::kWeight;
      c.fraction = o.automixq_fraction;
      m.channels.classes.push_back(c);
      options.push_back(m);
    }
    options.push_back(plain(2, o.quantizer));
    return options;
  }
  for (int b : o.bits) options.push_back(plain(b, o.quantizer));
  return options;
}

SearchOptions with_default_budgets(const SearchOptions& o) {
  SearchOptions opt = o;
  if (opt.budgets.empty()) {
    // CMPQ's budgets are code bits between 2 and 4 (its Algorithm 1).
    const double lo = opt.method == "cmpq" ? 2.0 : opt.budget_lo;
    const double hi = opt.method == "cmpq" ? 4.0 : opt.budget_hi;
    for (double b = lo; b <= hi + 1e-9; b += 0.25) opt.budgets.push_back(b);
  }
  return opt;
}

Allocation allocation_of(const std::vector<int>& genes, const std::vector<ModuleAllocation>& options,
                         const std::vector<std::string>& modules) {
  Allocation a;
  for (size_t i = 0; i < modules.size(); ++i)
    a.modules[modules[i]] = options.at(static_cast<size_t>(genes.at(i)));
  return a;
}

}  // namespace bitscape
