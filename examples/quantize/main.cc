// trix-quantize: GGUF (f32/f16/bf16 tensors) -> GGUF v3 in TriX's weight
// formats, with a format per tensor name pattern; or raw float32 arrays <->
// raw blocks, so other tools and tests can compare bytes. See README.md.
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "trix/core/error.h"
#include "trix/core/thread_pool.h"
#include "trix/io/output_file.h"
#include "trix/io/gguf_reader.h"
#include "trix/io/mapped_file.h"
#include "trix/convert/quantize.h"

namespace {

constexpr const char* kUsage =
    R"(usage:
  trix-quantize [options] --type TYPE in.gguf out.gguf
  trix-quantize --raw --rows R --cols C --type TYPE in.f32 out.bin
  trix-quantize --raw --dequantize --rows R --cols C --type TYPE in.bin out.f32

GGUF mode converts every f32/f16/bf16 tensor of in.gguf and writes a GGUF v3
file with all metadata kept (general.file_type and
general.quantization_version set as llama.cpp does). A tensor's format is
  1. TYPE of the first --keep rule whose PATTERN matches its whole name,
  2. else f32 for 1-D tensors (norms),
  3. else --type.
Tensors already quantized are copied unchanged. A tensor whose row length
(ne[0]) is not a multiple of its format's block size is an error, unless
--fallback names a format for such tensors.

options:
  --type TYPE          default format: tq2_0 tq1_0 i2_s q8_0 q4_0 q4_1 q5_0 q5_1
                       q2_k q3_k q4_k q5_k q6_k f16 bf16 f32
  --keep PATTERN=TYPE  format for tensors matching PATTERN (globs: * any run,
                       ? one character); repeatable, first match wins
  --fallback TYPE      format for tensors whose row length does not fit
  --threads N          worker threads (default: all hardware threads)
  --progress           draw the progress bar even when stderr is not a tty
  --no-progress        never draw it (default: only when stderr is a tty)
  --raw                raw mode: in is R x C little-endian float32, out the
                       blocks of the R rows (i2_s: whole tensor + 32-byte
                       trailer); every format with a quantizer, q8_k included
  --dequantize         raw mode, reverse: blocks -> float32
  --rows R, --cols C   raw mode shape (C must be a multiple of the block size)
  -h, --help           this text

edge cases (the formats' scalar references define the bytes):
  row length not a multiple of the block size: error naming tensor and length
  all-zero rows/blocks: scale 0, every value decodes to 0 (never NaN)
  NaN/inf inputs: no error; the bytes are ggml's (bitnet.cpp's for i2_s) on
  x86, e.g. a NaN in a tq2_0 block resets the running max; see
  include/trix/formats/<type>.h
)";

struct Args {
  std::vector<std::string> positional;
  std::optional<trix::FormatId> type;
  std::vector<trix::FormatRule> rules;
  std::optional<trix::FormatId> fallback;
  size_t threads = 0;
  std::optional<bool> progress;
  bool raw = false;
  bool dequantize = false;
  std::optional<uint64_t> rows, cols;
};

uint64_t parse_count(std::string_view flag, const std::string& v) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
  if (v.empty() || v[0] == '-' || *end != '\0' || errno == ERANGE) {
    throw trix::Error(std::string(flag) + ": expected a non-negative integer, got '" + v + "'");
  }
  return n;
}

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw trix::Error(std::string(arg) + ": missing value");
      return argv[++i];
    };
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (arg == "--type") {
      a.type = trix::parse_format_name(value()).id;
    } else if (arg == "--keep") {
      a.rules.push_back(trix::parse_format_rule(value()));
    } else if (arg == "--fallback") {
      a.fallback = trix::parse_format_name(value()).id;
    } else if (arg == "--threads") {
      a.threads = parse_count(arg, value());
      if (a.threads == 0 || a.threads > 1024) throw trix::Error("--threads: expected 1..1024");
    } else if (arg == "--progress") {
      a.progress = true;
    } else if (arg == "--no-progress") {
      a.progress = false;
    } else if (arg == "--raw") {
      a.raw = true;
    } else if (arg == "--dequantize") {
      a.dequantize = true;
    } else if (arg == "--rows") {
      a.rows = parse_count(arg, value());
    } else if (arg == "--cols") {
      a.cols = parse_count(arg, value());
    } else if (arg.size() > 1 && arg[0] == '-') {
      throw trix::Error("unknown option '" + std::string(arg) + "' (see --help)");
    } else {
      a.positional.emplace_back(arg);
    }
  }
  if (a.positional.size() != 2) {
    throw trix::Error("expected an input and an output path, got " +
                      std::to_string(a.positional.size()) + " paths (see --help)");
  }
  if (!a.type) throw trix::Error("--type is required (see --help)");
  if (a.raw) {
    if (!a.rows || !a.cols || *a.rows == 0 || *a.cols == 0) {
      throw trix::Error("--raw needs --rows R and --cols C, both > 0");
    }
    if (!a.rules.empty() || a.fallback) throw trix::Error("--keep and --fallback apply to GGUF mode only");
  } else if (a.dequantize || a.rows || a.cols) {
    throw trix::Error("--dequantize, --rows and --cols need --raw");
  }
  // Before any work: the output must not be the input (or a link to it),
  // nor a directory, device or FIFO.
  trix::check_output_path(a.positional[1], {a.positional[0]});
  return a;
}

