// UTF-8 and Unicode classification for the BPE pre-tokenizers.
//
// The split patterns (pre_tokenizer.h) ask of a code point: is it a letter
// (\p{L}), a number (\p{N}), punctuation (\p{P}), a symbol (\p{S}), a
// mark (\p{M}) or white space (\s)? classify() answers from a table of the
// general categories (unicode_classes.h, generated from Python's unicodedata;
// the Unicode version is in kUnicodeVersion). Limits: a code point assigned
// after that version is "other"; white space is the White_Space property and
// takes precedence over the category; the C and non-white-space Z categories
// (controls, format characters, private use, unassigned) are all "other".
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>

#include "trix/text/unicode_classes.h"

namespace trix::unicode {

// The values are the ones unicode_classes.h stores.
enum class CharClass : uint8_t { Letter, Number, Space, Other, Punctuation, Symbol, Mark };

// Class of a code point; anything above U+10FFFF is Other.
constexpr CharClass classify(uint32_t cp) {
  if (cp < 0x80) {  // fast path, exact
    if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) return CharClass::Letter;
    if (cp >= '0' && cp <= '9') return CharClass::Number;
    if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D)) return CharClass::Space;
  }
  if (cp > 0x10FFFF) return CharClass::Other;
  const auto& t = detail::kClassRangeStarts;
  // Last entry whose first code point is <= cp (entry 0 starts at U+0000).
  const auto* it = std::upper_bound(std::begin(t), std::end(t), cp,
                                    [](uint32_t c, uint32_t e) { return c < (e >> 3); });
  return static_cast<CharClass>(*(it - 1) & 7u);
}

// Byte length of the UTF-8 sequence a lead byte announces (1 for stray
// continuation bytes), as SentencePiece and llama.cpp split text into
// symbols. The caller clamps it to the bytes left.
constexpr size_t utf8_len(uint8_t lead) {
  constexpr uint8_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLen[lead >> 4];
}

struct Decoded {
  uint32_t cp;  // 0xFFFD for an invalid sequence
  size_t len;   // bytes consumed, >= 1
};

// Decodes one code point at s[0]; an invalid or truncated sequence consumes
// one byte and yields U+FFFD, so every byte of the input is accounted for.
inline Decoded utf8_decode(std::string_view s) {
  const auto b0 = static_cast<uint8_t>(s[0]);
  if (b0 < 0x80) return {b0, 1};
  size_t n = 0;
  uint32_t cp = 0, min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    n = 2, cp = b0 & 0x1Fu, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    n = 3, cp = b0 & 0x0Fu, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    n = 4, cp = b0 & 0x07u, min = 0x10000;
  } else {
    return {0xFFFD, 1};
  }
  if (s.size() < n) return {0xFFFD, 1};
  for (size_t i = 1; i < n; ++i) {
    const auto b = static_cast<uint8_t>(s[i]);
    if ((b & 0xC0) != 0x80) return {0xFFFD, 1};
    cp = (cp << 6) | (b & 0x3Fu);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return {0xFFFD, 1};
  return {cp, n};
}

inline void utf8_append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace trix::unicode
