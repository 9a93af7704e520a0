// The pre-tokenizers' regex engine (split_regex.h) and Unicode classes
// (unicode.h): pattern errors, semantics on hand-made cases, every
// pre-tokenizer's patterns, and a differential check against std::regex on
// ASCII text (patterns rewritten with \p{X} spelled as ASCII sets, as
// llama.cpp does for its std::regex fallback).
// GCC 12 warns falsely inside std::regex's compiler (std::function members)
// at -O1 with sanitizers; the warning points into <functional>, so it is
// turned off before any header.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <gtest/gtest.h>

#include <random>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "trix/core/error.h"
#include "trix/text/pre_tokenizer.h"
#include "trix/text/split_regex.h"
#include "trix/text/unicode.h"

namespace trix {
namespace {

using detail::SplitChar;
using detail::SplitRegex;
using V = std::vector<std::string>;

std::vector<SplitChar> chars_of(std::string_view s) {
  std::vector<SplitChar> out;
  for (size_t k = 0; k < s.size();) {
    const auto d = unicode::utf8_decode(s.substr(k));
    out.push_back({d.cp, unicode::classify(d.cp)});
    k += d.len;
  }
  return out;
}

// The pieces one pattern makes of an ASCII text.
V split_one(std::string_view pattern, std::string_view text) {
  const SplitRegex re{pattern};
  const auto chars = chars_of(text);
  std::vector<size_t> lens;
  re.split(chars, lens);
  V out;
  size_t at = 0;  // bytes
  for (size_t n : lens) {
    size_t bytes = 0;
    for (size_t i = 0; i < n; ++i) bytes += unicode::utf8_decode(text.substr(at + bytes)).len;
    out.emplace_back(text.substr(at, bytes));
    at += bytes;
  }
  return out;
}

V pre_split(std::string_view text, PreTokenizer pre) {
  V out;
  for (auto p : detail::pre_split(text, pre)) out.emplace_back(p);
  return out;
}

std::string error_of(std::string_view pattern) {
  try {
    SplitRegex re{pattern};
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Unicode, Classes) {
  using unicode::CharClass;
  using unicode::classify;
  EXPECT_EQ(classify(0xE9), CharClass::Letter);        // e acute
  EXPECT_EQ(classify(0x4E2D), CharClass::Letter);      // CJK
  EXPECT_EQ(classify(0x0301), CharClass::Mark);        // combining acute
  EXPECT_EQ(classify(0x0BBE), CharClass::Mark);        // Tamil vowel sign
  EXPECT_EQ(classify(0xBD), CharClass::Number);        // one half
  EXPECT_EQ(classify(0x0967), CharClass::Number);      // Devanagari one
  EXPECT_EQ(classify(0x2014), CharClass::Punctuation); // em dash
  EXPECT_EQ(classify('!'), CharClass::Punctuation);
  EXPECT_EQ(classify('~'), CharClass::Symbol);
  EXPECT_EQ(classify(0x20AC), CharClass::Symbol);      // euro
  EXPECT_EQ(classify(0x1F999), CharClass::Symbol);     // llama emoji
  EXPECT_EQ(classify(0x3000), CharClass::Space);
  EXPECT_EQ(classify(0x85), CharClass::Space);         // NEL: white space, category Cc
  EXPECT_EQ(classify(0x200B), CharClass::Other);       // zero width space: Cf
  EXPECT_EQ(classify(0xE000), CharClass::Other);       // private use
  EXPECT_EQ(classify(0x10FFFF), CharClass::Other);
  EXPECT_EQ(classify(0x110000), CharClass::Other);
}

TEST(SplitRegex, RejectsWhatItCannotRun) {
  EXPECT_EQ(error_of("[abc"), "pre-tokenizer pattern \"[abc\": at offset 0: missing ']'");
  EXPECT_EQ(error_of("(?i:'s)"), "pre-tokenizer pattern \"(?i:'s)\": at offset 1: unsupported group kind");
  EXPECT_EQ(error_of("(ab)+"), "pre-tokenizer pattern \"(ab)+\": at offset 0: repetition of a part that "
                               "is not one code point wide must be bounded by 16");
  EXPECT_EQ(error_of("\\p{Lu}"), "pre-tokenizer pattern \"\\p{Lu}\": at offset 2: expected \\p{X}");
  EXPECT_EQ(error_of("\\p{Z}"), "pre-tokenizer pattern \"\\p{Z}\": at offset 2: unsupported category \\p{Z}");
  EXPECT_EQ(error_of("a)"), "pre-tokenizer pattern \"a)\": at offset 1: unbalanced ')'");
  EXPECT_EQ(error_of("a{3,1}"), "pre-tokenizer pattern \"a{3,1}\": at offset 1: bad {n,m} quantifier");
  EXPECT_EQ(error_of("a+?"), "pre-tokenizer pattern \"a+?\": at offset 2: lazy and possessive quantifiers "
                             "are not supported");
  EXPECT_EQ(error_of("."), "pre-tokenizer pattern \".\": at offset 0: unsupported or misplaced '.'");
  EXPECT_EQ(error_of("\\d"), "pre-tokenizer pattern \"\\d\": at offset 0: unsupported escape \\d");
  EXPECT_EQ(error_of("[z-a]"), "pre-tokenizer pattern \"[z-a]\": at offset 4: range out of order");
}

TEST(SplitRegex, Semantics) {
  // Runs between matches are pieces too.
  EXPECT_EQ(split_one("[0-9][0-9][0-9]", "ab1234567c"), (V{"ab", "123", "456", "7c"}));
  // Leftmost alternative first, greedy with backtracking, lookahead, $.
  EXPECT_EQ(split_one("a|ab", "ab"), (V{"a", "b"}));
  EXPECT_EQ(split_one("\\s+(?!\\S)|\\s+", "a   b  "), (V{"a", "  ", " ", "b", "  "}));
  EXPECT_EQ(split_one("\\s+$", "a  b  "), (V{"a  b", "  "}));
  EXPECT_EQ(split_one("\\p{N}{1,3}", "1234567"), (V{"123", "456", "7"}));
  EXPECT_EQ(split_one("x{2,}", "xxxxyx"), (V{"xxxx", "yx"}));
  EXPECT_EQ(split_one("(IMGIMG)((A|B|C){1,4})Z", "IMGIMGABZIMGIMGABCABZ"), (V{"IMGIMGABZ", "IMGIMGABCABZ"}));
  // Tekken-style: a run of non-lowercase letters, then of non-uppercase
  // ones (backing off one letter) or, failing that, the first run alone.
  const std::string_view cased = "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+";
  EXPECT_EQ(split_one(cased, "HELLO World"), (V{"HELLO", " World"}));
  EXPECT_EQ(split_one(cased, "HTMLParser"), (V{"HTMLParser"}));
  // llama.cpp's quirks: \p{S} leaves out ASCII '~'; a non-ASCII space reads
  // as U+000B for literals and ranges.
  EXPECT_EQ(split_one("\\p{S}+", "+~+"), (V{"+", "~", "+"}));
  EXPECT_EQ(split_one("[\xe3\x80\x80-\xe3\x80\x82]+", "\xe3\x80\x81\xe3\x80\x80"),  // U+3001 U+3000
            (V{"\xe3\x80\x81", "\xe3\x80\x80"}));
  EXPECT_EQ(split_one("\\v+", "\xe3\x80\x80\xc2\xa0"), (V{"\xe3\x80\x80\xc2\xa0"}));
  // Classes: escapes, \s, negation, a literal ']' first.
  EXPECT_EQ(split_one("[]\\-\\s]+", "a] -b"), (V{"a", "] -", "b"}));
  EXPECT_EQ(split_one("[^\\s\\p{L}]+", "ab12!? c"), (V{"ab", "12!?", " c"}));
}

TEST(PreTokenizers, EveryPatternCompilesAndSplitsLosslessly) {
  const std::string text =
      "Hello, y'all! How are you \xf0\x9f\x98\x81 ?\xe6\x88\x91\xe6\x83\xb3\xe5\x9c\xa8" "apple\xe5\xb7\xa5"
      "\xe4\xbd\x9c" "1314151\xe5\xa4\xa9\xef\xbd\x9e  \n\n\t x <sentinel:12> IMGIMGABZ caf\xc3\xa9\xcc\x81 \xff";
  for (size_t p = 0; p < kPreTokenizerCount; ++p) {
    const auto pre = static_cast<PreTokenizer>(p);
    EXPECT_FALSE(detail::split_rules(pre).empty());
    std::string joined;
    for (const auto& piece : pre_split(text, pre)) {
      EXPECT_FALSE(piece.empty()) << p;
      joined += piece;
    }
    EXPECT_EQ(joined, text) << p;
  }
  for (const auto& n : kPreTokenizerNames) EXPECT_EQ(find_pre_tokenizer(n.name)->pre, n.pre);
  EXPECT_FALSE(find_pre_tokenizer("qwen3-next"));
}

TEST(PreTokenizers, ThoseNoVocabularyFileCovers) {
  EXPECT_EQ(pre_split("ab 12345 x", PreTokenizer::Qwen2), (V{"ab", " ", "1", "2", "3", "4", "5", " x"}));
  EXPECT_EQ(pre_split("if(x)\n  return 12;", PreTokenizer::DeepseekCoder),
            (V{"if", "(", "x", ")", "\n", " ", " return", " ", "1", "2", ";"}));
  EXPECT_EQ(pre_split("Hi, there! 42", PreTokenizer::Bloom), (V{"Hi", ",", " there", "!", " 42"}));
  // Later patterns split earlier matches again (as in llama.cpp).
  EXPECT_EQ(pre_split("a<sentinel:3>b  \tc", PreTokenizer::Chameleon),
            (V{"a", "<", "sentinel", ":", "3", ">", "b", "  ", "\t", "c"}));
  EXPECT_EQ(pre_split("HTMLParser x", PreTokenizer::Tekken), (V{"HTMLParser", " x"}));
  EXPECT_EQ(pre_split("(abc) 1234", PreTokenizer::Deepseek3Llm), (V{"(abc", ")", " ", "123", "4"}));
}

// \p{X} spelled as the ASCII set llama.cpp's std::regex fallback uses.
std::string ascii_pattern(std::string_view p) {
  auto set = [](char x) -> std::string {
    switch (x) {
      case 'L': return "A-Za-z";
      case 'N': return "0-9";
      case 'P': return "!-#%-*,-/:;?@\\[-\\]_{}";
      case 'S': return "\\$\\+<=>\\^`\\|";
    }
    return "";
  };
  std::string out;
  bool inside = false;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '\\' && i + 4 < p.size() + 1 && p.compare(i, 3, "\\p{") == 0) {
      // Appended piece by piece: GCC 12 -O3 warns (-Wrestrict, falsely) on
      // "literal" + std::string.
      if (!inside) out += '[';
      out += set(p[i + 3]);
      if (!inside) out += ']';
      i += 4;
      continue;
    }
    if (p[i] == '\\' && i + 1 < p.size()) {
      out += p.substr(i, 2);
      ++i;
      continue;
    }
    if (p[i] == '[') inside = true;
    if (p[i] == ']' && inside) inside = false;
    out += p[i];
  }
  return out;
}

V std_regex_split(const std::string& text, PreTokenizer pre) {
  V pieces{text};
  for (const SplitRegex& re : detail::split_rules(pre)) {
    const std::regex sre(ascii_pattern(re.pattern()));
    V next;
    for (const std::string& piece : pieces) {
      size_t last = 0;
      for (auto it = std::sregex_iterator(piece.begin(), piece.end(), sre); it != std::sregex_iterator(); ++it) {
        const auto pos = static_cast<size_t>(it->position());
        if (pos > last) next.push_back(piece.substr(last, pos - last));
        next.push_back(it->str());
        last = pos + static_cast<size_t>(it->length());
      }
      if (last < piece.size()) next.push_back(piece.substr(last));
    }
    pieces = std::move(next);
  }
  return pieces;
}

TEST(PreTokenizers, MatchStdRegexOnAsciiText) {
  const std::string alphabet = "aAbZz09 5  \t\n\r\r\n'sStTmMlLdDrReEvV.,!?~$+<=>^`|()[]{}_-/:;@#%&*\"\\IMGZ";
  std::mt19937 rng(17);
  size_t checked = 0;
  for (size_t p = 0; p < kPreTokenizerCount; ++p) {
    const auto pre = static_cast<PreTokenizer>(p);
    bool ascii = true;
    for (const SplitRegex& re : detail::split_rules(pre)) {
      for (char c : re.pattern()) ascii = ascii && static_cast<uint8_t>(c) < 0x80;
      ascii = ascii && re.pattern().find("\\p{M}") == std::string::npos;
    }
    if (!ascii) continue;
    ++checked;
    for (int iter = 0; iter < 100; ++iter) {
      std::string text(rng() % 24, ' ');
      for (char& c : text) c = alphabet[rng() % alphabet.size()];
      ASSERT_EQ(pre_split(text, pre), std_regex_split(text, pre)) << "pre " << p << " text \"" << text << "\"";
    }
  }
  EXPECT_GE(checked, 8u);
}

}  // namespace
}  // namespace trix
