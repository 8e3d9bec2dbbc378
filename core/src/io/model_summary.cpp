#include <algorithm>
#include <cctype>
#include <map>

#include "bitscape/model_info.h"
#include "bitscape/safetensors.h"
#include "util/text.h"

namespace bitscape {
namespace {

// Position of a module inside a block, in execution order.
int order_in_block(const std::string& leaf) {
  static const char* kOrder[] = {"input_layernorm", "q_proj", "k_proj", "v_proj", "q_norm",
                                 "k_norm", "o_proj", "post_attention_layernorm", "gate_proj",
                                 "up_proj", "down_proj"};
  for (int i = 0; i < static_cast<int>(std::size(kOrder)); ++i)
    if (leaf == kOrder[i]) return i;
  return 100;
}

std::string kind_of(const std::string& module) {
  if (module.find("embed_tokens") != std::string::npos) return "embedding";
  if (module == "lm_head") return "head";
  if (ends_with(module, "_proj")) return "linear";
  if (module.find("norm") != std::string::npos) return "norm";
  return "other";
}

}  // namespace

ModelSummary summarize_tensors(const ModelConfig& config, const std::vector<TensorInfo>& tensors) {
  ModelSummary s;
  s.config = config;
  std::map<std::string, ModuleInfo> modules;
  for (const auto& t : tensors) {
    std::string module = t.name;
    for (std::string_view suffix : {".weight", ".bias"}) {
      if (module.size() > suffix.size() && ends_with(module, suffix)) {
        module.resize(module.size() - suffix.size());
        break;
      }
    }
    auto& m = modules[module];
    m.name = module;
    m.kind = kind_of(module);
    const std::string prefix = "model.layers.";
    if (module.rfind(prefix, 0) == 0) {
      // "model.layers.<N>.…": N in decimal (anything else is not a block's module).
      size_t i = prefix.size();
      int64_t n = 0;
      for (; i < module.size() && i < prefix.size() + 9 && std::isdigit(static_cast<unsigned char>(module[i])); ++i)
        n = n * 10 + (module[i] - '0');
      if (i > prefix.size() && i < module.size() && module[i] == '.') m.block = static_cast<int>(n);
    }
    m.tensors.push_back(t);
    m.params += t.numel();
    s.total_params += t.numel();
    if (m.block >= 0 && m.kind == "linear") s.linear_params += t.numel();
  }
  if (!modules.count("lm_head")) {
    ModuleInfo head;
    head.name = "lm_head";
    head.kind = "head";  // tied to model.embed_tokens: no tensors of its own
    modules["lm_head"] = head;
  }
  for (auto& [_, m] : modules) s.modules.push_back(m);
  auto rank = [](const ModuleInfo& m) {
    if (m.kind == "embedding") return std::make_tuple(0, 0, 0);
    if (m.block >= 0) {
      std::string leaf = m.name.substr(m.name.rfind('.') + 1);
      return std::make_tuple(1, m.block, order_in_block(leaf));
    }
    if (m.kind == "head") return std::make_tuple(3, 0, 0);
    return std::make_tuple(2, 0, 0);  // final norm and anything else
  };
  std::stable_sort(s.modules.begin(), s.modules.end(),
                   [&](const ModuleInfo& a, const ModuleInfo& b) { return rank(a) < rank(b); });
  return s;
}

ModelSummary summarize_model_dir(const std::string& dir) {
  ModelConfig config = ModelConfig::from_json_file(dir + "/config.json");
  Checkpoint c = Checkpoint::open_dir(dir);
  std::vector<TensorInfo> infos;
  for (const auto& n : c.names()) infos.push_back(c.info(n));
  ModelSummary s = summarize_tensors(config, infos);
  s.path = dir;
  s.file_bytes = c.total_bytes();
  return s;
}

}  // namespace bitscape
