// Text and JSONL corpora (core/src/data/corpus.cpp): UTF-8 checked, JSONL lines parsed with
// bounded depth. The same bytes are read once as each format.
#include "bitscape/corpus.h"
#include "fuzz_target.h"

BITSCAPE_FUZZ_TARGET(corpus) {
  for (const char* name : {"corpus.txt", "corpus.jsonl"}) {
    try {
      bitscape::parse_corpus(bitscape::fuzz::as_string(data, size), name);
      bitscape::fuzz::accepted() = true;
    } catch (const bitscape::InputError&) {
    }
  }
  return 0;
}
