// trix-server: an OpenAI-compatible HTTP server on a serve::Engine.
//
//   trix-server -m model.gguf [--host 127.0.0.1] [--port 8080] [--ctx N]
//               [--parallel N] [--threads N] [--api-key KEY] [--chat-template NAME]
//               [--alias NAME] [--max-body BYTES] [--max-tokens N] [--max-queue N]
//               [--timeout S] [--read-timeout S] [--write-timeout S] [--http-threads N]
//
// Endpoints: POST /v1/chat/completions, POST /v1/completions (both streaming
// as server-sent events or not), GET /v1/models, GET /health (503 while the
// model loads), POST /tokenize, POST /detokenize, GET /metrics (Prometheus).
// Request bodies are checked field by field: a parameter this server does
// not support, a wrong type or a value out of range is a 400 in OpenAI's
// error JSON, never silently ignored. With --api-key every /v1, /tokenize
// and /detokenize request needs "Authorization: Bearer KEY" (401 otherwise).
//
// The engine is serve::BatchEngine: up to --parallel sequences decoded
// together in one step (continuous batching over a paged, prefix-cached KV
// pool holding --parallel full contexts).
#include <dirent.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "chat_template.h"
#include "metrics.h"
#include "text_stream.h"
#include "trix/core/error.h"
#include "trix/core/thread_pool.h"
#include "trix/runtime/loader.h"
#include "trix/serve/batch_engine.h"

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using trix::serve::FinishReason;
using trix::serve::TokenEvent;

// ---------------------------------------------------------------- options

struct Options {
  std::string model, alias, host = "127.0.0.1", api_key, chat_template;
  int port = 8080;
  int64_t ctx = 0;  // 0: min(model's, 4096)
  int parallel = 4;  // sequences decoded together (llama-server's default is 4 too)
  int threads = 0;  // 0: hardware concurrency
  // 0: --parallel + --max-queue + 16, at most 1024. A streaming response holds its HTTP
  // thread from the request to [DONE] (queued ones too), and an idle
  // keep-alive connection holds one until its 5 s timeout: with fewer
  // threads than streams, a new request waits seconds for a free thread
  // (measured: 16 threads, 16 streaming clients, TTFT p99 2.7 s).
  int http_threads = 0;
  size_t max_body = 1 << 20;
  int64_t max_tokens = 0;  // per-request cap on max_tokens; 0: the context
  int64_t max_queue = 64;
  double timeout = 600.0;  // seconds a generation may take in all
  int read_timeout = 10, write_timeout = 10;
};

const char* kUsage =
    "usage: trix-server -m model.gguf [--host H] [--port P] [--ctx N] [--parallel N]\n"
    "       [--threads N] [--api-key KEY] [--chat-template NAME|JINJA] [--alias NAME]\n"
    "       [--max-body BYTES] [--max-tokens N] [--max-queue N] [--timeout SECONDS]\n"
    "       [--read-timeout SECONDS] [--write-timeout SECONDS] [--http-threads N]\n";

struct UsageError {
  std::string what;
};

int64_t parse_int(const std::string& flag, const std::string& v, int64_t lo, int64_t hi) {
  size_t used = 0;
  int64_t x = 0;
  try {
    x = std::stoll(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != v.size() || v.empty() || x < lo || x > hi) {
    throw UsageError{flag + " expects an integer in [" + std::to_string(lo) + ", " +
                     std::to_string(hi) + "], got '" + v + "'"};
  }
  return x;
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (i + 1 >= argc) throw UsageError{"unknown option or missing value: " + a};
    const std::string v = argv[++i];
    if (a == "-m" || a == "--model") o.model = v;
    else if (a == "--alias") o.alias = v;
    else if (a == "--host") o.host = v;
    else if (a == "--port") o.port = static_cast<int>(parse_int(a, v, 0, 65535));
    else if (a == "--ctx") o.ctx = parse_int(a, v, 2, 1 << 24);
    else if (a == "--parallel") o.parallel = static_cast<int>(parse_int(a, v, 1, 1024));
    else if (a == "--threads") o.threads = static_cast<int>(parse_int(a, v, 1, 1024));
    else if (a == "--http-threads") o.http_threads = static_cast<int>(parse_int(a, v, 1, 4096));
    else if (a == "--api-key") o.api_key = v;
    else if (a == "--chat-template") o.chat_template = v;
    else if (a == "--max-body") o.max_body = static_cast<size_t>(parse_int(a, v, 64, int64_t{1} << 32));
    else if (a == "--max-tokens") o.max_tokens = parse_int(a, v, 1, 1 << 24);
    else if (a == "--max-queue") o.max_queue = parse_int(a, v, 1, 1 << 20);
    else if (a == "--timeout") o.timeout = static_cast<double>(parse_int(a, v, 1, 86400));
    else if (a == "--read-timeout") o.read_timeout = static_cast<int>(parse_int(a, v, 1, 3600));
    else if (a == "--write-timeout") o.write_timeout = static_cast<int>(parse_int(a, v, 1, 3600));
    else throw UsageError{"unknown option: " + a};
  }
  if (o.model.empty()) throw UsageError{"-m model.gguf is required"};
  if (o.alias.empty()) o.alias = std::filesystem::path(o.model).stem().string();
  return o;
}

