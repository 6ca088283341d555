/*
 * SHA-256 after FIPS 180-4 section 6.2: a 64-byte block buffer, big-endian
 * words, the rounds unrolled and the message schedule kept in a ring of 16
 * words computed as the rounds need them.  On x86-64 processors with the
 * SHA extensions the blocks go through those instead (about eight times
 * fewer instructions: every journal line is hashed), chosen once at run
 * time; both paths are checked against each other by tests/proc.
 */
#include "sha256.h"

#include <stdbool.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define LS_SHA_NI 1
#include <cpuid.h>
#include <immintrin.h>
#endif

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

static void compress_portable(uint32_t hs[8], const unsigned char *p, size_t nblocks)
{
    for (; nblocks > 0; nblocks--, p += 64)
        compress(hs, p);
}

#ifdef LS_SHA_NI
/* Four rounds with the extensions: the schedule words plus K go in as one
 * vector; sha256rnds2 does two rounds on its low half, then the high half
 * is moved down for the next two.  The state lives as {A,B,E,F} and
 * {C,D,G,H} (Intel's layout for these instructions). */
#define LS_NI_ROUNDS4(st0, st1, wv, i)                                                  \
    do {                                                                                \
        __m128i m_ = _mm_add_epi32((wv), _mm_loadu_si128((const __m128i *)&K[4 * (i)])); \
        (st1) = _mm_sha256rnds2_epu32((st1), (st0), m_);                                \
        (st0) = _mm_sha256rnds2_epu32((st0), (st1), _mm_shuffle_epi32(m_, 0x0E));        \
    } while (0)

__attribute__((target("sha,sse4.1,ssse3")))
static void compress_ni(uint32_t hs[8], const unsigned char *p, size_t nblocks)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i abcd = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&hs[0]), 0xB1); /* B A D C */
    __m128i efgh = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&hs[4]), 0x1B); /* H G F E */
    __m128i st0 = _mm_alignr_epi8(abcd, efgh, 8);     /* F E B A */
    __m128i st1 = _mm_blend_epi16(efgh, abcd, 0xF0);  /* H G D C */
    for (; nblocks > 0; nblocks--, p += 64) {
        __m128i save0 = st0, save1 = st1, w[4];
        for (int i = 0; i < 4; i++) {
            w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)), bswap);
            LS_NI_ROUNDS4(st0, st1, w[i], i);
        }
        for (int i = 4; i < 16; i++) {
            /* W[t..t+3] from the four vectors before it (FIPS 180-4 6.2.2 step 1). */
            __m128i x = _mm_sha256msg1_epu32(w[i & 3], w[(i + 1) & 3]);
            x = _mm_add_epi32(x, _mm_alignr_epi8(w[(i + 3) & 3], w[(i + 2) & 3], 4));
            w[i & 3] = _mm_sha256msg2_epu32(x, w[(i + 3) & 3]);
            LS_NI_ROUNDS4(st0, st1, w[i & 3], i);
        }
        st0 = _mm_add_epi32(st0, save0);
        st1 = _mm_add_epi32(st1, save1);
    }
    __m128i feba = _mm_shuffle_epi32(st0, 0x1B);     /* A B E F */
    __m128i dchg = _mm_shuffle_epi32(st1, 0xB1);     /* C D G H */
    _mm_storeu_si128((__m128i *)&hs[0], _mm_blend_epi16(feba, dchg, 0xF0)); /* A B C D */
    _mm_storeu_si128((__m128i *)&hs[4], _mm_alignr_epi8(dchg, feba, 8));    /* E F G H */
}

static bool cpu_has_sha(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return false;
    bool sha = (b >> 29) & 1u;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return false;
    return sha && (c & bit_SSE4_1) && (c & bit_SSSE3);
}
#endif

static void (*compress_blocks)(uint32_t hs[8], const unsigned char *p, size_t nblocks);

static void pick_compress(void)
{
    compress_blocks = compress_portable;
#ifdef LS_SHA_NI
    if (cpu_has_sha())
        compress_blocks = compress_ni;
#endif
}

bool ls_sha256_use_portable(bool portable)
{
    pick_compress();
    if (portable)
        compress_blocks = compress_portable;
    return compress_blocks != compress_portable;
}

void ls_sha256_init(ls_sha256 *s)
{
    static const uint32_t H0[8] = {
        0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
        0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u,
    };
    if (compress_blocks == NULL)
        pick_compress();
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
        compress_blocks(s->h, s->blk, 1);
        s->blen = 0;
    }
    if (len >= 64) {
        compress_blocks(s->h, p, len / 64);
        p += len & ~(size_t)63;
        len &= 63;
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
        compress_blocks(s->h, s->blk, 1);
        s->blen = 0;
    }
    memset(s->blk + s->blen, 0, 56 - s->blen);
    for (unsigned i = 0; i < 8; i++)
        s->blk[56 + i] = (unsigned char)(bits >> (56 - 8 * i));
    compress_blocks(s->h, s->blk, 1);
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
