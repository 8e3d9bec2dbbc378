// Tokens/s of Model::forward on the CPU for a randomly initialised 1B-shaped Llama (16 blocks,
// hidden 2048, intermediate 5632, 32 heads, 8 kv heads, vocab 32000), one sequence of 512
// tokens, float32. Compare with bench/model_forward_bench.py (transformers eager) run with the
// same thread count on the same machine.
//
// usage: model_forward_bench [threads=2] [tokens=512] [repeats=3] [dtype=float32|bfloat16]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bitscape/model.h"

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const int64_t tokens = argc > 2 ? std::atoll(argv[2]) : 512;
  const int repeats = argc > 3 ? std::atoi(argv[3]) : 3;
  const std::string dtype = argc > 4 ? argv[4] : "float32";
  at::set_num_threads(threads);  // defaults to 1 here

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
  bitscape::LoadOptions options;
  options.dtype = dtype == "bfloat16" ? at::kBFloat16 : at::kFloat;
  const bitscape::Model model = bitscape::Model::random(c, 0, options);
  const at::Tensor ids = at::randint(c.vocab_size, {1, tokens}, at::kLong);

  at::NoGradGuard no_grad;
  auto run = [&] {
    const auto t0 = std::chrono::steady_clock::now();
    const at::Tensor logits = model.forward(ids);
    (void)logits.sum().item<float>();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  // Reference in the same run: the GEMM the MLP does ([T, 2048] x [2048, 5632]), alone.
  {
    const at::Tensor x = at::randn({tokens, 2048}, options.dtype);
    const at::Tensor w = at::randn({5632, 2048}, options.dtype);
    (void)at::linear(x, w);
    const auto t0 = std::chrono::steady_clock::now();
    const int n = 10;
    for (int r = 0; r < n; ++r) (void)at::linear(x, w);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("reference at::linear [%lld x 2048] x [2048 x 5632]: %.1f GFLOP/s\n",
                static_cast<long long>(tokens), n * 2.0 * tokens * 2048 * 5632 / s / 1e9);
  }
  run();  // warm-up
  double best = 1e30, total = 0;
  for (int r = 0; r < repeats; ++r) {
    const double s = run();
    best = std::min(best, s);
    total += s;
  }
  // Multiply-adds of the linears and the attention matmuls, for GFLOP/s.
  const double T = static_cast<double>(tokens);
  const double linear =
      16.0 * (2048.0 * 2048 * 2 + 2048.0 * 512 * 2 + 3.0 * 2048 * 5632) + 2048.0 * 32000;
  const double attention = 16.0 * 2 * 32 * T * T * 64;
  const double gflop = 2 * (linear * T + attention) / 1e9;
  std::printf(
      "bitscape forward %s threads=%d tokens=%lld: best %.3f s (mean %.3f s), %.1f tokens/s, "
      "%.1f GFLOP/s\n",
      dtype.c_str(), threads, static_cast<long long>(tokens), best, total / repeats, T / best,
      gflop / best);
  return 0;
}
