// Hugging Face tokenizer.json: loading, encoding and decoding with the same results as the
// `tokenizers` library.
//
// The algorithms follow the public descriptions of that library's pipeline (the "Tokenizers"
// documentation at huggingface.co/docs/tokenizers: "The tokenization pipeline", "Components",
// and its reference pages for AddedToken, normalizers, pre-tokenizers, models, post-processors
// and decoders): added tokens are split out first (leftmost-longest), the rest is normalized,
// pre-tokenized, split by the model, and the post-processor adds special tokens. BPE applies
// merges by rank (Sennrich et al., 2016, "Neural Machine Translation of Rare Words with Subword
// Units"), lowest rank first and leftmost among equal ranks; the byte-to-unicode mapping of
// byte-level BPE is the one described for GPT-2 (Radford et al., 2019); the "▁" meta symbol and
// <0xXX> byte fallback are SentencePiece's (Kudo and Richardson, 2018).
#include "bitscape/tokenizer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <queue>
#include <sstream>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "bitscape/error.h"
#include "bitscape/json_input.h"
#include "io/tokenizer_regex.h"
#include "io/tokenizer_unicode.h"

namespace bitscape {
namespace {

using json = nlohmann::json;
using Span = std::pair<std::size_t, std::size_t>;

const char* const kGpt2Pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

// ---------------------------------------------------------------------------------------------
// Byte-level alphabet: each byte is shown as a printable code point (bytes that are printable
// Latin-1 map to themselves, the others to 256, 257, ... in byte order).

struct ByteAlphabet {
  std::array<std::string, 256> byte_to_utf8;
  std::unordered_map<char32_t, unsigned char> code_point_to_byte;

  ByteAlphabet() {
    auto printable = [](int b) {
      return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const char32_t cp = printable(b) ? static_cast<char32_t>(b) : next++;
      unicode::append_utf8(byte_to_utf8[b], cp);
      code_point_to_byte[cp] = static_cast<unsigned char>(b);
    }
  }
};

const ByteAlphabet& byte_alphabet() {
  static const ByteAlphabet alphabet;
  return alphabet;
}

// ---------------------------------------------------------------------------------------------
// Patterns (Split, Replace): a literal string or a regex.

struct Pattern {
  std::string literal;
  std::shared_ptr<TokenizerRegex> regex;

  void find_all(std::string_view text, std::vector<Span>& out) const {
    if (regex) {
      regex->find_all(text, out);
      return;
    }
    if (literal.empty()) return;
    for (std::size_t pos = text.find(literal); pos != std::string_view::npos;
         pos = text.find(literal, pos + literal.size())) {
      out.emplace_back(pos, pos + literal.size());
    }
  }

  std::string replace_all(std::string_view text, const std::string& content) const {
    std::vector<Span> matches;
    find_all(text, matches);
    if (matches.empty()) return std::string(text);
    std::string out;
    out.reserve(text.size());
    std::size_t prev = 0;
    for (const auto& [begin, end] : matches) {
      out.append(text.substr(prev, begin - prev));
      out += content;
      prev = end;
    }
    out.append(text.substr(prev));
    return out;
  }
};

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

// A piece of text between added tokens, as it goes through pre-tokenization. `at_origin`: the
// piece starts at offset 0 of the original input (Metaspace's prepend_scheme "first").
struct Piece {
  std::string text;
  bool at_origin = false;
};

// Splits `piece` at the matches of `pattern` as `tokenizers`' NormalizedString::split does.
void split_piece(const Piece& piece, const Pattern& pattern, SplitBehavior behavior, bool invert,
                 std::vector<Piece>& out) {
  const std::string_view text = piece.text;
  std::vector<Span> matches;
  pattern.find_all(text, matches);
  std::vector<std::pair<Span, bool>> parts;  // covering `text`, each flagged as a match or not
  parts.reserve(matches.size() * 2 + 1);
  std::size_t prev = 0;
  for (const auto& m : matches) {
    if (prev != m.first) parts.push_back({{prev, m.first}, false});
    parts.push_back({m, true});
    prev = m.second;
  }
  if (prev != text.size()) parts.push_back({{prev, text.size()}, false});
  if (invert) {
    for (auto& p : parts) p.second = !p.second;
  }

  std::vector<Span> spans;
  spans.reserve(parts.size());
  switch (behavior) {
    case SplitBehavior::Isolated:
      for (const auto& p : parts) spans.push_back(p.first);
      break;
    case SplitBehavior::Removed:
      for (const auto& p : parts) {
        if (!p.second) spans.push_back(p.first);
      }
      break;
    case SplitBehavior::MergedWithPrevious: {
      bool previous_match = false;
      for (const auto& [span, is_match] : parts) {
        if (is_match && !previous_match && !spans.empty()) {
          spans.back().second = span.second;
        } else {
          spans.push_back(span);
        }
        previous_match = is_match;
      }
      break;
    }
    case SplitBehavior::MergedWithNext: {
      bool previous_match = false;
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        const auto& [span, is_match] = *it;
        if (is_match && !previous_match && !spans.empty()) {
          spans.back().first = span.first;
        } else {
          spans.push_back(span);
        }
        previous_match = is_match;
      }
      std::reverse(spans.begin(), spans.end());
      break;
    }
    case SplitBehavior::Contiguous: {
      bool previous_match = false;
      for (const auto& [span, is_match] : parts) {
        if (is_match == previous_match && !spans.empty()) {
          spans.back().second = span.second;
        } else {
          spans.push_back(span);
        }
        previous_match = is_match;
      }
      break;
    }
  }
  for (const auto& [begin, end] : spans) {
    if (end > begin) out.push_back({std::string(text.substr(begin, end - begin)),
                                    piece.at_origin && begin == 0});
  }
}

// ---------------------------------------------------------------------------------------------
// Normalizers, pre-tokenizers, decoders, post-processors (each Sequence flattened into a list).

struct Normalizer {
  enum class Kind { NFC, NFD, Prepend, Replace } kind;
  std::string text;  // Prepend: what to prepend; Replace: the replacement
  Pattern pattern;   // Replace

