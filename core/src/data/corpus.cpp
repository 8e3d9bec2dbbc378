#include "bitscape/corpus.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "bitscape/error.h"
#include "io/tokenizer_unicode.h"
#include "util/text.h"

namespace bitscape {
namespace {

}  // namespace

std::string read_corpus(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, std::string("cannot open: ") + std::strerror(errno));
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) throw InputError(path, "read failed");
  std::string raw = buf.str();
  size_t bad = unicode::first_invalid_utf8(raw);
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
