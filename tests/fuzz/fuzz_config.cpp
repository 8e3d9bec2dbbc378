// config.json (core/src/io/config.cpp): bounded JSON, then every field checked.
#include "bitscape/config.h"
#include "bitscape/json_input.h"
#include "fuzz_target.h"

BITSCAPE_FUZZ_TARGET(config) {
  try {
    const bitscape::ModelConfig c = bitscape::ModelConfig::from_json(
        bitscape::parse_json(bitscape::fuzz::as_string(data, size), "config.json"), "config.json");
    // What is accepted must write back and read again as the same configuration.
    const bitscape::ModelConfig again = bitscape::ModelConfig::from_json(c.to_json(), "again");
    if (again.hidden_size != c.hidden_size || again.num_hidden_layers != c.num_hidden_layers ||
        again.rope_theta != c.rope_theta)
      __builtin_trap();
    bitscape::fuzz::accepted() = true;
  } catch (const bitscape::InputError&) {
  }
  return 0;
}
