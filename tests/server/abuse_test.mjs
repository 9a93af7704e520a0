// trix-server under abuse (Node, no packages): 1000 connections opened at
// once, each asking /health; 500 that connect and hang up at once; clients
// that send half a request line and stall (the server drops them after its
// --read-timeout); slow-header clients below the HTTP thread count; and the
// server still answering a completion at the end.
// Usage: node abuse_test.mjs <base url> <read timeout seconds>
import assert from 'node:assert/strict';
import net from 'node:net';

const base = new URL(process.argv[2]);
const readTimeout = Number(process.argv[3]);
const host = base.hostname;
const port = Number(base.port);

// One raw request; resolves with the status line's code (0: no answer).
function rawGet(path) {
  return new Promise((resolve) => {
    const s = net.connect(port, host, () => {
      s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    });
    let data = '';
    s.on('data', (d) => (data += d));
    s.on('error', () => resolve(0));
    s.on('close', () => resolve(Number(data.split(' ')[1] ?? 0)));
    s.setTimeout(60000, () => s.destroy());
  });
}

let t0 = performance.now();
const codes = await Promise.all(Array.from({ length: 1000 }, () => rawGet('/health')));
const ok = codes.filter((c) => c === 200).length;
assert.equal(ok, 1000, `only ${ok} of 1000 concurrent connections got 200 (${[...new Set(codes)]})`);
console.log(`ok: 1000 concurrent connections all answered 200 in ${((performance.now() - t0) / 1000).toFixed(2)} s`);

await Promise.all(
  Array.from({ length: 500 }, () => new Promise((resolve) => {
    const s = net.connect(port, host, () => s.destroy());
    s.on('close', resolve);
    s.on('error', resolve);
  })),
);
assert.equal(await rawGet('/health'), 200);
console.log('ok: 500 connect-and-hang-up clients');

// Stalled clients: half a request line, then nothing; answered (400) or
// dropped once the read timeout passes, never left holding a thread.
t0 = performance.now();
const alive = setInterval(() => {}, 1000);  // keeps Node's loop up while only sockets wait
const stalled = await Promise.all(Array.from({ length: 8 }, () => new Promise((resolve) => {
  const s = net.connect(port, host, () => s.write('POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Le'));
  const done = () => { resolve((performance.now() - t0) / 1000); s.destroy(); };
  s.on('data', done);
  s.on('end', done);
  s.on('close', done);
  s.on('error', () => {});
  setTimeout(() => { resolve(Infinity); s.destroy(); }, 4000 * readTimeout);
})));
clearInterval(alive);
for (const s of stalled) assert.ok(s < readTimeout + 2, `a stalled client was kept ${s} s`);
console.log(`ok: stalled clients answered after ${Math.max(...stalled).toFixed(2)} s (read timeout ${readTimeout} s)`);

// Slow headers (one byte every 200 ms) while others are served.
const slow = Array.from({ length: 8 }, () => {
  const s = net.connect(port, host);
  s.on('error', () => {});
  const text = 'GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(20);
  let i = 0;
  const timer = setInterval(() => { if (i < text.length) s.write(text[i++]); }, 200);
  return { s, timer };
});
t0 = performance.now();
for (let i = 0; i < 20; ++i) assert.equal(await rawGet('/health'), 200);
const served = (performance.now() - t0) / 1000;
for (const { s, timer } of slow) { clearInterval(timer); s.destroy(); }
assert.ok(served < 2, `20 requests took ${served} s beside slow-header clients`);
console.log(`ok: served 20 requests in ${served.toFixed(2)} s beside 8 slow-header clients`);

const res = await fetch(new URL('/v1/completions', base), {
  method: 'POST', body: JSON.stringify({ prompt: 'Once upon a time', max_tokens: 8, temperature: 0 }),
});
assert.equal(res.status, 200);
assert.ok((await res.json()).choices[0].text.startsWith(', there was'));
console.log('ok: still generating after the abuse');
