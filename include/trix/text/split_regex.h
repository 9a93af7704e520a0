// SplitRegex: the small regex engine behind the BPE pre-tokenizers
// (pre_tokenizer.h). It runs the split patterns llama.cpp lists per
// tokenizer.ggml.pre over a text's code points, with the semantics llama.cpp
// gets from its hand-written gpt2/llama3 scanners and std::regex (ECMAScript,
// backtracking, leftmost alternative first, greedy quantifiers).
//
// Supported syntax, and nothing else (anything else throws trix::Error naming
// the pattern and the offset):
//   literals (UTF-8), escapes \r \n \t \v \f and \<punctuation>; `.` is not
//   supported; classes [...] and [^...] with ranges, escapes, \s \S and
//   \p{L} \p{N} \p{P} \p{S} \p{M}; the same classes outside brackets;
//   groups (...) and (?:...) (nothing is captured); alternation |;
//   quantifiers ? * + {n} {n,} {n,m} (greedy); lookahead (?=...) (?!...);
//   $ (end of the piece being split).
// A quantifier without an upper bound must apply to something that always
// matches exactly one code point (a class, or a lookahead plus a class): its
// repetitions are then counted in a loop, so the matcher's stack depth
// depends on the pattern, never on the text.
//
// Code points are compared as llama.cpp sees them: a non-ASCII white-space
// code point reads as U+000B for literals and ranges (llama.cpp rewrites it
// so before running std::regex), and \p{S} leaves out ASCII '~' (llama.cpp's
// ASCII symbol list omits it). Classes come from unicode.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "trix/core/error.h"
#include "trix/text/unicode.h"

namespace trix::detail {

// One code point of the text being split.
struct SplitChar {
  uint32_t cp;
  unicode::CharClass cls;
};

class SplitRegex {
 public:
  static constexpr size_t kNoMatch = static_cast<size_t>(-1);

  explicit SplitRegex(std::string_view pattern) : pattern_(pattern) {
    size_t pos = 0;
    root_ = parse_alt(pos, 0);
    if (pos != pattern_.size()) fail(pos, "unbalanced ')'");
  }

  const std::string& pattern() const { return pattern_; }

  // Length, in code points, of the match that starts exactly at `pos` of
  // `text` (the whole piece being split: $ and lookaheads stop at its end),
  // or kNoMatch.
  size_t match_at(std::span<const SplitChar> text, size_t pos) const {
    size_t end = kNoMatch;
    const Matcher m{*this, text};
    m.match(root_, pos, [&](size_t p) {
      end = p;
      return true;
    });
    return end == kNoMatch ? kNoMatch : end - pos;
  }

  // Splits `text` as std::regex_iterator walks it in llama.cpp: each match
  // is a piece, and so is each run of code points between matches. Appends
  // the pieces' lengths (code points) to `out`. An empty match counts as no
  // match.
  void split(std::span<const SplitChar> text, std::vector<size_t>& out) const {
    size_t gap = 0;
    for (size_t pos = 0; pos < text.size();) {
      const size_t len = match_at(text, pos);
      if (len == kNoMatch || len == 0) {
        ++pos;
        continue;
      }
      if (pos > gap) out.push_back(pos - gap);
      out.push_back(len);
      pos += len;
      gap = pos;
    }
    if (text.size() > gap) out.push_back(text.size() - gap);
  }

 private:
  // Class bits a CharSet may include.
  enum : uint8_t {
    kLetter = 1, kNumber = 2, kPunct = 4, kSymbol = 8, kMark = 16, kSpace = 32, kNotSpace = 64,
  };

  struct CharSet {
    std::vector<std::pair<uint32_t, uint32_t>> ranges;  // inclusive
    uint8_t classes = 0;
    bool negated = false;

    bool matches(const SplitChar& c) const {
      using unicode::CharClass;
      const bool is_space = c.cls == CharClass::Space;
      const uint32_t v = (c.cp >= 0x80 && is_space) ? 0x0B : c.cp;
      bool in = (classes & kSpace) ? is_space : false;
      in = in || ((classes & kNotSpace) && !is_space);
      in = in || ((classes & kLetter) && c.cls == CharClass::Letter);
      in = in || ((classes & kNumber) && c.cls == CharClass::Number);
      in = in || ((classes & kPunct) && c.cls == CharClass::Punctuation);
      in = in || ((classes & kSymbol) && c.cls == CharClass::Symbol && c.cp != '~');
      in = in || ((classes & kMark) && c.cls == CharClass::Mark);
      for (size_t i = 0; !in && i < ranges.size(); ++i) in = ranges[i].first <= v && v <= ranges[i].second;
      return in != negated;
    }
  };

