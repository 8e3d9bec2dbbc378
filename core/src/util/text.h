// Small string helpers shared inside core (private header).
#pragma once

#include <string>
#include <string_view>

namespace bitscape {

inline bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// "[4096, 256]" for error messages; Dims is any sequence of integers (vector, IntArrayRef).
template <class Dims>
std::string shape_string(const Dims& dims) {
  std::string s = "[";
  bool first = true;
  for (auto d : dims) {
    s += (first ? "" : ", ") + std::to_string(d);
    first = false;
  }
  return s + "]";
}

}  // namespace bitscape