  std::string apply(std::string s) const {
    switch (kind) {
      case Kind::NFC:
        return unicode::nfc(s);
      case Kind::NFD:
        return unicode::nfd(s);
      case Kind::Prepend:
        return s.empty() ? s : text + s;
      case Kind::Replace:
        return pattern.replace_all(s, text);
    }
    return s;
  }
};

enum class PrependScheme { Always, Never, First };

struct PreTokenizer {
  enum class Kind { Split, ByteLevel, Metaspace } kind;
  // Split
  Pattern pattern;
  SplitBehavior behavior = SplitBehavior::Isolated;
  bool invert = false;
  // ByteLevel
  bool add_prefix_space = false;
  bool use_regex = false;
  // Metaspace
  std::string replacement;
  PrependScheme prepend_scheme = PrependScheme::Always;
  bool split = false;

  void apply(const Piece& piece, std::vector<Piece>& out) const {
    switch (kind) {
      case Kind::Split:
        split_piece(piece, pattern, behavior, invert, out);
        return;
      case Kind::ByteLevel: {
        Piece p = piece;
        if (add_prefix_space && (p.text.empty() || p.text[0] != ' ')) p.text.insert(0, " ");
        std::vector<Piece> parts;
        if (use_regex) {
          split_piece(p, pattern, SplitBehavior::Isolated, false, parts);
        } else if (!p.text.empty()) {
          parts.push_back(std::move(p));
        }
        const auto& alphabet = byte_alphabet();
        for (auto& part : parts) {
          std::string mapped;
          mapped.reserve(part.text.size() * 2);
          for (unsigned char b : part.text) mapped += alphabet.byte_to_utf8[b];
          out.push_back({std::move(mapped), part.at_origin});
        }
        return;
      }
      case Kind::Metaspace: {
        Piece p{pattern.replace_all(piece.text, replacement), piece.at_origin};
        const bool starts = p.text.compare(0, replacement.size(), replacement) == 0;
        const bool prepend = prepend_scheme == PrependScheme::Always ||
                             (prepend_scheme == PrependScheme::First && piece.at_origin);
        if (prepend && !starts && !p.text.empty()) p.text.insert(0, replacement);
        if (split) {
          Pattern at_replacement{replacement, nullptr};
          split_piece(p, at_replacement, SplitBehavior::MergedWithNext, false, out);
        } else if (!p.text.empty()) {
          out.push_back(std::move(p));
        }
        return;
      }
    }
  }
};

struct Decoder {
  enum class Kind { ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace } kind;
  Pattern pattern;    // Replace
  std::string text;   // Replace: content; Strip: the character; Metaspace: replacement
  std::size_t start = 0, stop = 0;  // Strip
  PrependScheme prepend_scheme = PrependScheme::Always;  // Metaspace

  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const {
    switch (kind) {
      case Kind::ByteLevel: {
        const auto& alphabet = byte_alphabet();
        std::string bytes;
        for (const auto& token : tokens) {
          std::string mapped;
          bool all_mapped = true;
          for (std::size_t pos = 0; pos < token.size();) {
            auto it = alphabet.code_point_to_byte.find(unicode::next_code_point(token, pos));
            if (it == alphabet.code_point_to_byte.end()) {
              all_mapped = false;
              break;
            }
            mapped += static_cast<char>(it->second);
          }
          bytes += all_mapped ? mapped : token;
        }
        return {unicode::from_utf8_lossy(bytes)};
      }
      case Kind::Replace:
        for (auto& token : tokens) token = pattern.replace_all(token, text);
        return tokens;
      case Kind::ByteFallback: {
        std::vector<std::string> out;
        std::string pending;
        std::size_t pending_count = 0;
        auto flush = [&] {
          if (pending_count == 0) return;
          if (unicode::is_valid_utf8(pending)) {
            out.push_back(pending);
          } else {
            for (std::size_t i = 0; i < pending_count; ++i) out.emplace_back("\xEF\xBF\xBD");
          }
          pending.clear();
          pending_count = 0;
        };
        for (auto& token : tokens) {
          if (token.size() == 6 && token.compare(0, 3, "<0x") == 0 && token[5] == '>' &&
              std::isxdigit(static_cast<unsigned char>(token[3])) &&
              std::isxdigit(static_cast<unsigned char>(token[4]))) {
            pending += static_cast<char>(std::stoi(token.substr(3, 2), nullptr, 16));
            ++pending_count;
          } else {
            flush();
            out.push_back(std::move(token));
          }
        }
        flush();
        return out;
      }
      case Kind::Fuse: {
        std::string joined;
        for (const auto& token : tokens) joined += token;
        return {joined};
      }
      case Kind::Strip: {
        // Up to `start` leading and `stop` trailing copies of the character are cut (counted
        // independently, as `tokenizers` does; where the two overlap it fails, here the token
        // becomes empty).
        const char32_t content = text.empty() ? 0 : [&] {
          std::size_t pos = 0;
          return unicode::next_code_point(text, pos);
        }();
        for (auto& token : tokens) {
          std::vector<std::pair<char32_t, Span>> chars;
          for (std::size_t pos = 0; pos < token.size();) {
            const std::size_t begin = pos;
            const char32_t c = unicode::next_code_point(token, pos);
            chars.push_back({c, {begin, pos}});
          }
          std::size_t start_cut = 0, stop_cut = 0;
          while (start_cut < start && start_cut < chars.size() && chars[start_cut].first == content)
            ++start_cut;
          while (stop_cut < stop && stop_cut < chars.size() &&
                 chars[chars.size() - 1 - stop_cut].first == content)
            ++stop_cut;
          if (start_cut + stop_cut >= chars.size()) {
            token.clear();
          } else {
            const std::size_t begin = chars[start_cut].second.first;
            token = token.substr(begin, chars[chars.size() - 1 - stop_cut].second.second - begin);
          }
        }
        return tokens;
      }
      case Kind::Metaspace: {
        std::size_t pos0 = 0;
        const char32_t meta = text.empty() ? 0 : unicode::next_code_point(text, pos0);
        for (std::size_t i = 0; i < tokens.size(); ++i) {
          std::string out;
          for (std::size_t pos = 0; pos < tokens[i].size();) {
            const std::size_t begin = pos;
            const char32_t c = unicode::next_code_point(tokens[i], pos);
            if (c == meta) {
              if (!(i == 0 && prepend_scheme != PrependScheme::Never)) out += ' ';
            } else {
              out.append(tokens[i], begin, pos - begin);
            }
          }
          tokens[i] = std::move(out);
        }
        return tokens;
      }
    }
    return tokens;
  }
};

// One step of a post-processor: `single` is the template for one sequence, a list of special
// token id lists and the sequence itself (an empty optional).
struct PostProcessor {
  std::vector<std::optional<std::vector<int32_t>>> single;

