// Attention for the GPU backends (CUDA, Metal) over an f16 KV cache with
// GQA, one 32-thread warp / SIMD group per task (OpContract::kWarp in
// trix-gen). Lane l owns the head dimensions d = l + 32 j (j < 8: head_dim
// <= 256). A score is q . k_p (per-lane fma chains, then a butterfly sum,
// the same total in every lane) times 1 / sqrt(head_dim); softmax runs
// online: with running max m, sum l and accumulators acc, a position p moves
// m' = max(m, s), c = exp(m - m'), w = exp(s - m'), l = l c + w,
// acc = acc c + w v_p.
//   decode:  task = head * n_splits + split: positions [split * split_len,
//            ..) of a sequence of n_pos (flash-decoding), writing the
//            split's (m, l, acc) to part_*;
//   combine: task = head: M = max m_s, out = sum_s acc_s exp(m_s - M) /
//            sum_s l_s exp(m_s - M);
//   prefill: task = token * n_heads + head: causal, positions 0 ..
//            pos0 + token, normalised in place.
// Query head h reads KV head h / (n_heads / n_kv_heads); position p of KV
// head g starts at element p * kv_stride + g * head_dim. The order of the
// sums differs from the CPU's attention_head (8 running sums, a softmax
// after all scores), hence the specs' tolerance. Same C++/CUDA/MSL subset
// and context as gemv_tq2_0_q8_k.body.h, plus trix_shfl_xor and TRIX_THREAD
// (the MSL address space of per-thread memory).

#define TRIX_ATTN_MAX_DIMS_PER_LANE 8u

TRIX_FN inline float trix_attn_warp_sum(float v) {
  for (trix_u32 m = 1u; m < 32u; m <<= 1u) v += trix_shfl_xor(v, m);
  return v;
}

// The online-softmax state of one (query, head) over a range of positions.
struct trix_attn_state {
  float m;
  float l;
  float acc[TRIX_ATTN_MAX_DIMS_PER_LANE];
};

TRIX_FN inline trix_attn_state trix_attn_empty() {
  trix_attn_state st;
  st.m = -3.402823466e38f;  // -FLT_MAX: the first position's c is exp(-huge) = 0
  st.l = 0.0f;
  for (trix_u32 j = 0; j < TRIX_ATTN_MAX_DIMS_PER_LANE; ++j) st.acc[j] = 0.0f;
  return st;
}

// Folds positions [begin, end) of KV head `kvh` into st for query qh.
TRIX_FN inline void trix_attn_range(TRIX_THREAD trix_attn_state& st, TRIX_GLOBAL const float* qh,
                                    TRIX_GLOBAL const trix_u16* k, TRIX_GLOBAL const trix_u16* v, trix_u32 kvh,
                                    trix_u32 head_dim, trix_u32 kv_stride, trix_u32 begin, trix_u32 end,
                                    trix_u32 lane) {
  const float scale = 1.0f / trix_sqrt(static_cast<float>(head_dim));
  for (trix_u32 p = begin; p < end; ++p) {
    const trix_u64 base = static_cast<trix_u64>(p) * kv_stride + static_cast<trix_u64>(kvh) * head_dim;
    float part = 0.0f;
    for (trix_u32 j = 0; j < TRIX_ATTN_MAX_DIMS_PER_LANE; ++j) {
      const trix_u32 d = lane + 32u * j;
      if (d < head_dim) part = trix_fma(qh[d], trix_f16_bits_to_f32(k[base + d]), part);
    }
    const float s = trix_mul(trix_attn_warp_sum(part), scale);
    const float m_new = s > st.m ? s : st.m;
    const float c = trix_exp(st.m - m_new);
    const float w = trix_exp(s - m_new);
    st.l = trix_fma(st.l, c, w);
    for (trix_u32 j = 0; j < TRIX_ATTN_MAX_DIMS_PER_LANE; ++j) {
      const trix_u32 d = lane + 32u * j;
      if (d < head_dim) st.acc[j] = trix_fma(w, trix_f16_bits_to_f32(v[base + d]), trix_mul(st.acc[j], c));
    }
    st.m = m_new;
  }
}

TRIX_FN inline trix_u32 trix_attn_splits(trix_u32 n_pos, trix_u32 split_len) {
  return (n_pos + split_len - 1u) / split_len;
}

