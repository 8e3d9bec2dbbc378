// The registry of search methods: what the CLI's --method, its --help, the workbench's method
// list and the project reader accept, in one place. Plain values (no LibTorch).
#pragma once

#include <string>
#include <vector>

namespace bitscape {

struct SearchMethodInfo {
  std::string name;     // "dp", "amq", "automixq", "cmpq"
  std::string title;    // one line for lists and --help
  std::string paper;    // where the method comes from
  std::string default_quantizer;  // how candidates are quantized unless told ("hqq", "rtn", ...)
  bool needs_sensitivity = false;  // dp: reads the curves of a sensitivity run
  bool uses_budgets = false;       // places one point per budget (dp, cmpq) rather than a front
};

// The methods, in the order they are offered.
const std::vector<SearchMethodInfo>& search_methods();
// nullptr when `name` is not a method.
const SearchMethodInfo* find_search_method(const std::string& name);
// "dp, amq, automixq or cmpq", for messages.
std::string search_method_names();

}  // namespace bitscape