  void apply(std::vector<int32_t>& ids) const {
    std::vector<int32_t> out;
    out.reserve(ids.size() + 4);
    for (const auto& piece : single) {
      if (piece) {
        out.insert(out.end(), piece->begin(), piece->end());
      } else {
        out.insert(out.end(), ids.begin(), ids.end());
      }
    }
    ids = std::move(out);
  }
};

struct AddedToken {
  std::string content;
  std::string decoded;  // what id -> token gives: the content, normalized if `normalized`
  int32_t id = 0;
  bool single_word = false, lstrip = false, rstrip = false, normalized = false, special = false;
};

// Added tokens to look for in a text, indexed by their first byte, longest first.
struct AddedTokenMatcher {
  struct Entry {
    std::string pattern;
    std::size_t token;  // index into Impl::added
  };
  std::array<std::vector<Entry>, 256> by_first_byte;
  bool empty = true;

  void add(std::string pattern, std::size_t token) {
    if (pattern.empty()) return;
    auto& bucket = by_first_byte[static_cast<unsigned char>(pattern[0])];
    bucket.push_back({std::move(pattern), token});
    std::stable_sort(bucket.begin(), bucket.end(), [](const Entry& a, const Entry& b) {
      return a.pattern.size() > b.pattern.size();
    });
    empty = false;
  }
};

struct Symbol {
  int32_t id;
  int32_t prev, next;
  bool alive;
};

struct PendingMerge {
  int32_t rank, pos, new_id;
  bool operator<(const PendingMerge& o) const {  // std::priority_queue pops the largest
    return rank != o.rank ? rank > o.rank : pos > o.pos;
  }
};

// Unicode `\w` as the Rust regex crate defines it (Alphabetic, marks, decimal digits,
// connector punctuation, joiners): the word boundary test of single_word added tokens.
bool is_word_char(char32_t c) {
  if (c < 0x80) return std::isalnum(static_cast<int>(c)) != 0 || c == '_';
  static const TokenizerRegex word("^[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\x{200C}\\x{200D}]$", "");
  std::string s;
  unicode::append_utf8(s, c);
  return word.search(s);
}

char32_t last_code_point(std::string_view s) {
  std::size_t begin = s.size();
  while (begin > 0 && (static_cast<unsigned char>(s[begin - 1]) & 0xC0) == 0x80) --begin;
  if (begin > 0) --begin;
  return unicode::next_code_point(s, begin);
}

}  // namespace

// ---------------------------------------------------------------------------------------------

struct Tokenizer::Impl {
  std::string path;

  // BPE model.
  std::vector<std::string> model_tokens;  // by id; empty where the vocabulary has a gap
  std::vector<bool> model_has_id;
  std::unordered_map<std::string_view, int32_t> vocab;  // views into model_tokens
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges;  // (a, b) -> (rank, new id)
  std::optional<int32_t> unk_id;
  bool fuse_unk = false, byte_fallback = false, ignore_merges = false;
  std::array<int32_t, 256> byte_fallback_ids{};
  // (last code point of a merge's left token, first code point of its right token), for every
  // merge: a boundary between two in-vocabulary characters that is not in this set can never be
  // merged across, so long pre-tokens are merged piecewise between such boundaries (exactly).
  std::unordered_set<uint64_t> merge_junctions;
  std::vector<bool> ascii_merge_junctions = std::vector<bool>(128 * 128, false);

