#!/usr/bin/env bash
# trix-server end to end with curl over loopback on stories260K: each
# endpoint, streaming and not, stop strings, n, logprobs, every class of bad
# request (malformed JSON, wrong types, unknown parameters, a huge body,
# invalid UTF-8, a prompt longer than the context, bad token ids, a missing
# or wrong API key) with its status and OpenAI error JSON, a client that
# disconnects mid-stream (its generation is cancelled: /metrics), and the
# server still serving afterwards.
# Usage: curl_test.sh <trix-server binary>
source "$(dirname "$0")/lib.sh" "$1"

start_server s --chat-template chatml
u=$s_url

# post <path> <json body>: prints "<status> <body>".
post() { curl -s -o "$workdir/body" -w '%{http_code}' -H 'Content-Type: application/json' \
           --data-binary "$2" "$u$1"; echo " $(cat "$workdir/body")"; }
# expect_error <status> <param-or-empty> <path> <body>
expect_error() {
  local want=$1 param=$2 path=$3 body=$4 out status json
  out=$(post "$path" "$body")
  status=${out%% *}
  json=${out#* }
  [[ $status == "$want" ]] || fail "$path $body: status $status, want $want: $json"
  [[ $(jq -r '.error.message | length > 0' <<<"$json") == true ]] || fail "no error.message: $json"
  [[ $(jq -r '.error.type' <<<"$json") != null ]] || fail "no error.type: $json"
  if [[ -n $param ]]; then
    [[ $(jq -r '.error.param' <<<"$json") == "$param" ]] || fail "error.param is not $param: $json"
  fi
  echo "ok: $status for $path $(head -c 60 <<<"$body")"
}

# -- health, models, tokenize / detokenize
[[ $(curl -s "$u/health" | jq -r .status) == ok ]] || fail /health
[[ $(curl -s "$u/v1/models" | jq -r '.data[0].id') == stories260K-llamacpp ]] || fail /v1/models
toks=$(post /tokenize '{"content":"Once upon a time"}')
[[ ${toks%% *} == 200 ]] || fail "tokenize: $toks"
ids=$(jq -c .tokens <<<"${toks#* }")
[[ $(jq length <<<"$ids") -gt 2 ]] || fail "tokenize gave $ids"
detok=$(post /detokenize "{\"tokens\":$ids}")
[[ $(jq -r .content <<<"${detok#* }") == "Once upon a time" ]] || fail "detokenize: $detok"
echo "ok: health, models, tokenize round trip ($ids)"

# -- completions: greedy is the story; streaming gives the same text
story=", there was a little girl named Lily"
out=$(post /v1/completions '{"model":"x","prompt":"Once upon a time","max_tokens":20,"temperature":0}')
text=$(jq -r '.choices[0].text' <<<"${out#* }")
[[ $text == "$story"* ]] || fail "completion text: $out"
[[ $(jq -r '.object, .choices[0].finish_reason, .usage.completion_tokens' <<<"${out#* }" | tr '\n' ' ') == "text_completion length 20 " ]] ||
  fail "completion fields: $out"
curl -sN -H 'Content-Type: application/json' "$u/v1/completions" \
  -d '{"prompt":"Once upon a time","max_tokens":20,"temperature":0,"stream":true,"stream_options":{"include_usage":true}}' \
  >"$workdir/sse"
[[ $(tail -n 2 "$workdir/sse" | head -n 1) == "data: [DONE]" ]] || fail "stream does not end with [DONE]"
streamed=$(grep '^data: {' "$workdir/sse" | sed 's/^data: //' | jq -j '.choices[0].text // empty')
[[ $streamed == "$text" ]] || fail "streamed '$streamed' != '$text'"
[[ $(grep '^data: {' "$workdir/sse" | tail -n 1 | sed 's/^data: //' | jq -r .usage.completion_tokens) == 20 ]] ||
  fail "no usage chunk"
echo "ok: completions, streaming = non-streaming, include_usage"

# -- stop strings (held back across tokens), n, logprobs, seeds
out=$(post /v1/completions '{"prompt":"Once upon a time","max_tokens":30,"temperature":0,"stop":["Lily","zzz"]}')
[[ $(jq -r '.choices[0].text' <<<"${out#* }") == ", there was a little girl named " ]] || fail "stop: $out"
[[ $(jq -r '.choices[0].finish_reason' <<<"${out#* }") == stop ]] || fail "stop reason: $out"
out=$(post /v1/completions '{"prompt":"Once","max_tokens":8,"temperature":1,"seed":5,"n":3,"logprobs":2}')
[[ $(jq '.choices | length' <<<"${out#* }") == 3 ]] || fail "n=3: $out"
[[ $(jq '.choices[1].logprobs.top_logprobs[0] | length' <<<"${out#* }") == 2 ]] || fail "logprobs: $out"
again=$(post /v1/completions '{"prompt":"Once","max_tokens":8,"temperature":1,"seed":5,"n":3,"logprobs":2}')
[[ "$(jq -c "[.choices[].text]" <<<"${out#* }")" == "$(jq -c "[.choices[].text]" <<<"${again#* }")" ]] ||
  fail "the same seed gave different texts"
echo "ok: stop strings, n, logprobs, seed"

# -- chat, streaming and not
out=$(post /v1/chat/completions '{"messages":[{"role":"system","content":"Tell a story."},{"role":"user","content":"Hi"}],"max_tokens":10,"temperature":0,"logprobs":true,"top_logprobs":3}')
[[ ${out%% *} == 200 ]] || fail "chat: $out"
[[ $(jq -r '.object, .choices[0].message.role, .choices[0].finish_reason' <<<"${out#* }" | tr '\n' ' ') == "chat.completion assistant length " ]] ||
  fail "chat fields: $out"
[[ $(jq '.choices[0].logprobs.content | length' <<<"${out#* }") == 10 ]] || fail "chat logprobs: $out"
chat_text=$(jq -r '.choices[0].message.content' <<<"${out#* }")
curl -sN "$u/v1/chat/completions" -d '{"messages":[{"role":"system","content":"Tell a story."},{"role":"user","content":"Hi"}],"max_tokens":10,"temperature":0,"stream":true}' >"$workdir/sse"
[[ $(grep '^data: {' "$workdir/sse" | head -n 1 | sed 's/^data: //' | jq -r '.choices[0].delta.role') == assistant ]] ||
  fail "first chunk has no role"
streamed=$(grep '^data: {' "$workdir/sse" | sed 's/^data: //' | jq -j '.choices[0].delta.content // empty')
[[ $streamed == "$chat_text" ]] || fail "chat streamed '$streamed' != '$chat_text'"
echo "ok: chat completions, streaming = non-streaming"

# -- bad requests: 4xx with OpenAI's error JSON
expect_error 400 "" /v1/chat/completions '{"messages": [{"role": "user", "content": "Hi"}'
expect_error 400 "" /v1/completions 'not json'
expect_error 400 "" /v1/completions '[1, 2]'
expect_error 400 temperature /v1/completions '{"prompt":"a","temperature":"hot"}'
expect_error 400 temperature /v1/completions '{"prompt":"a","temperature":3}'
expect_error 400 max_tokens /v1/completions '{"prompt":"a","max_tokens":1.5}'
expect_error 400 n /v1/completions '{"prompt":"a","n":0}'
expect_error 400 stop /v1/completions '{"prompt":"a","stop":[1]}'
expect_error 400 prompt /v1/completions '{"prompt":{"text":"a"}}'
expect_error 400 tools /v1/chat/completions '{"messages":[{"role":"user","content":"a"}],"tools":[]}'
expect_error 400 response_format /v1/chat/completions '{"messages":[{"role":"user","content":"a"}],"response_format":{"type":"json_object"}}'
expect_error 400 echo /v1/completions '{"prompt":"a","echo":true}'
expect_error 400 messages /v1/chat/completions '{"messages":[]}'
expect_error 400 "messages[0].role" /v1/chat/completions '{"messages":[{"role":"wizard","content":"a"}]}'
expect_error 400 top_logprobs /v1/chat/completions '{"messages":[{"role":"user","content":"a"}],"top_logprobs":2}'
expect_error 400 "" /v1/chat/completions "$(printf '{"messages":[{"role":"user","content":"bad \xff\xfe utf-8"}]}')"
long=$(head -c 2000 /dev/zero | tr '\0' 'x' | sed 's/x/Lily /g')
expect_error 400 prompt /v1/completions "{\"prompt\":\"$long\"}"
[[ $(jq -r .error.code <<<"$(cat "$workdir/body")") == context_length_exceeded ]] || fail "no context_length_exceeded"
expect_error 400 tokens /detokenize '{"tokens":[1, 99999]}'
expect_error 400 prompt /v1/completions '{"prompt":[1, -5]}'
head -c 2000000 /dev/zero | tr '\0' 'a' | sed 's/^/{"prompt":"/; s/$/"}/' >"$workdir/huge"
status=$(curl -s -o "$workdir/body" -w '%{http_code}' --data-binary @"$workdir/huge" "$u/v1/completions")
[[ $status == 413 ]] || fail "huge body: $status $(cat "$workdir/body")"
[[ $(jq -r .error.message <"$workdir/body") == *max-body* ]] || fail "413 body: $(cat "$workdir/body")"
echo "ok: 413 for a 2 MB body"
status=$(curl -s -o /dev/null -w '%{http_code}' "$u/v1/nothing")
[[ $status == 404 ]] || fail "unknown endpoint: $status"

# -- a client that goes away mid-stream cancels its generation
before=$(metric "$u" trix_generated_tokens_total)
curl -sN "$u/v1/completions" -d '{"prompt":"Once","max_tokens":120,"n":16,"temperature":1,"stream":true}' |
  head -c 600 >/dev/null || true
for _ in $(seq 1 100); do
  [[ $(metric "$u" trix_requests_cancelled_total) == 1 && $(metric "$u" trix_running_sequences) == 0 ]] && break
  sleep 0.05
done
[[ $(metric "$u" trix_requests_cancelled_total) == 1 ]] || fail "disconnect did not cancel"
[[ $(metric "$u" trix_running_sequences) == 0 ]] || fail "still running after the disconnect"
[[ $(metric "$u" trix_kv_cache_blocks_used) == 0 ]] || fail "KV still held after the disconnect"
after=$(metric "$u" trix_generated_tokens_total)
generated=$((after - before))
((generated < 16 * 60)) || fail "the disconnected request generated $generated tokens"
echo "ok: disconnect mid-stream cancelled after $generated tokens (of up to $((16 * 120)))"

# -- still serving; metrics carry the histograms and gauges
[[ $(curl -s "$u/health" | jq -r .status) == ok ]] || fail "not serving after the abuse"
m=$(curl -s "$u/metrics")
for name in trix_requests_total trix_prompt_tokens_total trix_generated_tokens_total trix_queue_depth \
  trix_running_sequences trix_kv_cache_utilization trix_time_to_first_token_seconds_bucket \
  trix_inter_token_latency_seconds_count; do
  grep -q "^$name" <<<"$m" || fail "/metrics lacks $name"
done
grep -q 'trix_requests_total{endpoint="/v1/completions",status="400"}' <<<"$m" || fail "400s not counted"
echo "ok: metrics"

# -- queue full: 503 with Retry-After. 20 long streams at once with
# --max-queue 1: one runs, one waits, the rest are refused; the clients are
# then killed and their generations cancelled (the waiting one included).
start_server q --max-queue 1
long_stream='{"prompt":"Once","max_tokens":120,"n":16,"temperature":1,"stream":true}'
clients=()
for i in $(seq 1 20); do
  curl -sN -D "$workdir/hdr$i" -o /dev/null "$q_url/v1/completions" -d "$long_stream" &
  clients+=($!)
done
refused=0
for _ in $(seq 1 200); do
  refused=$(cat "$workdir"/hdr* 2>/dev/null | grep -c '^HTTP/1.1 503' || true)
  ((refused > 0)) && break
  sleep 0.05
done
((refused > 0)) || fail "no request was refused with --max-queue 1"
for h in "$workdir"/hdr*; do
  if grep -q '^HTTP/1.1 503' "$h"; then grep -qi '^Retry-After: 1' "$h" || fail "503 without Retry-After: $(cat "$h")"; fi
done
kill "${clients[@]}" 2>/dev/null || true
wait "${clients[@]}" 2>/dev/null || true
for _ in $(seq 1 200); do
  [[ $(metric "$q_url" trix_running_sequences) == 0 && $(metric "$q_url" trix_queue_depth) == 0 ]] && break
  sleep 0.05
done
[[ $(metric "$q_url" trix_running_sequences) == 0 && $(metric "$q_url" trix_queue_depth) == 0 ]] ||
  fail "the killed clients' requests are still running or queued"
[[ $(curl -s -o /dev/null -w '%{http_code}' "$q_url/v1/completions" -d '{"prompt":"a","max_tokens":2}') == 200 ]] ||
  fail "not serving after the queue emptied"
echo "ok: $refused of 20 refused with 503 + Retry-After (--max-queue 1); the killed clients' requests ended"

# -- API key: 401 without or with a wrong one; /health stays open
start_server k --api-key s3cret
for auth in "" "Authorization: Bearer wrong" "Authorization: s3cret"; do
  status=$(curl -s -o "$workdir/body" -w '%{http_code}' -H "$auth" "$k_url/v1/models")
  [[ $status == 401 ]] || fail "API key '$auth': $status"
  [[ $(jq -r .error.code <"$workdir/body") == invalid_api_key ]] || fail "401 body: $(cat "$workdir/body")"
done
[[ $(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer s3cret" "$k_url/v1/models") == 200 ]] ||
  fail "right key refused"
[[ $(curl -s -o /dev/null -w '%{http_code}' "$k_url/health") == 200 ]] || fail "/health needs the key"
# No chat template (stories260K has none and none given): a clear 400.
out=$(curl -s -H "Authorization: Bearer s3cret" "$k_url/v1/chat/completions" -d '{"messages":[{"role":"user","content":"a"}]}')
[[ $(jq -r .error.message <<<"$out") == *--chat-template* ]] || fail "no-template error: $out"
echo "ok: API key, missing chat template"
echo "all trix-server curl checks passed"
