// Closes the per-target region opened by trix/cpu/target_begin-inl.h (see
// there), in reverse order, and forgets that region's options. Included once
// per target: no include guard.
#if defined(TRIX_TARGET_QUIET_MAYBE_UNINITIALIZED) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#if HWY_TARGET == HWY_AVX3_DL
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif
#if !(HWY_TARGET == HWY_AVX3_DL && defined(__clang__))
HWY_AFTER_NAMESPACE();
#endif
#undef TRIX_TARGET_WITH_GFNI
#undef TRIX_TARGET_QUIET_MAYBE_UNINITIALIZED
