/*
 * BSON <-> lockstep values (SPEC 3.1), for the mongo action family.
 *
 * BSON -> value (documents copied; the bson_t stays the caller's):
 *   document -> map, array -> list, null/undefined -> null, bool -> bool,
 *   int32/int64 -> int, double -> float, string/symbol/code -> string,
 *   ObjectId -> its 24-digit lower-case hex string,
 *   date -> ISO-8601 UTC with milliseconds ("2024-05-01T12:00:00.000Z"),
 *   Decimal128 -> its string form ("12.50"),
 *   binary -> standard base64 of the bytes (the subtype is dropped),
 *   regex -> "/pattern/flags",
 *   timestamp -> int ((seconds << 32) | increment, the 64-bit value the
 *     server compares; ordering is kept),
 *   MinKey/MaxKey -> the strings "MinKey"/"MaxKey",
 *   DBPointer -> "DBPointer(ns, hex)", code-with-scope -> its code string.
 *   Nesting deeper than LS_BSON_MAX_DEPTH is an error, never a crash.
 *
 * value -> BSON (filters, projections, commands):
 *   null, bool, float, string, list, map as themselves; an int is written
 *   as int32 when it fits and as int64 otherwise (pymongo's rule, so
 *   `{schema_version: 12}` compares like a shell-typed value).  Two
 *   extended-JSON forms are understood so that playbooks can name types
 *   JSON has not: a map {"$oid": "<24 hex>"} becomes an ObjectId and
 *   {"$date": "<ISO-8601>" | <int ms>} a date.
 */
#ifndef LS_BSON_CONV_H
#define LS_BSON_CONV_H

#include <stdbool.h>
#include <stddef.h>
#include <bson/bson.h>
#include <lockstep/value.h>

#define LS_BSON_MAX_DEPTH 200

/* A new map (the caller owns it) from a document; false + errbuf on a
 * malformed document or too deep nesting. */
bool ls_value_from_bson(const bson_t *doc, ls_value *out, char *errbuf, size_t errlen);

/* Appends value `v` under `key` to `doc`; false + errbuf when it cannot. */
bool ls_bson_append_value(bson_t *doc, const char *key, ls_value v, char *errbuf, size_t errlen);

/* Fills an initialised, empty `doc` from a map (NULL value: empty doc).
 * false + errbuf when `map` is not a map or not encodable. */
bool ls_bson_from_map(ls_value map, bson_t *doc, char *errbuf, size_t errlen);

/* ISO-8601 UTC with milliseconds of a BSON date (ms since the epoch). */
#define LS_BSON_DATE_MAX 80
void ls_bson_format_date(int64_t ms, char out[LS_BSON_DATE_MAX]);

#endif
