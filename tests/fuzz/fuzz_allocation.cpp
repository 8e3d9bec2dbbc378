// Allocation files (core/src/search/allocation.cpp) against the sample model's 42 modules: an
// accepted allocation is validated, costed, and saved and loaded again unchanged.
#include <cstdio>
#include <unistd.h>

#include "bitscape/allocation.h"
#include "bitscape/cost_model.h"
#include "bitscape/json_input.h"
#include "fuzz_target.h"

namespace {

std::vector<bitscape::ModuleShape> sample_shapes() {
  std::vector<bitscape::ModuleShape> shapes;
  for (int b = 0; b < 6; ++b) {
    const std::string p = "model.layers." + std::to_string(b) + ".";
    shapes.push_back({p + "self_attn.q_proj", 256, 256});
    shapes.push_back({p + "self_attn.k_proj", 128, 256});
    shapes.push_back({p + "self_attn.v_proj", 128, 256});
    shapes.push_back({p + "self_attn.o_proj", 256, 256});
    shapes.push_back({p + "mlp.gate_proj", 768, 256});
    shapes.push_back({p + "mlp.up_proj", 768, 256});
    shapes.push_back({p + "mlp.down_proj", 256, 768});
  }
  return shapes;
}

}  // namespace

BITSCAPE_FUZZ_TARGET(allocation) {
  static const std::vector<bitscape::ModuleShape> shapes = sample_shapes();
  try {
    const bitscape::Allocation a = bitscape::Allocation::from_json(
        bitscape::parse_json(bitscape::fuzz::as_string(data, size), "a.alloc.json"), shapes,
        "a.alloc.json");
    a.validate(shapes, "a.alloc.json");
    (void)bitscape::allocation_cost(a, shapes);
    // The written form reads back as the same allocation.
    const bitscape::Allocation again =
        bitscape::Allocation::from_json(a.to_json(shapes), shapes, "written");
    for (const auto& s : shapes)
      if (again.module(s.name) != a.module(s.name)) __builtin_trap();
    bitscape::fuzz::accepted() = true;
  } catch (const bitscape::InputError&) {
  }
  return 0;
}
