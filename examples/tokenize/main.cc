// trix-tokenize: prints the tokens a GGUF file's tokenizer makes of a text,
// like llama.cpp's llama-tokenize.
//   trix-tokenize -m FILE.gguf (-p TEXT | -f TEXT_FILE) [--ids] [--no-bos]
//                 [--no-parse-special] [--pre NAME]
// --ids prints only the ids, as [1, 2, 3]; otherwise one "id -> 'piece'"
// line per token. -f reads the text byte for byte. BOS/EOS are added as the
// model asks unless --no-bos; special-token texts in the input become their
// ids unless --no-parse-special. --pre overrides tokenizer.ggml.pre.
// Exit codes: 0 ok, 1 the model or text file could not be used, 2 usage.
#include <cstdio>
#include <exception>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "trix/core/error.h"
#include "trix/io/gguf_reader.h"
#include "trix/text/tokenizer.h"

namespace {

struct Args {
  std::string model, prompt, prompt_file, pre;
  bool have_prompt = false, ids_only = false, no_bos = false, parse_special = true;
};

struct UsageError {
  std::string what;
};

constexpr const char* kUsage =
    "usage: trix-tokenize -m FILE.gguf (-p TEXT | -f TEXT_FILE) [--ids] [--no-bos]\n"
    "                     [--no-parse-special] [--pre NAME]\n";

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw UsageError{std::string(flag) + " needs a value"};
      return argv[++i];
    };
    if (flag == "-m" || flag == "--model") {
      a.model = value();
      if (a.model.empty()) throw UsageError{std::string(flag) + " expects a model file name, got ''"};
    } else if (flag == "-p" || flag == "--prompt" || flag == "-f" || flag == "--file") {
      if (a.have_prompt) throw UsageError{"give the text once, with -p or -f"};
      a.have_prompt = true;
      const bool from_file = flag == "-f" || flag == "--file";
      (from_file ? a.prompt_file : a.prompt) = value();
      if (from_file && a.prompt_file.empty()) {
        throw UsageError{std::string(flag) + " expects a file name, got ''"};
      }
    } else if (flag == "--ids") {
      a.ids_only = true;
    } else if (flag == "--no-bos") {
      a.no_bos = true;
    } else if (flag == "--no-parse-special") {
      a.parse_special = false;
    } else if (flag == "--pre") {
      a.pre = value();
      if (a.pre.empty()) throw UsageError{"--pre expects a pre-tokenizer name, got ''"};
    } else {
      throw UsageError{"unknown argument '" + std::string(flag) + "'"};
    }
  }
  if (a.model.empty()) throw UsageError{"no model: pass -m FILE.gguf"};
  if (!a.have_prompt) throw UsageError{"no text: pass -p TEXT or -f TEXT_FILE"};
  return a;
}

std::string read_text_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw trix::Error(path + ": cannot open");
  std::string s{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
  if (f.bad()) throw trix::Error(path + ": read error");
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  try {
    args = parse_args(argc, argv);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "error: %s\n%s", e.what.c_str(), kUsage);
    return 2;
  }
  try {
    const std::string text = args.prompt_file.empty() ? args.prompt : read_text_file(args.prompt_file);
    const trix::GgufReader r = trix::GgufReader::open(args.model);
    const trix::Tokenizer tok = trix::Tokenizer::from_gguf(r, args.pre);
    const std::vector<int32_t> ids = tok.encode(text, !args.no_bos, args.parse_special);
    if (args.ids_only) {
      std::string line = "[";
      for (size_t i = 0; i < ids.size(); ++i) {
        if (i) line += ", ";
        line += std::to_string(ids[i]);
      }
      line += "]\n";
      std::fputs(line.c_str(), stdout);
    } else {
      for (int32_t id : ids) {
        char num[16];
        std::snprintf(num, sizeof num, "%6d", static_cast<int>(id));
        std::string line = num;
        line += " -> '";
        line += tok.token_to_piece(id, /*render_special=*/true);
        line += "'\n";
        std::fwrite(line.data(), 1, line.size(), stdout);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
