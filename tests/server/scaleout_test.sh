#!/usr/bin/env bash
# Scale-out: two trix-server replicas on stories260K behind nginx running
# examples/server/deploy/nginx/trix.conf (its replica addresses, listen port and log path
# rewritten to loopback ports and a temporary folder; its own nginx -p/-c, not
# the system's), all on 127.0.0.1. Streaming requests go through nginx, one
# replica is killed (SIGKILL) mid-run, and the test shows:
#  - least_conn spread the requests over both replicas;
#  - every request on the live replica completes (all its tokens, [DONE]);
#  - the killed replica's in-flight requests fail cleanly: the client has had
#    200 and the `data:` events so far, then nginx closes the connection without the
#    final chunk, so there is no `data: [DONE]` and curl exits 18 (transfer
#    closed with outstanding read data); no request hangs;
#  - new requests all succeed on the live replica (nginx's connect to the dead
#    one is refused and it moves on; X-Trix-Replica names where each went),
#    then the load script (bench/server/load.mjs) runs through nginx with no
#    errors;
#  - a body over the limit gets nginx's 413 in OpenAI's error JSON.
# Skips (77) only when nginx is not installed. Usage: scaleout_test.sh <trix-server>
command -v nginx >/dev/null || { echo "skipped: nginx is not installed (apt-get install nginx)"; exit 77; }
source "$(dirname "$0")/lib.sh" "$1"
root=$(cd "$(dirname "$0")/../.." && pwd)

