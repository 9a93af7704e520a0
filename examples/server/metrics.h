// Prometheus text-format metrics for trix-server: counters and histograms
// the server keeps (requests by endpoint and status, cancellations, time to
// first token, inter-token latency) next to the engine's gauges, which the
// caller passes in at scrape time.
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace trix::server {

class Histogram {
 public:
  static constexpr std::array<double, 12> kBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                     0.1,   0.25,   0.5,   1.0,  2.5,   10.0};
  void observe(double v) {
    for (size_t i = 0; i < kBounds.size(); ++i) {
      if (v <= kBounds[i]) ++buckets_[i];
    }
    ++count_;
    sum_ += v;
  }
  void write(std::string& out, const std::string& name, const std::string& help) const {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += " histogram\n";
    char line[160];
    for (size_t i = 0; i < kBounds.size(); ++i) {
      std::snprintf(line, sizeof line, "%s_bucket{le=\"%g\"} %llu\n", name.c_str(), kBounds[i],
                    static_cast<unsigned long long>(buckets_[i]));
      out += line;
    }
    std::snprintf(line, sizeof line, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9g\n%s_count %llu\n",
                  name.c_str(), static_cast<unsigned long long>(count_), name.c_str(), sum_,
                  name.c_str(), static_cast<unsigned long long>(count_));
    out += line;
  }

 private:
  std::array<uint64_t, kBounds.size()> buckets_{};
  uint64_t count_ = 0;
  double sum_ = 0.0;
};

struct EngineGauges {
  int64_t queued = 0, running = 0, kv_used = 0, kv_total = 0;
  uint64_t prompt_tokens = 0, generated_tokens = 0, preemptions = 0;
};

class Metrics {
 public:
  void request(const std::string& endpoint, int status) {
    std::lock_guard lock(mu_);
    ++requests_[{endpoint, status}];
  }
  void cancelled() {
    std::lock_guard lock(mu_);
    ++cancelled_;
  }
  void ttft(double s) {
    std::lock_guard lock(mu_);
    ttft_.observe(s);
  }
  void itl(double s) {
    std::lock_guard lock(mu_);
    itl_.observe(s);
  }

  std::string render(const EngineGauges& g) const {
    std::lock_guard lock(mu_);
    std::string out;
    out += "# HELP trix_requests_total HTTP requests answered, by endpoint and status.\n";
    out += "# TYPE trix_requests_total counter\n";
    for (const auto& [key, n] : requests_) {
      out += "trix_requests_total{endpoint=\"";
      out += key.first;
      out += "\",status=\"";
      out += std::to_string(key.second);
      out += "\"} ";
      out += std::to_string(n);
      out += '\n';
    }
    const auto metric = [&](const char* name, const char* type, const char* help, double v) {
      char line[256];
      std::snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s %s\n%s %.9g\n", name, help, name,
                    type, name, v);
      out += line;
    };
    metric("trix_requests_cancelled_total", "counter",
           "Generations cancelled because the client went away or timed out.",
           static_cast<double>(cancelled_));
    metric("trix_prompt_tokens_total", "counter", "Prompt tokens run through the model.",
           static_cast<double>(g.prompt_tokens));
    metric("trix_generated_tokens_total", "counter", "Tokens generated.",
           static_cast<double>(g.generated_tokens));
    metric("trix_preemptions_total", "counter", "Sequences preempted by the engine.",
           static_cast<double>(g.preemptions));
    metric("trix_queue_depth", "gauge", "Requests waiting for their first forward pass.",
           static_cast<double>(g.queued));
    metric("trix_running_sequences", "gauge", "Sequences holding KV-cache memory.",
           static_cast<double>(g.running));
    metric("trix_kv_cache_blocks_used", "gauge", "KV-cache blocks in use.",
           static_cast<double>(g.kv_used));
    metric("trix_kv_cache_blocks_total", "gauge", "KV-cache blocks in all.",
           static_cast<double>(g.kv_total));
    metric("trix_kv_cache_utilization", "gauge", "Fraction of the KV cache in use (0..1).",
           g.kv_total > 0 ? static_cast<double>(g.kv_used) / static_cast<double>(g.kv_total) : 0.0);
    ttft_.write(out, "trix_time_to_first_token_seconds",
                "Time from a request's arrival to its first generated token.");
    itl_.write(out, "trix_inter_token_latency_seconds", "Time between consecutive generated tokens.");
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  uint64_t cancelled_ = 0;
  Histogram ttft_, itl_;
};

}  // namespace trix::server