  enum class Op : uint8_t { Set, Seq, Alt, Repeat, Look, End };

  struct Node {
    Op op = Op::Seq;
    std::vector<int> kids;       // Seq, Alt: the parts; Repeat, Look: one
    int set = -1;                // Set: index into sets_
    size_t min = 0, max = 0;     // Repeat
    bool negative = false;       // Look: (?!...)
    bool unit = false;           // always matches exactly one code point
  };

  static constexpr size_t kUnbounded = static_cast<size_t>(-1);
  // Bound on repeating a wider part: its repetitions recurse.
  static constexpr size_t kMaxGroupRepeat = 16;

  // A non-owning callable reference for continuations (no allocation).
  class Cont {
   public:
    template <class F>
    Cont(const F& f) : obj_(&f), call_([](const void* o, size_t p) { return (*static_cast<const F*>(o))(p); }) {}
    bool operator()(size_t p) const { return call_(obj_, p); }

   private:
    const void* obj_;
    bool (*call_)(const void*, size_t);
  };

  struct Matcher {
    const SplitRegex& re;
    std::span<const SplitChar> text;

    bool match(int id, size_t pos, Cont k) const {
      const Node& n = re.nodes_[static_cast<size_t>(id)];
      switch (n.op) {
        case Op::Set:
          return pos < text.size() && re.sets_[static_cast<size_t>(n.set)].matches(text[pos]) && k(pos + 1);
        case Op::Seq:
          return seq(n, 0, pos, k);
        case Op::Alt:
          for (int kid : n.kids) {
            if (match(kid, pos, k)) return true;
          }
          return false;
        case Op::Look: {
          const bool found = match(n.kids[0], pos, [](size_t) { return true; });
          return found != n.negative && k(pos);
        }
        case Op::End:
          return pos == text.size() && k(pos);
        case Op::Repeat:
          return re.nodes_[static_cast<size_t>(n.kids[0])].unit ? repeat_units(n, pos, k)
                                                              : repeat(n, 0, pos, k);
      }
      return false;
    }

    bool seq(const Node& n, size_t i, size_t pos, Cont k) const {
      if (i == n.kids.size()) return k(pos);
      return match(n.kids[i], pos, [&](size_t p) { return seq(n, i + 1, p, k); });
    }

    // Greedy repetition of a one-code-point part: count, then back off.
    bool repeat_units(const Node& n, size_t pos, Cont k) const {
      size_t count = 0;
      while (count < n.max && pos + count < text.size() &&
             match(n.kids[0], pos + count, [](size_t) { return true; })) {
        ++count;
      }
      if (count < n.min) return false;
      for (size_t c = count;; --c) {
        if (k(pos + c)) return true;
        if (c == n.min) return false;
      }
    }

    // Greedy repetition of anything else (bounded, see the file comment).
    bool repeat(const Node& n, size_t done, size_t pos, Cont k) const {
      if (done < n.max && match(n.kids[0], pos, [&](size_t p) {
            return p != pos && repeat(n, done + 1, p, k);
          })) {
        return true;
      }
      return done >= n.min && k(pos);
    }
  };

  [[noreturn]] void fail(size_t offset, const std::string& what) const {
    std::string msg = "pre-tokenizer pattern \"";
    msg += pattern_;
    msg += "\": at offset ";
    msg += std::to_string(offset);
    msg += ": ";
    msg += what;
    throw Error(msg);
  }

  static Node make_node(Op op) {
    Node n;
    n.op = op;
    return n;
  }

  int add(Node n) {
    nodes_.push_back(std::move(n));
    return static_cast<int>(nodes_.size() - 1);
  }

  int add_set(CharSet s) {
    sets_.push_back(std::move(s));
    Node n = make_node(Op::Set);
    n.set = static_cast<int>(sets_.size() - 1);
    n.unit = true;
    return add(std::move(n));
  }

