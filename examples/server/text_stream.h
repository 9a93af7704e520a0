// Generated ids -> text for trix-server, one token at a time: pieces are
// joined and released only up to the last complete UTF-8 character, and
// text that could still become one of the request's stop strings is held
// back until it either completes one (the text before it is the answer's
// end) or cannot any more.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace trix::server {

class TextStream {
 public:
  explicit TextStream(std::vector<std::string> stops) : stops_(std::move(stops)) {
    std::erase_if(stops_, [](const std::string& s) { return s.empty(); });
  }

  // Appends one token's bytes; returns the text that is now final. Once a
  // stop string has appeared, stopped() is true and nothing more comes out.
  std::string push(std::string_view piece) {
    if (stopped_) return {};
    held_ += piece;
    size_t first = std::string::npos;
    for (const auto& s : stops_) first = std::min(first, held_.find(s));
    if (first != std::string::npos) {
      stopped_ = true;
      std::string out = held_.substr(0, first);
      held_.clear();
      return out;
    }
    size_t keep = 0;  // the longest tail that is a proper prefix of a stop string
    for (const auto& s : stops_) {
      for (size_t k = std::min(s.size() - 1, held_.size()); k > keep; --k) {
        if (held_.compare(held_.size() - k, k, s, 0, k) == 0) {
          keep = k;
          break;
        }
      }
    }
    size_t end = complete_utf8_prefix(held_, held_.size() - keep);
    std::string out = held_.substr(0, end);
    held_.erase(0, end);
    return out;
  }

  // The end of the stream: whatever is held comes out (an incomplete UTF-8
  // sequence as it is; the JSON writer replaces it).
  std::string finish() {
    std::string out;
    out.swap(held_);
    return stopped_ ? std::string() : out;
  }

  bool stopped() const { return stopped_; }

  // The largest n <= end such that s[0, n) does not end inside an
  // incomplete UTF-8 sequence.
  static size_t complete_utf8_prefix(std::string_view s, size_t end) {
    for (size_t back = 1; back <= 4 && back <= end; ++back) {
      const auto c = static_cast<unsigned char>(s[end - back]);
      if ((c & 0xC0) == 0x80) continue;  // continuation byte: look further back
      const size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
      return back < len ? end - back : end;
    }
    return end;
  }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace trix::server
