// Text corpora for calibration and evaluation: a plain text file (documents separated by blank
// lines are kept as they are) or JSONL (one {"text": ...} object a line, documents joined with
// "\n\n" as in the papers' WikiText-2/C4 protocol). Plain-value header.
#pragma once

#include <string>

namespace bitscape {

// Reads the whole corpus as one string. Throws InputError for a missing/unreadable file, invalid
// UTF-8, a malformed JSONL line (naming the line), or an empty corpus.
std::string read_corpus(const std::string& path);
// The same for a corpus already in memory (`raw`: the file's bytes); `path` names it in errors
// and decides the format (".jsonl" or ".jsonl.txt": JSONL).
std::string parse_corpus(std::string raw, const std::string& path);

}  // namespace bitscape