start_server a --parallel 8
start_server b --parallel 8
a_addr=${a_url#http://}
b_addr=${b_url#http://}
a_pid=${pids[0]}

# -- nginx with the shipped config on a free loopback port
ngx=$workdir/nginx
mkdir -p "$ngx"
render() {
  sed -e "s|127.0.0.1:8081|$a_addr|" -e "s|127.0.0.1:8082|$b_addr|" \
      -e "s|listen 8080;|listen 127.0.0.1:$1;|" -e "s|/var/log/nginx/trix_access.log|$ngx/access.log|" \
      "$root/examples/server/deploy/nginx/trix.conf" >"$ngx/trix.conf"
  for want in "server $a_addr " "server $b_addr " "listen 127.0.0.1:$1;" "$ngx/access.log"; do
    grep -qF "$want" "$ngx/trix.conf" || fail "examples/server/deploy/nginx/trix.conf no longer has the line the test rewrites to '$want'"
  done
  {
    echo "daemon off; worker_processes 1; pid $ngx/nginx.pid; error_log $ngx/error.log info;"
    [[ $(id -u) == 0 ]] && echo "user root;"  # workers keep access to the temporary folder
    echo "events { worker_connections 512; }"
    echo "http {"
    for t in client_body proxy fastcgi uwsgi scgi; do echo "  ${t}_temp_path $ngx/$t;"; done
    echo "  include $ngx/trix.conf;"
    echo "}"
  } >"$ngx/nginx.conf"
}
port=""
for _ in 1 2 3 4 5; do
  p=$((20000 + RANDOM % 40000))
  (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue  # taken
  render "$p"
  nginx -t -q -e "$ngx/error.log" -p "$ngx" -c "$ngx/nginx.conf" || { cat "$ngx/error.log" >&2; fail "nginx -t"; }
  nginx -e "$ngx/error.log" -p "$ngx" -c "$ngx/nginx.conf" &
  ngx_pid=$!
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$p/health" && { port=$p; break; }
    kill -0 "$ngx_pid" 2>/dev/null || break
    sleep 0.05
  done
  [[ -n $port ]] && { pids+=("$ngx_pid"); break; }
  kill "$ngx_pid" 2>/dev/null || true
  wait "$ngx_pid" 2>/dev/null || true
done
[[ -n $port ]] || { cat "$ngx/error.log" >&2; fail "nginx did not start"; }
u=http://127.0.0.1:$port
echo "ok: nginx on $u in front of $a_addr (a) and $b_addr (b)"

[[ $(curl -s "$u/health" | jq -r .status) == ok ]] || fail "/health through nginx"

# stream <name> <max_tokens>: a streaming completion through nginx in the
# background; headers, body and curl's exit status land in $workdir/<name>.*
stream_pids=()
stream() {
  (
    rc=0
    curl -sN --max-time 20 -D "$workdir/$1.hdr" -o "$workdir/$1.sse" -H 'Content-Type: application/json' \
      -d "{\"prompt\":\"Once upon a time\",\"max_tokens\":$2,\"temperature\":0.8,\"seed\":$RANDOM,\"stream\":true}" \
      "$u/v1/completions" || rc=$?
    echo "$rc" >"$workdir/$1.rc"
  ) &
  stream_pids+=($!)
}
replica() { tr -d '\r' <"$workdir/$1.hdr" | sed -n 's/^[Xx]-[Tt]rix-[Rr]eplica: //p'; }
status() { head -n 1 "$workdir/$1.hdr" | awk '{print $2}'; }
tokens() { grep -c '^data: {' "$workdir/$1.sse" || true; }
done_seen() { grep -q '^data: \[DONE\]' "$workdir/$1.sse"; }

# -- phase 1: 8 long streams, kill a once both replicas are generating
n=8
max=120
for i in $(seq 1 $n); do stream "s$i" $max; done
for _ in $(seq 1 200); do
  ra=$(metric "$a_url" trix_running_sequences)
  rb=$(metric "$b_url" trix_running_sequences)
  [[ ${ra:-0} -ge 2 && ${rb:-0} -ge 2 ]] && break
  sleep 0.02
done
echo "running before the kill: a=$ra b=$rb"
kill -9 "$a_pid"
wait "$a_pid" 2>/dev/null || true
for p in "${stream_pids[@]}"; do wait "$p"; done

on_a=0 on_b=0 cut=0
for i in $(seq 1 $n); do
  s=s$i r=$(replica "s$i") rc=$(cat "$workdir/s$i.rc") t=$(tokens "s$i")
  [[ $(status "$s") == 200 ]] || fail "$s: status $(status "$s")"
  if [[ $r == "$b_addr" ]]; then
    on_b=$((on_b + 1))
    [[ $rc == 0 && $t == "$max" ]] && done_seen "$s" ||
      fail "$s on the live replica did not complete: curl $rc, $t of $max tokens"
  elif [[ $r == "$a_addr" ]]; then
    on_a=$((on_a + 1))
    if [[ $rc == 0 ]]; then  # finished before the kill
      [[ $t == "$max" ]] && done_seen "$s" || fail "$s: curl 0 but $t of $max tokens"
    else
      [[ $rc == 18 ]] || fail "$s on the killed replica: curl exit $rc, want 18 (truncated)"
      ! done_seen "$s" || fail "$s: [DONE] after its replica died"
      [[ $t -lt $max ]] || fail "$s: all $t tokens yet truncated"
      cut=$((cut + 1))
    fi
  else
    fail "$s: X-Trix-Replica is '$r'"
  fi
done
((on_a > 0 && on_b > 0)) || fail "least_conn did not spread the streams: a=$on_a b=$on_b"
((cut > 0)) || fail "no stream was in flight on a when it was killed"
echo "ok: $n streams, a=$on_a (killed: $cut cut off after 200 + some tokens, no [DONE], curl 18), b=$on_b all complete"

# -- phase 2: new requests all succeed and go to b
stream_pids=()
for i in $(seq 1 $n); do stream "t$i" 16; done
for p in "${stream_pids[@]}"; do wait "$p"; done
for i in $(seq 1 $n); do
  s=t$i r=$(replica "t$i")
  [[ $(status "$s") == 200 && $(cat "$workdir/$s.rc") == 0 && $(tokens "$s") == 16 ]] && done_seen "$s" ||
    fail "$s after the kill: status $(status "$s"), curl $(cat "$workdir/$s.rc"), $(tokens "$s") tokens"
  [[ ${r##*, } == "$b_addr" ]] || fail "$s after the kill answered by '$r'"
done
retried=0
for i in $(seq 1 $n); do [[ $(replica "t$i") == *,* ]] && retried=$((retried + 1)); done
cut_log=$(grep -c "upstream prematurely closed connection.*$a_addr" "$ngx/error.log" || true)
refused_log=$(grep -c "Connection refused) while connecting to upstream.*$a_addr" "$ngx/error.log" || true)
((cut_log == cut)) || fail "nginx logged $cut_log streams cut off by a, the clients saw $cut"
echo "ok: $n new streams after the kill all complete on b ($retried first tried a: connection" \
  "refused, $refused_log in nginx's log; then a is out for fail_timeout)"

if command -v node >/dev/null; then
  node "$root/bench/server/load.mjs" --url "$u" --concurrency 1,4 --requests 3 --max-tokens 32 --deadline 15 ||
    fail "load.mjs through nginx reported errors"
  echo "ok: load.mjs through nginx, no errors"
else
  echo "note: node is not installed; load.mjs phase not run"
fi

# -- a body over the limit: nginx's 413 in OpenAI's error JSON
head -c $((1024 * 1024 + 1)) /dev/zero | tr '\0' 'x' >"$workdir/big"
code=$(curl -s -o "$workdir/big.out" -w '%{http_code}' -H 'Content-Type: application/json' \
  --data-binary @"$workdir/big" "$u/v1/completions")
[[ $code == 413 && $(jq -r .error.type "$workdir/big.out") == invalid_request_error ]] ||
  fail "big body: $code $(head -c 200 "$workdir/big.out")"
echo "ok: 413 in OpenAI's error JSON for a body over 1 MiB"
[[ $(curl -s "$u/health" | jq -r .status) == ok ]] || fail "/health through nginx at the end"
echo "scale-out test passed"
