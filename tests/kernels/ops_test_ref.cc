#include "kernels/ops_test_ref.h"

#include <cstdint>

#include "trix/runtime/reference_ops.h"
#include "trix/runtime/rope.h"

namespace trix::ops_test {

void ref_rmsnorm(const float* x, const float* w, float* out, size_t n, float eps) {
  ref::rmsnorm(x, w, out, static_cast<int64_t>(n), eps);
}
void ref_rope_table(size_t pos, size_t head_dim, float theta, float* cos_t, float* sin_t) {
  rope_table(static_cast<int64_t>(pos), static_cast<int64_t>(head_dim), theta, cos_t, sin_t);
}
void ref_rope_apply(float* x, size_t n_heads, size_t head_dim, const float* cos_t,
                    const float* sin_t, bool neox) {
  ref::rope_apply(x, static_cast<int64_t>(n_heads), static_cast<int64_t>(head_dim), cos_t, sin_t,
             neox ? RopeStyle::NeoxHalves : RopeStyle::Adjacent);
}
void ref_relu2_gate(float* gate, const float* up, size_t n) {
  ref::relu2_gate(gate, up, static_cast<int64_t>(n));
}
void ref_add_inplace(float* x, const float* y, size_t n) { ref::add_inplace(x, y, static_cast<int64_t>(n)); }
void ref_attention_head(const float* q, const float* keys, const float* values, size_t n_pos, size_t stride,
                        size_t head_dim, float* scores, float* out) {
  ref::attention_head(q, keys, values, static_cast<int64_t>(n_pos), static_cast<int64_t>(stride),
                 static_cast<int64_t>(head_dim), scores, out);
}

}  // namespace trix::ops_test
