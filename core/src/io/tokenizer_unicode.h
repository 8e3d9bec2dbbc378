// UTF-8 and Unicode helpers of the tokenizer and the corpus reader (private to core): decoding and encoding code
// points, Rust's `String::from_utf8_lossy` replacement rules, `char::is_whitespace`, and the
// NFC/NFD normalization forms of UAX #15 (tables generated from the Unicode Character Database).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace bitscape::unicode {

// Number of bytes of the UTF-8 sequence that starts with `lead` (1 for invalid lead bytes).
inline std::size_t sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xF0) return 4;
  if (lead >= 0xE0) return 3;
  if (lead >= 0xC0) return 2;
  return 1;
}

// Decodes the code point at `pos` of valid UTF-8 and advances `pos` past it.
char32_t next_code_point(std::string_view text, std::size_t& pos);
void append_utf8(std::string& out, char32_t code_point);

// Byte offset of the first invalid UTF-8 sequence (overlong, surrogate, truncated, ...), or
// std::string::npos when `bytes` is valid.
std::size_t first_invalid_utf8(std::string_view bytes);
bool is_valid_utf8(std::string_view bytes);
// Replaces each maximal invalid subsequence by U+FFFD, as Rust's from_utf8_lossy does.
std::string from_utf8_lossy(std::string_view bytes);

// Unicode White_Space (Rust's char::is_whitespace).
bool is_whitespace(char32_t code_point);

std::string nfd(std::string_view text);
std::string nfc(std::string_view text);

}  // namespace bitscape::unicode
