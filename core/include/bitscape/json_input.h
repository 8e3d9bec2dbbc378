// Reading JSON that comes from outside (config.json, tokenizer.json, safetensors headers,
// allocation files, JSONL corpora, JSON stored in projects) without trusting it: the file's size
// is checked before it is read, nesting depth is bounded while parsing (a value nested 100k deep
// must not overflow the stack when it is later printed, copied or destroyed), duplicate object
// keys are refused (the last-one-wins reading of most parsers silently drops data), and values
// quoted in error messages are shortened. Every error is an InputError naming the file.
// Plain-value header (no LibTorch).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace bitscape {

struct JsonLimits {
  // Deepest nesting of arrays and objects accepted (serde_json's default; real files of the
  // formats Bitscape reads nest at most 8 deep).
  int max_depth = 128;
  bool unique_keys = true;
};

// Parses `text`; `what` names the document in messages ("header", "line 3"). Throws InputError
// (path, "<what>: malformed JSON: ...") with a one-line message of bounded length.
nlohmann::json parse_json(std::string_view text, const std::string& path,
                          const std::string& what = "", const JsonLimits& limits = {});

// Reads a whole file of at most `max_bytes` bytes (its size is checked before reading).
// `kind` names the file in messages ("config.json", "allocation file").
std::string read_file_limited(const std::string& path, uint64_t max_bytes, const std::string& kind);

// A JSON value for an error message: its type and, for scalars and short strings, its text,
// never longer than about `max_chars` ("array of 3 values", "string \"abc...\"", "number 1.5").
std::string describe_json(const nlohmann::json& v, size_t max_chars = 40);

// Numbers that may be missing, as results store them: NaN (or an infinity) as null, and back,
// a missing or non-numeric member as NaN.
nlohmann::json json_number_or_null(double x);
double json_number(const nlohmann::json& object, const char* key);

// `s` in single quotes for a message: control characters escaped, at most `max_chars` bytes of
// it shown (cut at a UTF-8 boundary, "..." added).
std::string quote_for_message(std::string_view s, size_t max_chars = 80);

}  // namespace bitscape
