// AEAD into buffers the caller owns: ChaCha20-Poly1305 (the noise transport) and AES-256-GCM (Sherd's sealed
// chunks), both through the OpenSSL that Node itself links and exports, so the bytes are node:crypto's. node:crypto
// returns a fresh buffer for every update; on the data path that was a dead 64 KiB buffer per frame and per chunk,
// which V8 pays for in collections. Here the output goes where the caller says, in place allowed.
//
//   seal(alg, key, nonce, aad, src, dst): src is a Uint8Array or an array of them (sealed as one message);
//     dst.length must be their total + 16: ciphertext, then the tag.
//   open(alg, key, nonce, aad, src, tag, dst) -> boolean: dst.length == src.length (dst may be src itself);
//     false (and dst zeroed) when the tag does not verify.
//   alg 0 is ChaCha20-Poly1305, 1 is AES-256-GCM; keys are 32 bytes, nonces 12, tags 16.
#define NAPI_VERSION 8
#include <node_api.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

// EVP_CIPHER_fetch is OpenSSL 3's: against older headers it would be an undeclared function whose pointer result
// is truncated to an int, a crash at load instead of a failed build.
#if OPENSSL_VERSION_NUMBER < 0x30000000L
#error "aead.c needs OpenSSL 3 headers (Node 18 and later bundle them)"
#endif

#define KEY_BYTES 32
#define NONCE_BYTES 12
#define TAG_BYTES 16
#define MAX_PARTS 64

static EVP_CIPHER *ciphers[2];
static pthread_once_t fetched = PTHREAD_ONCE_INIT;

static void fetch_ciphers(void) {
  ciphers[0] = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
  ciphers[1] = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
}

static napi_value fail(napi_env env, const char *message) {
  napi_throw_type_error(env, NULL, message);
  return NULL;
}

static int bytes_of(napi_env env, napi_value value, uint8_t **data, size_t *length) {
  bool is_typed = false;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed) return 0;
  napi_typedarray_type type;
  size_t count;
  void *base;
  if (napi_get_typedarray_info(env, value, &type, &count, &base, NULL, NULL) != napi_ok) return 0;
  if (type != napi_uint8_array) return 0;
  *data = base;
  *length = count;
  return 1;
}

/** The cipher `value` names, or NULL with a JS exception pending (a bad number, or a cipher OpenSSL lacks). */
static const EVP_CIPHER *cipher_arg(napi_env env, napi_value value, const char *bad_alg, const char *missing) {
  int32_t alg = -1;
  if (napi_get_value_int32(env, value, &alg) != napi_ok || alg < 0 || alg > 1) {
    fail(env, bad_alg);
    return NULL;
  }
  pthread_once(&fetched, fetch_ciphers);
  if (ciphers[alg] == NULL) fail(env, missing);
  return ciphers[alg];
}

static int key_nonce_aad(napi_env env, napi_value *argv, uint8_t **key, uint8_t **nonce, uint8_t **aad,
                         size_t *aad_length) {
  size_t key_length, nonce_length;
  if (!bytes_of(env, argv[1], key, &key_length) || key_length != KEY_BYTES) return 0;
  if (!bytes_of(env, argv[2], nonce, &nonce_length) || nonce_length != NONCE_BYTES) return 0;
  if (!bytes_of(env, argv[3], aad, aad_length) || *aad_length > INT32_MAX) return 0;
  return 1;
}

static int overlaps(const uint8_t *a, size_t a_length, const uint8_t *b, size_t b_length) {
  return a < b + b_length && b < a + a_length;
}

