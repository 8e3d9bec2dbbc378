// Tokenizer (tokenizer.json) against reference ids and strings from the `tokenizers` library:
// tests/fixtures/tokenizers/make_tokenizer_fixtures.py and tools/make_sample_tokenizer.py made
// the fixtures.
#include "bitscape/tokenizer.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "bitscape/error.h"

namespace bitscape {
namespace {

const std::string kFixtures = std::string(BITSCAPE_FIXTURE_DIR) + "/tokenizers/";

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const nlohmann::json& reference() {
  static const nlohmann::json cases = nlohmann::json::parse(read_text(kFixtures + "cases.json"));
  return cases;
}

const nlohmann::json& reference_for(const std::string& name) {
  return reference().at("tokenizers").at(name);
}

Tokenizer load(const std::string& name) {
  return Tokenizer::from_file(kFixtures + reference_for(name).at("file").get<std::string>());
}

void expect_reference_ids(const std::string& name) {
  const Tokenizer tok = load(name);
  int compared = 0;
  for (const auto& c : reference_for(name).at("cases")) {
    const auto text = c.at("text").get<std::string>();
    SCOPED_TRACE(name + " on \"" + text.substr(0, 80) + "\"");
    EXPECT_EQ(tok.encode(text, false), c.at("ids").get<std::vector<int32_t>>());
    EXPECT_EQ(tok.encode(text, true), c.at("ids_with_special").get<std::vector<int32_t>>());
    ++compared;
  }
  EXPECT_GE(compared, 30);
}

void expect_reference_decode(const std::string& name) {
  const Tokenizer tok = load(name);
  for (const auto& c : reference_for(name).at("cases")) {
    const auto text = c.at("text").get<std::string>();
    SCOPED_TRACE(name + " on \"" + text.substr(0, 80) + "\"");
    const auto ids = c.at("ids_with_special").get<std::vector<int32_t>>();
    EXPECT_EQ(tok.decode(ids, false), c.at("decoded").get<std::string>());
    EXPECT_EQ(tok.decode(ids, true), c.at("decoded_skip_special").get<std::string>());
    if (c.at("round_trips").get<bool>()) {
      EXPECT_EQ(tok.decode(tok.encode(text)), text);
    }
  }
}

TEST(TokenizerTest, Llama3MatchesReferenceIdsOnTrickyStrings) { expect_reference_ids("llama3"); }
TEST(TokenizerTest, Qwen2MatchesReferenceIdsOnTrickyStrings) { expect_reference_ids("qwen2"); }
TEST(TokenizerTest, Gpt2MatchesReferenceIdsOnTrickyStrings) { expect_reference_ids("gpt2"); }
TEST(TokenizerTest, Llama2MatchesReferenceIdsOnTrickyStrings) { expect_reference_ids("llama2"); }
TEST(TokenizerTest, Llama2MetaspaceMatchesReferenceIdsOnTrickyStrings) {
  expect_reference_ids("llama2_metaspace");
}

TEST(TokenizerTest, Llama3DecodeMatchesReferenceAndRoundTrips) { expect_reference_decode("llama3"); }
TEST(TokenizerTest, Qwen2DecodeMatchesReferenceAndRoundTrips) { expect_reference_decode("qwen2"); }
TEST(TokenizerTest, Gpt2DecodeMatchesReferenceAndRoundTrips) { expect_reference_decode("gpt2"); }
TEST(TokenizerTest, Llama2DecodeMatchesReferenceAndRoundTrips) { expect_reference_decode("llama2"); }
TEST(TokenizerTest, Llama2MetaspaceDecodeMatchesReferenceAndRoundTrips) {
  expect_reference_decode("llama2_metaspace");
}

TEST(TokenizerTest, VocabSizeAndKindMatchTheFixtures) {
  for (const std::string name : {"llama3", "qwen2", "gpt2", "llama2", "llama2_metaspace"}) {
    SCOPED_TRACE(name);
    const Tokenizer tok = load(name);
    EXPECT_EQ(tok.vocab_size(), reference_for(name).at("vocab_size").get<int64_t>());
    const bool byte_level = name == "llama3" || name == "qwen2" || name == "gpt2";
    EXPECT_EQ(tok.kind(), byte_level ? "byte_level_bpe" : "sentencepiece_bpe");
  }
}

TEST(TokenizerTest, SpecialTokensMapToTheirIdsAndBack) {
  const Tokenizer llama3 = load("llama3");
  const auto bos = llama3.token_to_id("<|begin_of_text|>");
  ASSERT_TRUE(bos.has_value());
  EXPECT_EQ(llama3.id_to_token(*bos), "<|begin_of_text|>");
  EXPECT_EQ(llama3.encode("", true), std::vector<int32_t>{*bos});
  EXPECT_FALSE(llama3.token_to_id("no such token").has_value());
  EXPECT_EQ(llama3.id_to_token(1 << 30), "");

  const Tokenizer llama2 = load("llama2");
  EXPECT_EQ(llama2.token_to_id("<s>"), std::optional<int32_t>(1));
  EXPECT_EQ(llama2.token_to_id("<0x0A>"), std::optional<int32_t>(3 + 0x0A));
}

TEST(TokenizerTest, InvalidUtf8InputIsEncodedAsReplacementCharacters) {
  const Tokenizer tok = load("llama3");
  EXPECT_EQ(tok.encode("a\xff" "b"), tok.encode("a\xEF\xBF\xBD" "b"));
  EXPECT_EQ(tok.decode(tok.encode("a\xff" "b")), "a\xEF\xBF\xBD" "b");
}

TEST(TokenizerTest, SampleTokenizerMatchesReferenceOnTestSplit) {
  const Tokenizer tok = Tokenizer::from_file(std::string(BITSCAPE_SAMPLE_DIR) + "/model/tokenizer.json");
  EXPECT_EQ(tok.vocab_size(), 4096);
  EXPECT_EQ(tok.kind(), "byte_level_bpe");
  EXPECT_EQ(tok.token_to_id("<|begin_of_text|>"), std::optional<int32_t>(4094));
  EXPECT_EQ(tok.token_to_id("<|end_of_text|>"), std::optional<int32_t>(4095));

  const std::string bytes = read_text(kFixtures + "sample_test_ids.i32");
  ASSERT_EQ(bytes.size() % 4, 0u);
  std::vector<int32_t> expected(bytes.size() / 4);
  for (std::size_t i = 0; i < expected.size(); ++i) {
    uint32_t v = 0;
    for (int b = 3; b >= 0; --b) v = (v << 8) | static_cast<unsigned char>(bytes[4 * i + b]);
    expected[i] = static_cast<int32_t>(v);
  }
  ASSERT_GT(expected.size(), 10000u);
  const std::string test = read_text(std::string(BITSCAPE_SAMPLE_DIR) + "/test.txt");
  const std::vector<int32_t> ids = tok.encode(test, false);
  ASSERT_EQ(ids.size(), expected.size());
  EXPECT_EQ(ids, expected);
  EXPECT_EQ(tok.decode(ids), test);
}

// ---- bad input -------------------------------------------------------------------------------

// Runs `fn`, expecting an InputError that names `path`; returns its problem text.
template <typename Fn>
std::string expect_input_error(const std::string& path, Fn fn) {
  try {
    fn();
  } catch (const InputError& e) {
    EXPECT_EQ(e.path(), path);
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    return e.problem();
  }
  ADD_FAILURE() << "no InputError thrown";
  return "";
}

std::string with_model(const std::string& model, const std::string& rest = "") {
  return "{" + rest + "\"model\": " + model + "}";
}

const char* const kTinyBpe =
    R"({"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]})";