// ---------------------------------------------------------------- errors

// An answer other than 200, in OpenAI's error JSON.
struct ApiError {
  int status = 400;
  std::string message;
  std::string param;
  std::string code;
  std::string type = "invalid_request_error";
};

[[noreturn]] void bad(std::string message, std::string param = {}, std::string code = {}) {
  throw ApiError{400, std::move(message), std::move(param), std::move(code)};
}

json error_json(const ApiError& e) {
  json err = {{"message", e.message}, {"type", e.type}};
  err["param"] = e.param.empty() ? json(nullptr) : json(e.param);
  err["code"] = e.code.empty() ? json(nullptr) : json(e.code);
  return json{{"error", err}};
}

// JSON text; invalid UTF-8 (a byte token cut mid-character) becomes U+FFFD.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// ---------------------------------------------------------------- request fields

// Typed access to a request object's fields; null counts as absent.
class Fields {
 public:
  Fields(const json& j, std::initializer_list<std::string_view> allowed) : j_(j) {
    if (!j.is_object()) bad("the request body must be a JSON object");
    for (const auto& [key, value] : j.items()) {
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        bad("unsupported parameter '" + key + "'", key, "unsupported_parameter");
      }
    }
  }

  const json* get(const std::string& key) const {
    auto it = j_.find(key);
    return it == j_.end() || it->is_null() ? nullptr : &*it;
  }

  std::optional<double> number(const std::string& key, double lo, double hi) const {
    const json* v = get(key);
    if (!v) return std::nullopt;
    if (!v->is_number()) bad("'" + key + "' must be a number", key, "invalid_type");
    const double x = v->get<double>();
    if (!(x >= lo && x <= hi)) {
      bad("'" + key + "' must be in [" + num(lo) + ", " + num(hi) + "], got " + num(x), key,
          "invalid_value");
    }
    return x;
  }
  std::optional<int64_t> integer(const std::string& key, int64_t lo, int64_t hi) const {
    const json* v = get(key);
    if (!v) return std::nullopt;
    if (!v->is_number_integer()) bad("'" + key + "' must be an integer", key, "invalid_type");
    if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(hi)) {
      bad("'" + key + "' must be at most " + std::to_string(hi), key, "invalid_value");
    }
    const int64_t x = v->get<int64_t>();
    if (x < lo || x > hi) {
      bad("'" + key + "' must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
              std::to_string(x),
          key, "invalid_value");
    }
    return x;
  }
  std::optional<bool> boolean(const std::string& key) const {
    const json* v = get(key);
    if (!v) return std::nullopt;
    if (!v->is_boolean()) bad("'" + key + "' must be a boolean", key, "invalid_type");
    return v->get<bool>();
  }
  std::optional<std::string> string(const std::string& key) const {
    const json* v = get(key);
    if (!v) return std::nullopt;
    if (!v->is_string()) bad("'" + key + "' must be a string", key, "invalid_type");
    return v->get<std::string>();
  }

 private:
  static std::string num(double x) {
    char b[32];
    std::snprintf(b, sizeof b, "%g", x);
    return b;
  }
  const json& j_;
};

// ---------------------------------------------------------------- generation settings

struct Generation {
  std::vector<int32_t> prompt;
  trix::serve::Request request;
  std::vector<std::string> stops;
  bool stream = false;
  bool include_usage = false;
  bool chat = false;
};

