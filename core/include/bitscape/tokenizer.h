// Hugging Face tokenizer.json: byte-level BPE (GPT-2 / Llama-3 / Qwen2 pre-tokenizers) and
// SentencePiece-style BPE with byte fallback (Llama-2 / Mistral: Metaspace pre-tokenizer or the
// Prepend+Replace normalizer form), with added and special tokens; encode and decode give the
// same ids and strings as the `tokenizers` library. Plain-value header (no LibTorch).
// Truncation and padding settings in tokenizer.json are ignored (encode returns every id); input
// that is not valid UTF-8 is read with each invalid sequence replaced by U+FFFD. The const
// methods may be called from several threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace bitscape {

class Tokenizer {
 public:
  // Parses and validates tokenizer.json; throws InputError naming the file and the problem.
  static Tokenizer from_file(const std::string& path);
  static Tokenizer from_json_string(const std::string& json, const std::string& path_for_errors);
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // add_special_tokens: apply the post-processor (e.g. prepend BOS) as `tokenizers` does.
  std::vector<int32_t> encode(const std::string& text, bool add_special_tokens = false) const;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;

  int64_t vocab_size() const;  // including added tokens
  std::optional<int32_t> token_to_id(const std::string& token) const;
  std::string id_to_token(int32_t id) const;
  std::string kind() const;  // "byte_level_bpe" or "sentencepiece_bpe"

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace bitscape