  std::vector<AddedToken> added;
  std::unordered_map<int32_t, std::size_t> added_by_id;
  std::unordered_map<std::string, std::size_t> added_by_content;
  std::unordered_set<std::string> special_contents;
  AddedTokenMatcher raw_matcher, normalized_matcher;

  std::vector<Normalizer> normalizers;
  std::vector<PreTokenizer> pre_tokenizers;
  std::vector<Decoder> decoders;
  bool has_decoder = false;
  std::vector<PostProcessor> post_processors;
  bool byte_level = false;

  [[noreturn]] void fail(const std::string& problem) const { throw InputError(path, problem); }

  // ---- loading -------------------------------------------------------------------------------

  // An integer field within [lo, hi]; a float or a value out of range is refused here, before
  // any conversion (converting an out-of-range double is undefined behaviour).
  int64_t integer(const json& v, const std::string& what, int64_t lo, int64_t hi) const {
    if (!v.is_number_integer()) fail(what + " must be an integer, got " + describe_json(v));
    if (v.is_number_unsigned() ? v.get<uint64_t>() > static_cast<uint64_t>(hi)
                               : (v.get<int64_t>() < lo || v.get<int64_t>() > hi))
      fail(what + " " + v.dump() + " is out of range (" + std::to_string(lo) + " to " +
           std::to_string(hi) + ")");
    return v.get<int64_t>();
  }
  int32_t token_id(const json& v, const std::string& what) const {
    return static_cast<int32_t>(integer(v, what, 0, (int64_t(1) << 24) - 1));
  }

  static bool flag(const json& j, const char* key, bool fallback) {
    auto it = j.find(key);
    return it == j.end() || it->is_null() ? fallback : it->get<bool>();
  }

  Pattern parse_pattern(const json& j) const {
    if (!j.is_object()) fail("pattern must be an object with \"String\" or \"Regex\"");
    if (j.contains("String")) return Pattern{j.at("String").get<std::string>(), nullptr};
    if (j.contains("Regex")) {
      return Pattern{"", std::make_shared<TokenizerRegex>(j.at("Regex").get<std::string>(), path)};
    }
    fail("pattern must have \"String\" or \"Regex\"");
  }