// The fields both endpoints share: sampling, limits, stop, n, streaming.
void parse_common(const Fields& f, const Options& opt, int64_t ctx, Generation& g) {
  if (const json* m = f.get("model"); m && !m->is_string()) bad("'model' must be a string", "model");
  trix::SamplerConfig& s = g.request.sampling;
  s.temperature = static_cast<float>(f.number("temperature", 0.0, 2.0).value_or(1.0));
  s.top_p = static_cast<float>(f.number("top_p", 0.0, 1.0).value_or(1.0));
  if (s.top_p == 0.0f) s.top_p = 1e-6f;  // OpenAI accepts 0: only the most likely survive
  s.top_k = static_cast<int32_t>(f.integer("top_k", 0, 1 << 20).value_or(0));
  s.min_p = static_cast<float>(f.number("min_p", 0.0, 1.0).value_or(0.0));
  s.presence_penalty = static_cast<float>(f.number("presence_penalty", -2.0, 2.0).value_or(0.0));
  s.frequency_penalty = static_cast<float>(f.number("frequency_penalty", -2.0, 2.0).value_or(0.0));
  s.repetition_window = static_cast<int32_t>(std::min<int64_t>(ctx, INT32_MAX));
  if (auto seed = f.integer("seed", INT64_MIN, INT64_MAX)) {
    s.seed = static_cast<uint64_t>(*seed);
  } else {
    s.seed = std::random_device{}();
  }
  g.request.n = static_cast<int32_t>(f.integer("n", 1, 16).value_or(1));
  g.stream = f.boolean("stream").value_or(false);
  if (const json* so = f.get("stream_options")) {
    if (!so->is_object()) bad("'stream_options' must be an object", "stream_options", "invalid_type");
    if (!g.stream) bad("'stream_options' is only allowed with stream: true", "stream_options");
    const Fields sf(*so, {"include_usage"});
    g.include_usage = sf.boolean("include_usage").value_or(false);
  }
  if (const json* stop = f.get("stop")) {
    if (stop->is_string()) {
      g.stops.push_back(stop->get<std::string>());
    } else if (stop->is_array() && stop->size() <= 4) {
      for (const auto& s1 : *stop) {
        if (!s1.is_string()) bad("'stop' must be a string or an array of up to 4 strings", "stop", "invalid_type");
        g.stops.push_back(s1.get<std::string>());
      }
    } else {
      bad("'stop' must be a string or an array of up to 4 strings", "stop", "invalid_type");
    }
  }
  (void)f.string("user");  // accepted (an end-user id for abuse tracking); not used
  if (const json* lb = f.get("logit_bias"); lb && !(lb->is_object() && lb->empty())) {
    bad("'logit_bias' is not supported", "logit_bias", "unsupported_parameter");
  }
  const int64_t cap = opt.max_tokens > 0 ? opt.max_tokens : ctx;
  const char* key = f.get("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  if (auto m = f.integer(key, 0, INT64_MAX)) {
    if (*m > cap) {
      bad(std::string("'") + key + "' is " + std::to_string(*m) + ", more than this server's limit of " +
              std::to_string(cap),
          key, "invalid_value");
    }
    g.request.max_new_tokens = *m;
  } else {
    g.request.max_new_tokens = g.chat ? cap : std::min<int64_t>(16, cap);
  }
}

// ---------------------------------------------------------------- one running request

// Engine events for one request, handed from the engine's thread to the
// HTTP thread that answers it.
struct Channel {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<TokenEvent> events;
  std::atomic<bool> abandoned{false};
};

struct Choice {
  explicit Choice(std::vector<std::string> stops) : text(std::move(stops)) {}
  trix::server::TextStream text;
  std::string content;
  int64_t tokens = 0;
  bool done = false;
  std::string finish;  // "stop", "length"
  json logprobs = json::array();
};

// What one step of a request produced for one choice.
struct Delta {
  int32_t index = 0;
  std::string text;
  std::string finish;  // set on the choice's last delta
  json logprobs;       // per-token entries (array), or null
};

class Server;

class Run {
 public:
  Run(Server& s, Generation g);
  ~Run();
  // Waits (up to `wait`) for events and turns them into deltas; false once
  // every choice is done. Throws ApiError on an engine error or timeout.
  bool step(std::vector<Delta>& out, std::chrono::milliseconds wait);
  void abandon();  // the client went away
  const Generation& gen() const { return g_; }
  const std::vector<Choice>& choices() const { return choices_; }
  int64_t completion_tokens() const {
    int64_t n = 0;
    for (const auto& c : choices_) n += c.tokens;
    return n;
  }
  const std::string& id() const { return id_; }
  int64_t created() const { return created_; }

 private:
  json token_logprobs(const TokenEvent& ev) const;

  Server& s_;
  Generation g_;
  std::shared_ptr<Channel> ch_ = std::make_shared<Channel>();
  std::vector<Choice> choices_;
  trix::serve::RequestId rid_ = 0;
  bool finished_ = false;
  Clock::time_point deadline_;
  std::string id_;
  int64_t created_ = 0;
};

// ---------------------------------------------------------------- the server

class Server {
 public:
  explicit Server(Options o) : opt_(std::move(o)) {}

  void load() {
    model_ = std::make_unique<trix::LoadedModel>(trix::load_model(opt_.model));
    const trix::RuntimeShape shape = trix::RuntimeShape::from(model_->config);
    const int64_t ctx = opt_.ctx > 0 ? opt_.ctx : std::min<int64_t>(shape.context_length, 4096);
    if (ctx > shape.context_length) {
      throw trix::Error("--ctx " + std::to_string(ctx) + " exceeds the model's context length " +
                        std::to_string(shape.context_length));
    }
    if (!opt_.chat_template.empty()) {
      chat_ = trix::server::detect_chat_template(opt_.chat_template, "--chat-template");
    } else if (model_->gguf.has("tokenizer.chat_template")) {
      // An unknown template is reported at start-up but only chat requests fail.
      try {
        chat_ = trix::server::detect_chat_template(model_->gguf.get_string("tokenizer.chat_template"),
                                                   opt_.model + ": tokenizer.chat_template");
      } catch (const trix::Error& e) {
        chat_error_ = e.what();
        std::fprintf(stderr, "warning: %s\n", e.what());
      }
    } else {
      chat_error_ = opt_.model + ": the model has no tokenizer.chat_template; start the server with "
                                 "--chat-template NAME (" +
                    trix::server::chat_template_names() + ") to use /v1/chat/completions";
    }
    pool_ = std::make_unique<trix::ThreadPool>(opt_.threads > 0 ? opt_.threads
                                                                : std::max(1u, std::thread::hardware_concurrency()));
    trix::serve::BatchEngineOptions eo;
    eo.context_length = ctx;
    eo.max_running = opt_.parallel;
    engine_ = std::make_unique<trix::serve::BatchEngine<>>(shape, model_->prepared, *pool_, eo);
    stop_ids_ = model_->tokenizer.eog_ids();
    if (model_->tokenizer.eos() >= 0) stop_ids_.push_back(model_->tokenizer.eos());
    loaded_.store(true);
  }

