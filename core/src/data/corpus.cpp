#include "bitscape/corpus.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "bitscape/error.h"

namespace bitscape {
namespace {

// Returns the byte offset of the first invalid UTF-8 sequence, or npos (RFC 3629).
size_t invalid_utf8_at(const std::string& s) {
  size_t i = 0;
  const auto* b = reinterpret_cast<const unsigned char*>(s.data());
  while (i < s.size()) {
    unsigned c = b[i];
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return i;
    if (n == 2 && c < 0xC2) return i;
    for (size_t k = 1; k < n; ++k)
      if ((b[i + k] >> 6) != 2) return i;
    if (n == 3) {
      unsigned cp = ((c & 0x0F) << 12) | ((b[i + 1] & 0x3F) << 6) | (b[i + 2] & 0x3F);
      if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    }
    if (n == 4) {
      unsigned cp = ((c & 0x07) << 18) | ((b[i + 1] & 0x3F) << 12) | ((b[i + 2] & 0x3F) << 6) |
                    (b[i + 3] & 0x3F);
      if (cp < 0x10000 || cp > 0x10FFFF) return i;
    }
    i += n;
  }
  return std::string::npos;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::string read_corpus(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, std::string("cannot open: ") + std::strerror(errno));
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) throw InputError(path, "read failed");
  std::string raw = buf.str();
  size_t bad = invalid_utf8_at(raw);
  if (bad != std::string::npos)
    throw InputError(path, "not valid UTF-8 (first bad byte at offset " + std::to_string(bad) + ")");
  std::string text;
  if (ends_with(path, ".jsonl") || ends_with(path, ".jsonl.txt")) {
    std::istringstream lines(raw);
    std::string line;
    int64_t lineno = 0, docs = 0;
    while (std::getline(lines, line)) {
      ++lineno;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception& e) {
        throw InputError(path, "line " + std::to_string(lineno) + " is not valid JSON: " + e.what());
      }
      if (!j.is_object() || !j.contains("text") || !j["text"].is_string())
        throw InputError(path, "line " + std::to_string(lineno) + " has no string field \"text\"");
      if (docs++) text += "\n\n";
      text += j["text"].get<std::string>();
    }
  } else {
    text = std::move(raw);
  }
  if (text.find_first_not_of(" \t\r\n") == std::string::npos)
    throw InputError(path, "corpus is empty");
  return text;
}

}  // namespace bitscape
