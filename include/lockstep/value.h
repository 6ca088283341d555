/*
 * lockstep values: null, bool, int (64-bit), float (double), string (UTF-8),
 * list and map (keys are strings, kept in insertion order).
 *
 * OWNERSHIP -- the one rule, written once:
 *
 *   An ls_value is a small struct passed by value.  Scalars own nothing.
 *   Strings, lists and maps point at a reference-counted heap block.
 *
 *   1. A function that RETURNS an ls_value returns a NEW reference: the
 *      caller owns it and releases it with ls_value_free().
 *      Exception: getters (ls_list_at, ls_map_get, ls_map_value_at) return
 *      a BORROWED value, valid while the container is alive and unchanged.
 *      Take ls_value_copy() of it to keep it longer.
 *   2. Every function BORROWS its ls_value arguments, except the builders
 *      ls_list_push() and ls_map_set(), which TAKE the item they are given
 *      (the caller must not free it afterwards).
 *   3. Only a container with one reference may be changed (the builders
 *      assert it).  Once a value is shared it is immutable.
 *   4. ls_value_free() of a scalar or of LS_NULL is a no-op, so every value
 *      can be freed unconditionally.
 *
 *   libbson documents cross into lockstep values by copying
 *   (ls_value_from_bson in the mongo action family): the bson_t stays the
 *   caller's.  C strings passed in are copied; C strings handed out by
 *   ls_str_ptr() are borrowed like getters.
 *
 * Values are not thread-safe: the engine is single-threaded.
 */
#ifndef LOCKSTEP_VALUE_H
#define LOCKSTEP_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ls_kind {
    LS_NULL = 0,
    LS_BOOL,
    LS_INT,
    LS_FLOAT,
    LS_STRING,
    LS_LIST,
    LS_MAP
} ls_kind;

struct ls_str;
struct ls_list;
struct ls_map;

typedef struct ls_value {
    uint8_t kind; /* ls_kind */
    union {
        bool b;
        int64_t i;
        double f;
        struct ls_str *s;
        struct ls_list *l;
        struct ls_map *m;
    } u;
} ls_value;

/* Scalars. */
ls_value ls_null(void);
ls_value ls_bool(bool b);
ls_value ls_int(int64_t i);
ls_value ls_float(double f);

/* Strings: the bytes are copied; a NUL is always kept after them. */
ls_value ls_string(const char *s);
ls_value ls_string_n(const char *s, size_t n);
/* printf-style; returns LS_NULL only when out of memory. */
ls_value ls_string_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *ls_str_ptr(ls_value v); /* borrowed; "" for a non-string */
size_t ls_str_len(ls_value v);      /* 0 for a non-string */

/* Lists. */
ls_value ls_list_new(void);
size_t ls_list_len(ls_value list);                /* 0 for a non-list */
ls_value ls_list_at(ls_value list, size_t index); /* borrowed; null when out of range */
void ls_list_push(ls_value *list, ls_value item); /* takes item */

/* Maps: keys are unique; setting an existing key keeps its position. */
ls_value ls_map_new(void);
size_t ls_map_len(ls_value map);
ls_value ls_map_get(ls_value map, const char *key); /* borrowed; null when missing */
ls_value ls_map_get_n(ls_value map, const char *key, size_t keylen);
bool ls_map_has(ls_value map, const char *key);
const char *ls_map_key_at(ls_value map, size_t index);  /* borrowed */
ls_value ls_map_value_at(ls_value map, size_t index);   /* borrowed */
void ls_map_set(ls_value *map, const char *key, ls_value item); /* takes item */
void ls_map_del(ls_value *map, const char *key);
/* A new map with one reference holding the same entries (the values are
 * shared, as by ls_value_copy): the way to change a map someone else may
 * hold.  An empty map for a non-map. */
ls_value ls_map_clone(ls_value map);

/* References. */
ls_value ls_value_copy(ls_value v);
void ls_value_free(ls_value v);

/* Questions. */
const char *ls_kind_name(ls_kind k); /* "null", "bool", "int", ... */
static inline bool ls_is_null(ls_value v) { return v.kind == LS_NULL; }
bool ls_value_equal(ls_value a, ls_value b); /* deep; int and float compare numerically */
bool ls_value_truthy_bool(ls_value v, bool *out); /* false unless v is a bool */

/*
 * Text.  JSON output is compact (no spaces), keys in map order, strings
 * escaped per RFC 8259, floats in shortest round-trip form with ".0" kept on
 * integral values, non-finite floats as null.
 */
char *ls_value_to_json(ls_value v, size_t *len_out); /* malloc'd; caller frees */
/* Parses one JSON text.  On error returns false and writes a message
 * ("line L, column C: expected ...") into errbuf.  Nesting is bounded (256). */
bool ls_value_from_json(const char *text, size_t len, ls_value *out, char *errbuf, size_t errlen);
/* Template rendering of SPEC 3.3: strings as they are, numbers shortest,
 * bools true/false, null as "", lists and maps as compact JSON. */
char *ls_value_to_text(ls_value v, size_t *len_out); /* malloc'd; caller frees */

#ifdef __cplusplus
}
#endif
#endif
