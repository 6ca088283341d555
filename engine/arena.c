/* Arenas (arena.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "arena.h"
#include "diag.h"

/* Chunks double from LS_ACHUNK_MIN to LS_ACHUNK_MAX (calloc); an arena that
 * outgrows those continues in LS_AHUGE mappings, offered to the kernel as
 * transparent huge pages (a few page faults for a 10,000-state playbook
 * instead of thousands; where THP is off this changes nothing).  A request
 * larger than a chunk gets a chunk of its own (a mapping of whole LS_AHUGE
 * pages once the arena has grown that far: the 10,000 states themselves). */
#define LS_ACHUNK_MIN 4096u
#define LS_ACHUNK_MAX (64u * 1024u)
#define LS_AHUGE (2u * 1024u * 1024u)

typedef struct ls_achunk {
    struct ls_achunk *next;
    size_t used, cap;
    size_t mapped;      /* the length of its mapping (a multiple of LS_AHUGE), or 0: calloc's */
    max_align_t data[]; /* cap bytes, zeroed */
} ls_achunk;

struct ls_arena {
    ls_achunk *head; /* the chunk being filled; older ones follow */
    size_t next_cap;
};

static _Thread_local ls_arena *ls_arena_cur;

ls_arena *ls_arena_new(void)
{
    return ls_oom_check(calloc(1, sizeof(ls_arena)));
}

void *ls_huge_map(size_t len)
{
    size_t span = len + LS_AHUGE;
    char *p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    uintptr_t at = ((uintptr_t)p + (LS_AHUGE - 1)) & ~(uintptr_t)(LS_AHUGE - 1);
    char *q = (char *)at;
    if (q > p)
        munmap(p, (size_t)(q - p));
    if (q + len < p + span)
        munmap(q + len, (size_t)(p + span - (q + len)));
#ifdef MADV_HUGEPAGE
    madvise(q, len, MADV_HUGEPAGE); /* advice only: 4 KiB pages otherwise */
#endif
    return q;
}

/* An LS_AHUGE-aligned, zeroed mapping with room for `size` bytes after its
 * header, in whole LS_AHUGE pages; or NULL. */
static ls_achunk *ls_achunk_map(size_t size)
{
    if (size > SIZE_MAX / 4)
        return NULL;
    size_t len = (sizeof(ls_achunk) + size + (LS_AHUGE - 1)) & ~(size_t)(LS_AHUGE - 1);
    ls_achunk *c = ls_huge_map(len);
    if (c == NULL)
        return NULL;
    c->mapped = len;
    c->cap = len - sizeof *c;
    return c;
}

static void *ls_arena_get(ls_arena *a, size_t size, size_t align)
{
    ls_achunk *c = a->head;
    size_t at = c ? (c->used + (align - 1)) & ~(align - 1) : 0;
    if (!c || at > c->cap || c->cap - at < size) {
        size_t cap = a->next_cap ? a->next_cap : LS_ACHUNK_MIN;
        /* A block bigger than the next chunk would be is a one-off: the
         * current chunk goes on being filled after it. */
        bool big = size > (cap >= LS_ACHUNK_MAX ? LS_AHUGE - sizeof(ls_achunk) : cap);
        ls_achunk *nc = NULL;
        if (cap >= LS_ACHUNK_MAX || size > LS_ACHUNK_MAX)
            nc = ls_achunk_map(size);
        if (!nc) {
            if (cap < LS_ACHUNK_MAX && !big)
                a->next_cap = cap * 2;
            if (cap < size)
                cap = size;
            if (cap > SIZE_MAX - sizeof *nc)
                ls_oom();
            nc = ls_oom_check(calloc(1, sizeof *nc + cap));
            nc->mapped = 0;
            nc->cap = cap;
        }
        nc->used = 0;
        if (c && big && c->cap - c->used >= LS_ACHUNK_MIN) {
            nc->next = c->next;
            c->next = nc;
        } else {
            nc->next = c;
            a->head = nc;
        }
        c = nc;
        at = 0;
    }
    void *p = (char *)c->data + at;
    c->used = at + size;
    return p;
}

void *ls_arena_alloc(ls_arena *a, size_t size)
{
    return ls_arena_get(a, size ? size : 1, _Alignof(max_align_t));
}

void *ls_arena_alloc_align(ls_arena *a, size_t size, size_t align)
{
    return ls_arena_get(a, size ? size : 1, align);
}

char *ls_arena_strdup(ls_arena *a, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *p = ls_arena_get(a, n + 1, 1);
    memcpy(p, s, n + 1);
    return p;
}

void ls_arena_free(ls_arena *a)
{
    if (!a)
        return;
    ls_achunk *c = a->head;
    while (c) {
        ls_achunk *next = c->next;
        if (c->mapped)
            munmap(c, c->mapped);
        else
            free(c);
        c = next;
    }
    if (ls_arena_cur == a)
        ls_arena_cur = NULL;
    free(a);
}

ls_arena *ls_arena_use(ls_arena *a)
{
    ls_arena *prev = ls_arena_cur;
    ls_arena_cur = a;
    return prev;
}

ls_arena *ls_arena_current(void)
{
    return ls_arena_cur;
}

void *ls_arena_take(size_t size)
{
    return ls_arena_cur ? ls_arena_alloc(ls_arena_cur, size) : NULL;
}
