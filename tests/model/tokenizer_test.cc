// Tokenizers: SentencePiece-style on stories260K (both our converted GGUF and
// llama.cpp's), checked against an independent llama2.c-style reference and
// pinned ids; byte-level BPE on a hand-built vocabulary; pre-tokenizer
// splits; special tokens; malformed tokenizer metadata.
#include "trix/text/tokenizer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "common/shared_data.h"
#include "trix/io/gguf_reader.h"
#include "trix/io/gguf_writer.h"
#include "trix/io/llama2c.h"
#include "trix/convert/llama2c_to_gguf.h"

namespace trix {
namespace {

// ---- independent reference: llama2.c's encode() over tokenizer.bin, written
// from its description (dummy " " prefix, per-UTF-8-character lookup with
// byte fallback id = byte + 3, then repeatedly merge the best-scoring pair,
// leftmost on ties).
struct RefTokenizer {
  std::vector<std::string> pieces;
  std::vector<float> scores;
  std::map<std::string, int32_t> lookup;

  explicit RefTokenizer(const std::filesystem::path& path) {
    std::ifstream f(path, std::ios::binary);
    uint32_t max_len = 0;
    f.read(reinterpret_cast<char*>(&max_len), 4);
    for (int32_t i = 0; i < 512; ++i) {
      float score;
      int32_t len;
      f.read(reinterpret_cast<char*>(&score), 4);
      f.read(reinterpret_cast<char*>(&len), 4);
      std::string s(static_cast<size_t>(len), '\0');
      f.read(s.data(), len);
      pieces.push_back(s);
      scores.push_back(score);
      lookup.emplace(s, i);
    }
  }
  int32_t find(const std::string& s) const {
    auto it = lookup.find(s);
    return it == lookup.end() ? -1 : it->second;
  }
  std::vector<int32_t> encode(const std::string& text, bool bos) const {
    std::vector<int32_t> t;
    if (bos) t.push_back(1);
    if (!text.empty()) t.push_back(find(" "));
    std::string ch;
    for (size_t i = 0; i < text.size(); ++i) {
      if ((static_cast<uint8_t>(text[i]) & 0xC0) != 0x80) ch.clear();
      ch += text[i];
      if (i + 1 < text.size() && (static_cast<uint8_t>(text[i + 1]) & 0xC0) == 0x80 && ch.size() < 4) continue;
      const int32_t id = find(ch);
      if (id >= 0) {
        t.push_back(id);
      } else {
        for (char b : ch) t.push_back(static_cast<uint8_t>(b) + 3);
      }
      ch.clear();
    }
    for (;;) {
      float best = -1e10f;
      int32_t best_id = -1;
      size_t best_i = 0;
      for (size_t i = 0; i + 1 < t.size(); ++i) {
        const int32_t id = find(pieces[static_cast<size_t>(t[i])] + pieces[static_cast<size_t>(t[i + 1])]);
        if (id >= 0 && scores[static_cast<size_t>(id)] > best) {
          best = scores[static_cast<size_t>(id)];
          best_id = id;
          best_i = i;
        }
      }
      if (best_id < 0) break;
      t[best_i] = best_id;
      t.erase(t.begin() + static_cast<std::ptrdiff_t>(best_i) + 1);
    }
    return t;
  }
};

const std::vector<std::string>& prompts() {
  static const std::vector<std::string> p = {
      "Once upon a time",
      "Lily liked the big red ball.",
      "",
      "\xc3\xa9\xe2\x98\x83",  // "é☃": é is a token, the snowman falls back to bytes
      "  two  spaces\nand a newline",
      "Tom said, \xe2\x80\x9cHi!\xe2\x80\x9d 123 \xe2\x82\xac",
      "zzz qqq xyzzy",
  };
  return p;
}

// Literal ids for prompts()[0..3], with BOS (verified equal to the reference
// below; "Once upon a time" also starts the README's greedy output).
const std::vector<std::vector<int32_t>>& pinned() {
  static const std::vector<std::vector<int32_t>> p = {
      {1, 403, 407, 261, 378},
      {1, 317, 397, 355, 265, 370, 352, 266, 268, 388, 426},
      {1},
      {1, 410, 485, 229, 155, 134},  // "\xc3\xa9" is token 485; the snowman is 3 byte tokens
  };
  return p;
}

class Stories260k : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const auto dir = ::trix::test::shared_dir() / "models/stories260K";
    if (!std::filesystem::exists(dir / "stories260K.bin")) return;
    ours_path_ = std::filesystem::path(::testing::TempDir()) / "trix_tok_stories260K.gguf";
    convert_llama2c_to_gguf(dir / "stories260K.bin", dir / "tok512.bin", ours_path_);
  }
  static void TearDownTestSuite() {
    if (!ours_path_.empty()) std::filesystem::remove(ours_path_);
  }
  static std::filesystem::path ours_path_;
};
std::filesystem::path Stories260k::ours_path_;

