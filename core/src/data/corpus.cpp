#include "bitscape/corpus.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "bitscape/error.h"
#include "bitscape/json_input.h"
#include "io/tokenizer_unicode.h"
#include "util/text.h"

namespace bitscape {
std::string read_corpus(const std::string& path) {
  // Corpora are read whole; 16 GiB is far above any calibration or evaluation set.
  return parse_corpus(read_file_limited(path, uint64_t(16) << 30, "corpus"), path);
}

std::string parse_corpus(std::string raw, const std::string& path) {
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
      const nlohmann::json j = parse_json(line, path, "line " + std::to_string(lineno));
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