  // alt := seq ('|' seq)*
  int parse_alt(size_t& pos, int depth) {
    if (depth > 32) fail(pos, "groups nested too deeply");
    std::vector<int> alts{parse_seq(pos, depth)};
    while (pos < pattern_.size() && pattern_[pos] == '|') {
      ++pos;
      alts.push_back(parse_seq(pos, depth));
    }
    if (alts.size() == 1) return alts[0];
    Node n = make_node(Op::Alt);
    n.unit = true;
    for (int a : alts) n.unit = n.unit && nodes_[static_cast<size_t>(a)].unit;
    n.kids = std::move(alts);
    return add(std::move(n));
  }

  // seq := (atom quantifier?)*
  int parse_seq(size_t& pos, int depth) {
    Node n = make_node(Op::Seq);
    size_t units = 0;
    bool only_units_and_looks = true;
    while (pos < pattern_.size() && pattern_[pos] != '|' && pattern_[pos] != ')') {
      const int atom = parse_quantified(pos, depth);
      const Node& a = nodes_[static_cast<size_t>(atom)];
      if (a.unit) {
        ++units;
      } else if (a.op != Op::Look) {
        only_units_and_looks = false;
      }
      n.kids.push_back(atom);
    }
    if (n.kids.size() == 1) return n.kids[0];
    n.unit = only_units_and_looks && units == 1 && nodes_[static_cast<size_t>(n.kids.back())].unit;
    return add(std::move(n));
  }

  int parse_quantified(size_t& pos, int depth) {
    const size_t atom_at = pos;
    const int atom = parse_atom(pos, depth);
    if (pos >= pattern_.size()) return atom;
    size_t min = 0, max = 0;
    const char q = pattern_[pos];
    if (q == '?') {
      min = 0, max = 1;
    } else if (q == '*') {
      min = 0, max = kUnbounded;
    } else if (q == '+') {
      min = 1, max = kUnbounded;
    } else if (q == '{') {
      size_t p = pos + 1;
      min = parse_number(p);
      max = min;
      if (p < pattern_.size() && pattern_[p] == ',') {
        ++p;
        max = (p < pattern_.size() && pattern_[p] == '}') ? kUnbounded : parse_number(p);
      }
      if (p >= pattern_.size() || pattern_[p] != '}' || max < min) fail(pos, "bad {n,m} quantifier");
      pos = p;
    } else {
      return atom;
    }
    ++pos;
    if (pos < pattern_.size() && (pattern_[pos] == '?' || pattern_[pos] == '+')) {
      fail(pos, "lazy and possessive quantifiers are not supported");
    }
    const Node& a = nodes_[static_cast<size_t>(atom)];
    if (a.op == Op::Look || a.op == Op::End) fail(atom_at, "quantified assertion");
    if (!a.unit && max > kMaxGroupRepeat) {
      fail(atom_at, "repetition of a part that is not one code point wide must be bounded by " +
                        std::to_string(kMaxGroupRepeat));
    }
    Node n = make_node(Op::Repeat);
    n.kids = {atom};
    n.min = min, n.max = max;
    return add(std::move(n));
  }

  size_t parse_number(size_t& p) const {
    size_t v = 0, digits = 0;
    while (p < pattern_.size() && pattern_[p] >= '0' && pattern_[p] <= '9' && digits < 4) {
      v = v * 10 + static_cast<size_t>(pattern_[p] - '0');
      ++p, ++digits;
    }
    if (digits == 0) fail(p, "expected a number");
    return v;
  }

