// The scalar small ops of trix/runtime/reference_ops.h behind plain functions, compiled
// in their own translation unit (ops_test_ref.cc): ops_test.cc runs its own
// Highway per-target pass over trix/cpu/ops-inl.h.
#pragma once

#include <cstddef>

namespace trix::ops_test {

void ref_rmsnorm(const float* x, const float* w, float* out, size_t n, float eps);
void ref_rope_table(size_t pos, size_t head_dim, float theta, float* cos_t, float* sin_t);
void ref_rope_apply(float* x, size_t n_heads, size_t head_dim, const float* cos_t,
                    const float* sin_t, bool neox);
void ref_relu2_gate(float* gate, const float* up, size_t n);
void ref_add_inplace(float* x, const float* y, size_t n);
void ref_attention_head(const float* q, const float* keys, const float* values, size_t n_pos, size_t stride,
                        size_t head_dim, float* scores, float* out);

}  // namespace trix::ops_test
