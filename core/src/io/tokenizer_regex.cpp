// PCRE2 wrapper for the tokenizer's patterns (see tokenizer_regex.h).
#define PCRE2_CODE_UNIT_WIDTH 8
#include "io/tokenizer_regex.h"

#include <pcre2.h>

#include <memory>
#include <stdexcept>

#include "bitscape/error.h"
#include "bitscape/json_input.h"
#include "io/tokenizer_unicode.h"

namespace bitscape {
namespace {

pcre2_code* as_code(void* p) { return static_cast<pcre2_code*>(p); }

// Oniguruma's `\s` (Unicode White_Space) includes U+0085, PCRE2's with UCP does not.
std::string widen_whitespace_classes(const std::string& pattern) {
  std::string out;
  out.reserve(pattern.size() + 16);
  bool in_class = false;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char next = pattern[++i];
      if (next == 's') {
        out += in_class ? "\\s\\x{85}" : "[\\s\\x{85}]";
      } else if (next == 'S' && !in_class) {
        out += "[^\\s\\x{85}]";
      } else {
        out += c;
        out += next;
      }
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
      out += c;
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
      continue;
    }
    if (c == ']' && in_class) in_class = false;
    out += c;
  }
  return out;
}

struct MatchDataDeleter {
  void operator()(pcre2_match_data* p) const { pcre2_match_data_free(p); }
};

}  // namespace

TokenizerRegex::TokenizerRegex(const std::string& pattern, const std::string& path_for_errors) {
  const std::string translated = widen_whitespace_classes(pattern);
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                    PCRE2_UTF | PCRE2_UCP, &error_code, &error_offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof(message));
    throw InputError(path_for_errors, "regex pattern " + quote_for_message(pattern) + " does not compile: " +
                                          reinterpret_cast<const char*>(message));
  }
  code_ = code;
  jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  pattern_ = pattern;
  path_ = path_for_errors;
}

void TokenizerRegex::fail_limit(int rc) const {
  PCRE2_UCHAR message[256];
  pcre2_get_error_message(rc, message, sizeof(message));
  throw InputError(path_, "regex pattern " + quote_for_message(pattern_) +
                              " cannot be matched on this text within PCRE2's limits (" +
                              reinterpret_cast<const char*>(message) +
                              "): a pathological pattern");
}

TokenizerRegex::~TokenizerRegex() { pcre2_code_free(as_code(code_)); }

void TokenizerRegex::find_all(std::string_view text,
                              std::vector<std::pair<std::size_t, std::size_t>>& out) const {
  std::unique_ptr<pcre2_match_data, MatchDataDeleter> match(
      pcre2_match_data_create_from_pattern(as_code(code_), nullptr));
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::size_t start = 0;
  bool use_jit = jit_;
  while (start <= text.size()) {
    int rc = use_jit ? pcre2_jit_match(as_code(code_), subject, text.size(), start, 0, match.get(),
                                       nullptr)
                     : pcre2_match(as_code(code_), subject, text.size(), start,
                                   PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, match.get(), nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT && use_jit) {  // retry with the interpreter's heap
      use_jit = false;
      continue;
    }
    if (rc < 0) fail_limit(rc);
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match.get());
    const std::size_t begin = ovector[0], end = ovector[1];
    out.emplace_back(begin, end);
    if (end > begin) {
      start = end;
    } else {
      if (end >= text.size()) break;
      start = end + unicode::sequence_length(static_cast<unsigned char>(text[end]));
    }
  }
}

bool TokenizerRegex::search(std::string_view text) const {
  std::unique_ptr<pcre2_match_data, MatchDataDeleter> match(
      pcre2_match_data_create_from_pattern(as_code(code_), nullptr));
  const int rc = pcre2_match(as_code(code_), reinterpret_cast<PCRE2_SPTR>(text.data()),
                             text.size(), 0, PCRE2_NO_UTF_CHECK, match.get(), nullptr);
  if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) fail_limit(rc);
  return rc >= 0;
}

}  // namespace bitscape
