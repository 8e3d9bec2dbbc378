// tokenizer.json (core/src/io/tokenizer.cpp, tokenizer_regex.cpp): the JSON, the model, added
// tokens, normalizers, pre-tokenizers (their regexes compiled by PCRE2) and decoders; an accepted
// tokenizer then encodes and decodes probe texts, so that a hostile pattern meets real input.
#include "bitscape/tokenizer.h"
#include "fuzz_target.h"

BITSCAPE_FUZZ_TARGET(tokenizer) {
  try {
    const bitscape::Tokenizer t =
        bitscape::Tokenizer::from_json_string(bitscape::fuzz::as_string(data, size), "tokenizer.json");
    static const std::string kProbes[] = {
        "Hello, world! It's 2026.",
        "  leading spaces\tand\ttabs\n\nnew lines  ",
        "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xF0\x9F\x98\x80 \xE2\x96\x81x",
        std::string(2000, 'a') + "!" + std::string(2000, ' '),
        "<s></s><unk><|endoftext|><|begin_of_text|>",
        "\xFF\xFE invalid \xC3",
    };
    for (const std::string& probe : kProbes) {
      for (bool special : {false, true}) {
        const std::vector<int32_t> ids = t.encode(probe, special);
        for (int32_t id : ids)
          if (id < 0) __builtin_trap();
        (void)t.decode(ids, false);
        (void)t.decode(ids, true);
      }
    }
    (void)t.decode({0, 1, 2, 1 << 30, -1}, false);
    bitscape::fuzz::accepted() = true;
  } catch (const bitscape::InputError&) {
  }
  return 0;
}
