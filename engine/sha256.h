/*
 * SHA-256 (FIPS 180-4): the journal's hash chain and the playbook's
 * fingerprint.  One-shot hex digest plus an incremental API for large or
 * streamed inputs.
 */
#ifndef LS_SHA256_H
#define LS_SHA256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ls_sha256 {
    uint32_t h[8];
    uint64_t total;         /* bytes hashed so far */
    unsigned char blk[64];  /* partial block */
    size_t blen;
} ls_sha256;

void ls_sha256_init(ls_sha256 *s);
void ls_sha256_update(ls_sha256 *s, const void *data, size_t len);
/* Writes the 32-byte digest; the context must be re-initialised to reuse. */
void ls_sha256_final(ls_sha256 *s, unsigned char digest[32]);
/* Lower-case hex of a 32-byte digest, NUL-terminated. */
void ls_sha256_to_hex(const unsigned char digest[32], char out[65]);
/* One-shot: lower-case hex digest of data[0..len), NUL-terminated. */
void ls_sha256_hex(const void *data, size_t len, char out[65]);

/* Tests: true forces the portable code; returns whether the processor's
 * SHA instructions are in use now. */
bool ls_sha256_use_portable(bool portable);

#endif