  SplitBehavior parse_behavior(const std::string& name) const {
    if (name == "Isolated") return SplitBehavior::Isolated;
    if (name == "Removed") return SplitBehavior::Removed;
    if (name == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
    if (name == "MergedWithNext") return SplitBehavior::MergedWithNext;
    if (name == "Contiguous") return SplitBehavior::Contiguous;
    fail("unsupported Split behavior '" + name + "'");
  }

  PrependScheme parse_prepend_scheme(const json& j) const {
    if (j.contains("prepend_scheme") && !j.at("prepend_scheme").is_null()) {
      const auto s = j.at("prepend_scheme").get<std::string>();
      if (s == "always") return PrependScheme::Always;
      if (s == "never") return PrependScheme::Never;
      if (s == "first") return PrependScheme::First;
      fail("unsupported Metaspace prepend_scheme '" + s + "'");
    }
    return flag(j, "add_prefix_space", true) ? PrependScheme::Always : PrependScheme::Never;
  }

  void parse_normalizer(const json& j) {
    if (j.is_null()) return;
    const auto type = j.at("type").get<std::string>();
    if (type == "Sequence") {
      for (const auto& n : j.at("normalizers")) parse_normalizer(n);
    } else if (type == "NFC") {
      normalizers.push_back({Normalizer::Kind::NFC, "", {}});
    } else if (type == "NFD") {
      normalizers.push_back({Normalizer::Kind::NFD, "", {}});
    } else if (type == "Prepend") {
      normalizers.push_back({Normalizer::Kind::Prepend, j.at("prepend").get<std::string>(), {}});
    } else if (type == "Replace") {
      normalizers.push_back(
          {Normalizer::Kind::Replace, j.at("content").get<std::string>(), parse_pattern(j.at("pattern"))});
    } else {
      fail("unsupported normalizer type '" + type + "'");
    }
  }

  void parse_pre_tokenizer(const json& j) {
    if (j.is_null()) return;
    const auto type = j.at("type").get<std::string>();
    PreTokenizer p{};
    if (type == "Sequence") {
      for (const auto& n : j.at("pretokenizers")) parse_pre_tokenizer(n);
      return;
    } else if (type == "Split") {
      p.kind = PreTokenizer::Kind::Split;
      p.pattern = parse_pattern(j.at("pattern"));
      p.behavior = parse_behavior(j.at("behavior").get<std::string>());
      p.invert = flag(j, "invert", false);
    } else if (type == "ByteLevel") {
      p.kind = PreTokenizer::Kind::ByteLevel;
      p.add_prefix_space = flag(j, "add_prefix_space", true);
      p.use_regex = flag(j, "use_regex", true);
      if (p.use_regex) p.pattern = Pattern{"", std::make_shared<TokenizerRegex>(kGpt2Pattern, path)};
      byte_level = true;
    } else if (type == "Metaspace") {
      p.kind = PreTokenizer::Kind::Metaspace;
      p.replacement = j.value("replacement", std::string("\xE2\x96\x81"));
      p.pattern = Pattern{" ", nullptr};
      p.prepend_scheme = parse_prepend_scheme(j);
      p.split = flag(j, "split", true);
    } else {
      fail("unsupported pre-tokenizer type '" + type + "'");
    }
    pre_tokenizers.push_back(std::move(p));
  }

  void parse_decoder(const json& j) {
    if (j.is_null()) return;
    has_decoder = true;
    const auto type = j.at("type").get<std::string>();
    Decoder d{};
    if (type == "Sequence") {
      for (const auto& n : j.at("decoders")) parse_decoder(n);
      return;
    } else if (type == "ByteLevel") {
      d.kind = Decoder::Kind::ByteLevel;
    } else if (type == "Replace") {
      d.kind = Decoder::Kind::Replace;
      d.pattern = parse_pattern(j.at("pattern"));
      d.text = j.at("content").get<std::string>();
    } else if (type == "ByteFallback") {
      d.kind = Decoder::Kind::ByteFallback;
    } else if (type == "Fuse") {
      d.kind = Decoder::Kind::Fuse;
    } else if (type == "Strip") {
      d.kind = Decoder::Kind::Strip;
      d.text = j.at("content").get<std::string>();
      d.start = static_cast<std::size_t>(integer(j.at("start"), "Strip decoder start", 0, 1 << 20));
      d.stop = static_cast<std::size_t>(integer(j.at("stop"), "Strip decoder stop", 0, 1 << 20));
    } else if (type == "Metaspace") {
      d.kind = Decoder::Kind::Metaspace;
      d.text = j.value("replacement", std::string("\xE2\x96\x81"));
      d.prepend_scheme = parse_prepend_scheme(j);
    } else {
      fail("unsupported decoder type '" + type + "'");
    }
    decoders.push_back(std::move(d));
  }

  int32_t special_token_id(const std::string& token) const {
    if (auto it = added_by_content.find(token); it != added_by_content.end()) return added[it->second].id;
    if (auto it = vocab.find(token); it != vocab.end()) return it->second;
    fail("post-processor special token '" + token + "' is not in the vocabulary");
  }

  void parse_post_processor(const json& j) {
    if (j.is_null()) return;
    const auto type = j.at("type").get<std::string>();
    if (type == "Sequence") {
      for (const auto& n : j.at("processors")) parse_post_processor(n);
    } else if (type == "ByteLevel") {
      // Only adjusts offsets: the ids are unchanged.
    } else if (type == "TemplateProcessing") {
      PostProcessor p;
      std::unordered_map<std::string, std::vector<int32_t>> specials;
      for (const auto& [name, spec] : j.at("special_tokens").items()) {
        std::vector<int32_t> ids;
        for (const json& id : spec.at("ids")) ids.push_back(token_id(id, "special token id"));
        specials[name] = ids;
      }
      for (const auto& piece : j.at("single")) {
        if (piece.contains("Sequence")) {
          p.single.emplace_back(std::nullopt);
        } else if (piece.contains("SpecialToken")) {
          const auto name = piece.at("SpecialToken").at("id").get<std::string>();
          auto it = specials.find(name);
          if (it == specials.end()) fail("template refers to unknown special token '" + name + "'");
          p.single.emplace_back(it->second);
        } else {
          fail("unsupported TemplateProcessing piece " + describe_json(piece));
        }
      }
      post_processors.push_back(std::move(p));
    } else if (type == "BertProcessing" || type == "RobertaProcessing") {
      const auto cls = token_id(j.at("cls").at(1), "cls id");
      const auto sep = token_id(j.at("sep").at(1), "sep id");
      PostProcessor p;
      p.single = {std::vector<int32_t>{cls}, std::nullopt, std::vector<int32_t>{sep}};
      post_processors.push_back(std::move(p));
    } else {
      fail("unsupported post-processor type '" + type + "'");
    }
  }

  void parse_model(const json& j) {
    if (!j.is_object()) fail("missing \"model\"");
    const std::string type = j.value("type", j.contains("merges") ? "BPE" : "");
    if (type != "BPE") {
      fail("unsupported model type '" + (type.empty() ? std::string("unknown") : type) +
           "' (only BPE is supported)");
    }
    if (j.contains("dropout") && !j.at("dropout").is_null() && j.at("dropout").get<double>() > 0) {
      fail("BPE dropout is not supported");
    }
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      if (j.contains(key) && !j.at(key).is_null() && !j.at(key).get<std::string>().empty()) {
        fail(std::string("BPE ") + key + " is not supported");
      }
    }
    if (!j.contains("vocab") || !j.at("vocab").is_object()) fail("model has no \"vocab\" object");
    const auto& v = j.at("vocab");
    int32_t max_id = -1;
    for (const auto& [token, id] : v.items()) {
      if (!id.is_number_integer())
        fail("vocab id of " + quote_for_message(token) + " must be an integer, got " + describe_json(id));
      const int64_t value = id.is_number_unsigned() && id.get<uint64_t>() > uint64_t(INT64_MAX)
                                ? INT64_MAX : id.get<int64_t>();
      // Ids index dense tables: bounded far above any real vocabulary (~256k tokens).
      if (value < 0 || value >= (int64_t(1) << 24))
        fail("vocab id " + std::to_string(value) + " of " + quote_for_message(token) +
             " is out of range (0 to 16777215)");
      max_id = std::max<int32_t>(max_id, static_cast<int32_t>(value));
    }
    model_tokens.assign(static_cast<std::size_t>(max_id + 1), std::string());
    model_has_id.assign(static_cast<std::size_t>(max_id + 1), false);
    for (const auto& [token, id] : v.items()) {
      const auto i = static_cast<std::size_t>(id.get<int32_t>());
      if (model_has_id[i]) fail("vocab id " + std::to_string(i) + " is used twice");
      model_tokens[i] = token;
      model_has_id[i] = true;
    }
    vocab.reserve(model_tokens.size());
    for (std::size_t i = 0; i < model_tokens.size(); ++i) {
      if (model_has_id[i]) vocab.emplace(model_tokens[i], static_cast<int32_t>(i));
    }

    fuse_unk = flag(j, "fuse_unk", false);
    byte_fallback = flag(j, "byte_fallback", false);
    ignore_merges = flag(j, "ignore_merges", false);
    if (j.contains("unk_token") && !j.at("unk_token").is_null()) {
      const auto unk = j.at("unk_token").get<std::string>();
      auto it = vocab.find(unk);
      if (it == vocab.end()) fail("unk_token '" + unk + "' is not in the vocabulary");
      unk_id = it->second;
    }
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof(name), "<0x%02X>", b);
      auto it = vocab.find(name);
      byte_fallback_ids[b] = it == vocab.end() ? -1 : it->second;
    }

    if (!j.contains("merges") || !j.at("merges").is_array()) fail("model has no \"merges\" list");
    const auto& m = j.at("merges");
    merges.reserve(m.size());
    int32_t rank = 0;
    for (const auto& entry : m) {
      std::string a, b;
      if (entry.is_string()) {
        const auto s = entry.get<std::string>();
        const auto space = s.find(' ');
        if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
          fail("merge '" + s + "' is not two tokens separated by one space");
        }
        a = s.substr(0, space);
        b = s.substr(space + 1);
      } else if (entry.is_array() && entry.size() == 2) {
        a = entry.at(0).get<std::string>();
        b = entry.at(1).get<std::string>();
      } else {
        fail("merge " + describe_json(entry) + " is neither \"a b\" nor [a, b]");
      }
      if (a.empty() || b.empty())
        fail("merge " + quote_for_message(a + " " + b) + " has an empty token");
      auto ia = vocab.find(a), ib = vocab.find(b), ic = vocab.find(a + b);
      if (ia == vocab.end() || ib == vocab.end() || ic == vocab.end()) {
        fail("merge '" + a + " " + b + "' refers to a token that is not in the vocabulary");
      }
      merges[(uint64_t(uint32_t(ia->second)) << 32) | uint32_t(ib->second)] = {rank++, ic->second};
      std::size_t pos = 0;
      const char32_t first_of_b = unicode::next_code_point(b, pos);
      const char32_t last_of_a = last_code_point(a);
      merge_junctions.insert((uint64_t(last_of_a) << 32) | first_of_b);
      if (last_of_a < 128 && first_of_b < 128) ascii_merge_junctions[last_of_a * 128 + first_of_b] = true;
    }
  }

  void parse_added_tokens(const json& j) {
    if (j.is_null()) return;
    for (const auto& t : j) {
      AddedToken a;
      a.content = t.at("content").get<std::string>();
      a.id = token_id(t.at("id"), "added token id");
      a.single_word = flag(t, "single_word", false);
      a.lstrip = flag(t, "lstrip", false);
      a.rstrip = flag(t, "rstrip", false);
      a.normalized = flag(t, "normalized", true);
      a.special = flag(t, "special", false);
      if (a.content.empty()) fail("added token " + std::to_string(a.id) + " is empty");
      if (a.id < 0) fail("added token '" + a.content + "' has a negative id");
      added_by_id[a.id] = added.size();
      added_by_content[a.content] = added.size();
      if (a.special) special_contents.insert(a.content);
      added.push_back(std::move(a));
    }
  }

  void build_added_token_matchers() {
    for (std::size_t i = 0; i < added.size(); ++i) {
      if (added[i].normalized) {
        added[i].decoded = normalize(added[i].content);
        normalized_matcher.add(added[i].decoded, i);
      } else {
        added[i].decoded = added[i].content;
        raw_matcher.add(added[i].content, i);
      }
    }
  }

  void load(const std::string& text) {
    const json j = parse_json(text, path);
    try {
      if (!j.is_object()) fail("tokenizer.json must be a JSON object");
      if (!j.contains("model")) fail("missing \"model\"");
      parse_model(j.at("model"));
      parse_added_tokens(j.value("added_tokens", json()));
      parse_normalizer(j.value("normalizer", json()));
      parse_pre_tokenizer(j.value("pre_tokenizer", json()));
      parse_decoder(j.value("decoder", json()));
      parse_post_processor(j.value("post_processor", json()));
      build_added_token_matchers();
    } catch (const json::exception& e) {
      fail(std::string("unexpected tokenizer.json structure: ") + e.what());
    }
  }

  // ---- encoding ------------------------------------------------------------------------------

  std::string normalize(std::string s) const {
    for (const auto& n : normalizers) s = n.apply(std::move(s));
    return s;
  }

  // Splits `sentence` around the added tokens of `matcher` (leftmost-longest, honouring
  // single_word, lstrip and rstrip). Each part is (begin, end, index of the added token or -1).
  void find_added_tokens(std::string_view sentence, const AddedTokenMatcher& matcher,
                         std::vector<std::tuple<std::size_t, std::size_t, int64_t>>& parts) const {
    parts.clear();
    if (matcher.empty) {
      parts.emplace_back(0, sentence.size(), -1);
      return;
    }
    std::size_t start_offset = 0;
    for (std::size_t i = 0; i < sentence.size();) {
      const auto& bucket = matcher.by_first_byte[static_cast<unsigned char>(sentence[i])];
      const AddedTokenMatcher::Entry* found = nullptr;
      for (const auto& entry : bucket) {
        if (sentence.compare(i, entry.pattern.size(), entry.pattern) == 0) {
          found = &entry;
          break;
        }
      }
      if (found == nullptr) {
        ++i;
        continue;
      }
      std::size_t start = i, stop = i + found->pattern.size();
      i = stop;
      const AddedToken& token = added[found->token];
      if (token.single_word) {
        const bool start_space = start == 0 || !is_word_char(last_code_point(sentence.substr(0, start)));
        std::size_t pos = stop;
        const bool stop_space =
            stop == sentence.size() || !is_word_char(unicode::next_code_point(sentence, pos));
        if (!start_space || !stop_space) continue;
      }
      if (token.lstrip) {
        std::size_t new_start = start;
        while (new_start > 0) {
          std::size_t b = new_start - 1;
          while (b > 0 && (static_cast<unsigned char>(sentence[b]) & 0xC0) == 0x80) --b;
          std::size_t pos = b;
          if (!unicode::is_whitespace(unicode::next_code_point(sentence, pos))) break;
          new_start = b;
        }
        start = std::max(new_start, start_offset);
      }
      if (token.rstrip) {
        while (stop < sentence.size()) {
          std::size_t pos = stop;
          if (!unicode::is_whitespace(unicode::next_code_point(sentence, pos))) break;
          stop = pos;
        }
      }
      if (start > start_offset) parts.emplace_back(start_offset, start, -1);
      parts.emplace_back(start, stop, static_cast<int64_t>(found->token));
      start_offset = stop;
    }
    if (start_offset != sentence.size()) parts.emplace_back(start_offset, sentence.size(), -1);
  }

  void merge_word(std::string_view word, std::vector<int32_t>& out) const {
    std::vector<Symbol> symbols;
    symbols.reserve(word.size());
    auto add = [&](int32_t id) {
      const auto n = static_cast<int32_t>(symbols.size());
      if (n > 0) symbols.back().next = n;
      symbols.push_back({id, n - 1, -1, true});
    };
    int32_t pending_unk = -1;  // an unknown-token symbol not added yet (fuse_unk extends it)
    for (std::size_t pos = 0; pos < word.size();) {
      const std::size_t len = unicode::sequence_length(static_cast<unsigned char>(word[pos]));
      const std::string_view ch = word.substr(pos, len);
      pos += len;
      if (auto it = vocab.find(ch); it != vocab.end()) {
        if (pending_unk >= 0) add(pending_unk);
        pending_unk = -1;
        add(it->second);
        continue;
      }
      if (byte_fallback) {
        bool all = true;
        for (unsigned char b : ch) all = all && byte_fallback_ids[b] >= 0;
        if (all) {
          for (unsigned char b : ch) add(byte_fallback_ids[b]);
          continue;
        }
      }
      if (unk_id) {
        if (pending_unk >= 0 && !fuse_unk) add(pending_unk);
        pending_unk = *unk_id;
      }
    }
    if (pending_unk >= 0) add(pending_unk);

    auto lookup = [&](int32_t a, int32_t b) {
      auto it = merges.find((uint64_t(uint32_t(a)) << 32) | uint32_t(b));
      return it == merges.end() ? nullptr : &it->second;
    };
    std::priority_queue<PendingMerge> queue;
    for (std::size_t i = 0; i + 1 < symbols.size(); ++i) {
      if (const auto* m = lookup(symbols[i].id, symbols[i + 1].id)) {
        queue.push({m->first, static_cast<int32_t>(i), m->second});
      }
    }
    while (!queue.empty()) {
      const PendingMerge top = queue.top();
      queue.pop();
      Symbol& current = symbols[static_cast<std::size_t>(top.pos)];
      if (!current.alive || current.next < 0) continue;
      Symbol& right = symbols[static_cast<std::size_t>(current.next)];
      const auto* m = lookup(current.id, right.id);
      if (m == nullptr || m->second != top.new_id) continue;  // a stale entry
      current.id = top.new_id;
      right.alive = false;
      current.next = right.next;
      if (right.next >= 0) symbols[static_cast<std::size_t>(right.next)].prev = top.pos;
      if (current.prev >= 0) {
        if (const auto* pm = lookup(symbols[static_cast<std::size_t>(current.prev)].id, current.id)) {
          queue.push({pm->first, current.prev, pm->second});
        }
      }
      if (current.next >= 0) {
        if (const auto* nm = lookup(current.id, symbols[static_cast<std::size_t>(current.next)].id)) {
          queue.push({nm->first, top.pos, nm->second});
        }
      }
    }
    for (const auto& s : symbols) {
      if (s.alive) out.push_back(s.id);
    }
  }

  bool may_merge_across(char32_t left, char32_t right) const {
    if (left < 128 && right < 128) return ascii_merge_junctions[left * 128 + right];
    return merge_junctions.count((uint64_t(left) << 32) | right) != 0;
  }

  using Cache = std::unordered_map<std::string, std::vector<int32_t>>;
  static constexpr std::size_t kCachedLength = 64;

  void merge_cached(std::string_view word, Cache& cache, std::vector<int32_t>& out) const {
    if (word.size() > kCachedLength) {
      merge_word(word, out);
      return;
    }
    std::string key(word);
    auto it = cache.find(key);
    if (it == cache.end()) {
      std::vector<int32_t> ids;
      merge_word(word, ids);
      it = cache.emplace(std::move(key), std::move(ids)).first;
    }
    out.insert(out.end(), it->second.begin(), it->second.end());
  }

  void tokenize_pre_token(const std::string& word, Cache& cache, std::vector<int32_t>& out) const {
    if (word.empty()) return;
    if (ignore_merges) {
      if (auto it = vocab.find(word); it != vocab.end()) {
        out.push_back(it->second);
        return;
      }
    }
    if (word.size() <= kCachedLength) {
      merge_cached(word, cache, out);
      return;
    }
    // A long pre-token (e.g. a whole line when there is no pre-tokenizer): merge the segments
    // between boundaries that no merge can cross one by one; the result is the same.
    const std::string_view view = word;
    std::size_t segment_start = 0;
    bool previous_known = false;
    char32_t previous = 0;
    for (std::size_t pos = 0; pos < view.size();) {
      const std::size_t begin = pos;
      const char32_t c = unicode::next_code_point(view, pos);
      const bool known = vocab.count(view.substr(begin, pos - begin)) != 0;
      if (known && previous_known && !may_merge_across(previous, c)) {
        merge_cached(view.substr(segment_start, begin - segment_start), cache, out);
        segment_start = begin;
      }
      previous_known = known;
      previous = c;
    }
    merge_cached(view.substr(segment_start), cache, out);
  }

  void encode_piece(Piece piece, Cache& cache, std::vector<int32_t>& out) const {
    std::vector<Piece> pieces;
    pieces.push_back(std::move(piece));
    std::vector<Piece> next;
    for (const auto& p : pre_tokenizers) {
      next.clear();
      for (const auto& q : pieces) p.apply(q, next);
      pieces.swap(next);
    }
    for (const auto& p : pieces) tokenize_pre_token(p.text, cache, out);
  }

  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens) const {
    std::vector<int32_t> ids;
    Cache cache;
    std::vector<std::tuple<std::size_t, std::size_t, int64_t>> parts, inner;
    find_added_tokens(text, raw_matcher, parts);
    for (const auto& [begin, end, token] : parts) {
      if (token >= 0) {
        ids.push_back(added[static_cast<std::size_t>(token)].id);
        continue;
      }
      if (end == begin) continue;
      const std::string normalized = normalize(std::string(text.substr(begin, end - begin)));
      find_added_tokens(normalized, normalized_matcher, inner);
      for (const auto& [nb, ne, ntoken] : inner) {
        if (ntoken >= 0) {
          ids.push_back(added[static_cast<std::size_t>(ntoken)].id);
        } else if (ne > nb) {
          encode_piece({normalized.substr(nb, ne - nb), begin == 0 && nb == 0}, cache, ids);
        }
      }
    }
    if (add_special_tokens) {
      for (const auto& p : post_processors) p.apply(ids);
    }
    return ids;
  }

  // ---- decoding ------------------------------------------------------------------------------

  const std::string* token_of(int32_t id) const {
    if (auto it = added_by_id.find(id); it != added_by_id.end()) return &added[it->second].decoded;
    if (id >= 0 && static_cast<std::size_t>(id) < model_tokens.size() &&
        model_has_id[static_cast<std::size_t>(id)]) {
      return &model_tokens[static_cast<std::size_t>(id)];
    }
    return nullptr;
  }

  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (int32_t id : ids) {
      const std::string* token = token_of(id);
      if (token == nullptr) continue;
      if (skip_special_tokens && special_contents.count(*token) != 0) continue;
      tokens.push_back(*token);
    }
    std::string out;
    if (!has_decoder) {
      for (std::size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
      return out;
    }
    for (const auto& d : decoders) tokens = d.decode_chain(std::move(tokens));
    for (const auto& t : tokens) out += t;
    return out;
  }
};

