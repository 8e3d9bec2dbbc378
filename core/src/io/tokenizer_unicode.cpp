// UTF-8 helpers and NFC/NFD normalization following UAX #15 (Unicode Normalization Forms):
// canonical decomposition, canonical ordering by combining class, canonical composition with
// blocking, Hangul syllables by the algorithm of the Unicode Standard, section 3.12.
#include "io/tokenizer_unicode.h"

#include <algorithm>
#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

#include "io/tokenizer_unicode_tables.h"

namespace bitscape::unicode {
namespace {

constexpr char32_t kReplacement = 0xFFFD;
constexpr char32_t kHangulS = 0xAC00, kHangulL = 0x1100, kHangulV = 0x1161, kHangulT = 0x11A7;
constexpr char32_t kHangulLCount = 19, kHangulVCount = 21, kHangulTCount = 28;
constexpr char32_t kHangulNCount = kHangulVCount * kHangulTCount;
constexpr char32_t kHangulSCount = kHangulLCount * kHangulNCount;

uint8_t combining_class(char32_t c) {
  if (c < 0x300) return 0;
  const auto& runs = unicode_tables::kCombiningClassRuns;
  auto it = std::upper_bound(std::begin(runs), std::end(runs), c,
                             [](char32_t v, const auto& run) { return v < run.first; });
  if (it == std::begin(runs)) return 0;
  --it;
  return c <= it->last ? it->combining_class : 0;
}

const unicode_tables::CanonicalDecomposition* find_decomposition(char32_t c) {
  if (c < 0xC0) return nullptr;
  const auto& table = unicode_tables::kCanonicalDecompositions;
  auto it = std::lower_bound(std::begin(table), std::end(table), c,
                             [](const auto& entry, char32_t v) { return entry.code_point < v; });
  return it != std::end(table) && it->code_point == c ? &*it : nullptr;
}

void decompose(char32_t c, std::vector<char32_t>& out) {
  if (c >= kHangulS && c < kHangulS + kHangulSCount) {
    const char32_t index = c - kHangulS;
    out.push_back(kHangulL + index / kHangulNCount);
    out.push_back(kHangulV + (index % kHangulNCount) / kHangulTCount);
    if (index % kHangulTCount != 0) out.push_back(kHangulT + index % kHangulTCount);
    return;
  }
  const auto* d = find_decomposition(c);
  if (d == nullptr) {
    out.push_back(c);
    return;
  }
  decompose(d->first, out);
  if (d->second != 0) decompose(d->second, out);
}

const std::unordered_map<uint64_t, char32_t>& composition_map() {
  static const std::unordered_map<uint64_t, char32_t> map = [] {
    std::unordered_map<uint64_t, char32_t> m;
    for (const auto& d : unicode_tables::kCanonicalDecompositions) {
      if (d.primary_composite) m.emplace((uint64_t(d.first) << 32) | d.second, d.code_point);
    }
    return m;
  }();
  return map;
}

// The primary composite of (starter, c), or 0 when there is none.
char32_t compose(char32_t starter, char32_t c) {
  if (starter >= kHangulL && starter < kHangulL + kHangulLCount && c >= kHangulV &&
      c < kHangulV + kHangulVCount) {
    return kHangulS + ((starter - kHangulL) * kHangulVCount + (c - kHangulV)) * kHangulTCount;
  }
  if (starter >= kHangulS && starter < kHangulS + kHangulSCount &&
      (starter - kHangulS) % kHangulTCount == 0 && c > kHangulT && c < kHangulT + kHangulTCount) {
    return starter + (c - kHangulT);
  }
  const auto& map = composition_map();
  auto it = map.find((uint64_t(starter) << 32) | c);
  return it == map.end() ? 0 : it->second;
}

bool is_ascii(std::string_view text) {
  for (unsigned char ch : text) {
    if (ch >= 0x80) return false;
  }
  return true;
}

// Canonical decomposition followed by the canonical ordering algorithm.
std::vector<char32_t> canonical_decomposition(std::string_view text) {
  std::vector<char32_t> cps;
  cps.reserve(text.size());
  for (std::size_t pos = 0; pos < text.size();) decompose(next_code_point(text, pos), cps);
  // Stable sort of each run of non-starters by combining class (insertion sort: runs are short).
  for (std::size_t i = 1; i < cps.size(); ++i) {
    const uint8_t cc = combining_class(cps[i]);
    if (cc == 0) continue;
    std::size_t j = i;
    while (j > 0) {
      const uint8_t prev = combining_class(cps[j - 1]);
      if (prev == 0 || prev <= cc) break;
      std::swap(cps[j - 1], cps[j]);
      --j;
    }
  }
  return cps;
}

}  // namespace

char32_t next_code_point(std::string_view text, std::size_t& pos) {
  const auto b0 = static_cast<unsigned char>(text[pos]);
  const std::size_t n = sequence_length(b0);
  if (n == 1 || pos + n > text.size()) {
    ++pos;
    return b0;
  }
  char32_t c = n == 2 ? (b0 & 0x1F) : n == 3 ? (b0 & 0x0F) : (b0 & 0x07);
  for (std::size_t k = 1; k < n; ++k) c = (c << 6) | (static_cast<unsigned char>(text[pos + k]) & 0x3F);
  pos += n;
  return c;
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

namespace {

// Length of the valid sequence at `i`, or 0 with `invalid_length` set to the maximal invalid
// subpart (at least one byte), following the Unicode Standard's "U+FFFD substitution of maximal
// subparts" (what Rust's from_utf8_lossy does).
std::size_t valid_sequence_at(std::string_view s, std::size_t i, std::size_t& invalid_length) {
  const auto b = static_cast<unsigned char>(s[i]);
  if (b < 0x80) return 1;
  std::size_t width = 0;
  if (b >= 0xC2 && b <= 0xDF) width = 2;
  else if (b >= 0xE0 && b <= 0xEF) width = 3;
  else if (b >= 0xF0 && b <= 0xF4) width = 4;
  if (width == 0) {
    invalid_length = 1;
    return 0;
  }
  unsigned char lo = 0x80, hi = 0xBF;
  if (b == 0xE0) lo = 0xA0;
  if (b == 0xED) hi = 0x9F;
  if (b == 0xF0) lo = 0x90;
  if (b == 0xF4) hi = 0x8F;
  std::size_t j = i + 1;
  if (j >= s.size() || static_cast<unsigned char>(s[j]) < lo ||
      static_cast<unsigned char>(s[j]) > hi) {
    invalid_length = 1;
    return 0;
  }
  ++j;
  while (j < i + width && j < s.size() && (static_cast<unsigned char>(s[j]) & 0xC0) == 0x80) ++j;
  if (j - i == width) return width;
  invalid_length = j - i;
  return 0;
}

}  // namespace

std::size_t first_invalid_utf8(std::string_view bytes) {
  for (std::size_t i = 0; i < bytes.size();) {
    std::size_t invalid = 0;
    const std::size_t n = valid_sequence_at(bytes, i, invalid);
    if (n == 0) return i;
    i += n;
  }
  return std::string::npos;
}

bool is_valid_utf8(std::string_view bytes) { return first_invalid_utf8(bytes) == std::string::npos; }

std::string from_utf8_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (std::size_t i = 0; i < bytes.size();) {
    std::size_t invalid = 0;
    const std::size_t n = valid_sequence_at(bytes, i, invalid);
    if (n == 0) {
      append_utf8(out, kReplacement);
      i += invalid;
    } else {
      out.append(bytes.substr(i, n));
      i += n;
    }
  }
  return out;
}

bool is_whitespace(char32_t c) {
  if (c == ' ' || (c >= 0x09 && c <= 0x0D)) return true;
  if (c < 0x85) return false;
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

std::string nfd(std::string_view text) {
  if (is_ascii(text)) return std::string(text);
  std::string out;
  out.reserve(text.size());
  for (char32_t c : canonical_decomposition(text)) append_utf8(out, c);
  return out;
}

std::string nfc(std::string_view text) {
  if (is_ascii(text)) return std::string(text);
  const std::vector<char32_t> cps = canonical_decomposition(text);
  std::vector<char32_t> result;
  result.reserve(cps.size());
  std::size_t starter_pos = 0;
  bool have_starter = false;
  int last_class = 0;
  for (char32_t c : cps) {
    const int cc = combining_class(c);
    if (have_starter) {
      const char32_t composite = compose(result[starter_pos], c);
      if (composite != 0 && (last_class < cc || last_class == 0)) {
        result[starter_pos] = composite;
        continue;
      }
    }
    if (cc == 0) {
      starter_pos = result.size();
      have_starter = true;
    }
    last_class = cc;
    result.push_back(c);
  }
  std::string out;
  out.reserve(text.size());
  for (char32_t c : result) append_utf8(out, c);
  return out;
}

}  // namespace bitscape::unicode
