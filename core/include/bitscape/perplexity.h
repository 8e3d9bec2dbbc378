// Perplexity with the protocol of the papers (GPTQ/AWQ/AMQ): the documents of a corpus joined
// with "\n\n", tokenized once, cut into non-overlapping windows of `seqlen` tokens (the tail
// shorter than a window is dropped); each window is scored on its own and
// ppl = exp(mean over all predicted tokens of -log p(token | prefix in the window)).
// Tensor-facing header (LibTorch).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bitscape/eval_result.h"
#include "bitscape/progress.h"

namespace bitscape {

class Model;

// The evaluation token stream of a corpus for the model in `model_dir`, as the papers' scripts
// make it: the corpus (documents joined with "\n\n") tokenized once with the model's
// tokenizer.json, special tokens included (a leading BOS for Llama-style tokenizers). Throws
// InputError for a bad config/tokenizer/corpus, or a token id outside the model's vocabulary.
std::vector<int32_t> tokenize_eval_corpus(const std::string& model_dir, const std::string& data_path);

// Cuts a token stream into [windows, seqlen] int64; throws InputError (naming `source`) when
// the stream is shorter than one window. max_windows <= 0 means all.
at::Tensor make_windows(const std::vector<int32_t>& tokens, int64_t seqlen, int64_t max_windows,
                        const std::string& source);

// Streams each window through the model block by block; one progress step per window.
PerplexityResult evaluate_perplexity(const Model& model, const at::Tensor& windows,
                                     ProgressSink& progress, const CancelToken& cancel);

}  // namespace bitscape
