/*
 * Arenas: memory handed out in chunks and given back all at once.
 *
 * A compiled playbook is hundreds of thousands of small blocks (states,
 * names, expression nodes, template nodes) that live exactly as long as
 * the playbook.  One malloc and one free each, and a page fault for every
 * fresh 4 KiB they touch, were most of what `validate` spent beyond the
 * YAML parse.  The playbook's arena (ls_playbook.arena) holds them instead:
 * chunks double from 4 KiB to 64 KiB, then continue in 2 MiB mappings
 * offered to the kernel as transparent huge pages, and ls_playbook_free
 * returns them in a few calls.
 *
 * While the loader runs, its arena is the *current* one: ls_arena_take
 * gives the expression compiler and the template compiler their nodes from
 * it, and they remember (a flag in the node) not to free() those.
 * Expressions and templates compiled at any other time use malloc.
 */
#ifndef LS_ARENA_H
#define LS_ARENA_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ls_arena ls_arena;

ls_arena *ls_arena_new(void);
/* A zeroed block aligned for any type; never NULL (ls_oom). */
void *ls_arena_alloc(ls_arena *a, size_t size);
/* The same aligned to `align` (a power of two, at most that of any type):
 * 1 packs text. */
void *ls_arena_alloc_align(ls_arena *a, size_t size, size_t align);
/* A copy of s in the arena; NULL for NULL. */
char *ls_arena_strdup(ls_arena *a, const char *s);
/* Gives every chunk back.  NULL is a no-op. */
void ls_arena_free(ls_arena *a);

/* A zeroed mapping of len bytes (a multiple of 2 MiB) aligned to 2 MiB
 * and offered to the kernel as transparent huge pages; NULL when mmap
 * fails.  Give it back with munmap(p, len).  The YAML tree's arena
 * (yaml.c) maps its large chunks with it too. */
void *ls_huge_map(size_t len);

/* Makes `a` (or NULL: none) the current arena; returns the previous one,
 * to be restored when the caller is done. */
ls_arena *ls_arena_use(ls_arena *a);
/* A zeroed block from the current arena, or NULL when there is none (the
 * caller then allocates with calloc). */
void *ls_arena_take(size_t size);
/* The current arena, or NULL. */
ls_arena *ls_arena_current(void);

/* Whether memory that lives until the process exits is freed before it
 * exits: only where a leak checker looks (the sanitizer build).  A release
 * build leaves it to the kernel, which takes it back in one go. */
#if defined(LOCKSTEP_SANITIZE) || defined(__SANITIZE_ADDRESS__)
#define LS_FREE_AT_EXIT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(leak_sanitizer)
#define LS_FREE_AT_EXIT 1
#endif
#endif
#ifndef LS_FREE_AT_EXIT
#define LS_FREE_AT_EXIT 0
#endif

#endif
