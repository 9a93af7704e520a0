// Attention over the paged KV cache (trix/serve/paged_kv.h) for a batch of
// tokens from many sequences, and the batched forward pass that runs the
// generated layer graphs over it.
//
// The kernel is flash-attention style: one task per (token, kv head) walks
// the sequence's blocks in position order; each block's keys and values of
// that kv head (block_size x head_dim f16, 4 KiB each at 16 x 128) are
// widened once into an f32 tile that stays in L1 and serves every query
// head of the GQA group; each head keeps a running maximum, a running sum of
// exponentials and an output accumulator, rescaled when the maximum grows
// (online softmax), so no score vector of the context's length is kept.
// The order of every float operation is fixed by the positions alone, so a
// token's result does not depend on which other tokens share the batch or on
// the thread count. It differs from the two-pass contiguous attention
// (cpu::ops::attention_head) by rounding only (tests: relative 1e-5).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "trix/core/error.h"
#include "trix/core/fp16.h"
#include "trix/core/thread_pool.h"
#include "trix/cpu/ops.h"
#include "trix/runtime/forward.h"
#include "trix/runtime/layers.h"
#include "trix/runtime/rope.h"
#include "trix/serve/paged_kv.h"

namespace trix::serve {

namespace detail {

// Sum of a[i] * b[i] in 8 interleaved partial sums, added pairwise at the end.
inline float dot8(const float* a, const float* b, size_t n) {
  float acc[8] = {};
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (size_t j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  }
  for (; i < n; ++i) acc[i % 8] += a[i] * b[i];
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

}  // namespace detail

// Floats of per-thread scratch paged_attention_group needs.
inline size_t paged_attention_scratch(int64_t block_size, int64_t head_dim, int64_t group) {
  return static_cast<size_t>(2 * block_size * head_dim + block_size + group * (head_dim + 2));
}

// Attention of `group` query heads (q: group x head_dim, contiguous) sharing
// kv head `kv_head` over positions [0, n_pos) of the sequence whose blocks
// are `table`, at `layer`; out: group x head_dim. scratch: at least
// paged_attention_scratch(...) floats.
inline void paged_attention_group(const KvBlockPool& kv, const BlockId* table, int64_t layer,
                                  int64_t kv_head, int64_t n_pos, const float* q, int64_t group,
                                  float* out, float* scratch) {
  const int64_t bs = kv.block_size(), hd = kv.head_dim(), kv_dim = kv.kv_dim();
  const auto uhd = static_cast<size_t>(hd);
  float* kt = scratch;
  float* vt = kt + bs * hd;
  float* sc = vt + bs * hd;
  float* acc = sc + bs;              // group x head_dim
  float* run_max = acc + group * hd;  // group
  float* run_sum = run_max + group;   // group
  std::fill(acc, acc + group * hd, 0.0f);
  std::fill(run_max, run_max + group, -std::numeric_limits<float>::infinity());
  std::fill(run_sum, run_sum + group, 0.0f);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  for (int64_t p0 = 0; p0 < n_pos; p0 += bs) {
    const int64_t cnt = std::min(bs, n_pos - p0);
    const BlockId b = table[p0 / bs];
    const uint16_t* kb = kv.keys(b, layer) + kv_head * hd;
    const uint16_t* vb = kv.values(b, layer) + kv_head * hd;
    for (int64_t i = 0; i < cnt; ++i) {
      for (int64_t e = 0; e < hd; ++e) {
        kt[i * hd + e] = fp16_to_fp32(kb[i * kv_dim + e]);
        vt[i * hd + e] = fp16_to_fp32(vb[i * kv_dim + e]);
      }
    }
    for (int64_t g = 0; g < group; ++g) {
      const float* qg = q + g * hd;
      float m = run_max[g];
      for (int64_t i = 0; i < cnt; ++i) {
        sc[i] = detail::dot8(qg, kt + i * hd, uhd) * scale;
        m = std::max(m, sc[i]);
      }
      float* a = acc + g * hd;
      const float correction = std::exp(run_max[g] - m);  // 0 on the first block
      float sum = run_sum[g] * correction;
      for (int64_t e = 0; e < hd; ++e) a[e] *= correction;
      for (int64_t i = 0; i < cnt; ++i) {
        const float p = std::exp(sc[i] - m);
        sum += p;
        const float* vi = vt + i * hd;
        for (int64_t e = 0; e < hd; ++e) a[e] += p * vi[e];
      }
      run_max[g] = m;
      run_sum[g] = sum;
    }
  }
  for (int64_t g = 0; g < group; ++g) {
    const float inv = 1.0f / run_sum[g];
    for (int64_t e = 0; e < hd; ++e) out[g * hd + e] = acc[g * hd + e] * inv;
  }
}

// A batch of tokens from any sequences as the layer graphs see it: token t
// is at position pos[t] of the sequence whose blocks are table[t] (reserved
// up to pos[t] inclusive). Tokens of one sequence come in position order.
struct PagedBatch {
  KvBlockPool* kv = nullptr;
  std::vector<const BlockId*> table;
  std::vector<int64_t> pos;
  std::vector<float> scratch;  // per thread, sized by forward_paged
  size_t scratch_per_thread = 0;
};

// store_and_attend (trix/runtime/layers.h) over a paged batch: stores every
// token's key and value, then attends each (token, kv head) task in parallel.
template <class Shape>
void store_and_attend(const Shape& s, PagedBatch& batch, int64_t layer, int64_t /*pos0*/, int64_t n_tok,
                      ForwardBuffers& b, ThreadPool& pool) {
  KvBlockPool& kv = *batch.kv;
  const int64_t q_dim = s.n_heads * s.head_dim, kv_dim = s.n_kv_heads * s.head_dim;
  const int64_t bs = kv.block_size();
  for (int64_t t = 0; t < n_tok; ++t) {
    const int64_t p = batch.pos[static_cast<size_t>(t)];
    kv.store(batch.table[static_cast<size_t>(t)][p / bs], layer, p % bs, b.k.data() + t * kv_dim,
             b.v.data() + t * kv_dim);
  }
  const int64_t group = s.n_heads / s.n_kv_heads;
  const auto n_tasks = static_cast<size_t>(n_tok * s.n_kv_heads);
  const size_t n_chunks = std::min(pool.num_threads(), n_tasks);
  pool.parallel_for(n_chunks, [&](size_t chunk, size_t thread) {
    const auto [begin, end] = ThreadPool::chunk(n_tasks, n_chunks, chunk);
    float* scratch = batch.scratch.data() + thread * batch.scratch_per_thread;
    for (size_t task = begin; task < end; ++task) {
      const auto t = static_cast<int64_t>(task) / s.n_kv_heads;
      const auto kvh = static_cast<int64_t>(task) % s.n_kv_heads;
      const int64_t head0 = kvh * group;
      paged_attention_group(kv, batch.table[static_cast<size_t>(t)], layer, kvh,
                            batch.pos[static_cast<size_t>(t)] + 1, b.q.data() + t * q_dim + head0 * s.head_dim,
                            group, b.att.data() + t * q_dim + head0 * s.head_dim, scratch);
    }
  });
}

// Runs the batch's tokens (ids `tokens`, at most b.max_batch; positions and
// blocks in `batch`) through every layer and writes the logits of the tokens
// listed in `logit_rows` (indices into the batch, increasing) to `logits`
// (logit_rows.size() x vocab). Each token's results are the same bits
// whatever else is in the batch: every step works per token (projections
// per token: trix/runtime/matmul.h), attention per (token, kv head).
template <class Shape>
void forward_paged(const Shape& s, const PreparedModel& w, std::span<const int32_t> tokens, PagedBatch& batch,
                   std::span<const int32_t> logit_rows, float* logits, ForwardBuffers& b, ThreadPool& pool) {
  const auto n = static_cast<int64_t>(tokens.size());
  if (n == 0 || n > b.max_batch) {
    throw Error("forward_paged: " + std::to_string(n) + " tokens, expected 1 .. " + std::to_string(b.max_batch));
  }
  if (batch.pos.size() != tokens.size() || batch.table.size() != tokens.size()) {
    throw Error("forward_paged: the batch describes " + std::to_string(batch.pos.size()) + " tokens, given " +
                std::to_string(n));
  }
  for (int64_t t = 0; t < n; ++t) {
    const int32_t id = tokens[static_cast<size_t>(t)];
    if (id < 0 || id >= s.vocab_size) {
      throw Error("forward_paged: token " + std::to_string(t) + " has id " + std::to_string(id) +
                  ", expected [0, " + std::to_string(s.vocab_size) + ")");
    }
  }
  const int64_t group = s.n_heads / s.n_kv_heads;
  batch.scratch_per_thread = paged_attention_scratch(batch.kv->block_size(), s.head_dim, group);
  batch.scratch.resize(batch.scratch_per_thread * pool.num_threads());
  float* x = b.x.data();
  const int64_t half = s.head_dim / 2;
  for (int64_t t = 0; t < n; ++t) {
    embedding_row(w.token_embd(), tokens[static_cast<size_t>(t)], x + t * s.dim);
    rope_table(batch.pos[static_cast<size_t>(t)], s.head_dim, s.rope_theta, b.rope_cos.data() + t * half,
               b.rope_sin.data() + t * half);
  }
  for (int64_t l = 0; l < s.n_layers; ++l) {
    run_layer(s, w.layers[static_cast<size_t>(l)], l, 0, n, x, batch, b, pool);
  }
  const auto* norm = static_cast<const float*>(w.views.output_norm.data);
  for (size_t r = 0; r < logit_rows.size(); ++r) {
    cpu::ops::rmsnorm(x + logit_rows[r] * s.dim, norm, b.xb.data() + static_cast<int64_t>(r) * s.dim,
                      static_cast<size_t>(s.dim), s.rms_eps);
  }
  if (!logit_rows.empty()) {
    matmul(w.output, b.xb.data(), static_cast<int64_t>(logit_rows.size()), logits, pool, b.matvec_scratch);
  }
}

}  // namespace trix::serve
