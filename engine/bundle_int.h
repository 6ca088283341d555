/*
 * Shared by bundle.c (checking), cli_bundle.c (making) and the Ed25519
 * plugin (engine/plugins/ed25519.c, lockstep-ed25519.so): keys in PEM
 * files, through OpenSSL's libcrypto, which only that plugin links (see
 * its header for why).  Not an API.
 */
#ifndef LS_BUNDLE_INT_H
#define LS_BUNDLE_INT_H

#include <stdbool.h>
#include <stddef.h>

#define LS_BUNDLE_FP_LEN 80 /* "ed25519:" + 64 hex + NUL */

/* What lockstep-ed25519.so exports, under the name `lockstep_ed25519`. */
typedef struct ls_ed25519 {
    int abi;             /* LS_PLUGIN_API */
    const char *version; /* LOCKSTEP_VERSION */
    int (*fingerprint)(const char *path, bool priv, char out[LS_BUNDLE_FP_LEN], char *err, size_t errlen);
    int (*sign)(const char *key_path, const unsigned char *msg, size_t len, char sig_hex[129], char *err,
                size_t errlen);
    /* 1 verified, 0 does not verify, -1 the key is unreadable (err) */
    int (*verify)(const char *pub_path, const unsigned char *msg, size_t len, const char *sig_hex, char *err,
                  size_t errlen);
} ls_ed25519;

/* "ed25519:" + the SHA-256 of the raw public key, from a private (priv)
 * or public PEM key file.  0, or -1 with err (also when the plugin cannot
 * be loaded). */
int ls_bundle_key_fingerprint(const char *path, bool priv, char out[LS_BUNDLE_FP_LEN], char *err, size_t errlen);
/* The Ed25519 signature of msg with the private key at key_path, as 128 hex
 * digits.  0, or -1 with err. */
int ls_bundle_sign(const char *key_path, const unsigned char *msg, size_t len, char sig_hex[129], char *err,
                   size_t errlen);
/* 1 verified, 0 does not verify, -1 with err. */
int ls_bundle_verify(const char *pub_path, const unsigned char *msg, size_t len, const char *sig_hex, char *err,
                     size_t errlen);

#endif