TRIX_FN inline void trix_attention_decode_warp(TRIX_GLOBAL const float* q, TRIX_GLOBAL const trix_u16* k,
                                               TRIX_GLOBAL const trix_u16* v, TRIX_GLOBAL float* part_m,
                                               TRIX_GLOBAL float* part_l, TRIX_GLOBAL float* part_acc,
                                               trix_u32 n_pos, trix_u32 n_heads, trix_u32 n_kv_heads,
                                               trix_u32 head_dim, trix_u32 kv_stride, trix_u32 split_len,
                                               trix_u32 task, trix_u32 lane) {
  const trix_u32 n_splits = trix_attn_splits(n_pos, split_len);
  const trix_u32 head = task / n_splits;
  const trix_u32 begin = (task % n_splits) * split_len;
  const trix_u32 end = n_pos - begin < split_len ? n_pos : begin + split_len;
  trix_attn_state st = trix_attn_empty();
  trix_attn_range(st, q + static_cast<trix_u64>(head) * head_dim, k, v, head / (n_heads / n_kv_heads), head_dim,
                  kv_stride, begin, end, lane);
  if (lane == 0u) {
    part_m[task] = st.m;
    part_l[task] = st.l;
  }
  for (trix_u32 j = 0; j < TRIX_ATTN_MAX_DIMS_PER_LANE; ++j) {
    const trix_u32 d = lane + 32u * j;
    if (d < head_dim) part_acc[static_cast<trix_u64>(task) * head_dim + d] = st.acc[j];
  }
}

TRIX_FN inline void trix_attention_combine_warp(TRIX_GLOBAL const float* part_m, TRIX_GLOBAL const float* part_l,
                                                TRIX_GLOBAL const float* part_acc, TRIX_GLOBAL float* out,
                                                trix_u32 n_pos, trix_u32, trix_u32 head_dim, trix_u32 split_len,
                                                trix_u32 head, trix_u32 lane) {
  const trix_u32 n_splits = trix_attn_splits(n_pos, split_len);
  const trix_u32 first = head * n_splits;
  float big_m = part_m[first];
  for (trix_u32 s = 1u; s < n_splits; ++s) big_m = part_m[first + s] > big_m ? part_m[first + s] : big_m;
  float big_l = 0.0f;
  for (trix_u32 s = 0; s < n_splits; ++s) big_l = trix_fma(part_l[first + s], trix_exp(part_m[first + s] - big_m), big_l);
  const float inv = 1.0f / big_l;
  for (trix_u32 j = 0; j < TRIX_ATTN_MAX_DIMS_PER_LANE; ++j) {
    const trix_u32 d = lane + 32u * j;
    if (d >= head_dim) continue;
    float acc = 0.0f;
    for (trix_u32 s = 0; s < n_splits; ++s) {
      acc = trix_fma(part_acc[static_cast<trix_u64>(first + s) * head_dim + d], trix_exp(part_m[first + s] - big_m), acc);
    }
    out[static_cast<trix_u64>(head) * head_dim + d] = trix_mul(acc, inv);
  }
}

TRIX_FN inline void trix_attention_prefill_warp(TRIX_GLOBAL const float* q, TRIX_GLOBAL const trix_u16* k,
                                                TRIX_GLOBAL const trix_u16* v, TRIX_GLOBAL float* out, trix_u32 pos0,
                                                trix_u32, trix_u32 n_heads, trix_u32 n_kv_heads, trix_u32 head_dim,
                                                trix_u32 kv_stride, trix_u32 task, trix_u32 lane) {
  const trix_u32 token = task / n_heads;
  const trix_u32 head = task % n_heads;
  const trix_u64 row = static_cast<trix_u64>(task) * head_dim;  // (token, head) of q and out
  trix_attn_state st = trix_attn_empty();
  trix_attn_range(st, q + row, k, v, head / (n_heads / n_kv_heads), head_dim, kv_stride, 0u, pos0 + token + 1u, lane);
  const float inv = 1.0f / st.l;
  for (trix_u32 j = 0; j < TRIX_ATTN_MAX_DIMS_PER_LANE; ++j) {
    const trix_u32 d = lane + 32u * j;
    if (d < head_dim) out[row + d] = trix_mul(st.acc[j], inv);
  }
}
