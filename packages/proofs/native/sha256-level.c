/*
 * Sherd's Merkle levels with the CPU's SHA-NI instructions: SHA-256(prefix ‖ 64 bytes) of n messages, two at a
 * time so the two dependency chains of sha256rnds2 overlap. Node-API, so one build loads in every Node ≥ 18.
 */
#include <cpuid.h>
#include <immintrin.h>
#include <stdint.h>
#include <string.h>
#include <node_api.h>

static const uint32_t K[64] = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};

#define TARGET __attribute__((target("sha,sse4.1,ssse3")))

/* One 64-byte block into two states at once (state as ABEF / CDGH). */
TARGET static inline void compress2(__m128i *s0a, __m128i *s1a, const uint8_t *ba, __m128i *s0b, __m128i *s1b,
                                    const uint8_t *bb) {
  const __m128i MASK = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
  __m128i wa[4], wb[4];
  const __m128i sa0 = *s0a, sa1 = *s1a, sb0 = *s0b, sb1 = *s1b;
  __m128i a0 = sa0, a1 = sa1, b0 = sb0, b1 = sb1;
#pragma GCC unroll 16
  for (int g = 0; g < 16; g++) {
    __m128i xa, xb;
    if (g < 4) {
      xa = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(ba + 16 * g)), MASK);
      xb = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(bb + 16 * g)), MASK);
    } else {
      __m128i ta = _mm_sha256msg1_epu32(wa[g & 3], wa[(g + 1) & 3]);
      __m128i tb = _mm_sha256msg1_epu32(wb[g & 3], wb[(g + 1) & 3]);
      ta = _mm_add_epi32(ta, _mm_alignr_epi8(wa[(g + 3) & 3], wa[(g + 2) & 3], 4));
      tb = _mm_add_epi32(tb, _mm_alignr_epi8(wb[(g + 3) & 3], wb[(g + 2) & 3], 4));
      xa = _mm_sha256msg2_epu32(ta, wa[(g + 3) & 3]);
      xb = _mm_sha256msg2_epu32(tb, wb[(g + 3) & 3]);
    }
    wa[g & 3] = xa;
    wb[g & 3] = xb;
    const __m128i k = _mm_loadu_si128((const __m128i *)(K + 4 * g));
    __m128i ma = _mm_add_epi32(xa, k), mb = _mm_add_epi32(xb, k);
    a1 = _mm_sha256rnds2_epu32(a1, a0, ma);
    b1 = _mm_sha256rnds2_epu32(b1, b0, mb);
    ma = _mm_shuffle_epi32(ma, 0x0E);
    mb = _mm_shuffle_epi32(mb, 0x0E);
    a0 = _mm_sha256rnds2_epu32(a0, a1, ma);
    b0 = _mm_sha256rnds2_epu32(b0, b1, mb);
  }
  *s0a = _mm_add_epi32(a0, sa0);
  *s1a = _mm_add_epi32(a1, sa1);
  *s0b = _mm_add_epi32(b0, sb0);
  *s1b = _mm_add_epi32(b1, sb1);
}

/* The IV in ABEF / CDGH order. */
TARGET static inline void iv(__m128i *s0, __m128i *s1) {
  *s0 = _mm_set_epi32(0x6a09e667, 0xbb67ae85, 0x510e527f, 0x9b05688c);
  *s1 = _mm_set_epi32(0x3c6ef372, 0xa54ff53a, 0x1f83d9ab, 0x5be0cd19);
}

/* ABEF / CDGH back to the big-endian digest A..H. */
TARGET static inline void store(uint8_t *out, __m128i s0, __m128i s1) {
  const __m128i MASK = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
  __m128i t = _mm_shuffle_epi32(s0, 0x1B);  /* FEBA */
  s1 = _mm_shuffle_epi32(s1, 0xB1);         /* DCHG */
  s0 = _mm_blend_epi16(t, s1, 0xF0);        /* DCBA */
  s1 = _mm_alignr_epi8(s1, t, 8);           /* HGFE */
  uint8_t tmp[32];
  _mm_storeu_si128((__m128i *)tmp, _mm_shuffle_epi8(s0, MASK));
  _mm_storeu_si128((__m128i *)(tmp + 16), _mm_shuffle_epi8(s1, MASK));
  memcpy(out, tmp, 32);
}

