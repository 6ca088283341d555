/*
 * Semantic versions and the ranges npm and Cargo write (funcs.c holds the
 * code, next to semver_cmp and semver_match).  Shared with the loader,
 * which checks `release.version` and `release.upgrades_from` at load time.
 *
 * A version is MAJOR[.MINOR[.PATCH]][-PRE][+BUILD], a leading `v` allowed
 * (missing parts are 0).  A range is comparator sets joined by `||`; a set
 * is comparators separated by spaces or commas (`>=2.4.0 <2.5.0`,
 * `>=2.4, <2.5`), or a hyphen range `A - B`.  Comparators: `<` `<=` `>`
 * `>=` `=`, caret `^`, tilde `~`, and partial or x-ranges (`2.4`,
 * `2.4.x`, `*`).  A bare full version is exact, as in npm (Cargo would
 * read it as ^).  A pre-release version matches only a set that names a
 * pre-release of the same MAJOR.MINOR.PATCH (npm's rule).
 */
#ifndef LS_SEMVER_H
#define LS_SEMVER_H

#include <stdbool.h>
#include <stddef.h>

/* Whether `s[0..len)` is a full version: MAJOR.MINOR.PATCH[-PRE][+BUILD]. */
bool ls_semver_valid(const char *s, size_t len);
/* 0 when `range` parses (and, when `version` is not NULL, *match tells
 * whether the version satisfies it); -1 with `err` filled ("bad range:
 * ...", "not a version") otherwise. */
int ls_semver_range(const char *range, size_t rlen, const char *version, size_t vlen, bool *match,
                    char *err, size_t errlen);
/* The offset in the range where the last ls_semver_range error was found
 * (for a diagnostic's column); 0 for a version error. */
size_t ls_semver_range_errpos(void);

#endif