TEST_F(Stories260k, MatchesReferenceAndPinnedIds) {
  TRIX_REQUIRE_SHARED_FILE(tok_bin, "models/stories260K/tok512.bin");
  TRIX_REQUIRE_SHARED_FILE(ref_gguf, "models/stories260K/stories260K-llamacpp.gguf");
  const RefTokenizer ref(tok_bin);
  for (const auto& path : {ours_path_, ref_gguf}) {
    const GgufReader r = GgufReader::open(path);
    const Tokenizer tok = Tokenizer::from_gguf(r);
    EXPECT_EQ(tok.kind(), TokenizerKind::Spm);
    EXPECT_EQ(tok.bos(), 1);
    EXPECT_EQ(tok.eos(), 2);
    for (size_t i = 0; i < prompts().size(); ++i) {
      const std::string& p = prompts()[i];
      const auto ids = tok.encode(p);
      EXPECT_EQ(ids, ref.encode(p, true)) << path << ": \"" << p << "\"";
      if (i < pinned().size()) {
        EXPECT_EQ(ids, pinned()[i]) << path << ": \"" << p << "\"";
      }
      EXPECT_EQ(tok.decode(ids), p) << path;
      EXPECT_EQ(tok.encode(p, false), ref.encode(p, false)) << path;
    }
  }
}

TEST_F(Stories260k, DecodesTheReadmeStory) {
  TRIX_REQUIRE_SHARED_FILE(ref_gguf, "models/stories260K/stories260K-llamacpp.gguf");
  const Tokenizer tok = Tokenizer::from_gguf(GgufReader::open(ref_gguf));
  const std::vector<int32_t> ids = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421,
                                    395, 317, 426, 338, 401, 396, 267, 337, 410, 408, 419, 292, 411,
                                    322, 265, 282, 295, 433, 426};
  EXPECT_EQ(tok.decode(ids),
            "Once upon a time, there was a little girl named Lily. She loved to play outside in "
            "the park.");
  EXPECT_EQ(tok.decode(ids, {.render_special = true}),
            "<s>Once upon a time, there was a little girl named Lily. She loved to play outside "
            "in the park.");
  EXPECT_EQ(tok.token_to_piece(261), " a");
  EXPECT_EQ(tok.token_to_piece(3 + 0xC3), "\xc3");
  EXPECT_EQ(tok.token_to_piece(0), "\xe2\x96\x85");  // <unk>, as llama.cpp prints it
  EXPECT_THROW((void)tok.token_to_piece(512), Error);
  EXPECT_THROW((void)tok.decode(std::vector<int32_t>{-1}), Error);
}

