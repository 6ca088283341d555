/*
 * YAML documents as a small node tree (libyaml's event API underneath).
 *
 * A document is one mapping, sequence or scalar tree; every node keeps the
 * 1-based place where it starts.  The reader refuses what lockstep never
 * needs and what makes YAML dangerous or ambiguous: anchors, aliases and
 * merge keys (no billion laughs), duplicate keys, non-scalar keys, several
 * documents in one file, unknown tags, nesting deeper than LS_MAX_DEPTH.
 *
 * Scalars keep their text; ls_yaml_value resolves plain scalars the way
 * docs/playbook-format.md describes (YAML 1.1 core types, but yes/no/on/off
 * stay strings).  Ownership: the tree belongs to whoever parsed it and is
 * freed with ls_ynode_free (of the root ls_yaml_parse returned: the whole
 * tree lives in one arena and goes at once); strings handed out are
 * borrowed from the tree.
 */
#ifndef LS_YAML_DOC_H
#define LS_YAML_DOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <lockstep/value.h>
#include "diag.h"

typedef enum ls_ykind { LS_Y_SCALAR, LS_Y_SEQ, LS_Y_MAP } ls_ykind;

typedef enum ls_ytag {
    LS_YT_NONE = 0, /* resolve by content (plain) or string (quoted) */
    LS_YT_STR, LS_YT_INT, LS_YT_FLOAT, LS_YT_BOOL, LS_YT_NULL
} ls_ytag;

typedef struct ls_ynode {
    ls_loc loc;           /* where the node starts */
    uint32_t end_line, end_col; /* where it ends (1-based, exclusive): for ls_diags_mask */
    /* scalar */
    char *str;            /* NUL-terminated; may hold NULs from escapes */
    /* sequence: items; mapping: keys[i] -> items[i] (keys are scalars) */
    struct ls_ynode **items;
    struct ls_ynode **keys;
    uint32_t len;         /* scalar: bytes of str (a file is at most LS_MAX_FILE) */
    uint32_t n;           /* sequence, mapping: items */
    uint8_t kind;         /* ls_ykind */
    uint8_t tag;          /* ls_ytag */
    bool plain;           /* written without quotes or block style */
    bool quoted;          /* '...' or "...": the text starts one column in */
} ls_ynode;

/* Parses text[0..len).  `file` is the interned name used in locations.
 * On any problem adds an error to `d` and returns NULL.  An empty stream
 * (no document) is an error too: "the file is empty". */
ls_ynode *ls_yaml_parse(const char *text, size_t len, const char *file, ls_diags *d);
void ls_ynode_free(ls_ynode *root); /* a root from ls_yaml_parse, or NULL */

/* The value of the key (borrowed) or NULL. */
ls_ynode *ls_ymap_get(const ls_ynode *map, const char *key);
/* The place just past the node: with n->loc, the span ls_diags_mask hides. */
ls_loc ls_ynode_end(const ls_ynode *n);

/* Scalar resolution: plain `~`, `null`, empty -> null; true/false -> bool;
 * integers; floats; everything else (and every quoted scalar) -> string. */
ls_value ls_yaml_scalar(const ls_ynode *n);
/* A scalar that resolves to null (empty, ~, null). */
bool ls_yaml_is_null(const ls_ynode *n);
/* The whole tree as a value (new reference). */
ls_value ls_yaml_value(const ls_ynode *n);
/* A plain scalar that YAML 1.1 would read as a bool but lockstep keeps as a
 * string (yes, no, on, off, y, n in any case): for "did you mean" hints. */
bool ls_yaml_is_yaml11_bool(const ls_ynode *n);
const char *ls_ykind_name(const ls_ynode *n); /* "mapping", "list", "string", "int"... */

#endif
