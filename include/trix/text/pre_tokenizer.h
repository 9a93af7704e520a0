// Pre-tokenizers for byte-level BPE: split text into the chunks that BPE
// merges never cross, as llama.cpp's gpt2, llama3 and smollm pre-tokenizers
// do. The regex patterns are implemented by hand-written scanners over code
// point classes (std::regex cannot ask for \p{L} or \p{N}); see unicode.h for
// the classification's limits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "trix/text/unicode.h"
#include "trix/text/vocab.h"

namespace trix::detail {

inline bool is_newline(uint32_t cp) { return cp == '\r' || cp == '\n'; }

// Splits `text` into chunks as the gpt2 / llama3 patterns do:
//  gpt2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//  llama3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//          ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// Each alternative is tried in order at the current position, as a regex
// engine would; the chunks concatenate back to `text`. Any `pre` other than
// Llama3 scans as gpt2.
inline std::vector<std::string_view> pre_split_pattern(std::string_view text, PreTokenizer pre) {
  using unicode::CharClass;
  struct Cp {
    uint32_t cp;
    CharClass cls;
    size_t off;
  };
  std::vector<Cp> cps;
  cps.reserve(text.size());
  for (size_t off = 0; off < text.size();) {
    const auto d = unicode::utf8_decode(text.substr(off));
    cps.push_back({d.cp, unicode::classify(d.cp), off});
    off += d.len;
  }
  const size_t n = cps.size();
  auto byte_at = [&](size_t i) { return i < n ? cps[i].off : text.size(); };
  auto cls = [&](size_t i) { return i < n ? cps[i].cls : CharClass::Space; };
  auto is = [&](size_t i, CharClass c) { return i < n && cps[i].cls == c; };
  auto lower = [&](size_t i) -> uint32_t {
    if (i >= n) return 0;
    const uint32_t c = cps[i].cp;
    return (pre == PreTokenizer::Llama3 && c >= 'A' && c <= 'Z') ? c + 32 : c;
  };
  auto run = [&](size_t i, auto pred) {
    while (i < n && pred(i)) ++i;
    return i;
  };
  auto is_other = [&](size_t i) { return i < n && cps[i].cls == CharClass::Other; };

  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < n) {
    size_t end = i;
    // Contractions.
    if (cps[i].cp == '\'' && i + 1 < n) {
      const uint32_t a = lower(i + 1), b = lower(i + 2);
      if (a == 's' || a == 't' || a == 'm' || a == 'd') {
        end = i + 2;
      } else if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) {
        end = i + 3;
      }
    }
    if (end == i && pre == PreTokenizer::Llama3) {
      const CharClass c = cls(i);
      if (c == CharClass::Letter) {
        end = run(i, [&](size_t k) { return is(k, CharClass::Letter); });
      } else if (c != CharClass::Number && !is_newline(cps[i].cp) && is(i + 1, CharClass::Letter)) {
        end = run(i + 1, [&](size_t k) { return is(k, CharClass::Letter); });
      } else if (c == CharClass::Number) {
        end = i + 1;
        while (end < n && end < i + 3 && is(end, CharClass::Number)) ++end;
      } else {
        const size_t s = (cps[i].cp == ' ' && is_other(i + 1)) ? i + 1 : i;
        if (is_other(s)) {
          end = run(s, is_other);
          end = run(end, [&](size_t k) { return is_newline(cps[k].cp); });
        } else if (c == CharClass::Space) {
          const size_t ws_end = run(i, [&](size_t k) { return is(k, CharClass::Space); });
          size_t last_nl = n;
          for (size_t k = i; k < ws_end; ++k) {
            if (is_newline(cps[k].cp)) last_nl = k;
          }
          if (last_nl != n) {
            end = last_nl + 1;
          } else if (ws_end == n || ws_end - i == 1) {
            end = ws_end == n ? n : i + 1;
          } else {
            end = ws_end - 1;  // \s+(?!\S): leave one space for the next word
          }
        }
      }
    } else if (end == i) {  // gpt2, smollm
      const size_t s = (cps[i].cp == ' ' && i + 1 < n && cls(i + 1) != CharClass::Space) ? i + 1 : i;
      const CharClass c = cls(s);
      if (c == CharClass::Letter || c == CharClass::Number) {
        end = run(s, [&](size_t k) { return is(k, c); });
      } else if (c == CharClass::Other) {
        end = run(s, is_other);
      } else {  // whitespace
        const size_t ws_end = run(i, [&](size_t k) { return is(k, CharClass::Space); });
        if (ws_end == n || ws_end - i == 1) {
          end = ws_end == n ? n : i + 1;
        } else {
          end = ws_end - 1;
        }
      }
    }
    if (end == i) end = i + 1;  // unreachable by construction; guarantees progress
    out.push_back(text.substr(byte_at(i), byte_at(end) - byte_at(i)));
    i = end;
  }
  return out;
}

// Splits `text` as `pre` does; the chunks concatenate back to `text`.
inline std::vector<std::string_view> pre_split(std::string_view text, PreTokenizer pre) {
  if (pre != PreTokenizer::Smollm) return pre_split_pattern(text, pre);
  // smollm: \p{N} first, each such code point its own chunk; the text between
  // goes through gpt2.
  std::vector<std::string_view> chunks;
  auto split_gpt2 = [&](std::string_view part) {
    for (auto c : pre_split_pattern(part, PreTokenizer::Gpt2)) chunks.push_back(c);
  };
  size_t start = 0;
  for (size_t k = 0; k < text.size();) {
    const auto d = unicode::utf8_decode(text.substr(k));
    if (unicode::classify(d.cp) == unicode::CharClass::Number) {
      split_gpt2(text.substr(start, k - start));
      chunks.push_back(text.substr(k, d.len));
      start = k + d.len;
    }
    k += d.len;
  }
  split_gpt2(text.substr(start));
  return chunks;
}

}  // namespace trix::detail
