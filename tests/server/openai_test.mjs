// trix-server driven by the official `openai` npm client: models, completions
// and chat completions, streaming and not (streamed text = non-streamed text
// for greedy decoding, usage in the last chunk with include_usage), a 400 the
// client raises as BadRequestError, and a stream the client aborts (the
// server cancels it: /metrics).
// Usage: node openai_test.mjs <base url, e.g. http://127.0.0.1:8080>
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const base = process.argv[2];
const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'test-key', maxRetries: 0, timeout: 30000 });
const story = ', there was a little girl named Lily';

const models = await client.models.list();
assert.equal(models.data[0].id, 'stories260K-llamacpp');

const done = await client.completions.create({
  model: 'stories260K-llamacpp', prompt: 'Once upon a time', max_tokens: 20, temperature: 0,
});
assert.ok(done.choices[0].text.startsWith(story), done.choices[0].text);
assert.equal(done.usage.completion_tokens, 20);
assert.equal(done.choices[0].finish_reason, 'length');

let streamed = '';
for await (const chunk of await client.completions.create({
  model: 'x', prompt: 'Once upon a time', max_tokens: 20, temperature: 0, stream: true,
})) {
  streamed += chunk.choices[0]?.text ?? '';
}
assert.equal(streamed, done.choices[0].text);
console.log('ok: completions, streaming and not');

const messages = [{ role: 'system', content: 'Tell a story.' }, { role: 'user', content: 'Hi' }];
const chat = await client.chat.completions.create({
  model: 'x', messages, max_tokens: 12, temperature: 0, logprobs: true, top_logprobs: 2,
});
assert.equal(chat.choices[0].message.role, 'assistant');
assert.equal(chat.choices[0].logprobs.content.length, 12);
assert.equal(chat.choices[0].logprobs.content[0].top_logprobs.length, 2);
let chatStreamed = '';
let usage = null;
for await (const chunk of await client.chat.completions.create({
  model: 'x', messages, max_tokens: 12, temperature: 0, stream: true,
  stream_options: { include_usage: true },
})) {
  chatStreamed += chunk.choices[0]?.delta?.content ?? '';
  if (chunk.usage) usage = chunk.usage;
}
assert.equal(chatStreamed, chat.choices[0].message.content);
assert.equal(usage.completion_tokens, 12);
assert.equal(usage.total_tokens, usage.prompt_tokens + 12);
console.log('ok: chat completions, streaming and not, logprobs, include_usage');

await assert.rejects(
  client.chat.completions.create({ model: 'x', messages, temperature: 5 }),
  (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === 'temperature',
);
await assert.rejects(
  client.completions.create({ model: 'x', prompt: 'a', suffix: 'b' }),
  (e) => e instanceof OpenAI.BadRequestError && /suffix/.test(e.message),
);
console.log('ok: 400s raised as BadRequestError');

const metric = async (name) => {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line.split(' ')[1]);
};
const cancelledBefore = await metric('trix_requests_cancelled_total');
const abort = new AbortController();
const stream = await client.completions.create(
  { model: 'x', prompt: 'Once', max_tokens: 120, n: 16, temperature: 1, stream: true },
  { signal: abort.signal },
);
let chunks = 0;
try {
  for await (const chunk of stream) {
    void chunk;
    if (++chunks === 5) abort.abort();
  }
} catch (e) {
  assert.ok(e instanceof OpenAI.APIUserAbortError || e.name === 'AbortError', String(e));
}
let cancelled = 0;
for (let i = 0; i < 100 && cancelled === 0; ++i) {
  await new Promise((r) => setTimeout(r, 50));
  cancelled = (await metric('trix_requests_cancelled_total')) - cancelledBefore;
}
assert.equal(cancelled, 1);
assert.equal(await metric('trix_running_sequences'), 0);
console.log('ok: an aborted stream is cancelled on the server');
console.log('all openai client checks passed');
