// model.safetensors.index.json (core/src/io/safetensors.cpp): the weight map of a sharded
// checkpoint; every shard must be a plain file name (no path out of the model's folder).
#include "bitscape/safetensors.h"
#include "fuzz_target.h"

BITSCAPE_FUZZ_TARGET(safetensors_index) {
  try {
    for (const auto& [tensor, shard] : bitscape::parse_safetensors_index(
             bitscape::fuzz::as_string(data, size), "model.safetensors.index.json"))
      if (shard.empty() || shard.find('/') != std::string::npos || shard == "..") __builtin_trap();
    bitscape::fuzz::accepted() = true;
  } catch (const bitscape::InputError&) {
  }
  return 0;
}
