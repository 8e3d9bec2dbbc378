#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "bitscape/model_info.h"
#include "cli.h"

namespace bitscape::cli {
namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) out += (i ? " x " : "") + std::to_string(s[i]);
  return out;
}

std::string with_commas(int64_t n) {
  std::string s = std::to_string(n), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}

int run_inspect(const Args& args) {
  ModelSummary s = summarize_model_dir(args.get("model"));
  const ModelConfig& c = s.config;
  if (args.flag("json")) {
    nlohmann::json j;
    j["path"] = s.path;
    j["config"] = c.to_json();
    j["total_params"] = s.total_params;
    j["linear_params"] = s.linear_params;
    j["file_bytes"] = s.file_bytes;
    j["modules"] = nlohmann::json::array();
    for (const auto& m : s.modules) {
      nlohmann::json mj = {{"name", m.name}, {"kind", m.kind}, {"block", m.block}, {"params", m.params}};
      mj["tensors"] = nlohmann::json::array();
      for (const auto& t : m.tensors)
        mj["tensors"].push_back({{"name", t.name}, {"dtype", t.dtype}, {"shape", t.shape}});
      j["modules"].push_back(mj);
    }
    std::cout << j.dump(1) << "\n";
    return 0;
  }
  std::printf("model         %s\n", s.path.c_str());
  std::printf("architecture  %s (%s)\n", c.architecture.c_str(), c.model_type.c_str());
  std::printf("blocks        %lld, hidden %lld, intermediate %lld\n",
              static_cast<long long>(c.num_hidden_layers), static_cast<long long>(c.hidden_size),
              static_cast<long long>(c.intermediate_size));
  std::printf("attention     %lld heads, %lld kv heads (GQA %lldx), head_dim %lld\n",
              static_cast<long long>(c.num_attention_heads),
              static_cast<long long>(c.num_key_value_heads),
              static_cast<long long>(c.num_attention_heads / std::max<int64_t>(1, c.num_key_value_heads)),
              static_cast<long long>(c.head_dim));
  std::printf("rope          theta %g, scaling %s", c.rope_theta, c.rope_scaling.type.c_str());
  if (c.rope_scaling.type != "none") std::printf(" (factor %g)", c.rope_scaling.factor);
  std::printf("\nvocab         %lld, tied embeddings %s, rms_norm_eps %g\n",
              static_cast<long long>(c.vocab_size), c.tie_word_embeddings ? "yes" : "no",
              c.rms_norm_eps);
  std::printf("parameters    %s total, %s in block linear modules (%.1f%%)\n",
              with_commas(s.total_params).c_str(), with_commas(s.linear_params).c_str(),
              s.total_params ? 100.0 * s.linear_params / s.total_params : 0.0);
  std::printf("files         %.2f MB\n\n", s.file_bytes / 1e6);
  std::printf("%-44s %-10s %-16s %-6s %12s\n", "module", "kind", "shape", "dtype", "params");
  for (const auto& m : s.modules) {
    std::string shape = m.tensors.empty() ? "(tied)" : shape_str(m.tensors.front().shape);
    std::string dtype = m.tensors.empty() ? "-" : m.tensors.front().dtype;
    std::string name = m.name + (m.tensors.size() > 1 ? " +bias" : "");
    std::printf("%-44s %-10s %-16s %-6s %12s\n", name.c_str(), m.kind.c_str(), shape.c_str(),
                dtype.c_str(), with_commas(m.params).c_str());
  }
  return 0;
}

const bool registered = register_command(
    {"inspect",
     "Show a model's architecture and every module with shape, dtype and parameters.\n"
     "Reads config.json and the safetensors headers only (no weights), so it is instant.",
     {{"model", "DIR", "Hugging Face model directory", "", true},
      {"json", "", "print one JSON object"}},
     run_inspect});

}  // namespace
}  // namespace bitscape::cli