// ---------------------------------------------------------------------------------------------

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_file(const std::string& path) {
  // The largest real tokenizer.json files are a few tens of MB (Gemma's: 33 MB).
  return from_json_string(read_file_limited(path, 512u << 20, "tokenizer file"), path);
}

Tokenizer Tokenizer::from_json_string(const std::string& json_text, const std::string& path_for_errors) {
  auto impl = std::make_unique<Impl>();
  impl->path = path_for_errors;
  impl->load(json_text);
  return Tokenizer(std::move(impl));
}

std::vector<int32_t> Tokenizer::encode(const std::string& text, bool add_special_tokens) const {
  if (unicode::is_valid_utf8(text)) return impl_->encode(text, add_special_tokens);
  return impl_->encode(unicode::from_utf8_lossy(text), add_special_tokens);
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  return impl_->decode(ids, skip_special_tokens);
}

int64_t Tokenizer::vocab_size() const {
  int64_t n = static_cast<int64_t>(impl_->vocab.size());
  for (const auto& a : impl_->added) {
    const bool in_model = a.id >= 0 && static_cast<std::size_t>(a.id) < impl_->model_has_id.size() &&
                          impl_->model_has_id[static_cast<std::size_t>(a.id)];
    if (!in_model) ++n;
  }
  return n;
}

std::optional<int32_t> Tokenizer::token_to_id(const std::string& token) const {
  if (auto it = impl_->added_by_content.find(token); it != impl_->added_by_content.end()) {
    return impl_->added[it->second].id;
  }
  if (auto it = impl_->vocab.find(token); it != impl_->vocab.end()) return it->second;
  return std::nullopt;
}

std::string Tokenizer::id_to_token(int32_t id) const {
  const std::string* token = impl_->token_of(id);
  return token ? *token : std::string();
}

std::string Tokenizer::kind() const {
  return impl_->byte_level ? "byte_level_bpe" : "sentencepiece_bpe";
}

}  // namespace bitscape