TEST_F(Stories260k, SpecialTokensAndRoundTrips) {
  TRIX_REQUIRE_SHARED_FILE(ref_gguf, "models/stories260K/stories260K-llamacpp.gguf");
  const Tokenizer tok = Tokenizer::from_gguf(GgufReader::open(ref_gguf));
  // Without parse_special, "<s>" is plain text; with it, it is BOS and the
  // text after it gets the space prefix again (as llama.cpp does).
  const auto plain = tok.encode("<s>hi", false, false);
  EXPECT_NE(plain.front(), 1);
  const auto special = tok.encode("<s>hi</s>", false, true);
  const auto hi = tok.encode("hi", false);
  std::vector<int32_t> want = {1};
  want.insert(want.end(), hi.begin(), hi.end());
  want.push_back(2);
  EXPECT_EQ(special, want);
  EXPECT_EQ(tok.decode(special, {.render_special = true}), "<s>hi</s>");
  // Round trips over awkward text: leading/trailing/multiple spaces,
  // control characters, 4-byte UTF-8, invalid UTF-8 (byte fallback).
  for (const std::string s : {" leading", "trailing ", "a  b   c", "\t\n\r", "\xf0\x9f\x98\x80 emoji",
                              "bad \xff\xfe utf8 \xc3", "\x01\x7f", "The end."}) {
    EXPECT_EQ(tok.decode(tok.encode(s)), s) << s;
  }
}

// ---- byte-level BPE

// GPT-2's byte -> code point mapping applied to a string (test-side copy).
std::string gpt2_map(const std::string& s) {
  std::string out;
  for (char c : s) {
    const auto b = static_cast<uint8_t>(c);
    uint32_t cp = b;
    if (!((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)) {
      uint32_t n = 0;
      for (uint32_t x = 0; x < b; ++x) {
        if (!((x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE)) ++n;
      }
      cp = 256 + n;
    }
    unicode::utf8_append(out, cp);
  }
  return out;
}

TokenizerVocab tiny_bpe(PreTokenizer pre) {
  TokenizerVocab v;
  v.kind = TokenizerKind::Bpe;
  v.pre = pre;
  v.add_bos = false;
  v.add_space_prefix = false;
  for (int b = 0; b < 256; ++b) v.tokens.push_back(gpt2_map(std::string(1, static_cast<char>(b))));
  // id 256.. : merge results, in merge order.
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"l", "l"}, {"h", "e"}, {"he", "ll"}, {"hell", "o"}, {" ", "w"}, {"o", "r"},
      {" w", "or"}, {" wor", "ld"}, {"l", "d"}, {"1", "2"}, {"12", "3"},
  };
  for (const auto& [a, b] : merges) {
    v.merges.push_back(gpt2_map(a) + " " + gpt2_map(b));
    v.tokens.push_back(gpt2_map(a + b));
  }
  v.tokens.push_back("<|end|>");
  v.types.assign(v.tokens.size(), TokenType::Normal);
  v.types.back() = TokenType::Control;
  v.eos = static_cast<int32_t>(v.tokens.size() - 1);
  return v;
}

TEST(Bpe, MergesByRank) {
  const Tokenizer tok(tiny_bpe(PreTokenizer::Gpt2));
  auto id = [&](const std::string& s) { return *tok.find_token(gpt2_map(s)); };
  // " world": " w"(rank 4) then "or"(5) then " wor"(6); "ld"(8) merges before
  // " wor"+"ld"(7) can apply, so " world" ends as one token.
  EXPECT_EQ(tok.encode("hello world"), (std::vector<int32_t>{id("hello"), id(" world")}));
  EXPECT_EQ(tok.encode("hell"), (std::vector<int32_t>{id("hell")}));
  EXPECT_EQ(tok.encode("1234"), (std::vector<int32_t>{id("123"), id("4")}));
  // Bytes outside ASCII map to their byte tokens.
  EXPECT_EQ(tok.encode("\xc3\xa9"), (std::vector<int32_t>{0xC3, 0xA9}));
  for (const std::string s : {"hello world", " \xc3\xa9t\xc3\xa9\n\n", "a  b", "\xff\xfe", ""}) {
    EXPECT_EQ(tok.decode(tok.encode(s)), s);
  }
  // Specials: only with parse_special; control tokens print only on request.
  const int32_t end = tok.eos();
  EXPECT_EQ(tok.encode("hello<|end|>", false, true), (std::vector<int32_t>{id("hello"), end}));
  EXPECT_NE(tok.encode("hello<|end|>", false, false).back(), end);
  EXPECT_EQ(tok.decode(std::vector<int32_t>{id("hello"), end}), "hello");
  EXPECT_EQ(tok.decode(std::vector<int32_t>{id("hello"), end}, {.render_special = true}), "hello<|end|>");
}

