// trix-server's pieces without a network: chat template recognition on the
// real templates in ../shared/testdata/chat-templates and the rendering of
// each known one, and TextStream (UTF-8 hold-back, stop strings split across
// tokens).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "chat_template.h"
#include "common/shared_data.h"
#include "text_stream.h"

namespace {

using trix::server::ChatMessage;
using trix::server::ChatTemplate;
using trix::server::detect_chat_template;
using trix::server::render_chat;
using trix::server::TextStream;

std::string read_text(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(ChatTemplate, RecognisesRealTemplatesAndRefusesUnknownOnes) {
  TRIX_REQUIRE_SHARED_FILE(dir, "testdata/chat-templates");
  const std::pair<const char*, ChatTemplate> known[] = {
      {"Qwen-Qwen2.5-7B-Instruct.jinja", ChatTemplate::ChatML},
      {"meta-llama-Llama-3.1-8B-Instruct.jinja", ChatTemplate::Llama3},
      {"google-gemma-2-2b-it.jinja", ChatTemplate::Gemma},
      {"microsoft-Phi-3.5-mini-instruct.jinja", ChatTemplate::Phi3},
  };
  for (const auto& [file, want] : known) {
    EXPECT_EQ(detect_chat_template(read_text(dir / file), file), want) << file;
  }
  for (const char* file : {"deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja",
                           "mistralai-Mistral-Nemo-Instruct-2407.jinja"}) {
    try {
      detect_chat_template(read_text(dir / file), file);
      ADD_FAILURE() << file << " was recognised";
    } catch (const trix::Error& e) {
      EXPECT_NE(std::string(e.what()).find("--chat-template"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(file), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(detect_chat_template("llama2", "flag"), ChatTemplate::Llama2);
  EXPECT_EQ(detect_chat_template("{{ '<|user|>\\n' + m + '<|endoftext|>' }}", "t"), ChatTemplate::Zephyr);
  EXPECT_EQ(detect_chat_template("{{ 'User: ' + c + '<|eot_id|>' }}{{ 'Assistant: ' + c + '<|eot_id|>' }}"
                                 "{% if add_generation_prompt %}{{ 'Assistant: ' }}{% endif %}",
                                 "t"),
            ChatTemplate::BitNet);
  EXPECT_THROW(detect_chat_template("{{ messages }}", "t"), trix::Error);
}

TEST(ChatTemplate, RendersEachKnownTemplate) {
  const std::vector<ChatMessage> m = {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello"},
                                      {"user", "Bye"}};
  EXPECT_EQ(render_chat(ChatTemplate::ChatML, m),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"
            "<|im_start|>assistant\n");
  EXPECT_EQ(render_chat(ChatTemplate::Llama3, m),
            "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHello<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(render_chat(ChatTemplate::Llama2, m),
            "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello </s><s>[INST] Bye [/INST]");
  EXPECT_EQ(render_chat(ChatTemplate::Zephyr, m),
            "<|system|>\nBe brief.<|endoftext|>\n<|user|>\nHi<|endoftext|>\n<|assistant|>\nHello"
            "<|endoftext|>\n<|user|>\nBye<|endoftext|>\n<|assistant|>\n");
  EXPECT_EQ(render_chat(ChatTemplate::Phi3, m),
            "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello<|end|>\n"
            "<|user|>\nBye<|end|>\n<|assistant|>\n");
  EXPECT_EQ(render_chat(ChatTemplate::Gemma, m),
            "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello<end_of_turn>\n"
            "<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n");
  EXPECT_EQ(render_chat(ChatTemplate::BitNet, m),
            "System: Be brief.<|eot_id|>User: Hi<|eot_id|>Assistant: Hello<|eot_id|>User: Bye<|eot_id|>"
            "Assistant: ");
  EXPECT_EQ(render_chat(ChatTemplate::BitNetCpp, m),
            "System: Be brief.\n\nHuman: Hi\n\nBITNETAssistant: Hello<|eot_id|>Human: Bye\n\n"
            "BITNETAssistant: ");
}

TEST(TextStream, HoldsBackIncompleteUtf8) {
  TextStream t({});
  EXPECT_EQ(t.push("a\xc3"), "a");
  EXPECT_EQ(t.push("\xa9\xe2\x82"), "\xc3\xa9");
  EXPECT_EQ(t.push("\xac!"), "\xe2\x82\xac!");
  EXPECT_EQ(t.push("\xf0\x9f"), "");
  EXPECT_EQ(t.finish(), "\xf0\x9f");  // the end: what is held comes out
}

TEST(TextStream, StopStringAcrossTokensEndsTheTextBeforeIt) {
  TextStream t({"END", "xyz"});
  EXPECT_EQ(t.push("hello E"), "hello ");  // "E" may start "END"
  EXPECT_EQ(t.push("N"), "");
  EXPECT_EQ(t.push("Dtail"), "");
  EXPECT_TRUE(t.stopped());
  EXPECT_EQ(t.push("more"), "");
  EXPECT_EQ(t.finish(), "");

  TextStream u({"END"});
  EXPECT_EQ(u.push("EN"), "");
  EXPECT_EQ(u.push("O"), "ENO");  // no longer a prefix: released
  EXPECT_FALSE(u.stopped());
  EXPECT_EQ(u.push("E"), "");
  EXPECT_EQ(u.finish(), "E");
}

}  // namespace
