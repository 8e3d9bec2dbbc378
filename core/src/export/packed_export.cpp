// Bitscape's packed quantized-model folder (packed_export.h).
#include "bitscape/packed_export.h"

#include <ATen/ATen.h>

#include <filesystem>
#include <map>
#include <system_error>

#include "bitscape/error.h"
#include "bitscape/model.h"
#include "bitscape/safetensors.h"

namespace bitscape {

void write_packed_model(const std::string& dir, const Model& model, const std::string& source_dir,
                        const QuantizeReport& report, const Allocation& allocation,
                        const std::vector<ModuleShape>& shapes) {
  namespace fs = std::filesystem;
  const fs::path out(dir);
  model.save(out.string());
  for (const char* f : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                        "generation_config.json"}) {
    const fs::path from = fs::path(source_dir) / f;
    if (!fs::exists(from)) continue;
    std::error_code ec;
    fs::copy_file(from, out / f, fs::copy_options::overwrite_existing, ec);
    if (ec) throw InputError((out / f).string(), "cannot be written: " + ec.message());
  }
  std::vector<std::pair<std::string, at::Tensor>> packed;
  std::map<std::string, std::string> metadata;
  for (const auto& [name, p] : report.packed) {
    for (auto& t : p.tensors(name)) packed.push_back(std::move(t));
    metadata[name] = p.metadata_json();
  }
  metadata["format"] = "bitscape-packed";
  metadata["format_version"] = "1";
  write_safetensors((out / "quantized.safetensors").string(), packed, metadata);
  allocation.save((out / "allocation.alloc.json").string(), shapes);
}

}  // namespace bitscape