static napi_value seal(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 6)
    return fail(env, "seal(alg, key, nonce, aad, src, dst)");
  const EVP_CIPHER *cipher = cipher_arg(env, argv[0], "seal: alg must be 0 (ChaCha20-Poly1305) or 1 (AES-256-GCM)",
                                         "seal: this OpenSSL has no such cipher (check the addon's `available`)");
  if (cipher == NULL) return NULL;

  // Every element is fetched before any pointer is taken: napi_get_element can run JS (an accessor), which could
  // detach a buffer whose pointer was already taken. bytes_of runs none.
  napi_value part_values[MAX_PARTS];
  uint32_t count = 0;
  bool is_array = false;
  napi_is_array(env, argv[4], &is_array);
  if (is_array) {
    if (napi_get_array_length(env, argv[4], &count) != napi_ok || count > MAX_PARTS)
      return fail(env, "seal: src must be a Uint8Array or an array of at most 64");
    for (uint32_t i = 0; i < count; i++) {
      if (napi_get_element(env, argv[4], i, &part_values[i]) != napi_ok)
        return fail(env, "seal: every part of src must be a Uint8Array");
    }
  } else {
    count = 1;
    part_values[0] = argv[4];
  }

  uint8_t *key, *nonce, *aad, *dst;
  size_t aad_length, dst_length;
  if (!key_nonce_aad(env, argv, &key, &nonce, &aad, &aad_length))
    return fail(env, "seal: key must be 32 bytes, nonce 12, aad a Uint8Array");
  if (!bytes_of(env, argv[5], &dst, &dst_length)) return fail(env, "seal: dst must be a Uint8Array");
  uint8_t *parts[MAX_PARTS];
  size_t lengths[MAX_PARTS];
  for (uint32_t i = 0; i < count; i++) {
    if (!bytes_of(env, part_values[i], &parts[i], &lengths[i]))
      return fail(env, is_array ? "seal: every part of src must be a Uint8Array" : "seal: src must be a Uint8Array");
  }
  size_t total = 0;
  for (uint32_t i = 0; i < count; i++) {
    if (lengths[i] > INT32_MAX - total) return fail(env, "seal: src is too long");
    total += lengths[i];
  }
  if (dst_length != total + TAG_BYTES) return fail(env, "seal: dst.length must be the source's length + 16");
  size_t offset = 0;
  for (uint32_t i = 0; i < count; i++) {
    // In place (the part where its ciphertext goes) or apart: any other overlap would make OpenSSL read bytes it
    // has already overwritten.
    if (parts[i] != dst + offset && overlaps(parts[i], lengths[i], dst, dst_length))
      return fail(env, "seal: src and dst overlap other than in place");
    offset += lengths[i];
  }

  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int ok = ctx != NULL && EVP_EncryptInit_ex(ctx, cipher, NULL, key, nonce) == 1;
  int written = 0;
  if (ok && aad_length > 0) ok = EVP_EncryptUpdate(ctx, NULL, &written, aad, (int)aad_length) == 1;
  offset = 0;
  for (uint32_t i = 0; ok && i < count; i++) {
    if (lengths[i] == 0) continue;
    ok = EVP_EncryptUpdate(ctx, dst + offset, &written, parts[i], (int)lengths[i]) == 1;
    offset += (size_t)written;
  }
  if (ok) ok = EVP_EncryptFinal_ex(ctx, dst + offset, &written) == 1 && offset + (size_t)written == total;
  if (ok) ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG_BYTES, dst + total) == 1;
  EVP_CIPHER_CTX_free(ctx);
  if (!ok) {
    memset(dst, 0, dst_length);
    napi_throw_error(env, NULL, "seal: OpenSSL failed");
    return NULL;
  }
  return NULL;
}

static napi_value open_sealed(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 7)
    return fail(env, "open(alg, key, nonce, aad, src, tag, dst)");
  const EVP_CIPHER *cipher = cipher_arg(env, argv[0], "open: alg must be 0 (ChaCha20-Poly1305) or 1 (AES-256-GCM)",
                                         "open: this OpenSSL has no such cipher (check the addon's `available`)");
  if (cipher == NULL) return NULL;
  uint8_t *key, *nonce, *aad, *src, *tag, *dst;
  size_t aad_length, src_length, tag_length, dst_length;
  if (!key_nonce_aad(env, argv, &key, &nonce, &aad, &aad_length))
    return fail(env, "open: key must be 32 bytes, nonce 12, aad a Uint8Array");
  if (!bytes_of(env, argv[4], &src, &src_length) || src_length > INT32_MAX)
    return fail(env, "open: src must be a Uint8Array");
  if (!bytes_of(env, argv[5], &tag, &tag_length) || tag_length != TAG_BYTES) return fail(env, "open: tag must be 16 bytes");
  if (!bytes_of(env, argv[6], &dst, &dst_length) || dst_length != src_length)
    return fail(env, "open: dst.length must be src.length");
  if (src != dst && overlaps(src, src_length, dst, dst_length))
    return fail(env, "open: src and dst overlap other than in place");
  // The tag may sit right after src in the same buffer and be overwritten by nothing: dst is src's length.
  uint8_t expected[TAG_BYTES];
  memcpy(expected, tag, TAG_BYTES);

  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int ok = ctx != NULL && EVP_DecryptInit_ex(ctx, cipher, NULL, key, nonce) == 1;
  int written = 0, final_written = 0;
  if (ok && aad_length > 0) ok = EVP_DecryptUpdate(ctx, NULL, &written, aad, (int)aad_length) == 1;
  written = 0;
  if (ok && src_length > 0) ok = EVP_DecryptUpdate(ctx, dst, &written, src, (int)src_length) == 1;
  if (ok) ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_BYTES, expected) == 1;
  if (ok) ok = EVP_DecryptFinal_ex(ctx, dst + written, &final_written) == 1;
  if (ok) ok = (size_t)written + (size_t)final_written == src_length;
  EVP_CIPHER_CTX_free(ctx);
  // The plaintext is written before the tag is checked: a caller must never see it when the check fails.
  if (!ok) memset(dst, 0, dst_length);
  napi_value result;
  napi_get_boolean(env, ok, &result);
  return result;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_value fn;
  napi_create_function(env, "seal", NAPI_AUTO_LENGTH, seal, NULL, &fn);
  napi_set_named_property(env, exports, "seal", fn);
  napi_create_function(env, "open", NAPI_AUTO_LENGTH, open_sealed, NULL, &fn);
  napi_set_named_property(env, exports, "open", fn);
  pthread_once(&fetched, fetch_ciphers);
  napi_value available;
  napi_get_boolean(env, ciphers[0] != NULL && ciphers[1] != NULL, &available);
  napi_set_named_property(env, exports, "available", available);
  return exports;
}
