/*
 * The Ed25519 plugin (lockstep-ed25519.so): signing and checking release
 * bundles with OpenSSL's libcrypto.  Linking libcrypto into the executable
 * doubled the start-up time of every lockstep command (about 5 ms: mapping
 * and relocating it); only `lockstep bundle --sign` and a bundle checked
 * with trust need it, so bundle.c loads this module then (bundle_int.h).
 * Keys are PEM files; an encrypted key is an error: nothing ever prompts.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "bundle_int.h"
#include <lockstep/plugin.h>
#include "sha256.h"

static int no_passphrase(char *buf, int size, int rw, void *u)
{
    (void)buf;
    (void)size;
    (void)rw;
    (void)u;
    return -1;
}

static void ssl_reason(char *out, size_t len)
{
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, out, len);
    else
        snprintf(out, len, "no PEM key found");
    ERR_clear_error();
}

static EVP_PKEY *read_key(const char *path, bool priv, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    EVP_PKEY *k = priv ? PEM_read_PrivateKey(f, NULL, no_passphrase, NULL) : PEM_read_PUBKEY(f, NULL, no_passphrase, NULL);
    fclose(f);
    if (!k) {
        char why[256];
        ssl_reason(why, sizeof why);
        snprintf(err, errlen, "%s: not a PEM %s key (%s)%s", path, priv ? "private" : "public", why,
                 priv ? "; an encrypted key is not supported" : "");
        return NULL;
    }
    if (EVP_PKEY_get_id(k) != EVP_PKEY_ED25519) {
        snprintf(err, errlen, "%s: not an Ed25519 key (make one with: openssl genpkey -algorithm ed25519)", path);
        EVP_PKEY_free(k);
        return NULL;
    }
    return k;
}

static void hex(const unsigned char *p, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[p[i] >> 4];
        out[2 * i + 1] = d[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int unhex(const char *s, unsigned char *out, size_t n)
{
    if (strlen(s) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char c = s[2 * i + (size_t)k];
            int x = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (x < 0)
                return -1;
            v = v * 16 + x;
        }
        out[i] = (unsigned char)v;
    }
    return 0;
}

static int key_fp(EVP_PKEY *k, char out[LS_BUNDLE_FP_LEN])
{
    unsigned char raw[32];
    size_t n = sizeof raw;
    if (EVP_PKEY_get_raw_public_key(k, raw, &n) != 1 || n != 32)
        return -1;
    char h[65];
    ls_sha256_hex(raw, n, h);
    snprintf(out, LS_BUNDLE_FP_LEN, "ed25519:%s", h);
    return 0;
}

static int ed_fingerprint(const char *path, bool priv, char out[LS_BUNDLE_FP_LEN], char *err, size_t errlen)
{
    EVP_PKEY *k = read_key(path, priv, err, errlen);
    if (!k)
        return -1;
    int rc = key_fp(k, out);
    if (rc != 0)
        snprintf(err, errlen, "%s: cannot read the public key", path);
    EVP_PKEY_free(k);
    return rc;
}

static int ed_sign(const char *key_path, const unsigned char *msg, size_t len, char sig_hex[129], char *err,
                   size_t errlen)
{
    EVP_PKEY *k = read_key(key_path, true, err, errlen);
    if (!k)
        return -1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char sig[64];
    size_t sl = sizeof sig;
    int ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, k) == 1 && EVP_DigestSign(ctx, sig, &sl, msg, len) == 1 &&
             sl == 64;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(k);
    if (!ok) {
        char why[256];
        ssl_reason(why, sizeof why);
        snprintf(err, errlen, "signing with %s failed: %s", key_path, why);
        return -1;
    }
    hex(sig, 64, sig_hex);
    return 0;
}

static int ed_verify(const char *pub_path, const unsigned char *msg, size_t len, const char *sig_hex, char *err,
                     size_t errlen)
{
    unsigned char sig[64];
    if (unhex(sig_hex, sig, sizeof sig) != 0)
        return 0;
    EVP_PKEY *k = read_key(pub_path, false, err, errlen);
    if (!k)
        return -1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int r = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k) == 1 ? EVP_DigestVerify(ctx, sig, 64, msg, len) : -1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(k);
    ERR_clear_error();
    return r == 1 ? 1 : 0;
}

LS_PLUGIN_EXPORT const ls_ed25519 lockstep_ed25519 = {LS_PLUGIN_API, LOCKSTEP_VERSION, ed_fingerprint, ed_sign,
                                                      ed_verify};
