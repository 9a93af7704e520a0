// Load test for trix-server (Node 20, no packages): C concurrent clients, each
// sending streaming /v1/completions requests back to back until it has done
// R of them, for each C in the list. Reports per concurrency: requests/s,
// output tokens/s, time to first token and inter-token latency (p50, p99,
// measured at the client from the SSE chunks) and the peak KV-cache
// utilisation seen on /metrics. Bounded: every request has max_tokens, and
// the run stops after --deadline seconds whatever is left.
//
//   node bench/server/load.mjs --url http://127.0.0.1:8080 [--concurrency 1,4,16,64]
//        [--requests 4] [--max-tokens 64] [--prompt "Once upon a time"] [--json out.json]
const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const url = args.url ?? 'http://127.0.0.1:8080';
const levels = (args.concurrency ?? '1,4,16,64').split(',').map(Number);
const perClient = Number(args.requests ?? 4);
const maxTokens = Number(args['max-tokens'] ?? 64);
const prompt = args.prompt ?? 'Once upon a time';
const deadline = Date.now() + 1000 * Number(args.deadline ?? 600);

const pct = (xs, p) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

async function kvUtilisation() {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('trix_kv_cache_utilization '));
  return line ? Number(line.split(' ')[1]) : NaN;
}

async function oneRequest(stats) {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ prompt, max_tokens: maxTokens, temperature: 0.8, seed: stats.tokens, stream: true }),
  });
  if (res.status !== 200) {
    stats.errors++;
    await res.text();
    return;
  }
  let last = null;
  let buf = '';
  const decoder = new TextDecoder();
  for await (const part of res.body) {
    buf += decoder.decode(part, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (!ev.startsWith('data: {')) continue;
      const chunk = JSON.parse(ev.slice(6));
      if (!chunk.choices?.[0]?.text) continue;
      const now = performance.now();
      if (last === null) stats.ttft.push((now - t0) / 1000);
      else stats.itl.push((now - last) / 1000);
      last = now;
      stats.tokens++;
    }
  }
  stats.requests++;
}

const results = [];
for (const c of levels) {
  const stats = { requests: 0, errors: 0, tokens: 0, ttft: [], itl: [] };
  let kvPeak = 0;
  let running = true;
  const sampler = (async () => {
    while (running) {
      kvPeak = Math.max(kvPeak, await kvUtilisation());
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: c }, async () => {
      for (let r = 0; r < perClient && Date.now() < deadline; ++r) await oneRequest(stats);
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  running = false;
  await sampler;
  const row = {
    concurrency: c,
    requests: stats.requests,
    errors: stats.errors,
    seconds: +seconds.toFixed(3),
    requests_per_s: +(stats.requests / seconds).toFixed(2),
    output_tokens_per_s: +(stats.tokens / seconds).toFixed(1),
    ttft_p50_ms: +(1000 * pct(stats.ttft, 50)).toFixed(1),
    ttft_p99_ms: +(1000 * pct(stats.ttft, 99)).toFixed(1),
    itl_p50_ms: +(1000 * pct(stats.itl, 50)).toFixed(2),
    itl_p99_ms: +(1000 * pct(stats.itl, 99)).toFixed(2),
    kv_utilisation_peak: +kvPeak.toFixed(3),
  };
  results.push(row);
  console.log(JSON.stringify(row));
}
if (args.json) (await import('node:fs')).writeFileSync(args.json, JSON.stringify(results, null, 2));
console.log('\nconcurrency  req/s  out tok/s  TTFT p50/p99 ms  ITL p50/p99 ms  KV peak');
for (const r of results) {
  console.log(
    `${String(r.concurrency).padStart(11)}  ${String(r.requests_per_s).padStart(5)}  ${String(r.output_tokens_per_s).padStart(9)}  ` +
      `${`${r.ttft_p50_ms}/${r.ttft_p99_ms}`.padStart(14)}  ${`${r.itl_p50_ms}/${r.itl_p99_ms}`.padStart(14)}  ${r.kv_utilisation_peak}`,
  );
}
if (results.some((r) => r.errors > 0)) process.exitCode = 1;
