#include "spec_reader.h"

#include <cctype>
#include <charconv>
#include <set>

namespace trixgen {
namespace {

std::string mark_str(const std::string& file, const YAML::Mark& m) {
  if (m.is_null()) return file;
  return file + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

std::string join(std::initializer_list<std::string_view> xs) {
  std::string out;
  for (auto x : xs) {
    if (!out.empty()) out += ", ";
    out += x;
  }
  return out;
}

std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a sequence";
    case YAML::NodeType::Null: return "nothing";
    case YAML::NodeType::Scalar: return "'" + n.Scalar() + "'";
    default: return "an undefined node";
  }
}

}  // namespace

SpecNode SpecNode::load_file(const std::string& file) {
  try {
    return SpecNode(YAML::LoadFile(file), file, "");
  } catch (const YAML::BadFile&) {
    throw SpecError(file + ": error: cannot open file");
  } catch (const YAML::Exception& e) {
    throw SpecError(mark_str(file, e.mark) + ": error: invalid YAML: " + e.msg);
  }
}

SpecNode SpecNode::load_string(const std::string& text, const std::string& file) {
  try {
    return SpecNode(YAML::Load(text), file, "");
  } catch (const YAML::Exception& e) {
    throw SpecError(mark_str(file, e.mark) + ": error: invalid YAML: " + e.msg);
  }
}

std::string SpecNode::where() const { return mark_str(file_, node_.Mark()); }

void SpecNode::fail(const std::string& what) const {
  std::string where_path = path_.empty() ? "" : " (" + path_ + ")";
  throw SpecError(where() + ": error" + where_path + ": " + what);
}

void SpecNode::expect_map() const {
  if (!node_.IsMap()) fail("expected a mapping, found " + describe(node_));
}

void SpecNode::expect_keys(std::initializer_list<std::string_view> allowed) const {
  expect_map();
  std::set<std::string> seen;
  for (const auto& kv : node_) {
    SpecNode key(kv.first, file_, path_);
    if (!kv.first.IsScalar()) key.fail("expected a plain key, found " + describe(kv.first));
    const std::string& k = kv.first.Scalar();
    if (!seen.insert(k).second) key.fail("duplicate key '" + k + "'");
    bool ok = false;
    for (auto a : allowed) ok = ok || a == k;
    if (!ok) {
      key.fail("unknown key '" + k + "' (expected one of: " + join(allowed) + ")");
    }
  }
}

bool SpecNode::has(std::string_view key) const {
  return node_.IsMap() && node_[std::string(key)].IsDefined();
}

SpecNode SpecNode::required(std::string_view key) const {
  expect_map();
  YAML::Node v = node_[std::string(key)];
  std::string sub = path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  if (!v.IsDefined()) fail("missing required key '" + std::string(key) + "'");
  if (v.IsNull()) SpecNode(v, file_, sub).fail("key '" + std::string(key) + "' has no value");
  return SpecNode(v, file_, sub);
}

std::optional<SpecNode> SpecNode::optional(std::string_view key) const {
  if (!has(key)) return std::nullopt;
  return required(key);
}

std::vector<SpecNode> SpecNode::items() const {
  if (!node_.IsSequence()) fail("expected a sequence, found " + describe(node_));
  std::vector<SpecNode> out;
  size_t i = 0;
  for (const auto& item : node_) {
    out.emplace_back(item, file_, path_ + "[" + std::to_string(i++) + "]");
  }
  return out;
}

std::vector<std::pair<SpecNode, SpecNode>> SpecNode::entries() const {
  expect_map();
  std::vector<std::pair<SpecNode, SpecNode>> out;
  std::set<std::string> seen;
  for (const auto& kv : node_) {
    SpecNode key(kv.first, file_, path_);
    if (!kv.first.IsScalar()) key.fail("expected a plain key, found " + describe(kv.first));
    if (!seen.insert(kv.first.Scalar()).second) {
      key.fail("duplicate key '" + kv.first.Scalar() + "'");
    }
    std::string sub = path_.empty() ? kv.first.Scalar() : path_ + "." + kv.first.Scalar();
    out.emplace_back(key, SpecNode(kv.second, file_, sub));
  }
  return out;
}

std::string SpecNode::as_string() const {
  if (!node_.IsScalar()) fail("expected a string, found " + describe(node_));
  return node_.Scalar();
}

std::string SpecNode::as_identifier() const {
  std::string s = as_string();
  bool ok = !s.empty() && (std::islower(static_cast<unsigned char>(s[0])) || s[0] == '_');
  for (char c : s) {
    ok = ok && (std::islower(static_cast<unsigned char>(c)) ||
                std::isdigit(static_cast<unsigned char>(c)) || c == '_');
  }
  if (!ok) fail("expected a lower-case identifier [a-z_][a-z0-9_]*, found '" + s + "'");
  return s;
}

int64_t SpecNode::as_int(int64_t min, int64_t max) const {
  std::string s = as_string();
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) {
    fail("expected an integer in [" + std::to_string(min) + ", " + std::to_string(max) +
         "], found '" + s + "'");
  }
  if (v < min || v > max) {
    fail("expected an integer in [" + std::to_string(min) + ", " + std::to_string(max) +
         "], found " + s);
  }
  return v;
}

double SpecNode::as_double() const {
  std::string s = as_string();
  try {
    size_t used = 0;
    double v = std::stod(s, &used);
    if (used == s.size()) return v;
  } catch (const std::exception&) {
  }
  fail("expected a number, found '" + s + "'");
}

bool SpecNode::as_bool() const {
  std::string s = as_string();
  if (s == "true") return true;
  if (s == "false") return false;
  fail("expected true or false, found '" + s + "'");
}

std::string SpecNode::as_enum(std::initializer_list<std::string_view> choices) const {
  std::string s = as_string();
  for (auto c : choices) {
    if (c == s) return s;
  }
  fail("expected one of: " + join(choices) + "; found '" + s + "'");
}

}  // namespace trixgen