  int parse_atom(size_t& pos, int depth) {
    const char c = pattern_[pos];
    if (c == '(') {
      ++pos;
      Node look = make_node(Op::Look);
      bool is_look = false;
      if (pattern_.compare(pos, 2, "?:") == 0) {
        pos += 2;
      } else if (pattern_.compare(pos, 2, "?=") == 0 || pattern_.compare(pos, 2, "?!") == 0) {
        is_look = true;
        look.negative = pattern_[pos + 1] == '!';
        pos += 2;
      } else if (pos < pattern_.size() && pattern_[pos] == '?') {
        fail(pos, "unsupported group kind");
      }
      const int inner = parse_alt(pos, depth + 1);
      if (pos >= pattern_.size() || pattern_[pos] != ')') fail(pos, "missing ')'");
      ++pos;
      if (!is_look) return inner;
      look.kids = {inner};
      return add(std::move(look));
    }
    if (c == '[') return add_set(parse_class(pos));
    if (c == '$') {
      ++pos;
      return add(make_node(Op::End));
    }
    if (c == '.' || c == '^' || c == ')' || c == '*' || c == '+' || c == '?' || c == '{') {
      fail(pos, std::string("unsupported or misplaced '") + c + "'");
    }
    CharSet s;
    if (c == '\\') {
      parse_escape(pos, s);
    } else {
      const uint32_t cp = next_code_point(pos);
      s.ranges.push_back({cp, cp});
    }
    return add_set(std::move(s));
  }

  uint32_t next_code_point(size_t& pos) const {
    const auto d = unicode::utf8_decode(std::string_view(pattern_).substr(pos));
    if (d.cp == 0xFFFD && d.len == 1) fail(pos, "invalid UTF-8");
    pos += d.len;
    return d.cp;
  }

  // An escape at pattern_[pos] == '\\': adds what it stands for to `s`.
  // Returns the code point for a single-character escape, or -1 for a class.
  int64_t parse_escape(size_t& pos, CharSet& s) const {
    if (pos + 1 >= pattern_.size()) fail(pos, "dangling '\\'");
    const char e = pattern_[pos + 1];
    pos += 2;
    uint32_t cp = 0;
    switch (e) {
      case 's': s.classes |= kSpace; return -1;
      case 'S': s.classes |= kNotSpace; return -1;
      case 'p': {
        if (pos + 2 >= pattern_.size() || pattern_[pos] != '{' || pattern_[pos + 2] != '}') {
          fail(pos, "expected \\p{X}");
        }
        const char x = pattern_[pos + 1];
        const uint8_t bit = x == 'L' ? kLetter : x == 'N' ? kNumber : x == 'P' ? kPunct
                          : x == 'S' ? kSymbol : x == 'M' ? kMark : 0;
        if (bit == 0) fail(pos, "unsupported category \\p{" + std::string(1, x) + "}");
        s.classes |= bit;
        pos += 3;
        return -1;
      }
      case 'r': cp = '\r'; break;
      case 'n': cp = '\n'; break;
      case 't': cp = '\t'; break;
      case 'v': cp = '\v'; break;
      case 'f': cp = '\f'; break;
      default:
        if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9') ||
            static_cast<uint8_t>(e) >= 0x80) {
          fail(pos - 2, std::string("unsupported escape \\") + e);
        }
        cp = static_cast<uint8_t>(e);
    }
    s.ranges.push_back({cp, cp});
    return cp;
  }

  CharSet parse_class(size_t& pos) const {
    const size_t open = pos;
    CharSet s;
    ++pos;
    if (pos < pattern_.size() && pattern_[pos] == '^') {
      s.negated = true;
      ++pos;
    }
    bool first = true;
    while (true) {
      if (pos >= pattern_.size()) fail(open, "missing ']'");
      if (pattern_[pos] == ']' && !first) break;
      first = false;
      int64_t lo;
      if (pattern_[pos] == '\\') {
        CharSet one;
        lo = parse_escape(pos, one);
        if (lo < 0) {  // a class escape: merge it, no range possible
          s.classes |= one.classes;
          continue;
        }
      } else {
        lo = next_code_point(pos);
      }
      uint32_t hi = static_cast<uint32_t>(lo);
      if (pos + 1 < pattern_.size() && pattern_[pos] == '-' && pattern_[pos + 1] != ']') {
        ++pos;
        int64_t h;
        if (pattern_[pos] == '\\') {
          CharSet one;
          h = parse_escape(pos, one);
          if (h < 0) fail(pos, "class escape as a range end");
        } else {
          h = next_code_point(pos);
        }
        if (h < lo) fail(pos, "range out of order");
        hi = static_cast<uint32_t>(h);
      }
      s.ranges.push_back({static_cast<uint32_t>(lo), hi});
    }
    ++pos;
    return s;
  }

  std::string pattern_;
  std::vector<Node> nodes_;
  std::vector<CharSet> sets_;
  int root_ = -1;
};

}  // namespace trix::detail
