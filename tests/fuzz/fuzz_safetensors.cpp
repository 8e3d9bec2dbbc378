// safetensors files (core/src/io/safetensors.cpp): the header's length, JSON, dtypes, shapes and
// offsets, checked against the bytes that follow. The input is the whole file.
#include "bitscape/safetensors.h"
#include "fuzz_target.h"

BITSCAPE_FUZZ_TARGET(safetensors) {
  try {
    const bitscape::SafetensorsHeader h = bitscape::parse_safetensors_header(data, size, "f.safetensors");
    // Every accepted entry lies inside the data block: touch its first and last byte.
    for (const auto& e : h.entries) {
      if (e.end > e.begin) {
        volatile uint8_t first = data[h.data_start + e.begin];
        volatile uint8_t last = data[h.data_start + e.end - 1];
        (void)first;
        (void)last;
      }
    }
    bitscape::fuzz::accepted() = true;
  } catch (const bitscape::InputError&) {
  }
  return 0;
}