int run_raw(const Args& a, trix::ThreadPool& pool) {
  const std::string& in_path = a.positional[0];
  const trix::FormatId f = *a.type;
  const trix::FormatInfo& fi = trix::format_info(f);
  if (!trix::has_quantizer(f)) throw trix::Error(std::string("--type ") + fi.name + ": no float conversion");
  trix::require_row_fits(f, *a.cols, "--cols");
  trix::OutputFile out(a.positional[1], {in_path});
  const trix::MappedFile in(in_path);
  const trix::ByteSink sink = [&out](std::span<const uint8_t> b) { out.write(b); };
  const std::string what = in_path;
  if (a.dequantize) {
    trix::dequantize_tensor(in.bytes(), f, *a.rows, *a.cols, pool, sink, what);
  } else {
    trix::quantize_tensor(in.bytes(), trix::FormatId::F32, *a.rows, *a.cols, f, pool, sink, {}, what);
  }
  out.commit();
  std::fprintf(stderr, "%s: %llu bytes\n", a.positional[1].c_str(),
               static_cast<unsigned long long>(out.bytes_written()));
  return 0;
}

class ProgressBar {
 public:
  explicit ProgressBar(bool on) : on_(on) {}
  void update(const trix::QuantizeProgress& p) {
    if (!on_ || finished_) return;
    const auto now = std::chrono::steady_clock::now();
    const bool last = p.bytes_done == p.bytes_total && p.tensor + 1 == p.n_tensors;
    finished_ = last;
    if (!last && p.tensor == last_tensor_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    last_tensor_ = p.tensor;
    const double frac = p.bytes_total ? static_cast<double>(p.bytes_done) / static_cast<double>(p.bytes_total) : 1.0;
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(frac * kWidth);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(kWidth, ' ');
    std::fprintf(stderr, "\r[%s] %3d%% %zu/%zu %-40.40s", bar.c_str(), static_cast<int>(frac * 100.0),
                 p.tensor + 1, p.n_tensors, p.name ? p.name->c_str() : "");
    if (last) std::fputc('\n', stderr);
    std::fflush(stderr);
  }

 private:
  bool on_;
  bool finished_ = false;
  size_t last_tensor_ = static_cast<size_t>(-1);
  std::chrono::steady_clock::time_point last_draw_{};
};

int run_gguf(const Args& a, trix::ThreadPool& pool) {
  const trix::GgufReader in = trix::GgufReader::open(a.positional[0]);
  trix::QuantizeOptions opt;
  opt.type = *a.type;
  opt.rules = a.rules;
  opt.fallback = a.fallback;
  const trix::QuantizePlan plan = trix::plan_quantization(in, opt);
  for (const std::string& p : plan.unused_rules) {
    std::fprintf(stderr, "warning: --keep pattern '%s' decides no tensor (no match, or earlier rules win)\n", p.c_str());
  }
  ProgressBar bar(a.progress.value_or(::isatty(STDERR_FILENO) == 1));
  const auto t0 = std::chrono::steady_clock::now();
  trix::quantize_gguf_file(in, plan, opt, a.positional[1], {a.positional[0]}, pool,
                           [&bar](const trix::QuantizeProgress& p) { bar.update(p); });
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  size_t converted = 0;
  for (const auto& p : plan.tensors) converted += p.copy ? 0 : 1;
  const auto out_size = std::filesystem::file_size(a.positional[1]);
  std::printf("%s: %zu tensors (%zu converted, %zu copied), %.1f MiB -> %.1f MiB in %.2f s\n",
              a.positional[1].c_str(), plan.tensors.size(), converted, plan.tensors.size() - converted,
              static_cast<double>(in.file_size()) / 1048576.0, static_cast<double>(out_size) / 1048576.0,
              secs);
  constexpr size_t kMaxListed = 10;
  size_t fell_back = 0;
  for (const auto& p : plan.tensors) {
    if (p.reason.rfind("fallback", 0) != 0) continue;
    if (++fell_back <= kMaxListed) {
      std::printf("  %s -> %s (%s)\n", p.tensor->name.c_str(), trix::format_info(p.to).name, p.reason.c_str());
    }
  }
  if (fell_back > kMaxListed) std::printf("  ... %zu more tensors fell back\n", fell_back - kMaxListed);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Args a = parse_args(argc, argv);
    trix::ThreadPool pool(a.threads);
    return a.raw ? run_raw(a, pool) : run_gguf(a, pool);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "trix-quantize: error: %s\n", e.what());
    return 1;
  }
}
