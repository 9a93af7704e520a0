// safetensors -> GGUF import of the TriX sparse-lookup model (issue 16):
// a random-weight state_dict under the reference module's names, written by
// tests/model/safetensors_writer.h, imported, loaded and run; its logits
// against the fp64 reference of the same weights. And malformed inputs,
// each refused with an error naming the file, the field and the offset.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "model/safetensors_writer.h"
#include "runtime/trix_lm_reference.h"
#include "runtime/trix_lm_test_data.h"
#include "trix/convert/safetensors_to_trix_lm.h"
#include "trix/core/error.h"
#include "trix/io/gguf_reader.h"
#include "trix/io/gguf_writer.h"
#include "trix/io/safetensors.h"
#include "trix/runtime/trix_lm.h"
#include "trix/runtime/trix_lm_loader.h"

namespace trix {
namespace {

TrixLmConfig small_config() {
  TrixLmConfig c;
  c.dim = 32;
  c.n_layers = 2;
  c.n_heads = 2;
  c.vocab_size = 20;
  c.context_length = 16;
  c.tiles = 8;
  c.tiles_per_cluster = 4;
  c.grid = 4;
  c.compress_hidden = 8;
  return c;
}

std::vector<uint8_t> import_bytes(const std::vector<uint8_t>& st_bytes, TrixLmImportOptions opt) {
  const SafetensorsReader st = SafetensorsReader::from_memory(st_bytes, "model.safetensors");
  std::ostringstream out;
  GgufWriter w(out, "model.gguf");
  (void)safetensors_to_trix_lm(st, opt, w);
  const std::string s = out.str();
  return {s.begin(), s.end()};
}

TEST(TrixLmImport, ImportedModelMatchesFp64) {
  const TrixLmConfig c = small_config();
  std::mt19937 rng(31);
  const test::LmParams params = test::random_lm(rng, c);
  const std::vector<uint8_t> st = test::trix_lm_state_dict(params).bytes();
  TrixLmImportOptions opt;
  opt.n_heads = 2;
  const std::vector<uint8_t> gguf = import_bytes(st, opt);
  const LoadedTrixLm model = load_trix_lm(GgufReader::from_memory(gguf, "model.gguf"));
  EXPECT_EQ(model.config.dim, 32);
  EXPECT_EQ(model.config.n_layers, 2);
  EXPECT_EQ(model.config.vocab_size, 20);
  EXPECT_EQ(model.config.context_length, 16);
  EXPECT_EQ(model.config.tiles_per_cluster, 4);  // from cluster_assignments
  EXPECT_EQ(model.config.grid, 4);
  EXPECT_EQ(model.config.compress_hidden, 8);

  const std::vector<int32_t> tokens = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8};
  test::SlfMargins m;
  const std::vector<double> ref = test::lm_logits_ref(params, tokens, &m);
  ASSERT_GT(m.route, 1e-3);
  ASSERT_GT(m.cell, 1e-3);
  ThreadPool pool(2);
  TrixLmState st_run(model.config, 4, pool.num_threads());
  const auto shape = TrixLmRuntimeShape::from(model.config);
  const auto logits = trix_lm_forward(shape, *model.prepared, tokens, 0, st_run, pool);
  const size_t last = tokens.size() - 1;
  for (int64_t v = 0; v < c.vocab_size; ++v) {
    EXPECT_NEAR(logits[static_cast<size_t>(v)], ref[last * 20 + static_cast<size_t>(v)], 2e-3) << v;
  }
}

// Expects `f` to throw a trix::Error whose message holds each of `parts`
// (in order).
template <class F>
void expect_error(F f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "no error, expected " << *parts.begin();
  } catch (const Error& e) {
    const std::string what = e.what();
    size_t at = 0;
    for (const std::string& p : parts) {
      at = what.find(p, at);
      ASSERT_NE(at, std::string::npos) << what << "\nexpected: " << p;
    }
  }
}