TEST(TokenizerTest, MalformedJsonThrowsInputErrorNamingTheFile) {
  const std::string problem = expect_input_error("bad/tokenizer.json", [] {
    Tokenizer::from_json_string("{\"model\": {\"type\": \"BPE\", ", "bad/tokenizer.json");
  });
  EXPECT_NE(problem.find("malformed JSON"), std::string::npos) << problem;
}

TEST(TokenizerTest, MissingFileThrowsInputErrorNamingTheFile) {
  const std::string path = std::string(BITSCAPE_TEST_TMP) + "/no_such_tokenizer.json";
  expect_input_error(path, [&] { Tokenizer::from_file(path); });
}

TEST(TokenizerTest, UnsupportedModelTypesAreRejected) {
  for (const std::string type : {"WordPiece", "Unigram", "WordLevel"}) {
    const std::string problem = expect_input_error("t.json", [&] {
      Tokenizer::from_json_string(with_model(R"({"type": ")" + type + R"(", "vocab": {}})"), "t.json");
    });
    EXPECT_NE(problem.find(type), std::string::npos) << problem;
  }
}

TEST(TokenizerTest, MissingModelIsRejected) {
  const std::string problem = expect_input_error(
      "t.json", [] { Tokenizer::from_json_string(R"({"normalizer": null})", "t.json"); });
  EXPECT_NE(problem.find("model"), std::string::npos) << problem;
}

TEST(TokenizerTest, MergeReferencingUnknownTokenIsRejected) {
  const std::string problem = expect_input_error("t.json", [] {
    Tokenizer::from_json_string(
        with_model(R"({"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a c"]})"), "t.json");
  });
  EXPECT_NE(problem.find("a c"), std::string::npos) << problem;
}

TEST(TokenizerTest, UnsupportedComponentsAreRejected) {
  const std::vector<std::string> parts = {
      R"("normalizer": {"type": "BertNormalizer"},)",
      R"("pre_tokenizer": {"type": "Whitespace"},)",
      R"("decoder": {"type": "WordPiece"},)",
      R"("post_processor": {"type": "Mystery"},)",
      R"("pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(unclosed"}, "behavior": "Isolated"},)",
  };
  for (const auto& part : parts) {
    SCOPED_TRACE(part);
    expect_input_error("t.json", [&] { Tokenizer::from_json_string(with_model(kTinyBpe, part), "t.json"); });
  }
}

TEST(TokenizerTest, WrongFieldTypesAreRejectedNotCrashed) {
  expect_input_error("t.json", [] {
    Tokenizer::from_json_string(with_model(R"({"type": "BPE", "vocab": [1, 2], "merges": []})"), "t.json");
  });
  expect_input_error("t.json", [] {
    Tokenizer::from_json_string(with_model(kTinyBpe, R"("added_tokens": [{"id": "x"}],)"), "t.json");
  });
}

TEST(TokenizerTest, TinyBpeMergesByRank) {
  const Tokenizer tok = Tokenizer::from_json_string(with_model(kTinyBpe), "t.json");
  EXPECT_EQ(tok.encode("abab"), (std::vector<int32_t>{2, 2}));
  EXPECT_EQ(tok.encode("aab"), (std::vector<int32_t>{0, 2}));
  EXPECT_EQ(tok.kind(), "sentencepiece_bpe");
}

}  // namespace
}  // namespace bitscape
