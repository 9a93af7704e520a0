// Chat templates for trix-server: Debian packages no C++ Jinja engine, so,
// as llama.cpp does, the common templates are recognised by marker strings
// in the GGUF's tokenizer.chat_template and rendered by hand:
//   chatml   <|im_start|>role\ncontent<|im_end|>\n ... <|im_start|>assistant\n
//   llama2   [INST] <<SYS>>\nsystem\n<</SYS>>\n\nuser [/INST] answer</s><s>[INST] ...
//   llama3   <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|> ...
//   zephyr   <|role|>\ncontent<|endoftext|>\n ... <|assistant|>\n
//   phi3     <|role|>\ncontent<|end|>\n ... <|assistant|>\n
//   gemma    <start_of_turn>user|model\ncontent<end_of_turn>\n (system folded into the first user turn)
//   bitnet   System: / User: / Assistant: content<|eot_id|> ... Assistant:   (microsoft/bitnet-b1.58-2B-4T)
//   bitnet-cpp  Human: content\n\nBITNETAssistant: content<|eot_id|>  (bitnet.cpp's converter)
// BOS is not part of the text: the tokenizer adds it as the model asks. An
// unrecognised template is an error naming --chat-template, never a guess.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "trix/core/error.h"

namespace trix::server {

struct ChatMessage {
  std::string role;  // system, user, assistant
  std::string content;
};

enum class ChatTemplate { ChatML, Llama2, Llama3, Zephyr, Phi3, Gemma, BitNet, BitNetCpp };

inline constexpr std::pair<std::string_view, ChatTemplate> kChatTemplateNames[] = {
    {"chatml", ChatTemplate::ChatML}, {"llama2", ChatTemplate::Llama2},
    {"llama3", ChatTemplate::Llama3}, {"zephyr", ChatTemplate::Zephyr},
    {"phi3", ChatTemplate::Phi3},     {"gemma", ChatTemplate::Gemma},
    {"bitnet", ChatTemplate::BitNet}, {"bitnet-cpp", ChatTemplate::BitNetCpp},
};

inline std::string chat_template_names() {
  std::string out;
  for (const auto& [name, t] : kChatTemplateNames) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

// `spec` is a template name (see kChatTemplateNames) or a Jinja template's
// text; `origin` says where it came from, for the error. Throws trix::Error
// when the text matches none of the known templates.
inline ChatTemplate detect_chat_template(std::string_view spec, const std::string& origin) {
  for (const auto& [name, t] : kChatTemplateNames) {
    if (spec == name) return t;
  }
  const auto has = [&](std::string_view s) { return spec.find(s) != std::string_view::npos; };
  if (has("<|im_start|>")) return ChatTemplate::ChatML;
  if (has("<|start_header_id|>") && has("<|end_header_id|>")) return ChatTemplate::Llama3;
  if (has("<start_of_turn>")) return ChatTemplate::Gemma;
  if (has("<|assistant|>") && has("<|end|>")) return ChatTemplate::Phi3;
  if (has("<|user|>") && has("<|endoftext|>")) return ChatTemplate::Zephyr;
  if (has("BITNETAssistant")) return ChatTemplate::BitNetCpp;
  if (has("'Assistant: '") && has("<|eot_id|>")) return ChatTemplate::BitNet;
  // llama-2 style; Mistral's tool-calling variants share [INST] but not the format.
  if (has("[INST]") && !has("[AVAILABLE_TOOLS]") && !has("[SYSTEM_PROMPT]")) {
    return ChatTemplate::Llama2;
  }
  std::string msg = origin;
  msg += ": unrecognised chat template (known: ";
  msg += chat_template_names();
  msg += "); pass --chat-template NAME";
  throw Error(msg);
}

namespace detail {

// a + b + c, built by appending (GCC 12 -O3 warns falsely on literal + string).
inline std::string cat(std::string_view a, std::string_view b, std::string_view c) {
  std::string s(a);
  s += b;
  s += c;
  return s;
}

inline std::string trimmed(std::string_view s) {
  const auto ws = [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; };
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return std::string(s);
}

// Templates of the form  open(role) + content + close  per message, then
// open(assistant) to prompt the answer.
template <class Open>
std::string render_turns(const std::vector<ChatMessage>& msgs, Open open, std::string_view close,
                         bool trim) {
  std::string out;
  for (const auto& m : msgs) {
    out += open(m.role);
    out += trim ? trimmed(m.content) : m.content;
    out += close;
  }
  out += open("assistant");
  return out;
}

}  // namespace detail

// The prompt text for `msgs` (roles already checked to be system, user or
// assistant), ending where the assistant's answer starts.
inline std::string render_chat(ChatTemplate t, const std::vector<ChatMessage>& msgs) {
  using detail::render_turns;
  switch (t) {
    case ChatTemplate::ChatML:
      return render_turns(msgs, [](const std::string& r) { return detail::cat("<|im_start|>", r, "\n"); },
                          "<|im_end|>\n", false);
    case ChatTemplate::Llama3:
      return render_turns(
          msgs, [](const std::string& r) { return detail::cat("<|start_header_id|>", r, "<|end_header_id|>\n\n"); },
          "<|eot_id|>", true);
    case ChatTemplate::Zephyr:
      return render_turns(msgs, [](const std::string& r) { return detail::cat("<|", r, "|>\n"); },
                          "<|endoftext|>\n", false);
    case ChatTemplate::Phi3:
      return render_turns(msgs, [](const std::string& r) { return detail::cat("<|", r, "|>\n"); }, "<|end|>\n",
                          false);
    case ChatTemplate::BitNet:
      return render_turns(
          msgs,
          [](const std::string& r) {
            return r == "system" ? std::string("System: ")
                   : r == "user" ? std::string("User: ")
                                 : std::string("Assistant: ");
          },
          "<|eot_id|>", true);
    case ChatTemplate::BitNetCpp: {
      std::string out;
      for (const auto& m : msgs) {
        if (m.role == "assistant") {
          out += detail::cat("BITNETAssistant: ", m.content, "<|eot_id|>");
        } else {
          out += detail::cat(m.role == "system" ? "System: " : "Human: ", m.content, "\n\n");
        }
      }
      out += "BITNETAssistant: ";
      return out;
    }
    case ChatTemplate::Gemma: {
      std::string out, system;
      for (const auto& m : msgs) {
        if (m.role == "system") {
          system += detail::cat(detail::trimmed(m.content), "\n\n", "");
          continue;
        }
        out += "<start_of_turn>";
        out += m.role == "assistant" ? "model\n" : "user\n";
        if (m.role == "user") {
          out += system;
          system.clear();
        }
        out += detail::cat(detail::trimmed(m.content), "<end_of_turn>\n", "");
      }
      out += "<start_of_turn>model\n";
      return out;
    }
    case ChatTemplate::Llama2: {
      std::string out = "[INST] ";
      for (const auto& m : msgs) {
        if (m.role == "system") {
          out += detail::cat("<<SYS>>\n", detail::trimmed(m.content), "\n<</SYS>>\n\n");
        } else if (m.role == "user") {
          out += detail::cat(detail::trimmed(m.content), " [/INST]", "");
        } else {
          out += detail::cat(" ", detail::trimmed(m.content), " </s><s>[INST] ");
        }
      }
      return out;
    }
  }
  return {};
}

}  // namespace trix::server
