// Helpers of the device bodies (trix/kernels/*.body.h), in the subset of C++
// that CUDA and the Metal Shading Language both accept. Included once before
// a body: by trix-gen into each .metal source, by device_host.body.h for C++
// and CUDA. Byte loads and stores only (no pointer casts): block fields sit at any
// offset, and the loads are little-endian as the formats are.

TRIX_FN inline int trix_sext8(trix_u32 b) { return static_cast<int>(b) - static_cast<int>((b & 0x80u) << 1); }

TRIX_FN inline int trix_sext16(trix_u32 h) { return static_cast<int>(h) - static_cast<int>((h & 0x8000u) << 1); }

TRIX_FN inline trix_u32 trix_load_u16le(TRIX_GLOBAL const trix_u8* p) {
  return static_cast<trix_u32>(p[0]) | (static_cast<trix_u32>(p[1]) << 8);
}

TRIX_FN inline trix_u32 trix_load_u32le(TRIX_GLOBAL const trix_u8* p) {
  return static_cast<trix_u32>(p[0]) | (static_cast<trix_u32>(p[1]) << 8) |
         (static_cast<trix_u32>(p[2]) << 16) | (static_cast<trix_u32>(p[3]) << 24);
}

TRIX_FN inline void trix_store_u16le(TRIX_GLOBAL trix_u8* p, trix_u32 v) {
  p[0] = static_cast<trix_u8>(v & 0xffu);
  p[1] = static_cast<trix_u8>((v >> 8) & 0xffu);
}

TRIX_FN inline void trix_store_u32le(TRIX_GLOBAL trix_u8* p, trix_u32 v) {
  trix_store_u16le(p, v & 0xffffu);
  trix_store_u16le(p + 2, v >> 16);
}

// |x| by sign test: -0 stays -0 (compares equal to 0) and a NaN stays NaN
// (never compares greater), which is what the max searches want.
TRIX_FN inline float trix_abs(float x) { return x < 0.0f ? -x : x; }
