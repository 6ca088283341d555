/*
 * SHA-256 after FIPS 180-4 section 6.2: a 64-byte block buffer, big-endian
 * words, the rounds unrolled and the message schedule kept in a ring of 16
 * words computed as the rounds need them.
 */
#include "sha256.h"

#include <string.h>

static const uint32_t K[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
    0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u,
    0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
    0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u,
    0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
    0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
    0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u,
};

static inline uint32_t rotr(uint32_t x, unsigned n) { return (x >> n) | (x << (32u - n)); }

/* The round functions, in their cheaper equivalent forms. */
#define LS_CH(e, f, g) ((g) ^ ((e) & ((f) ^ (g))))
#define LS_MAJ(a, b, c) (((a) & (b)) | ((c) & ((a) | (b))))
/* Nested rotations: rotr(rotr(rotr(x, 9) ^ x, 11) ^ x, 2) is
 * rotr(x, 22) ^ rotr(x, 13) ^ rotr(x, 2) with one copy of x instead of
 * three (x86 rotates in place). */
#define LS_S0(a) rotr(rotr(rotr((a), 9) ^ (a), 11) ^ (a), 2)
#define LS_S1(e) rotr(rotr(rotr((e), 14) ^ (e), 5) ^ (e), 6)
#define LS_s0(x) (rotr(rotr((x), 11) ^ (x), 7) ^ ((x) >> 3))
#define LS_s1(x) (rotr(rotr((x), 2) ^ (x), 17) ^ ((x) >> 10))

/* The schedule word for round t >= 16, kept in a ring of 16. */
#define LS_W(t) (w[(t) & 15] += LS_s1(w[((t) - 2) & 15]) + w[((t) - 7) & 15] + LS_s0(w[((t) - 15) & 15]))

/* One round.  Instead of moving eight words along each round, the callers
 * rotate the names: what was h is the new a, and d takes e's place. */
#define LS_ROUND(a, b, c, d, e, f, g, h, t, wt)                        \
    do {                                                               \
        uint32_t t1_ = (h) + LS_S1(e) + LS_CH(e, f, g) + K[t] + (wt);  \
        (d) += t1_;                                                    \
        (h) = t1_ + LS_S0(a) + LS_MAJ(a, b, c);                        \
    } while (0)

#define LS_ROUND8(t, W)                                  \
    do {                                                 \
        LS_ROUND(a, b, c, d, e, f, g, h, (t) + 0, W((t) + 0)); \
        LS_ROUND(h, a, b, c, d, e, f, g, (t) + 1, W((t) + 1)); \
        LS_ROUND(g, h, a, b, c, d, e, f, (t) + 2, W((t) + 2)); \
        LS_ROUND(f, g, h, a, b, c, d, e, (t) + 3, W((t) + 3)); \
        LS_ROUND(e, f, g, h, a, b, c, d, (t) + 4, W((t) + 4)); \
        LS_ROUND(d, e, f, g, h, a, b, c, (t) + 5, W((t) + 5)); \
        LS_ROUND(c, d, e, f, g, h, a, b, (t) + 6, W((t) + 6)); \
        LS_ROUND(b, c, d, e, f, g, h, a, (t) + 7, W((t) + 7)); \
    } while (0)

#define LS_W0(t) w[t]

/* FIPS 180-4 6.2.2 with the 64 rounds written out: no moves between
 * rounds and a 16-word schedule (the loop form cost ~63 instructions a
 * byte; this is about half). */
static void compress(uint32_t hs[8], const unsigned char *p)
{
    uint32_t w[16];
    for (unsigned t = 0; t < 16; t++)
        w[t] = ((uint32_t)p[4 * t] << 24) | ((uint32_t)p[4 * t + 1] << 16) |
               ((uint32_t)p[4 * t + 2] << 8) | (uint32_t)p[4 * t + 3];
    uint32_t a = hs[0], b = hs[1], c = hs[2], d = hs[3], e = hs[4], f = hs[5], g = hs[6], h = hs[7];
    LS_ROUND8(0, LS_W0);
    LS_ROUND8(8, LS_W0);
    LS_ROUND8(16, LS_W);
    LS_ROUND8(24, LS_W);
    LS_ROUND8(32, LS_W);
    LS_ROUND8(40, LS_W);
    LS_ROUND8(48, LS_W);
    LS_ROUND8(56, LS_W);
    hs[0] += a; hs[1] += b; hs[2] += c; hs[3] += d;
    hs[4] += e; hs[5] += f; hs[6] += g; hs[7] += h;
}

void ls_sha256_init(ls_sha256 *s)
{
    static const uint32_t H0[8] = {
        0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
        0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u,
    };
    memcpy(s->h, H0, sizeof H0);
    s->total = 0;
    s->blen = 0;
}

void ls_sha256_update(ls_sha256 *s, const void *data, size_t len)
{
    const unsigned char *p = data;
    s->total += len;
    if (s->blen > 0) {
        size_t take = 64 - s->blen;
        if (take > len)
            take = len;
        memcpy(s->blk + s->blen, p, take);
        s->blen += take;
        p += take;
        len -= take;
        if (s->blen < 64)
            return;
        compress(s->h, s->blk);
        s->blen = 0;
    }
    while (len >= 64) {
        compress(s->h, p);
        p += 64;
        len -= 64;
    }
    if (len > 0) {
        memcpy(s->blk, p, len);
        s->blen = len;
    }
}

void ls_sha256_final(ls_sha256 *s, unsigned char digest[32])
{
    uint64_t bits = s->total * 8u;
    s->blk[s->blen++] = 0x80;
    if (s->blen > 56) {
        memset(s->blk + s->blen, 0, 64 - s->blen);
        compress(s->h, s->blk);
        s->blen = 0;
    }
    memset(s->blk + s->blen, 0, 56 - s->blen);
    for (unsigned i = 0; i < 8; i++)
        s->blk[56 + i] = (unsigned char)(bits >> (56 - 8 * i));
    compress(s->h, s->blk);
    for (unsigned i = 0; i < 8; i++) {
        digest[4 * i] = (unsigned char)(s->h[i] >> 24);
        digest[4 * i + 1] = (unsigned char)(s->h[i] >> 16);
        digest[4 * i + 2] = (unsigned char)(s->h[i] >> 8);
        digest[4 * i + 3] = (unsigned char)s->h[i];
    }
    s->blen = 0;
}

void ls_sha256_to_hex(const unsigned char digest[32], char out[65])
{
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15];
    }
    out[64] = '\0';
}

void ls_sha256_hex(const void *data, size_t len, char out[65])
{
    ls_sha256 s;
    unsigned char d[32];
    ls_sha256_init(&s);
    ls_sha256_update(&s, data, len);
    ls_sha256_final(&s, d);
    ls_sha256_to_hex(d, out);
}
