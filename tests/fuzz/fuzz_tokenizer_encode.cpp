// Text through real tokenizers (core/src/io/tokenizer.cpp): the fixtures of GPT-2, Llama-2
// (both SentencePiece forms), Llama-3 and Qwen2 and the sample model's tokenizer encode the input
// (any bytes: invalid UTF-8 is replaced) and decode the ids. Byte-level BPE is lossless, so on
// valid UTF-8 the sample tokenizer must give the text back exactly.
#include <vector>

#include "bitscape/tokenizer.h"
#include "fuzz_target.h"

namespace {

std::vector<bitscape::Tokenizer> load_tokenizers() {
  std::vector<bitscape::Tokenizer> out;
  const std::string f = std::string(BITSCAPE_FIXTURE_DIR) + "/tokenizers/";
  for (const char* name : {"gpt2.json", "llama2.json", "llama2_metaspace.json", "llama3.json", "qwen2.json"})
    out.push_back(bitscape::Tokenizer::from_file(f + name));
  out.push_back(bitscape::Tokenizer::from_file(std::string(BITSCAPE_SAMPLE_DIR) + "/model/tokenizer.json"));
  return out;
}

bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = n == 1 ? c : c & (0xFF >> (n + 1));
    for (size_t k = 1; k < n; ++k) {
      const unsigned char d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n;
  }
  return true;
}

}  // namespace

BITSCAPE_FUZZ_TARGET(tokenizer_encode) {
  static const std::vector<bitscape::Tokenizer> tokenizers = load_tokenizers();
  const std::string text = bitscape::fuzz::as_string(data, size);
  try {
    for (const auto& t : tokenizers) {
      const std::vector<int32_t> ids = t.encode(text, true);
      for (int32_t id : ids)
        if (id < 0 || id >= t.vocab_size()) __builtin_trap();
      (void)t.decode(ids, true);
    }
    const bitscape::Tokenizer& sample = tokenizers.back();
    if (valid_utf8(text) && sample.decode(sample.encode(text, false), false) != text) __builtin_trap();
    bitscape::fuzz::accepted() = true;
  } catch (const bitscape::InputError&) {
  }
  return 0;
}