  void routes(httplib::Server& http) {
    http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
      if (!loaded_.load()) {
        send_error(res, "/health", ApiError{503, "loading model", {}, {}, "unavailable_error"});
        return;
      }
      send(res, "/health", 200, json{{"status", "ok"}});
    });
    http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      trix::server::EngineGauges g;
      if (loaded_.load()) {
        const auto s = engine_->stats();
        g = {s.queued, s.running, s.kv_blocks_used, s.kv_blocks_total,
             s.prompt_tokens_total, s.generated_tokens_total, s.preemptions_total};
      }
      metrics_.request("/metrics", 200);
      res.set_content(metrics_.render(g), "text/plain; version=0.0.4");
    });
    api(http, "GET", "/v1/models", [this](const httplib::Request&, httplib::Response& res) {
      json m = {{"id", opt_.alias}, {"object", "model"}, {"created", started_}, {"owned_by", "trix"}};
      send(res, "/v1/models", 200, json{{"object", "list"}, {"data", json::array({m})}});
    });
    api(http, "POST", "/tokenize", [this](const httplib::Request& req, httplib::Response& res) {
      const json body = parse_body(req);
      const Fields f(body, {"content", "add_special", "parse_special", "with_pieces"});
      const auto content = f.string("content");
      if (!content) bad("'content' is required", "content");
      const bool pieces = f.boolean("with_pieces").value_or(false);
      const auto ids = model_->tokenizer.encode(*content, f.boolean("add_special").value_or(false),
                                                f.boolean("parse_special").value_or(true));
      json tokens = json::array();
      for (int32_t id : ids) {
        if (pieces) {
          tokens.push_back({{"id", id}, {"piece", model_->tokenizer.token_to_piece(id, true)}});
        } else {
          tokens.push_back(id);
        }
      }
      send(res, "/tokenize", 200, json{{"tokens", tokens}});
    });
    api(http, "POST", "/detokenize", [this](const httplib::Request& req, httplib::Response& res) {
      const json body = parse_body(req);
      const Fields f(body, {"tokens"});
      const json* t = f.get("tokens");
      if (!t || !t->is_array()) bad("'tokens' must be an array of token ids", "tokens", "invalid_type");
      const std::vector<int32_t> ids = token_ids(*t, "tokens");
      trix::DecodeOptions d;
      d.render_special = true;
      send(res, "/detokenize", 200, json{{"content", model_->tokenizer.decode(ids, d)}});
    });
    api(http, "POST", "/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
      generate(req, res, false);
    });
    api(http, "POST", "/v1/chat/completions",
        [this](const httplib::Request& req, httplib::Response& res) { generate(req, res, true); });
  }

  const Options& opt() const { return opt_; }
  trix::serve::Engine& engine() { return *engine_; }
  const trix::Tokenizer& tokenizer() const { return model_->tokenizer; }
  trix::server::Metrics& metrics() { return metrics_; }
  int64_t started() const { return started_; }

 private:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

  // Registers an endpoint that needs the model and (with --api-key) the key;
  // turns ApiError and trix::Error into error answers.
  void api(httplib::Server& http, const char* method, const std::string& path, Handler h) {
    auto wrapped = [this, path, h](const httplib::Request& req, httplib::Response& res) {
      try {
        if (!opt_.api_key.empty()) {
          const std::string want = "Bearer " + opt_.api_key;
          if (req.get_header_value("Authorization") != want) {
            throw ApiError{401, "invalid or missing API key (send Authorization: Bearer KEY)", {},
                           "invalid_api_key"};
          }
        }
        if (!loaded_.load()) throw ApiError{503, "loading model", {}, {}, "unavailable_error"};
        h(req, res);
      } catch (const ApiError& e) {
        send_error(res, path, e);
      } catch (const trix::Error& e) {
        send_error(res, path, ApiError{400, e.what(), {}, {}});
      } catch (const std::exception& e) {
        send_error(res, path, ApiError{500, e.what(), {}, {}, "server_error"});
      }
    };
    if (std::string_view(method) == "GET") http.Get(path, wrapped);
    else http.Post(path, wrapped);
  }

  void send(httplib::Response& res, const std::string& endpoint, int status, const json& body) {
    res.status = status;
    res.set_content(dump(body), "application/json");
    metrics_.request(endpoint, status);
  }
  void send_error(httplib::Response& res, const std::string& endpoint, const ApiError& e) {
    if (e.status == 503 && loaded_.load()) res.set_header("Retry-After", "1");
    send(res, endpoint, e.status, error_json(e));
  }

  static json parse_body(const httplib::Request& req) {
    try {
      return json::parse(req.body);
    } catch (const json::parse_error& e) {
      bad(std::string("the request body is not valid JSON (or not UTF-8): ") + e.what(), {},
          "invalid_json");
    }
  }

  std::vector<int32_t> token_ids(const json& arr, const std::string& param) const {
    std::vector<int32_t> ids;
    const auto n_vocab = static_cast<int64_t>(model_->tokenizer.n_tokens());
    for (const auto& v : arr) {
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= n_vocab) {
        bad("'" + param + "' must hold token ids in [0, " + std::to_string(n_vocab) + ")", param,
            "invalid_value");
      }
      ids.push_back(static_cast<int32_t>(v.get<int64_t>()));
    }
    return ids;
  }

  std::vector<int32_t> encode_prompt(const std::string& text) const {
    const trix::Tokenizer& tok = model_->tokenizer;
    std::vector<int32_t> ids = tok.encode(text, /*add_special=*/true, /*parse_special=*/true);
    if ((ids.empty() || ids.front() != tok.bos()) && tok.bos() >= 0) ids.insert(ids.begin(), tok.bos());
    return ids;
  }

  Generation parse_chat(const json& body) {
    Generation g;
    g.chat = true;
    const Fields f(body, {"model", "messages", "temperature", "top_p", "top_k", "min_p", "seed",
                          "max_tokens", "max_completion_tokens", "stop", "presence_penalty",
                          "frequency_penalty", "n", "logprobs", "top_logprobs", "stream",
                          "stream_options", "user", "logit_bias"});
    const json* msgs = f.get("messages");
    if (!msgs || !msgs->is_array() || msgs->empty()) {
      bad("'messages' must be a non-empty array", "messages", "invalid_type");
    }
    std::vector<trix::server::ChatMessage> chat;
    for (size_t i = 0; i < msgs->size(); ++i) {
      const std::string p = "messages[" + std::to_string(i) + "]";
      const json& m = (*msgs)[i];
      if (!m.is_object()) bad(p + " must be an object", p, "invalid_type");
      const Fields mf(m, {"role", "content", "name"});
      const auto role = mf.string("role");
      if (!role || (*role != "system" && *role != "user" && *role != "assistant" && *role != "developer")) {
        bad(p + ".role must be one of system, developer, user, assistant", p + ".role", "invalid_value");
      }
      std::string content;
      const json* c = mf.get("content");
      if (c && c->is_string()) {
        content = c->get<std::string>();
      } else if (c && c->is_array()) {
        for (const auto& part : *c) {
          if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
              !part["text"].is_string()) {
            bad(p + ".content parts must be {\"type\": \"text\", \"text\": ...} (no images or audio)",
                p + ".content", "invalid_type");
          }
          content += part["text"].get<std::string>();
        }
      } else {
        bad(p + ".content must be a string or an array of text parts", p + ".content", "invalid_type");
      }
      chat.push_back({*role == "developer" ? "system" : *role, content});
    }
    if (!chat_) {
      throw ApiError{400, chat_error_, "messages", "no_chat_template"};
    }
    g.prompt = encode_prompt(trix::server::render_chat(*chat_, chat));
    parse_common(f, opt_, engine_->context_length(), g);
    const bool lp = f.boolean("logprobs").value_or(false);
    const auto top = f.integer("top_logprobs", 0, 20);
    if (top && !lp) bad("'top_logprobs' needs 'logprobs': true", "top_logprobs");
    g.request.top_logprobs = lp ? static_cast<int32_t>(top.value_or(0)) : -1;
    return g;
  }

  Generation parse_completion(const json& body) {
    Generation g;
    const Fields f(body, {"model", "prompt", "temperature", "top_p", "top_k", "min_p", "seed",
                          "max_tokens", "stop", "presence_penalty", "frequency_penalty", "n",
                          "logprobs", "stream", "stream_options", "user", "logit_bias", "echo",
                          "best_of", "suffix"});
    const json* p = f.get("prompt");
    if (!p) bad("'prompt' is required", "prompt");
    if (p->is_string()) {
      g.prompt = encode_prompt(p->get<std::string>());
    } else if (p->is_array() && p->size() == 1 && (*p)[0].is_string()) {
      g.prompt = encode_prompt((*p)[0].get<std::string>());
    } else if (p->is_array() && !p->empty() && (*p)[0].is_number_integer()) {
      g.prompt = token_ids(*p, "prompt");
    } else {
      bad("'prompt' must be a string, an array of one string, or an array of token ids", "prompt",
          "invalid_type");
    }
    parse_common(f, opt_, engine_->context_length(), g);
    if (f.boolean("echo").value_or(false)) bad("'echo' is not supported", "echo", "unsupported_parameter");
    if (f.string("suffix")) bad("'suffix' is not supported", "suffix", "unsupported_parameter");
    if (auto b = f.integer("best_of", 1, 16); b && *b != g.request.n) {
      bad("'best_of' other than n is not supported", "best_of", "unsupported_parameter");
    }
    const auto lp = f.integer("logprobs", 0, 5);
    g.request.top_logprobs = lp ? static_cast<int32_t>(*lp) : -1;
    return g;
  }

  void generate(const httplib::Request& req, httplib::Response& res, bool chat) {
    const std::string endpoint = chat ? "/v1/chat/completions" : "/v1/completions";
    const json body = parse_body(req);
    Generation g = chat ? parse_chat(body) : parse_completion(body);
    const int64_t ctx = engine_->context_length();
    if (static_cast<int64_t>(g.prompt.size()) + 1 > ctx) {
      bad("the prompt has " + std::to_string(g.prompt.size()) + " tokens; this server's context of " +
              std::to_string(ctx) + " tokens leaves no room for the answer",
          chat ? "messages" : "prompt", "context_length_exceeded");
    }
    if (engine_->stats().queued >= opt_.max_queue) {
      throw ApiError{503, "the server is busy (request queue full); retry shortly", {}, "queue_full",
                     "server_error"};
    }
    g.request.prompt = g.prompt;
    g.request.stop_ids = stop_ids_;
    auto run = std::make_shared<Run>(*this, std::move(g));
    if (run->gen().stream) {
      stream(res, endpoint, run);
    } else {
      complete(res, endpoint, *run);
    }
  }

  json usage(const Run& run) const {
    const auto p = static_cast<int64_t>(run.gen().prompt.size());
    const int64_t c = run.completion_tokens();
    return json{{"prompt_tokens", p}, {"completion_tokens", c}, {"total_tokens", p + c}};
  }

  json choice_logprobs(const Run& run, const json& entries) const {
    if (run.gen().request.top_logprobs < 0) return nullptr;
    if (run.gen().chat) return json{{"content", entries}};
    json tokens = json::array(), lps = json::array(), tops = json::array(), offsets = json::array();
    for (const auto& e : entries) {
      tokens.push_back(e["token"]);
      lps.push_back(e["logprob"]);
      json t = json::object();
      for (const auto& alt : e["top_logprobs"]) t[alt["token"].get<std::string>()] = alt["logprob"];
      tops.push_back(t);
    }
    return json{{"tokens", tokens}, {"token_logprobs", lps}, {"top_logprobs", tops}, {"text_offset", offsets}};
  }

  void complete(httplib::Response& res, const std::string& endpoint, Run& run) {
    std::vector<Delta> deltas;
    while (run.step(deltas, std::chrono::milliseconds(100))) deltas.clear();
    json choices = json::array();
    for (size_t i = 0; i < run.choices().size(); ++i) {
      const Choice& c = run.choices()[i];
      json ch = {{"index", i}, {"finish_reason", c.finish}, {"logprobs", choice_logprobs(run, c.logprobs)}};
      if (run.gen().chat) {
        ch["message"] = {{"role", "assistant"}, {"content", c.content}};
      } else {
        ch["text"] = c.content;
      }
      choices.push_back(ch);
    }
    json out = {{"id", run.id()},
                {"object", run.gen().chat ? "chat.completion" : "text_completion"},
                {"created", run.created()},
                {"model", opt_.alias},
                {"choices", choices},
                {"usage", usage(run)}};
    send(res, endpoint, 200, out);
  }

  json chunk(const Run& run, json choices) const {
    json c = {{"id", run.id()},
              {"object", run.gen().chat ? "chat.completion.chunk" : "text_completion"},
              {"created", run.created()},
              {"model", opt_.alias},
              {"choices", std::move(choices)}};
    if (run.gen().include_usage) c["usage"] = nullptr;
    return c;
  }

  void stream(httplib::Response& res, const std::string& endpoint, std::shared_ptr<Run> run) {
    metrics_.request(endpoint, 200);
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");  // nginx: pass events through at once
    auto state = std::make_shared<int>(0);       // 0: role chunk due, 1: streaming, 2: done
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, run, state](size_t, httplib::DataSink& sink) {
          const auto event = [&](const json& j) {
            std::string s = "data: ";
            s += dump(j);
            s += "\n\n";
            return sink.write(s.data(), s.size());
          };
          if (*state == 0) {
            *state = 1;
            if (run->gen().chat) {
              json choices = json::array();
              for (int32_t i = 0; i < run->gen().request.n; ++i) {
                choices.push_back({{"index", i},
                                   {"delta", {{"role", "assistant"}, {"content", ""}}},
                                   {"logprobs", nullptr},
                                   {"finish_reason", nullptr}});
              }
              if (!event(chunk(*run, choices))) return false;
            }
          }
          std::vector<Delta> deltas;
          bool more = true;
          try {
            more = run->step(deltas, std::chrono::milliseconds(50));
          } catch (const ApiError& e) {
            event(error_json(e));
            sink.write("data: [DONE]\n\n", 14);
            sink.done();
            *state = 2;
            return true;
          }
          for (const Delta& d : deltas) {
            json ch = {{"index", d.index},
                       {"logprobs", d.logprobs.is_null() ? json(nullptr) : choice_logprobs(*run, d.logprobs)},
                       {"finish_reason", d.finish.empty() ? json(nullptr) : json(d.finish)}};
            if (run->gen().chat) {
              ch["delta"] = d.text.empty() && !d.finish.empty() ? json::object() : json{{"content", d.text}};
            } else {
              ch["text"] = d.text;
            }
            if (!event(chunk(*run, json::array({ch})))) return false;
          }
          if (deltas.empty() && !sink.is_writable()) return false;
          if (!more) {
            if (run->gen().include_usage) {
              json u = chunk(*run, json::array());
              u["usage"] = usage(*run);
              if (!event(u)) return false;
            }
            if (!sink.write("data: [DONE]\n\n", 14)) return false;
            sink.done();
            *state = 2;
          }
          return true;
        },
        [run](bool) { run->abandon(); });
  }

  Options opt_;
  std::atomic<bool> loaded_{false};
  std::unique_ptr<trix::LoadedModel> model_;
  std::unique_ptr<trix::ThreadPool> pool_;
  std::unique_ptr<trix::serve::Engine> engine_;
  std::optional<trix::server::ChatTemplate> chat_;
  std::string chat_error_;
  std::vector<int32_t> stop_ids_;
  trix::server::Metrics metrics_;
  const int64_t started_ = static_cast<int64_t>(std::time(nullptr));
};

