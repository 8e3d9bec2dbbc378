// Peak memory of a calibration run, against what one block needs. Calibrates a model (the
// sample model, or a randomly initialised 1B-shaped Llama saved once in bfloat16) with the
// weights memory-mapped, as `bitscape-cli calibrate` does, while a thread samples
// /proc/self/status every 10 ms. Reports the peak of the process's anonymous (heap) memory,
// which holds what calibration allocates, and of its resident file pages (the mapped
// checkpoint, which the kernel can drop at any time), next to the model's size and the
// estimate "one block's weights (fp32) + its Hessians + the calibration activations".
// With --copy the weights are copied into memory instead (the eval path), for contrast.
//
// usage: bitscape_bench_calibration_memory [--model DIR | --make-1b DIR] [--samples N=16]
//            [--seqlen L=256] [--threads T=2] [--copy] [--json FILE]
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "bitscape/calibration.h"
#include "bitscape/model.h"
#include "bitscape/runtime.h"

namespace {

struct Mem {
  int64_t anon = 0, file = 0, rss = 0;
};

Mem read_mem() {
  std::ifstream in("/proc/self/status");
  std::string line;
  Mem m;
  while (std::getline(in, line)) {
    auto kb = [&](const char* key) { return std::stoll(line.substr(std::string(key).size())) * 1024; };
    if (line.rfind("RssAnon:", 0) == 0) m.anon = kb("RssAnon:");
    if (line.rfind("RssFile:", 0) == 0) m.file = kb("RssFile:");
    if (line.rfind("VmRSS:", 0) == 0) m.rss = kb("VmRSS:");
  }
  return m;
}

double mb(int64_t b) { return static_cast<double>(b) / 1e6; }

}  // namespace

int main(int argc, char** argv) {
  bitscape::reexec_with_passive_openmp(argv);
  std::map<std::string, std::string> a = {{"--samples", "16"}, {"--seqlen", "256"}, {"--threads", "2"}};
  bool copy = false;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--copy") {
      copy = true;
    } else if (k == "--verbose") {
      a[k] = "1";
    } else if (i + 1 < argc) {
      a[k] = argv[++i];
    }
  }
  bitscape::configure_threads(std::atoi(a["--threads"].c_str()));
  std::string dir = a.count("--model") ? a["--model"] : "";
  if (a.count("--make-1b")) {
    dir = a["--make-1b"];
    if (!std::filesystem::exists(dir + "/config.json")) {
      std::fprintf(stderr, "writing a random 1B-shaped Llama (bfloat16) to %s\n", dir.c_str());
      bitscape::ModelConfig c;
      c.architecture = "LlamaForCausalLM";
      c.model_type = "llama";
      c.vocab_size = 32000;
      c.hidden_size = 2048;
      c.intermediate_size = 5632;
      c.num_hidden_layers = 16;
      c.num_attention_heads = 32;
      c.num_key_value_heads = 8;
      c.head_dim = 64;
      c.max_position_embeddings = 2048;
      c.rms_norm_eps = 1e-5;
      bitscape::LoadOptions o;
      o.dtype = at::kBFloat16;
      bitscape::Model::random(c, 0, o).save(dir);
    }
  }
  if (dir.empty()) {
    std::fprintf(stderr, "give --model DIR or --make-1b DIR\n");
    return 1;
  }
  c10::InferenceMode guard;
  std::atomic<bool> done{false};
  Mem peak, start = read_mem();
  std::thread sampler([&] {
    while (!done) {
      const Mem m = read_mem();
      peak.anon = std::max(peak.anon, m.anon);
      peak.file = std::max(peak.file, m.file);
      peak.rss = std::max(peak.rss, m.rss);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });

  bitscape::LoadOptions o;
  o.mapped = !copy;
  bitscape::Model model = bitscape::Model::load(dir, o);
  if (a.count("--verbose")) std::fprintf(stderr, "after load: anonymous %.1f MB, file %.1f MB\n", mb(read_mem().anon), mb(read_mem().file));
  const int64_t N = std::atoll(a["--samples"].c_str()), L = std::atoll(a["--seqlen"].c_str());
  const bitscape::ModelConfig& c = model.config();
  const at::Tensor ids = at::randint(c.vocab_size, {N, L}, at::kLong);
  int64_t file_bytes = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".safetensors") file_bytes += static_cast<int64_t>(e.file_size());
  // One block's weights in fp32, its four Hessians (fp32, plus their packed upper triangles
  // as they are handed to the project writer), and hidden states in and out.
  int64_t block_params = 0;
  for (const auto& s : bitscape::module_shapes(model))
    if (s.name.rfind("model.layers.0.", 0) == 0) block_params += s.numel();
  const int64_t H = c.hidden_size, I = c.intermediate_size;
  const int64_t hessian_floats = 3 * H * H + I * I;
  const int64_t estimate = block_params * 4 + hessian_floats * 4 * 3 / 2 + 2 * N * L * H * 4;

  const auto t0 = std::chrono::steady_clock::now();
  bitscape::NullProgress progress;
  int64_t blocks = 0;
  std::vector<int64_t> per_block;
  bitscape::run_calibration(model, ids, true,
                            [&](bitscape::BlockCalibration& bc) -> std::map<std::string, at::Tensor> {
                              ++blocks;
                              const Mem m = read_mem();
                              per_block.push_back(m.anon);
                              if (a.count("--verbose"))
                                std::fprintf(stderr, "block %lld: anonymous %.1f MB, peak %.1f MB\n",
                                             static_cast<long long>(bc.block), mb(m.anon), mb(peak.anon));
                              return {};
                            },
                            progress, bitscape::CancelToken());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  done = true;
  sampler.join();
  nlohmann::json j = {{"model", dir},
                      {"weights", copy ? "copied" : "mapped"},
                      {"samples", N},
                      {"seqlen", L},
                      {"blocks", blocks},
                      {"seconds", seconds},
                      {"model_file_bytes", file_bytes},
                      {"one_block_estimate_bytes", estimate},
                      {"peak_anonymous_bytes", peak.anon},
                      {"peak_file_bytes", peak.file},
                      {"peak_resident_bytes", peak.rss},
                      {"anonymous_at_start_bytes", start.anon},
                      {"anonymous_after_each_block_bytes", per_block}};
  std::printf("%s (%s weights): %lld blocks, %lld x %lld tokens, %.1f s\n", dir.c_str(),
              copy ? "copied" : "mapped", static_cast<long long>(blocks), static_cast<long long>(N),
              static_cast<long long>(L), seconds);
  std::printf("  model files                 %9.1f MB\n", mb(file_bytes));
  std::printf("  one block + H + activations %9.1f MB (estimate)\n", mb(estimate));
  std::printf("  peak anonymous memory       %9.1f MB (%.1f MB at start)\n", mb(peak.anon), mb(start.anon));
  std::printf("  peak mapped file pages      %9.1f MB\n", mb(peak.file));
  if (a.count("--json")) std::ofstream(a["--json"]) << j.dump(1) << "\n";
  return 0;
}
