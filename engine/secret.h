/*
 * Secrets never reach a terminal, a log, the journal or an error message.
 * The redactor holds every secret value of the process (params marked
 * `secret`, values derived from them) and replaces each occurrence with
 * `***` in text and in values about to be shown or written: as written,
 * JSON-escaped (`\"`, `\\`, `\/`, `\n`..., `\uXXXX` in either case, one or
 * two levels deep) and URL-encoded (`%XX` in either case, `+` for a space).
 * It also masks the password of any `scheme://user:password@host` URI,
 * secret or not.
 *
 * A secret shorter than LS_SECRET_MIN bytes is not held: masking every `a`
 * or `ab` in all output would garble every message and, by where the `***`
 * fall, tell the secret anyway.  Params refuse such a secret at validation
 * (params.c), so nothing runs with one.
 */
#ifndef LS_SECRET_H
#define LS_SECRET_H

#include <stddef.h>
#include <lockstep/value.h>

#define LS_SECRET_MIN 4

void ls_secret_add(const char *s, size_t len); /* shorter than LS_SECRET_MIN: ignored */
void ls_secret_clear(void);
size_t ls_secret_count(void);
/* malloc'd redacted copy of text[0..len).  Linear in len for each secret.
 * Never NULL: out of memory ends the process (diag.h). */
char *ls_redact(const char *text, size_t len, size_t *len_out);
/* A redacted deep copy (new reference). */
ls_value ls_redact_value(ls_value v);

#endif
