/*
 * Mutation smoke test of the loader (jq's fuzz targets in spirit): valid
 * playbooks with random bytes changed, ranges cut, lines doubled and tails
 * truncated must load or be rejected with diagnostics -- never crash, leak
 * (ASan build) or accept a file while reporting an error.  Deterministic:
 * a fixed seed, so a failure reproduces.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "playbook.h"
#include "secret.h"

static uint64_t rng_state = 0x2545F4914F6CDD1DULL;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 20);
    if (!buf) {
        fclose(f);
        return NULL;
    }
    *len = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    return buf;
}

static size_t mutate(char *out, const char *in, size_t len, size_t cap)
{
    static const char pick[] = "{}[]:,-\"'\n #&*!|>$\t~?%@`\\0123456789ab.";
    memcpy(out, in, len);
    int rounds = 1 + (int)rnd(4);
    for (int r = 0; r < rounds && len > 0; r++) {
        size_t at = rnd((uint32_t)len);
        switch (rnd(5)) {
        case 0:
            out[at] = pick[rnd((uint32_t)(sizeof pick - 1))];
            break;
        case 1: { /* cut a range */
            size_t n = 1 + rnd(40);
            if (at + n > len)
                n = len - at;
            memmove(out + at, out + at + n, len - at - n);
            len -= n;
            break;
        }
        case 2: { /* double the line at `at` */
            size_t b = at, e = at;
            while (b > 0 && out[b - 1] != '\n')
                b--;
            while (e < len && out[e] != '\n')
                e++;
            size_t n = e - b + (e < len);
            if (len + n < cap) {
                memmove(out + e + (e < len), out + b, len - b);
                len += n;
            }
            break;
        }
        case 3:
            len = at;
            break;
        default:
            out[at] = (char)rnd(256);
            break;
        }
    }
    return len;
}

int main(void)
{
    const char *src = getenv("LOCKSTEP_SRC");
    if (!src)
        src = ".";
    static const char *const seeds[] = {"tests/load/valid/full.yaml", "tests/load/valid/doc_example.yaml",
                                        "tests/load/invalid/param_spec_errors.yaml",
                                        "playbooks/message-center/upgrade.yaml"};
    static const int rounds[] = {1500, 1500, 1000, 500};
    char tmpl[] = "/tmp/lockstep-load-fuzz-XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0) {
        perror("mkstemp");
        return 1;
    }
    close(fd);
    size_t cap = 1 << 20;
    char *buf = malloc(cap);
    int bad = 0, loaded = 0, rejected = 0;
    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", src, seeds[s]);
        size_t len = 0;
        char *text = slurp(path, &len);
        if (!text) {
            fprintf(stderr, "FAIL cannot read %s\n", path);
            return 1;
        }
        for (int i = 0; i < rounds[s]; i++) {
            size_t n = mutate(buf, text, len, cap);
            FILE *f = fopen(tmpl, "wb");
            if (!f || fwrite(buf, 1, n, f) != n || fclose(f) != 0) {
                fprintf(stderr, "FAIL cannot write %s\n", tmpl);
                return 1;
            }
            static const char *const sets[] = {"new_tag=v1.2.3", "api=http://api"}; /* doc_example's */
            ls_load_opts o = {.path = tmpl, .check_params = (i % 2) == 0, .ignore_process_env = true,
                              .sets = NULL, .nsets = 0};
            if (s == 1) {
                o.sets = sets;
                o.nsets = 2;
            }
            ls_diags d;
            ls_diags_init(&d);
            ls_playbook *pb = ls_playbook_load(&o, &d);
            if (pb && d.errors) {
                fprintf(stderr, "FAIL seed %zu case %d: a playbook came back with %zu errors\n", s, i, d.errors);
                bad++;
            }
            if (!pb && !d.errors) {
                fprintf(stderr, "FAIL seed %zu case %d: rejected without an error\n", s, i);
                bad++;
            }
            for (size_t k = 0; k < d.len; k++)
                if (d.items[k].loc.file && d.items[k].loc.line == 0 && strstr(d.items[k].msg, "cannot")) {
                    fprintf(stderr, "FAIL seed %zu case %d: %s\n", s, i, d.items[k].msg);
                    bad++;
                }
            if (pb)
                loaded++;
            else
                rejected++;
            ls_playbook_free(pb);
            ls_diags_free(&d);
        }
        free(text);
    }
    unlink(tmpl);
    free(buf);
    ls_secret_clear();
    printf("load fuzz: %d loaded, %d rejected, %d failures\n", loaded, rejected, bad);
    return bad ? 1 : (loaded && rejected ? 0 : 1);
}