// ---------------------------------------------------------------- Run

// cpp-httplib 0.11 listens with a backlog of 5 (compiled into Debian's
// library), so a burst of connections overflows the accept queue and
// clients stall in SYN retries. Listening again on the same socket only
// changes the backlog: find our listening socket among the open descriptors.
void widen_listen_backlog(int port) {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return;
  while (const dirent* e = readdir(dir)) {
    const int fd = std::atoi(e->d_name);
    if (fd <= 2) continue;
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) continue;
    int bound = -1;
    if (addr.ss_family == AF_INET) bound = ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
    if (addr.ss_family == AF_INET6) bound = ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
    int accepting = 0;
    socklen_t alen = sizeof accepting;
    if (bound == port && getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &alen) == 0 && accepting) {
      listen(fd, SOMAXCONN);
    }
  }
  closedir(dir);
}

std::string random_id(const char* prefix) {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t salt = (uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
  char b[64];
  std::snprintf(b, sizeof b, "%s%016llx%04llx", prefix, static_cast<unsigned long long>(salt),
                static_cast<unsigned long long>(counter.fetch_add(1) & 0xffff));
  return b;
}

Run::Run(Server& s, Generation g) : s_(s), g_(std::move(g)) {
  for (int32_t i = 0; i < g_.request.n; ++i) choices_.emplace_back(g_.stops);
  id_ = random_id(g_.chat ? "chatcmpl-" : "cmpl-");
  created_ = static_cast<int64_t>(std::time(nullptr));
  deadline_ = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(s_.opt().timeout * 1000));
  // The sink runs on the engine's thread: queue the event, time it.
  struct Timing {
    Clock::time_point start = Clock::now();
    bool first = true;
    std::vector<Clock::time_point> last;
  };
  auto timing = std::make_shared<Timing>();
  timing->last.resize(static_cast<size_t>(g_.request.n));
  auto ch = ch_;
  trix::server::Metrics* metrics = &s_.metrics();
  rid_ = s_.engine().submit(g_.request, [ch, timing, metrics](const TokenEvent& ev) {
    if (ch->abandoned.load()) return false;
    if (ev.token >= 0) {
      const auto now = Clock::now();
      auto& last = timing->last[static_cast<size_t>(ev.index)];
      if (timing->first) {
        metrics->ttft(std::chrono::duration<double>(now - timing->start).count());
        timing->first = false;
      } else if (last != Clock::time_point{}) {
        metrics->itl(std::chrono::duration<double>(now - last).count());
      }
      last = now;
    }
    {
      std::lock_guard lock(ch->mu);
      ch->events.push_back(ev);
    }
    ch->cv.notify_all();
    return true;
  });
}

