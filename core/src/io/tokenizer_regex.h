// A compiled PCRE2 regular expression (UTF + Unicode properties, JIT when available) used by the
// tokenizer's Split / ByteLevel pre-tokenizers and Replace normalizers and decoders. Private to
// core. Patterns are written for Oniguruma (what `tokenizers` uses); `\s` is widened to
// Oniguruma's Unicode White_Space set (PCRE2 leaves out U+0085).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bitscape {

class TokenizerRegex {
 public:
  // Throws InputError(path_for_errors, ...) when the pattern does not compile.
  TokenizerRegex(const std::string& pattern, const std::string& path_for_errors);
  ~TokenizerRegex();
  TokenizerRegex(const TokenizerRegex&) = delete;
  TokenizerRegex& operator=(const TokenizerRegex&) = delete;

  // Appends the [start, end) byte ranges of all successive non-overlapping matches in valid
  // UTF-8 `text`, left to right. A match that runs into PCRE2's step or memory limits (a
  // catastrophically backtracking pattern from a hostile tokenizer.json) is an InputError.
  void find_all(std::string_view text, std::vector<std::pair<std::size_t, std::size_t>>& out) const;
  // Whether the pattern matches somewhere in `text`.
  bool search(std::string_view text) const;

 private:
  // Throws InputError for a match that exceeds PCRE2's limits (a pathological pattern).
  [[noreturn]] void fail_limit(int rc) const;
  void* code_ = nullptr;  // pcre2_code_8*, kept out of the header
  bool jit_ = false;
  std::string pattern_, path_;
};

}  // namespace bitscape