TEST(Bpe, IgnoreMergesKeepsWholeWordsThatAreTokens) {
  TokenizerVocab v = tiny_bpe(PreTokenizer::Llama3);
  v.ignore_merges = true;
  // "lo" is a token but no merge builds it; llama3 takes the word as a whole.
  v.tokens.push_back(gpt2_map("lo"));
  v.types.push_back(TokenType::Normal);
  const Tokenizer tok(std::move(v));
  EXPECT_EQ(tok.encode("lo"), (std::vector<int32_t>{*tok.find_token("lo")}));
  const Tokenizer g(tiny_bpe(PreTokenizer::Gpt2));
  EXPECT_EQ(g.encode("lo"), (std::vector<int32_t>{'l', 'o'}));
}

std::vector<std::string> split(std::string_view s, PreTokenizer pre) {
  std::vector<std::string> out;
  for (auto c : detail::pre_split(s, pre)) out.emplace_back(c);
  return out;
}

TEST(Bpe, Gpt2PreTokenizer) {
  using V = std::vector<std::string>;
  EXPECT_EQ(split("Hello world's  test123 !!\n\n  x", PreTokenizer::Gpt2),
            (V{"Hello", " world", "'s", " ", " test", "123", " !!", "\n\n ", " x"}));
  EXPECT_EQ(split("I'M  ", PreTokenizer::Gpt2), (V{"I", "'", "M", "  "}));
  EXPECT_EQ(split("caf\xc3\xa9 \xce\xb1\xce\xb2 \xe4\xbd\xa0\xe5\xa5\xbd 12\xc2\xbd", PreTokenizer::Gpt2),
            (V{"caf\xc3\xa9", " \xce\xb1\xce\xb2", " \xe4\xbd\xa0\xe5\xa5\xbd", " 12\xc2\xbd"}));
  EXPECT_EQ(split("a\xff" "b", PreTokenizer::Gpt2), (V{"a", "\xff", "b"}));
  EXPECT_TRUE(split("", PreTokenizer::Gpt2).empty());
}

TEST(Bpe, Llama3PreTokenizer) {
  using V = std::vector<std::string>;
  EXPECT_EQ(split("Hello world's  test12345 !!\n\n  x", PreTokenizer::Llama3),
            (V{"Hello", " world", "'s", " ", " test", "123", "45", " !!\n\n", " ", " x"}));
  EXPECT_EQ(split("I'M (hello) \n\tx  \n", PreTokenizer::Llama3),
            (V{"I", "'M", " (", "hello", ")", " \n", "\tx", "  \n"}));
  EXPECT_EQ(split("(hello", PreTokenizer::Llama3), (V{"(hello"}));
  EXPECT_EQ(split("\xe2\x80\x9cquoted\xe2\x80\x9d", PreTokenizer::Llama3),
            (V{"\xe2\x80\x9cquoted", "\xe2\x80\x9d"}));
}

TEST(Bpe, StarcoderSplitsDigits) {
  TokenizerVocab v = tiny_bpe(PreTokenizer::Starcoder);
  const Tokenizer tok(std::move(v));
  EXPECT_EQ(tok.encode("123"), (std::vector<int32_t>{'1', '2', '3'}));
}

// ---- tokenizer metadata errors

