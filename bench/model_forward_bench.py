#!/usr/bin/env python3
"""Reference for bench/model_forward_bench.cpp: tokens/s of a randomly initialised 1B-shaped
LlamaForCausalLM forward in transformers (eager attention), float32 on the CPU, one sequence.

usage: python3 model_forward_bench.py [threads=2] [tokens=512] [repeats=3]
"""
import sys
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    tokens = int(sys.argv[2]) if len(sys.argv) > 2 else 512
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=32000, hidden_size=2048, intermediate_size=5632,
                         num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8,
                         max_position_embeddings=2048, rms_norm_eps=1e-5, tie_word_embeddings=False)
    config._attn_implementation = "eager"
    model = LlamaForCausalLM(config).to(torch.float32).eval()
    ids = torch.randint(0, config.vocab_size, (1, tokens))

    def run():
        t0 = time.perf_counter()
        with torch.no_grad():
            logits = model(input_ids=ids, use_cache=False).logits
        float(logits.sum())
        return time.perf_counter() - t0

    run()  # warm-up
    times = [run() for _ in range(repeats)]
    best = min(times)
    print(f"transformers {__import__('transformers').__version__} torch {torch.__version__} eager "
          f"float32 threads={threads} tokens={tokens}: best {best:.3f} s "
          f"(mean {sum(times) / len(times):.3f} s), {tokens / best:.1f} tokens/s")


if __name__ == "__main__":
    main()