/* SHA-256(prefix ‖ src[i·64 .. i·64+64]) → dst[i·32 ..] for i < n. dst may be src (a level reduced in place). */
TARGET static void hash_level(const uint8_t *src, uint8_t *dst, size_t n, uint8_t prefix) {
  uint8_t first[2][64], second[2][64];
  memset(second, 0, sizeof second);
  for (int j = 0; j < 2; j++) {
    first[j][0] = prefix;
    second[j][1] = 0x80;
    second[j][62] = 0x02; /* 520 bits */
    second[j][63] = 0x08;
  }
  size_t i = 0;
  for (; i + 2 <= n; i += 2) {
    const uint8_t *a = src + i * 64, *b = a + 64;
    memcpy(first[0] + 1, a, 63);
    memcpy(first[1] + 1, b, 63);
    second[0][0] = a[63];
    second[1][0] = b[63];
    __m128i a0, a1, b0, b1;
    iv(&a0, &a1);
    iv(&b0, &b1);
    compress2(&a0, &a1, first[0], &b0, &b1, first[1]);
    compress2(&a0, &a1, second[0], &b0, &b1, second[1]);
    store(dst + i * 32, a0, a1);
    store(dst + i * 32 + 32, b0, b1);
  }
  if (i < n) {
    const uint8_t *a = src + i * 64;
    memcpy(first[0] + 1, a, 63);
    second[0][0] = a[63];
    __m128i a0, a1, b0, b1;
    iv(&a0, &a1);
    iv(&b0, &b1);
    compress2(&a0, &a1, first[0], &b0, &b1, first[0]);
    compress2(&a0, &a1, second[0], &b0, &b1, second[0]);
    store(dst + i * 32, a0, a1);
  }
}

/* SHA-NI is CPUID leaf 7, EBX bit 29; a CPU whose highest leaf is below 7 answers another leaf, so ask first. */
static int cpu_has_sha(void) {
  __builtin_cpu_init();
  unsigned a, b, c, d;
  if (__get_cpuid_max(0, NULL) < 7 || !__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
  return ((b >> 29) & 1) && __builtin_cpu_supports("sse4.1") && __builtin_cpu_supports("ssse3");
}

static napi_value throw_range(napi_env env, const char *message) {
  napi_throw_range_error(env, "ERR_SHERD_HASH_LEVEL", message);
  return NULL;
}

/* hashLevel(src: Uint8Array, dst: Uint8Array, n: number, prefix: number): every bound checked here. */
static napi_value js_hash_level(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 4)
    return throw_range(env, "hashLevel takes (src, dst, n, prefix)");
  napi_typedarray_type type;
  size_t src_len, dst_len;
  void *src, *dst;
  if (napi_get_typedarray_info(env, argv[0], &type, &src_len, &src, NULL, NULL) != napi_ok || type != napi_uint8_array)
    return throw_range(env, "hashLevel: src must be a Uint8Array");
  if (napi_get_typedarray_info(env, argv[1], &type, &dst_len, &dst, NULL, NULL) != napi_ok || type != napi_uint8_array)
    return throw_range(env, "hashLevel: dst must be a Uint8Array");
  int64_t n, prefix;
  if (napi_get_value_int64(env, argv[2], &n) != napi_ok || napi_get_value_int64(env, argv[3], &prefix) != napi_ok)
    return throw_range(env, "hashLevel: n and prefix must be numbers");
  /* Divided, not multiplied: n·64 of a huge n would wrap past the check. */
  if (n < 0 || prefix < 0 || prefix > 255 || (uint64_t)n > src_len / 64 || (uint64_t)n > dst_len / 32)
    return throw_range(env, "hashLevel: n messages need n·64 bytes of src and n·32 of dst, prefix a byte");
  hash_level((const uint8_t *)src, (uint8_t *)dst, (size_t)n, (uint8_t)prefix);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value has, fn;
  napi_get_boolean(env, cpu_has_sha(), &has);
  napi_set_named_property(env, exports, "supported", has);
  napi_create_function(env, "hashLevel", NAPI_AUTO_LENGTH, js_hash_level, NULL, &fn);
  napi_set_named_property(env, exports, "hashLevel", fn);
  return exports;
}
