/* SHA-256 against the FIPS 180-2 / NIST example vectors, one-shot and fed
 * incrementally in awkward chunk sizes, with the portable code and (where
 * the processor has them) the SHA instructions; then both against each
 * other on pseudo-random inputs of every length up to a few blocks. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"

static int failures;

static void expect_hex(const char *what, const char *got, const char *want)
{
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "FAIL %s:\n  got  %s\n  want %s\n", what, got, want);
        failures++;
    }
}

static void chunked(const char *what, const unsigned char *data, size_t len, size_t chunk, const char *want)
{
    ls_sha256 s;
    unsigned char d[32];
    char hex[65];
    ls_sha256_init(&s);
    for (size_t off = 0; off < len; off += chunk)
        ls_sha256_update(&s, data + off, len - off < chunk ? len - off : chunk);
    ls_sha256_final(&s, d);
    ls_sha256_to_hex(d, hex);
    char label[128];
    snprintf(label, sizeof label, "%s in chunks of %zu", what, chunk);
    expect_hex(label, hex, want);
}

static void vectors(void)
{
    static const struct {
        const char *msg;
        const char *hex;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    };
    char hex[65];
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        size_t len = strlen(v[i].msg);
        ls_sha256_hex(v[i].msg, len, hex);
        expect_hex(v[i].msg, hex, v[i].hex);
        for (size_t chunk = 1; chunk <= 65 && len > 0; chunk += 31)
            chunked(v[i].msg, (const unsigned char *)v[i].msg, len, chunk, v[i].hex);
    }

    /* one million 'a', fed in pieces that straddle block boundaries */
    const char *million = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    size_t n = 1000000;
    unsigned char *a = malloc(n);
    memset(a, 'a', n);
    static const size_t chunks[] = {1, 55, 56, 63, 64, 65, 1000, 1000000};
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++)
        chunked("a million 'a'", a, n, chunks[i], million);
    ls_sha256_hex(a, n, hex);
    expect_hex("a million 'a' at once", hex, million);
    free(a);
}

static void digest_of(const unsigned char *data, size_t len, bool portable, char hex[65])
{
    ls_sha256_use_portable(portable);
    ls_sha256_hex(data, len, hex);
}

int main(void)
{
    bool accelerated = false;
    ls_sha256_use_portable(true);
    vectors();
    if (ls_sha256_use_portable(false)) {
        accelerated = true;
        vectors();
        unsigned char buf[700];
        unsigned x = 2463534242u;
        for (size_t i = 0; i < sizeof buf; i++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            buf[i] = (unsigned char)x;
        }
        for (size_t len = 0; len <= sizeof buf; len++) {
            char a[65], b[65], label[64];
            digest_of(buf, len, true, a);
            digest_of(buf, len, false, b);
            snprintf(label, sizeof label, "SHA instructions vs portable, %zu bytes", len);
            expect_hex(label, b, a);
        }
    }

    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("sha256: all vectors passed (%s)\n", accelerated ? "portable and SHA instructions" : "portable only");
    return 0;
}