std::vector<uint8_t> gguf_with(auto&& fill) {
  std::ostringstream os;
  GgufWriter w(os, "tok");
  fill(w);
  w.finish();
  const std::string s = os.str();
  return {s.begin(), s.end()};
}

std::string from_gguf_error(const std::vector<uint8_t>& bytes) {
  try {
    (void)Tokenizer::from_gguf(GgufReader::from_memory(bytes, "t.gguf"));
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(TokenizerBad, Metadata) {
  const std::vector<std::string> toks = {"<unk>", "<s>", "</s>", "a"};
  EXPECT_EQ(from_gguf_error(gguf_with([](GgufWriter&) {})),
            "t.gguf: missing metadata key 'tokenizer.ggml.model'");
  EXPECT_EQ(from_gguf_error(gguf_with([](GgufWriter& w) { w.set_string("tokenizer.ggml.model", "bert"); })),
            "t.gguf: metadata key 'tokenizer.ggml.model' = \"bert\": unsupported (expected \"llama\" "
            "or \"gpt2\")");
  EXPECT_EQ(from_gguf_error(gguf_with([](GgufWriter& w) { w.set_string("tokenizer.ggml.model", "llama"); })),
            "t.gguf: missing metadata key 'tokenizer.ggml.tokens'");
  EXPECT_EQ(from_gguf_error(gguf_with([&](GgufWriter& w) {
              w.set_string("tokenizer.ggml.model", "llama");
              w.set("tokenizer.ggml.tokens", GgufValue::array(toks));
              w.set("tokenizer.ggml.scores", GgufValue::array(std::vector<float>{0, 0}));
            })),
            "t.gguf: metadata key 'tokenizer.ggml.scores' has 2 items, expected one per token (4)");
  EXPECT_EQ(from_gguf_error(gguf_with([&](GgufWriter& w) {
              w.set_string("tokenizer.ggml.model", "llama");
              w.set("tokenizer.ggml.tokens", GgufValue::array(toks));
              w.set_u32("tokenizer.ggml.bos_token_id", 7);
            })),
            "t.gguf: metadata key 'tokenizer.ggml.bos_token_id' = 7 is not a token id (vocabulary "
            "has 4 tokens)");
  EXPECT_EQ(from_gguf_error(gguf_with([&](GgufWriter& w) {
              w.set_string("tokenizer.ggml.model", "llama");
              w.set("tokenizer.ggml.tokens", GgufValue::array(toks));
              w.set("tokenizer.ggml.token_type", GgufValue::array(std::vector<int32_t>{1, 3, 3, 9}));
            })),
            "t.gguf: metadata key 'tokenizer.ggml.token_type': item 3 is 9 (expected 0..6)");
  EXPECT_EQ(from_gguf_error(gguf_with([&](GgufWriter& w) {
              w.set_string("tokenizer.ggml.model", "gpt2");
              w.set("tokenizer.ggml.tokens", GgufValue::array(toks));
              w.set("tokenizer.ggml.merges", GgufValue::array(std::vector<std::string>{"ab"}));
            })),
            "t.gguf: merge 0 \"ab\" is not of the form \"left right\"");
  EXPECT_EQ(from_gguf_error(gguf_with([&](GgufWriter& w) {
              w.set_string("tokenizer.ggml.model", "gpt2");
              w.set_string("tokenizer.ggml.pre", "qwen3-next");
              w.set("tokenizer.ggml.tokens", GgufValue::array(toks));
              w.set("tokenizer.ggml.merges", GgufValue::array(std::vector<std::string>{}));
            })).substr(0, 120),
            "t.gguf: metadata key 'tokenizer.ggml.pre' = \"qwen3-next\": unsupported (expected one of "
            "llama.cpp's names: default llama3");
  // llama.cpp's "none" id (u32 0xFFFFFFFF) is accepted as "no such token".
  EXPECT_EQ(from_gguf_error(gguf_with([&](GgufWriter& w) {
              w.set_string("tokenizer.ggml.model", "llama");
              w.set("tokenizer.ggml.tokens", GgufValue::array(toks));
              w.set_u32("tokenizer.ggml.eos_token_id", 0xFFFFFFFFu);
            })),
            "(no error)");
}

// ---- end of generation (Tokenizer::is_eog / eog_ids)

// The set llama.cpp stops on: eos, eot and eom ids from the keys, and the
// end-marker texts whatever id they have.
TEST(TokenizerEog, KeysAndTexts) {
  const std::vector<std::string> toks = {"<unk>",         "<s>",         "</s>",      "a",
                                         "<|eot_id|>",    "<|end_of_text|>", "<|im_end|>", "<end_of_turn>",
                                         "<|eom_id|>",    "b",           "c",         "<|endoftext|>"};
  const auto bytes = gguf_with([&](GgufWriter& w) {
    w.set_string("tokenizer.ggml.model", "llama");
    w.set("tokenizer.ggml.tokens", GgufValue::array(toks));
    w.set_u32("tokenizer.ggml.eot_token_id", 9);
    w.set_u32("tokenizer.ggml.eom_token_id", 10);
  });
  const Tokenizer tok = Tokenizer::from_gguf(GgufReader::from_memory(bytes, "t.gguf"));
  EXPECT_EQ(tok.vocab().eot, 9);
  EXPECT_EQ(tok.vocab().eom, 10);
  EXPECT_EQ(tok.eog_ids(), (std::vector<int32_t>{2, 4, 5, 6, 7, 8, 9, 10, 11}));
  for (int32_t id : {-1, 0, 1, 3, 12, 1000}) EXPECT_FALSE(tok.is_eog(id)) << id;
  for (int32_t id : tok.eog_ids()) EXPECT_TRUE(tok.is_eog(id)) << id;

  // Without the keys only eos and the texts; llama.cpp's "none" id counts for nothing.
  const auto plain = gguf_with([&](GgufWriter& w) {
    w.set_string("tokenizer.ggml.model", "llama");
    w.set("tokenizer.ggml.tokens", GgufValue::array(std::vector<std::string>(toks.begin(), toks.begin() + 4)));
    w.set_u32("tokenizer.ggml.eot_token_id", 0xFFFFFFFFu);
  });
  EXPECT_EQ(Tokenizer::from_gguf(GgufReader::from_memory(plain, "t.gguf")).eog_ids(), (std::vector<int32_t>{2}));

  EXPECT_EQ(from_gguf_error(gguf_with([&](GgufWriter& w) {
              w.set_string("tokenizer.ggml.model", "llama");
              w.set("tokenizer.ggml.tokens", GgufValue::array(toks));
              w.set_u32("tokenizer.ggml.eom_token_id", 99);
            })),
            "t.gguf: metadata key 'tokenizer.ggml.eom_token_id' = 99 is not a token id (vocabulary "
            "has 12 tokens)");
}

// "</s>" ends generation as a special token, not as a NORMAL BPE token (the
// HTML closing tag); the other texts count whatever their type.
TEST(TokenizerEog, EndOfSentenceOnlyWhenSpecial) {
  TokenizerVocab v = tiny_bpe(PreTokenizer::Gpt2);
  v.tokens.push_back("</s>");
  v.types.push_back(TokenType::Normal);
  v.tokens.push_back("<|eot_id|>");
  v.types.push_back(TokenType::Normal);
  const auto n = static_cast<int32_t>(v.tokens.size());
  const int32_t end = v.eos;  // "<|end|>": eos, and an end text too
  const Tokenizer normal(v);
  EXPECT_EQ(normal.eog_ids(), (std::vector<int32_t>{end, n - 1}));
  v.types[static_cast<size_t>(n - 2)] = TokenType::Control;
  v.eos = -1;
  const Tokenizer control(std::move(v));
  EXPECT_EQ(control.eog_ids(), (std::vector<int32_t>{end, n - 2, n - 1}));
}

}  // namespace
}  // namespace trix
