// trix-gen: specs/ -> generated/. `--check` validates without writing.
// Output is byte-deterministic: files are written in sorted order, with no
// timestamps, and stale generated files are removed.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "spec_reader.h"
#include "specs.h"
#include "trix/io/output_file.h"

namespace fs = std::filesystem;

namespace {

int usage(const char* argv0) {
  std::cerr << "usage: " << argv0 << " --specs DIR [--specs DIR...] (--out DIR | --check) [--root DIR]\n"
            << "  --specs DIR  folder holding formats/, kernels/, models/ (*.yaml); repeat it to\n"
            << "               add specs from other folders (a test's toy format) to one set\n"
            << "  --out DIR    write generated headers there (usually generated/)\n"
            << "  --check      validate the specs and write nothing\n"
            << "  --root DIR   repository root, for kernel bodies embedded in Metal sources\n"
            << "               (default: the parent of the first --specs)\n";
  return 2;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> specs;
  std::string out, root;
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "trix-gen: " << a << " needs a value\n";
        std::exit(usage(argv[0]));
      }
      return argv[++i];
    };
    if (a == "--specs") specs.push_back(value());
    else if (a == "--out") out = value();
    else if (a == "--root") root = value();
    else if (a == "--check") check = true;
    else if (a == "--help" || a == "-h") return usage(argv[0]), 0;
    else {
      std::cerr << "trix-gen: unknown argument '" << a << "'\n";
      return usage(argv[0]);
    }
  }
  if (specs.empty() || (out.empty() == !check)) return usage(argv[0]);
  if (root.empty()) root = fs::absolute(fs::path(specs[0])).lexically_normal().parent_path().string();

  try {
    const trixgen::SpecSet set = trixgen::load_specs(specs);
    const trixgen::FileMap files = trixgen::generate(set, root);
    if (check) {
      std::cout << "trix-gen: " << set.formats.size() << " formats, " << set.kernels.size()
                << " kernels, " << set.models.size() << " models OK (" << files.size()
                << " files would be generated)\n";
      return 0;
    }
    size_t written = 0, unchanged = 0, removed = 0;
    std::set<fs::path> keep;
    for (const auto& [rel, text] : files) {
      const fs::path p = fs::path(out) / rel;
      keep.insert(p.lexically_normal());
      fs::create_directories(p.parent_path());
      if (fs::exists(p) && read_file(p) == text) {
        ++unchanged;
        continue;
      }
      // Temporary + rename: a killed or failed run never leaves a torn header.
      trix::OutputFile o(p);
      o.write(text.data(), text.size());
      o.commit();
      ++written;
    }
    // Remove files a previous spec set generated and this one does not.
    if (fs::exists(out)) {
      std::vector<fs::path> stale;
      for (const auto& e : fs::recursive_directory_iterator(out)) {
        if (e.is_regular_file() && !keep.count(e.path().lexically_normal())) stale.push_back(e.path());
      }
      for (const auto& p : stale) {
        fs::remove(p);
        ++removed;
      }
    }
    std::cout << "trix-gen: " << written << " written, " << unchanged << " unchanged, " << removed
              << " removed (" << set.kernels.size() << " kernels)\n";
  } catch (const trixgen::SpecError& e) {
    std::cerr << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "trix-gen: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
