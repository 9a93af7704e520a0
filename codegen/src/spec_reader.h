// Strict reading of YAML spec files: every error names file:line:col and
// what was expected; unknown keys are errors. All spec parsers go through
// SpecNode so no parser can forget a check.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace trixgen {

class SpecError : public std::runtime_error {
 public:
  explicit SpecError(const std::string& msg) : std::runtime_error(msg) {}
};

// A YAML node plus the file it came from and a human path ("block.bytes").
class SpecNode {
 public:
  SpecNode(YAML::Node node, std::string file, std::string path)
      : node_(std::move(node)), file_(std::move(file)), path_(std::move(path)) {}

  // Loads a file; YAML syntax errors become SpecError with file:line:col.
  static SpecNode load_file(const std::string& file);
  static SpecNode load_string(const std::string& text, const std::string& file);

  const std::string& file() const { return file_; }
  const std::string& path() const { return path_; }
  const YAML::Node& yaml() const { return node_; }

  // "file:line:col" of this node (1-based).
  std::string where() const;
  [[noreturn]] void fail(const std::string& what) const;

  // Mapping access. `expect_keys` rejects any key not listed (and duplicates).
  void expect_map() const;
  void expect_keys(std::initializer_list<std::string_view> allowed) const;
  bool has(std::string_view key) const;
  SpecNode required(std::string_view key) const;
  std::optional<SpecNode> optional(std::string_view key) const;

  // Sequence access.
  std::vector<SpecNode> items() const;
  // Mapping entries in file order (key node, value node).
  std::vector<std::pair<SpecNode, SpecNode>> entries() const;

  // Scalars, with the expected form in every error.
  std::string as_string() const;
  std::string as_identifier() const;  // [a-z_][a-z0-9_]* 
  int64_t as_int(int64_t min, int64_t max) const;
  double as_double() const;
  bool as_bool() const;
  std::string as_enum(std::initializer_list<std::string_view> choices) const;

 private:
  YAML::Node node_;
  std::string file_;
  std::string path_;
};

}  // namespace trixgen
