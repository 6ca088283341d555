/*
 * Shared by bundle.c (checking) and cli_bundle.c (making): Ed25519 keys in
 * PEM files, through OpenSSL's libcrypto.  Not an API.
 */
#ifndef LS_BUNDLE_INT_H
#define LS_BUNDLE_INT_H

#include <stdbool.h>
#include <stddef.h>

#define LS_BUNDLE_FP_LEN 80 /* "ed25519:" + 64 hex + NUL */

/* "ed25519:" + the SHA-256 of the raw public key, from a private (priv)
 * or public PEM key file.  0, or -1 with err. */
int ls_bundle_key_fingerprint(const char *path, bool priv, char out[LS_BUNDLE_FP_LEN], char *err, size_t errlen);
/* The Ed25519 signature of msg with the private key at key_path, as 128 hex
 * digits.  0, or -1 with err. */
int ls_bundle_sign(const char *key_path, const unsigned char *msg, size_t len, char sig_hex[129], char *err,
                   size_t errlen);

#endif