Run::~Run() { abandon(); }

void Run::abandon() {
  if (finished_ || ch_->abandoned.exchange(true)) return;
  s_.engine().cancel(rid_);
  s_.metrics().cancelled();
}

json Run::token_logprobs(const TokenEvent& ev) const {
  const trix::Tokenizer& tok = s_.tokenizer();
  const auto entry = [&](int32_t id, float lp) {
    const std::string piece = tok.token_to_piece(id, true);
    json bytes = json::array();
    for (unsigned char c : piece) bytes.push_back(c);
    return json{{"token", piece}, {"logprob", lp}, {"bytes", bytes}};
  };
  json e = entry(ev.token, ev.logprob);
  json top = json::array();
  for (const auto& t : ev.top) top.push_back(entry(t.id, t.logprob));
  e["top_logprobs"] = top;
  return e;
}

bool Run::step(std::vector<Delta>& out, std::chrono::milliseconds wait) {
  if (finished_) return false;
  std::deque<TokenEvent> events;
  {
    std::unique_lock lock(ch_->mu);
    ch_->cv.wait_for(lock, wait, [&] { return !ch_->events.empty(); });
    events.swap(ch_->events);
  }
  const trix::Tokenizer& tok = s_.tokenizer();
  for (const TokenEvent& ev : events) {
    Choice& c = choices_[static_cast<size_t>(ev.index)];
    if (c.done) continue;
    Delta d;
    d.index = ev.index;
    if (ev.token >= 0) {
      ++c.tokens;
      trix::DecodeOptions o;
      o.strip_space_prefix = false;
      d.text = c.text.push(tok.decode(std::span<const int32_t>(&ev.token, 1), o));
      if (g_.request.top_logprobs >= 0) {
        d.logprobs = json::array({token_logprobs(ev)});
        c.logprobs.push_back(d.logprobs[0]);
      }
      if (c.text.stopped()) d.finish = "stop";
    }
    if (ev.finish == FinishReason::Error) {
      finished_ = true;
      throw ApiError{500, "generation failed: " + ev.error, {}, {}, "server_error"};
    }
    if (ev.finish != FinishReason::None && d.finish.empty()) {
      d.text += c.text.finish();
      d.finish = ev.finish == FinishReason::Stop ? "stop" : "length";
    }
    c.content += d.text;
    if (!d.finish.empty()) {
      c.done = true;
      c.finish = d.finish;
    }
    if (!d.text.empty() || !d.finish.empty() || !d.logprobs.is_null()) out.push_back(std::move(d));
  }
  const bool all_done = std::all_of(choices_.begin(), choices_.end(), [](const Choice& c) { return c.done; });
  if (all_done) {
    finished_ = true;
    ch_->abandoned.store(true);   // stop strings may end choices before the engine does
    s_.engine().cancel(rid_);     // no-op when it already finished
    return false;
  }
  if (Clock::now() > deadline_) {
    abandon();
    finished_ = true;
    throw ApiError{504, "the generation took longer than the server's --timeout", {}, "timeout",
                   "server_error"};
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  Options opt;
  try {
    opt = parse_args(argc, argv);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "error: %s\n%s", e.what.c_str(), kUsage);
    return 2;
  }
  Server server(opt);
  httplib::Server http;
  const int http_threads =
      opt.http_threads > 0 ? opt.http_threads
                           : static_cast<int>(std::min<int64_t>(opt.parallel + opt.max_queue + 16, 1024));
  http.new_task_queue = [http_threads] { return new httplib::ThreadPool(static_cast<size_t>(http_threads)); };
  http.set_payload_max_length(opt.max_body);
  http.set_read_timeout(opt.read_timeout, 0);
  http.set_write_timeout(opt.write_timeout, 0);
  http.set_keep_alive_timeout(5);
  http.set_tcp_nodelay(true);  // each SSE event goes out at once (Nagle + delayed ACK cost ~40 ms)
  http.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string message = "HTTP " + std::to_string(res.status);
    if (res.status == 413) message = "the request body is larger than this server's --max-body";
    if (res.status == 404) message = "no such endpoint";
    ApiError e{res.status, message, {}, {}};
    res.set_content(dump(error_json(e)), "application/json");
  });
  server.routes(http);
  // --port 0: any free port (the line below names it; the tests use this).
  const int port = opt.port == 0 ? http.bind_to_any_port(opt.host) : (http.bind_to_port(opt.host, opt.port) ? opt.port : -1);
  if (port <= 0) {
    std::fprintf(stderr, "error: cannot listen on %s:%d\n", opt.host.c_str(), opt.port);
    return 1;
  }
  widen_listen_backlog(port);
  // Serve /health (503) while the model loads.
  std::thread listener([&http] { http.listen_after_bind(); });
  std::fprintf(stderr, "trix-server: listening on http://%s:%d, loading %s\n", opt.host.c_str(), port,
               opt.model.c_str());
  try {
    server.load();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    http.stop();
    listener.join();
    return 1;
  }
  std::fprintf(stderr, "trix-server: %s ready on http://%s:%d (context %lld)\n", opt.alias.c_str(),
               opt.host.c_str(), port, static_cast<long long>(server.engine().context_length()));
  listener.join();
  return 0;
}