TEST(TrixLmImport, MalformedSafetensorsNameFileFieldAndOffset) {
  const auto open = [](std::vector<uint8_t> b) { (void)SafetensorsReader::from_memory(b, "bad.safetensors"); };
  expect_error([&] { open({1, 2, 3}); }, {"bad.safetensors: offset 0: file of 3 bytes"});
  expect_error([&] { open({200, 0, 0, 0, 0, 0, 0, 0, '{', '}'}); }, {"bad.safetensors: offset 0: header length 200"});
  std::vector<uint8_t> bad_json = {6, 0, 0, 0, 0, 0, 0, 0, '{', '"', 'a', '"', ':', '}'};
  expect_error([&] { open(bad_json); }, {"bad.safetensors: offset 1", ": header JSON"});

  test::SafetensorsBuilder b;
  const std::vector<float> four(4, 1.0f);
  b.add_f32("w", {2, 2}, four);
  std::vector<uint8_t> good = b.bytes();
  EXPECT_NO_THROW(open(good));
  const auto with_header = [&](const std::string& entry) {
    std::string text = "{\"w\":" + entry + "}";
    std::vector<uint8_t> out = test::length_prefixed(text);
    out.insert(out.end(), 16, 0);
    return out;
  };
  expect_error([&] { open(with_header(R"({"dtype":"F32","shape":[2,2],"data_offsets":[0,32]})")); },
               {"bad.safetensors: offset ", ": tensor 'w': field 'data_offsets' [0, 32] is outside the data section of 16 bytes"});
  expect_error([&] { open(with_header(R"({"dtype":"F32","shape":[2,3],"data_offsets":[0,16]})")); },
               {"tensor 'w': field 'data_offsets' spans 16 bytes, expected 24"});
  expect_error([&] { open(with_header(R"({"dtype":"Q4","shape":[2,2],"data_offsets":[0,16]})")); },
               {"tensor 'w': field 'dtype' = \"Q4\""});
  expect_error([&] { open(with_header(R"({"shape":[2,2],"data_offsets":[0,16]})")); },
               {"tensor 'w': field 'dtype' is missing"});
  expect_error([&] { open(with_header(R"({"dtype":"F32","shape":[2,-2],"data_offsets":[0,16]})")); },
               {"tensor 'w': field 'shape' holds -2"});
}

TEST(TrixLmImport, WrongStateDictsAreRefused) {
  const TrixLmConfig c = small_config();
  std::mt19937 rng(32);
  const test::LmParams params = test::random_lm(rng, c);
  TrixLmImportOptions opt;
  opt.n_heads = 2;
  const auto run = [&](const test::SafetensorsBuilder& b, TrixLmImportOptions o) { (void)import_bytes(b.bytes(), o); };
  TrixLmImportOptions no_heads;
  expect_error([&] { run(test::trix_lm_state_dict(params), no_heads); }, {"model.safetensors: the head count (0)"});

  test::SafetensorsBuilder missing = test::trix_lm_state_dict(params);
  std::erase_if(missing.entries, [](const auto& e) { return e.name == "blocks.1.ffn.norm.bias"; });
  expect_error([&] { run(missing, opt); }, {"model.safetensors: no tensor 'blocks.1.ffn.norm.bias'"});

  test::SafetensorsBuilder reshaped = test::trix_lm_state_dict(params);
  for (auto& e : reshaped.entries) {
    if (e.name == "blocks.0.attn.out_proj.weight") e.shape = {16, 64};
  }
  expect_error([&] { run(reshaped, opt); },
               {"tensor 'blocks.0.attn.out_proj.weight' (offset ", ") has shape [16, 64], expected [32, 32]"});

  test::SafetensorsBuilder untied = test::trix_lm_state_dict(params);
  for (auto& e : untied.entries) {
    if (e.name == "lm_head.weight") e.bytes[0] ^= 1;
  }
  expect_error([&] { run(untied, opt); }, {"tensor 'lm_head.weight' (offset ", ") differs from token_emb.weight"});

  TrixLmImportOptions other_k = opt;
  other_k.tiles_per_cluster = 2;
  expect_error([&] { run(test::trix_lm_state_dict(params), other_k); }, {"tiles_per_cluster 2 given, but"});
}

TEST(TrixLmLoader, MissingKeysAndTensorsNameTheFile) {
  const TrixLmConfig c = small_config();
  std::mt19937 rng(33);
  const test::LmParams params = test::random_lm(rng, c);
  TrixLmImportOptions opt;
  opt.n_heads = 2;
  const std::vector<uint8_t> gguf = import_bytes(test::trix_lm_state_dict(params).bytes(), opt);
  // A llama file is not this architecture.
  std::ostringstream out;
  GgufWriter w(out, "llama.gguf");
  w.set_string("general.architecture", "llama");
  w.finish();
  const std::string s = out.str();
  const std::vector<uint8_t> llama(s.begin(), s.end());
  expect_error([&] { (void)load_trix_lm(GgufReader::from_memory(llama, "llama.gguf")); },
               {"llama.gguf: metadata key 'general.architecture' = \"llama\", expected \"trix_sparse_lookup\""});
  EXPECT_NO_THROW((void)load_trix_lm(GgufReader::from_memory(gguf, "model.gguf")));
}

}  // namespace
}  // namespace trix
