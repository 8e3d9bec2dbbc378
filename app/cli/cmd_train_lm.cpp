#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "bitscape/config.h"
#include "bitscape/corpus.h"
#include "bitscape/model.h"
#include "bitscape/runtime.h"
#include "bitscape/safe_write.h"
#include "bitscape/tokenizer.h"
#include "bitscape/train.h"
#include "cli.h"

namespace bitscape::cli {
namespace {

int run_train_lm(const Args& args) {
  const int threads = configure_threads(static_cast<int>(args.get_int("threads")));
  const std::string out = args.get("out");
  const std::string tok_path = args.get("tokenizer");
  const at::ScalarType compute_dtype = parse_compute_dtype(args.get("dtype"));
  // Checked before training: the output folder must be new, empty or an earlier train-lm output
  // (with --force), and must not hold the corpora. The tokenizer may lie in it (it is copied).
  StagedDirectory staged(out, "train_log.json", args.flag("force"),
                         {args.get("data"), args.get("val")});
  StderrProgress progress(args.flag("quiet"));

  progress.stage("tokenize", 0);
  Tokenizer tokenizer = Tokenizer::from_file(tok_path);
  std::vector<int32_t> train = tokenizer.encode(read_corpus(args.get("data")), false);
  std::vector<int32_t> val;
  if (args.has("val")) val = tokenizer.encode(read_corpus(args.get("val")), false);
  progress.log("train tokens " + std::to_string(train.size()) + ", validation tokens " +
               std::to_string(val.size()) + ", threads " + std::to_string(threads));

  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.model_type = "llama";
  c.vocab_size = tokenizer.vocab_size();
  c.hidden_size = args.get_int("hidden");
  c.intermediate_size = args.get_int("intermediate");
  c.num_hidden_layers = args.get_int("layers");
  c.num_attention_heads = args.get_int("heads");
  c.num_key_value_heads = args.get_int("kv-heads");
  if (c.hidden_size <= 0 || c.num_attention_heads <= 0 || c.num_key_value_heads <= 0 ||
      c.hidden_size % c.num_attention_heads || c.num_attention_heads % c.num_key_value_heads)
    throw UsageError("--hidden must be divisible by --heads, and --heads by --kv-heads");
  c.head_dim = c.hidden_size / c.num_attention_heads;
  // The context the model is trained on: the default window of eval and calibrate.
  c.max_position_embeddings = args.get_int("seqlen");
  c.rope_theta = 10000.0;
  c.rms_norm_eps = 1e-5;
  c.tie_word_embeddings = true;
  c.torch_dtype = "float32";
  if (auto bos = tokenizer.token_to_id("<|begin_of_text|>")) c.bos_token_id = *bos;
  if (auto eos = tokenizer.token_to_id("<|end_of_text|>")) c.eos_token_id = *eos;

  LoadOptions load;
  // The weights stay fp32 (AdamW on bf16 weights loses small updates); --dtype bf16 runs the
  // forward and backward in bf16 on casts of them (mixed precision).
  load.device = args.get("device");
  Model model = Model::random(c, static_cast<uint64_t>(args.get_int("seed")), load);
  TrainOptions o;
  o.seqlen = args.get_int("seqlen");
  o.batch_size = args.get_int("batch");
  o.steps = args.get_int("steps");
  o.warmup_steps = args.get_int("warmup");
  o.lr = args.get_double("lr");
  o.weight_decay = args.get_double("weight-decay");
  o.seed = static_cast<uint64_t>(args.get_int("seed"));
  o.eval_every = args.get_int("eval-every");
  o.max_seconds = args.get_double("max-minutes") * 60.0;
  o.compute_dtype = compute_dtype;
  TrainResult r = train_lm(model, train, val, o, progress, interrupt_token());

  model.save(staged.path());
  std::filesystem::copy_file(tok_path, staged.path() + "/tokenizer.json");
  nlohmann::json log = {{"steps", r.steps_done},
                        {"tokens_seen", r.tokens_seen},
                        {"seconds", r.seconds},
                        {"threads", threads},
                        {"train_tokens", train.size()},
                        {"options",
                         {{"seqlen", o.seqlen}, {"batch", o.batch_size}, {"steps", o.steps},
                          {"warmup", o.warmup_steps}, {"lr", o.lr},
                          {"weight_decay", o.weight_decay}, {"seed", o.seed},
                          {"dtype", args.get("dtype")}}},
                        {"train_loss", r.train_loss},
                        {"val_loss", r.val_loss}};
  write_file_atomically(staged.path() + "/train_log.json", log.dump(1) + "\n", "training log");
  staged.commit();
  std::printf("trained %lld steps (%lld tokens) in %.1f s", static_cast<long long>(r.steps_done),
              static_cast<long long>(r.tokens_seen), r.seconds);
  if (!r.val_loss.empty())
    std::printf("; validation loss %.4f (ppl %.2f)", r.val_loss.back().second,
                std::exp(r.val_loss.back().second));
  std::printf("; saved %s\n", out.c_str());
  return interrupt_token().cancelled() ? 130 : 0;
}

const bool registered = register_command(
    {"train-lm",
     "Train a LLaMA-architecture model from scratch on a text corpus.\n"
     "AdamW with warmup and cosine decay; saves a Hugging Face model directory with the\n"
     "tokenizer and train_log.json. Ctrl-C stops early and saves what was trained; the folder\n"
     "is written whole (an earlier one is replaced only at the end, and only with --force).",
     {{"data", "FILE", "training corpus (text or JSONL)", "", true},
      {"val", "FILE", "validation corpus"},
      {"tokenizer", "FILE", "tokenizer.json to use", "", true},
      {"out", "DIR", "output model directory", "", true},
      {"force", "", "replace --out if it is an earlier train-lm output"},
      {"hidden", "N", "hidden size", "256"},
      {"intermediate", "N", "MLP intermediate size", "768"},
      {"layers", "N", "decoder blocks", "6"},
      {"heads", "N", "attention heads", "4"},
      {"kv-heads", "N", "key/value heads (GQA)", "2"},
      {"seqlen", "N", "training window length", "256"},
      {"batch", "N", "windows per step", "16"},
      {"steps", "N", "optimizer steps", "3000"},
      {"warmup", "N", "linear warmup steps", "100"},
      {"lr", "X", "peak learning rate", "0.003"},
      {"weight-decay", "X", "AdamW decoupled weight decay on matrices", "0.1"},
      {"seed", "S", "seed for initialisation and batch sampling", "0"},
      {"eval-every", "N", "validation loss every N steps", "250"},
      {"max-minutes", "M", "stop after M minutes of training (0 = no limit)", "0"},
      {"device", "DEV", "cpu, cuda or cuda:N", "cpu"},
      {"dtype", "T",
       "compute dtype: fp32, or bf16/fp16 for mixed precision (weights and AdamW stay fp32)",
       "fp32"},
      {"threads", "T", "CPU threads (0 = one per core)", "0"},
      {"quiet", "", "no progress on stderr"}},
     run_train_lm});

}  // namespace
}  // namespace bitscape::cli
