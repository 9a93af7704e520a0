// generate's command-line parser (examples/generate/generate_args.h): every
// numeric flag takes exactly a decimal in its range, and anything else is a
// UsageError naming the flag, the range and the text given.
#include "generate_args.h"

#include <gtest/gtest.h>

#include <cmath>
#include <initializer_list>
#include <string>
#include <vector>

namespace {

using trix::generate_cli::Args;
using trix::generate_cli::parse_generate_args;
using trix::generate_cli::UsageError;

Args parse(std::initializer_list<const char*> args) {
  std::vector<const char*> argv{"generate"};
  argv.insert(argv.end(), args.begin(), args.end());
  return parse_generate_args(static_cast<int>(argv.size()), argv.data());
}

// The UsageError text for these arguments; fails the test if they parse.
std::string usage_error(std::initializer_list<const char*> args) {
  try {
    (void)parse(args);
  } catch (const UsageError& e) {
    return e.what;
  }
  ADD_FAILURE() << "parsed without error";
  return "";
}

TEST(GenerateArgs, Defaults) {
  const Args a = parse({});
  EXPECT_EQ(a.model, "");
  EXPECT_EQ(a.n_predict, 64);
  EXPECT_EQ(a.ctx, 0);
  EXPECT_EQ(a.threads, 0u);
  EXPECT_EQ(a.kv_type, trix::KvType::F16);  // llama.cpp's default
  EXPECT_FALSE(a.help);
}

TEST(GenerateArgs, KvType) {
  EXPECT_EQ(parse({"--kv-type", "f32"}).kv_type, trix::KvType::F32);
  EXPECT_EQ(parse({"--kv-type", "f16"}).kv_type, trix::KvType::F16);
  EXPECT_EQ(usage_error({"--kv-type", "q8_0"}), "--kv-type expects f16 or f32, got 'q8_0'");
  EXPECT_EQ(usage_error({"--kv-type"}), "--kv-type needs a value");
}

TEST(GenerateArgs, GoodValues) {
  const Args a = parse({"-m", "m.gguf", "-p", "", "-n", "16777216", "--ctx", "1", "--temp", "0.7",
                        "--seed", "18446744073709551615", "--threads", "1024", "--top-k", "2147483647",
                        "--top-p", "1", "--min-p", "0.05", "--repeat-penalty", "1.1",
                        "--repeat-last-n", "0"});
  EXPECT_EQ(a.model, "m.gguf");
  EXPECT_EQ(a.prompt, "");
  EXPECT_EQ(a.n_predict, 16777216);
  EXPECT_EQ(a.ctx, 1);
  EXPECT_EQ(a.sampling.temperature, 0.7f);
  EXPECT_EQ(a.sampling.seed, 18446744073709551615ull);
  EXPECT_EQ(a.threads, 1024u);
  EXPECT_EQ(a.sampling.top_k, 2147483647);
  EXPECT_EQ(a.sampling.top_p, 1.0f);
  EXPECT_EQ(a.sampling.min_p, 0.05f);
  EXPECT_EQ(a.sampling.repetition_penalty, 1.1f);
  EXPECT_EQ(a.sampling.repetition_window, 0);
  EXPECT_EQ(parse({"-n", "0"}).n_predict, 0);
  EXPECT_EQ(parse({"-n", "-0"}).n_predict, 0);  // minus zero is zero, in range
  EXPECT_EQ(parse({"--temp", "0"}).sampling.temperature, 0.0f);
  EXPECT_EQ(parse({"--temp", "1e2"}).sampling.temperature, 100.0f);
  EXPECT_TRUE(parse({"--help"}).help);
}

TEST(GenerateArgs, IntegersOutOfRangeOrMalformed) {
  const std::string n = "-n expects an integer in [0, 16777216], got '";
  EXPECT_EQ(usage_error({"-n", "9223372036854775807"}), n + "9223372036854775807'");
  EXPECT_EQ(usage_error({"-n", "9223372036854775808"}), n + "9223372036854775808'");
  EXPECT_EQ(usage_error({"-n", "16777217"}), n + "16777217'");
  EXPECT_EQ(usage_error({"-n", "-1"}), n + "-1'");
  EXPECT_EQ(usage_error({"-n", ""}), n + "'");
  EXPECT_EQ(usage_error({"-n", " 5"}), n + " 5'");
  EXPECT_EQ(usage_error({"-n", "5 "}), n + "5 '");
  EXPECT_EQ(usage_error({"-n", "+5"}), n + "+5'");
  EXPECT_EQ(usage_error({"-n", "0x10"}), n + "0x10'");
  EXPECT_EQ(usage_error({"-n", "1e3"}), n + "1e3'");
  EXPECT_EQ(usage_error({"-n", "5.0"}), n + "5.0'");
  EXPECT_EQ(usage_error({"--top-k", "4294967297"}),
            "--top-k expects an integer in [0, 2147483647], got '4294967297'");
  EXPECT_EQ(usage_error({"--top-k", "2147483648"}),
            "--top-k expects an integer in [0, 2147483647], got '2147483648'");
  EXPECT_EQ(usage_error({"--threads", "0"}), "--threads expects an integer in [1, 1024], got '0'");
  EXPECT_EQ(usage_error({"--threads", "-0"}), "--threads expects an integer in [1, 1024], got '-0'");
  EXPECT_EQ(usage_error({"--ctx", "0"}), "--ctx expects an integer in [1, 16777216], got '0'");
  EXPECT_EQ(usage_error({"--repeat-last-n", "-1"}),
            "--repeat-last-n expects an integer in [0, 2147483647], got '-1'");
  const std::string seed = "--seed expects an integer in [0, 18446744073709551615], got '";
  EXPECT_EQ(usage_error({"--seed", "18446744073709551616"}), seed + "18446744073709551616'");
  EXPECT_EQ(usage_error({"--seed", "-1"}), seed + "-1'");
  EXPECT_EQ(usage_error({"--seed", "-0"}), seed + "-0'");
}

TEST(GenerateArgs, RealsMustBeFiniteAndInRange) {
  const std::string temp = "--temp expects a number in [0, 100], got '";
  for (const char* bad : {"inf", "-inf", "nan", "1e999", "-1e999", "infinity", "-0.5", "100.5", "",
                          " 1", "+1", "0x1p0", "1,5", "1.5x"}) {
    EXPECT_EQ(usage_error({"--temp", bad}), temp + bad + "'") << bad;
  }
  EXPECT_EQ(usage_error({"--top-p", "0"}), "--top-p expects a number in (0, 1], got '0'");
  EXPECT_EQ(usage_error({"--top-p", "-0"}), "--top-p expects a number in (0, 1], got '-0'");
  EXPECT_EQ(usage_error({"--top-p", "1.0001"}), "--top-p expects a number in (0, 1], got '1.0001'");
  EXPECT_EQ(usage_error({"--min-p", "nan"}), "--min-p expects a number in [0, 1], got 'nan'");
  EXPECT_EQ(usage_error({"--repeat-penalty", "0"}),
            "--repeat-penalty expects a number in (0, 100], got '0'");
  // In range as a double but 0 as a float: the sampler's own check speaks.
  EXPECT_EQ(usage_error({"--top-p", "1e-60"}), "sampler: top_p must be in (0, 1]");
}

TEST(GenerateArgs, ModelAndFlags) {
  EXPECT_EQ(usage_error({"-m", ""}), "-m expects a model file name, got ''");
  EXPECT_EQ(usage_error({"--model", ""}), "--model expects a model file name, got ''");
  EXPECT_EQ(usage_error({"-m"}), "-m needs a value");
  EXPECT_EQ(usage_error({"-n"}), "-n needs a value");
  EXPECT_EQ(usage_error({"--bogus"}), "unknown argument '--bogus'");
  EXPECT_EQ(usage_error({""}), "unknown argument ''");
}

}  // namespace

namespace {

TEST(GenerateArgs, ParallelNeedsAPromptFileAndTheOtherWayRound) {
  const Args a = parse({"--parallel", "4", "--prompt-file", "prompts.txt"});
  EXPECT_EQ(a.parallel, 4);
  EXPECT_EQ(a.prompt_file, "prompts.txt");
  EXPECT_EQ(parse({}).parallel, 0);
  EXPECT_EQ(usage_error({"--parallel", "4"}), "--parallel needs --prompt-file");
  EXPECT_EQ(usage_error({"--prompt-file", "p.txt"}), "--prompt-file needs --parallel N");
  EXPECT_EQ(usage_error({"--parallel", "0", "--prompt-file", "p.txt"}),
            "--parallel expects an integer in [1, 4096], got '0'");
  EXPECT_EQ(usage_error({"--parallel", "2", "--prompt-file", ""}), "--prompt-file expects a file name, got ''");
}

}  // namespace
