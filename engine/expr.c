/*
 * The expression compiler (SPEC 3.2): lexer, recursive-descent parser and
 * the compile-time checks (roots, names, functions, arity, regexes).
 *
 * The parser's recursion is bounded by LS_MAX_DEPTH (parentheses, `!`,
 * unary minus, lists, calls, indexes each count one level), and the tree's
 * height by LS_EXPR_MAX_HEIGHT, so no input can overflow the stack here or
 * in the evaluator.  Every problem is reported at its exact column.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "expr_int.h"

typedef enum ls_tok {
    T_END, T_INT, T_FLOAT, T_STRING, T_REGEX, T_IDENT,
    T_EQ, T_NE, T_LT, T_LE, T_GT, T_GE, T_MATCH, T_NMATCH,
    T_PLUS, T_MINUS, T_STAR, T_SLASH, T_PERCENT, T_BANG, T_ANDAND, T_OROR,
    T_DOT, T_LBRACK, T_RBRACK, T_LPAREN, T_RPAREN, T_COMMA, T_ERROR
} ls_tok;

typedef struct ls_parser {
    const char *s;
    size_t n;
    size_t pos;      /* lexer position */
    /* current token */
    ls_tok tok;
    size_t tpos, tlen;
    ls_value tval;   /* INT, FLOAT, STRING, REGEX body */
    uint32_t tflags; /* REGEX */
    bool regex_ok;   /* the previous token was =~ or !~ */
    int depth;
    bool failed;
    ls_expr *e;
    const ls_compile_env *env;
    ls_diags *d;
} ls_parser;

/* ---- errors ---- */

/* The place of byte `off`: columns count characters (UTF-8 lead bytes), as
 * libyaml's marks do. */
static ls_loc ls_expr_loc_at(const ls_expr *e, size_t off)
{
    ls_loc l = e->loc;
    uint32_t lines = 0, chars = 0;
    for (size_t i = 0; i < off && i < e->len; i++) {
        if (e->src[i] == '\n') {
            lines++;
            chars = 0;
        } else if (((unsigned char)e->src[i] & 0xC0) != 0x80) {
            chars++;
        }
    }
    if (lines == 0) {
        l.col = e->loc.col + chars;
    } else {
        l.line = e->loc.line + lines;
        l.col = chars + 1;
    }
    return l;
}

static void ls_perr(ls_parser *p, size_t off, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void ls_perr(ls_parser *p, size_t off, const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = true;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (p->d)
        ls_diag_error(p->d, ls_expr_loc_at(p->e, off), "%s", msg);
}

/* ---- regexes ---- */

/* Compiled patterns by (text, flags), so a pattern repeated across a
 * playbook (the same `expect` in 10,000 states) is compiled once:
 * pcre2_compile is some 9,000 instructions.  A compiled code is immutable
 * (JIT only adds to it), so constant regexes share one reference-counted
 * code; run-time patterns (eval.c) get their own copy.  Match data stays
 * per regex.  Bounded: LS_RE_CACHE entries of patterns up to
 * LS_RE_CACHE_MAXPAT bytes, a colliding entry is replaced, and an entry is
 * renewed after LS_RE_SHARE_MAX hand-outs so no count grows without limit.
 * Single-threaded like the rest of the engine (value.h). */
#define LS_RE_CACHE 64u
#define LS_RE_CACHE_MAXPAT 512u
#define LS_RE_SHARE_MAX (1u << 20)

typedef struct ls_re_cached {
    const ls_arena *owner; /* the arena its code lives in (see ls_re_malloc), or NULL */
    size_t len;
    uint32_t flags;
    uint32_t handed;    /* references handed out since it was cached */
    ls_re_shared *sh;   /* the cache holds one reference */
    char pat[LS_RE_CACHE_MAXPAT]; /* len bytes: no allocation to cache a pattern */
} ls_re_cached;

static ls_re_cached ls_re_cache[LS_RE_CACHE];

/* Codes compiled while the loader runs live in its arena (arena.h) with
 * the rest of the playbook: 10,000 patterns were 10,000 mallocs and some
 * 2 MB of heap faulted in 4 KiB at a time.  PCRE2 allocates through these
 * two for everything it keeps (codes, copies, match data, JIT data), and a
 * header on each block says where it came from, so its free is right
 * whenever it is called.  Out of memory ends the process (diag.h). */
typedef union ls_re_head {
    max_align_t align;
    bool in_arena;
} ls_re_head;

static void *ls_re_malloc(PCRE2_SIZE size, void *data)
{
    (void)data;
    if (size > SIZE_MAX - sizeof(ls_re_head))
        ls_oom();
    ls_re_head *h = ls_arena_take(sizeof *h + size);
    if (h)
        h->in_arena = true;
    else {
        h = ls_oom_check(malloc(sizeof *h + size));
        h->in_arena = false;
    }
    return h + 1;
}

static void ls_re_free(void *p, void *data)
{
    (void)data;
    ls_re_head *h = p ? (ls_re_head *)p - 1 : NULL;
    if (h && !h->in_arena)
        free(h);
}

static pcre2_compile_context *ls_re_context(void)
{
    static pcre2_compile_context *cc;
    if (!cc) {
        /* Made with ls_re_malloc too, so never in an arena: it outlives them. */
        ls_arena *outer = ls_arena_use(NULL);
        pcre2_general_context *gc = ls_oom_check(pcre2_general_context_create(ls_re_malloc, ls_re_free, NULL));
        cc = ls_oom_check(pcre2_compile_context_create(gc));
        pcre2_general_context_free(gc); /* the compile context keeps a copy of its functions */
        ls_arena_use(outer);
    }
    return cc;
}

void ls_regex_cache_forget(const ls_arena *a)
{
    for (size_t i = 0; i < LS_RE_CACHE; i++) {
        ls_re_cached *c = &ls_re_cache[i];
        if (c->sh && c->owner == a) {
            ls_re_shared_drop(c->sh);
            memset(c, 0, sizeof *c);
        }
    }
}

static ls_re_cached *ls_re_cache_slot(const char *pat, size_t len, uint32_t flags)
{
    uint32_t h = 2166136261u ^ flags; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)pat[i]) * 16777619u;
    return &ls_re_cache[h % LS_RE_CACHE];
}

void ls_re_shared_drop(ls_re_shared *sh)
{
    if (sh && --sh->refs == 0) {
        pcre2_code_free(sh->code);
        ls_re_free(sh, NULL);
    }
}

static void ls_re_cache_put(ls_re_cached *c, const char *pat, size_t len, uint32_t flags, ls_re_shared *sh)
{
    ls_re_shared_drop(c->sh);
    memcpy(c->pat, pat, len);
    sh->refs++;
    c->owner = ls_arena_current();
    c->len = len;
    c->flags = flags;
    c->handed = 1;
    c->sh = sh;
}

static pcre2_code *ls_regex_compile_new(const char *pat, size_t len, uint32_t flags, char *msg, size_t msglen,
                                        size_t *erroffset)
{
    int code = 0;
    PCRE2_SIZE off = 0;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, len, flags | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF,
                                   &code, &off, ls_re_context());
    if (!re) {
        PCRE2_UCHAR buf[256];
        if (pcre2_get_error_message(code, buf, sizeof buf) < 0)
            snprintf((char *)buf, sizeof buf, "error %d", code);
        snprintf(msg, msglen, "%s", (const char *)buf);
        if (erroffset)
            *erroffset = (size_t)off;
        return NULL;
    }
    return re;
}

/* The cached entry for (pat, flags) when it may hand out one more reference. */
static ls_re_cached *ls_re_cache_find(const char *pat, size_t len, uint32_t flags)
{
    if (len > LS_RE_CACHE_MAXPAT)
        return NULL;
    ls_re_cached *c = ls_re_cache_slot(pat, len, flags);
    if (c->sh && c->owner == ls_arena_current() && c->len == len && c->flags == flags &&
        memcmp(c->pat, pat, len) == 0 && c->handed < LS_RE_SHARE_MAX)
        return c;
    return NULL;
}

ls_re_shared *ls_regex_compile_shared(const char *pat, size_t len, uint32_t flags, char *msg, size_t msglen,
                                      size_t *erroffset)
{
    ls_re_cached *c = ls_re_cache_find(pat, len, flags);
    if (c) {
        c->handed++;
        c->sh->refs++;
        return c->sh;
    }
    pcre2_code *re = ls_regex_compile_new(pat, len, flags, msg, msglen, erroffset);
    if (!re)
        return NULL;
    ls_re_shared *sh = ls_re_malloc(sizeof *sh, NULL); /* with the code: in the arena while loading */
    sh->code = re;
    sh->refs = 1;
    if (len <= LS_RE_CACHE_MAXPAT)
        ls_re_cache_put(ls_re_cache_slot(pat, len, flags), pat, len, flags, sh);
    return sh;
}

pcre2_code *ls_regex_compile(const char *pat, size_t len, uint32_t flags, char *msg, size_t msglen,
                             size_t *erroffset)
{
    ls_re_cached *c = ls_re_cache_find(pat, len, flags);
    if (c) {
        pcre2_code *re = pcre2_code_copy(c->sh->code);
        if (re)
            return re;
    }
    return ls_regex_compile_new(pat, len, flags, msg, msglen, erroffset);
}

/* Short constant strings (field names, literals, patterns) repeat across a
 * playbook: `result.stdout` in 10,000 states.  Strings are immutable and
 * reference-counted, so each (text) is made once and shared.  Bounded like
 * the regex cache; an entry is renewed after LS_STR_SHARE_MAX hand-outs so
 * no reference count can grow without limit. */
#define LS_STR_CACHE 64u
#define LS_STR_CACHE_MAXLEN 64u
#define LS_STR_SHARE_MAX (1u << 20)

static struct {
    ls_value v;
    uint32_t handed;
} ls_str_cache[LS_STR_CACHE];

ls_value ls_expr_const_string(const char *s, size_t n)
{
    if (n > LS_STR_CACHE_MAXLEN)
        return ls_string_n(s, n);
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    ls_value *c = &ls_str_cache[h % LS_STR_CACHE].v;
    uint32_t *handed = &ls_str_cache[h % LS_STR_CACHE].handed;
    if (c->kind == LS_STRING && ls_str_len(*c) == n && memcmp(ls_str_ptr(*c), s, n) == 0 &&
        *handed < LS_STR_SHARE_MAX) {
        (*handed)++;
        return ls_value_copy(*c);
    }
    ls_value v = ls_string_n(s, n);
    if (v.kind != LS_STRING)
        return v;
    ls_value_free(*c);
    *c = ls_value_copy(v);
    *handed = 1;
    return v;
}

/* ---- lexer ---- */

static bool ls_is_ident0(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool ls_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static void ls_lex_string(ls_parser *p)
{
    char q = p->s[p->pos];
    size_t start = p->pos++;
    /* Most strings have no escapes: take them straight from the source. */
    size_t end = p->pos;
    while (end < p->n && p->s[end] != q && p->s[end] != '\\')
        end++;
    if (end < p->n && p->s[end] == q) {
        p->tok = T_STRING;
        p->tval = ls_expr_const_string(p->s + p->pos, end - p->pos);
        p->pos = end + 1;
        return;
    }
    ls_buf b;
    ls_buf_init(&b, LS_BUF_UNLIMITED);
    while (p->pos < p->n && p->s[p->pos] != q) {
        char c = p->s[p->pos];
        if (c == '\\') {
            char e = p->pos + 1 < p->n ? p->s[p->pos + 1] : '\0';
            char r;
            switch (e) {
            case '\\': r = '\\'; break;
            case '\'': r = '\''; break;
            case '"': r = '"'; break;
            case 'n': r = '\n'; break;
            case 't': r = '\t'; break;
            default:
                if (p->pos + 1 >= p->n)
                    ls_perr(p, start, "unterminated string");
                else if ((unsigned char)e < 0x20 || (unsigned char)e >= 0x7f)
                    ls_perr(p, p->pos, "unknown escape in string (use \\\\ \\' \\\" \\n \\t)");
                else
                    ls_perr(p, p->pos, "unknown escape '\\%c' in string (use \\\\ \\' \\\" \\n \\t)", e);
                ls_buf_free(&b);
                p->tok = T_ERROR;
                return;
            }
            ls_buf_addc(&b, r);
            p->pos += 2;
            continue;
        }
        ls_buf_addc(&b, c);
        p->pos++;
    }
    if (p->pos >= p->n) {
        ls_perr(p, start, "unterminated string");
        ls_buf_free(&b);
        p->tok = T_ERROR;
        return;
    }
    p->pos++;
    p->tok = T_STRING;
    p->tval = ls_string_n(ls_buf_str(&b), b.len);
    ls_buf_free(&b);
}

static void ls_lex_regex(ls_parser *p)
{
    size_t start = p->pos++;
    ls_buf b;
    ls_buf_init(&b, LS_BUF_UNLIMITED);
    /* A body without escapes is made from the source in one piece. */
    size_t plain = p->pos;
    while (plain < p->n && p->s[plain] != '/' && p->s[plain] != '\\')
        plain++;
    const char *body = p->s + p->pos;
    size_t bodylen = plain - p->pos;
    bool direct = plain < p->n && p->s[plain] == '/';
    if (direct)
        p->pos = plain;
    while (p->pos < p->n && p->s[p->pos] != '/') {
        if (p->s[p->pos] == '\\' && p->pos + 1 < p->n) {
            if (p->s[p->pos + 1] == '/') {
                ls_buf_addc(&b, '/');
            } else {
                ls_buf_add(&b, p->s + p->pos, 2);
            }
            p->pos += 2;
            continue;
        }
        size_t run = p->pos + 1; /* up to the next escape or the end, at once */
        while (run < p->n && p->s[run] != '/' && p->s[run] != '\\')
            run++;
        ls_buf_add(&b, p->s + p->pos, run - p->pos);
        p->pos = run;
    }
    if (p->pos >= p->n) {
        ls_perr(p, start, "unterminated regex literal");
        ls_buf_free(&b);
        p->tok = T_ERROR;
        return;
    }
    p->pos++;
    uint32_t flags = 0;
    while (p->pos < p->n && (ls_is_ident0(p->s[p->pos]) || ls_is_digit(p->s[p->pos]))) {
        char f = p->s[p->pos];
        switch (f) {
        case 'i': flags |= PCRE2_CASELESS; break;
        case 'm': flags |= PCRE2_MULTILINE; break;
        case 's': flags |= PCRE2_DOTALL; break;
        case 'x': flags |= PCRE2_EXTENDED; break;
        default:
            ls_perr(p, p->pos, "unknown regex flag '%c' (flags are i, m, s, x)", f);
            ls_buf_free(&b);
            p->tok = T_ERROR;
            return;
        }
        p->pos++;
    }
    p->tok = T_REGEX;
    p->tflags = flags;
    p->tval = direct ? ls_expr_const_string(body, bodylen) : ls_expr_const_string(ls_buf_str(&b), b.len);
    ls_buf_free(&b);
}

static void ls_lex_number(ls_parser *p)
{
    size_t start = p->pos;
    bool isfloat = false;
    while (p->pos < p->n && ls_is_digit(p->s[p->pos]))
        p->pos++;
    if (p->pos + 1 < p->n && p->s[p->pos] == '.' && ls_is_digit(p->s[p->pos + 1])) {
        isfloat = true;
        p->pos++;
        while (p->pos < p->n && ls_is_digit(p->s[p->pos]))
            p->pos++;
    }
    if (p->pos < p->n && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        size_t q = p->pos + 1;
        if (q < p->n && (p->s[q] == '+' || p->s[q] == '-'))
            q++;
        if (q < p->n && ls_is_digit(p->s[q])) {
            isfloat = true;
            p->pos = q;
            while (p->pos < p->n && ls_is_digit(p->s[p->pos]))
                p->pos++;
        }
    }
    if (p->pos < p->n && (ls_is_ident0(p->s[p->pos]) || p->s[p->pos] == '.')) {
        ls_perr(p, start, "malformed number '%.*s'", (int)(p->pos - start + 1), p->s + start);
        p->tok = T_ERROR;
        return;
    }
    char tmp[64];
    size_t len = p->pos - start;
    if (len >= sizeof tmp) {
        ls_perr(p, start, "number literal too long");
        p->tok = T_ERROR;
        return;
    }
    memcpy(tmp, p->s + start, len);
    tmp[len] = '\0';
    errno = 0;
    if (isfloat) {
        p->tok = T_FLOAT;
        p->tval = ls_float(strtod(tmp, NULL));
        return;
    }
    long long v = strtoll(tmp, NULL, 10);
    if (errno == ERANGE) {
        ls_perr(p, start, "integer literal %s is out of range", tmp);
        p->tok = T_ERROR;
        return;
    }
    p->tok = T_INT;
    p->tval = ls_int((int64_t)v);
}

static void ls_next(ls_parser *p)
{
    ls_value_free(p->tval);
    p->tval = ls_null();
    bool regex_ok = p->regex_ok;
    p->regex_ok = false;
    while (p->pos < p->n && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                             p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
    p->tpos = p->pos;
    if (p->pos >= p->n) {
        p->tok = T_END;
        p->tlen = 0;
        return;
    }
    char c = p->s[p->pos];
    char c2 = p->pos + 1 < p->n ? p->s[p->pos + 1] : '\0';
    if (c == '/' && regex_ok) {
        ls_lex_regex(p);
    } else if (c == '"' || c == '\'') {
        ls_lex_string(p);
    } else if (ls_is_digit(c)) {
        ls_lex_number(p);
    } else if (ls_is_ident0(c)) {
        while (p->pos < p->n && (ls_is_ident0(p->s[p->pos]) || ls_is_digit(p->s[p->pos])))
            p->pos++;
        p->tok = T_IDENT;
    } else {
        ls_tok t = T_ERROR;
        size_t w = 2;
        if (c == '=' && c2 == '=') t = T_EQ;
        else if (c == '!' && c2 == '=') t = T_NE;
        else if (c == '<' && c2 == '=') t = T_LE;
        else if (c == '>' && c2 == '=') t = T_GE;
        else if (c == '=' && c2 == '~') t = T_MATCH;
        else if (c == '!' && c2 == '~') t = T_NMATCH;
        else if (c == '&' && c2 == '&') t = T_ANDAND;
        else if (c == '|' && c2 == '|') t = T_OROR;
        else {
            w = 1;
            switch (c) {
            case '<': t = T_LT; break;
            case '>': t = T_GT; break;
            case '+': t = T_PLUS; break;
            case '-': t = T_MINUS; break;
            case '*': t = T_STAR; break;
            case '/': t = T_SLASH; break;
            case '%': t = T_PERCENT; break;
            case '!': t = T_BANG; break;
            case '.': t = T_DOT; break;
            case '[': t = T_LBRACK; break;
            case ']': t = T_RBRACK; break;
            case '(': t = T_LPAREN; break;
            case ')': t = T_RPAREN; break;
            case ',': t = T_COMMA; break;
            default: break;
            }
        }
        if (t == T_ERROR) {
            if (c == '=')
                ls_perr(p, p->pos, "unexpected '=' (use == to compare)");
            else if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f)
                ls_perr(p, p->pos, "unexpected character '%c'", c);
            else
                ls_perr(p, p->pos, "unexpected byte 0x%02x", (unsigned)(unsigned char)c);
        } else {
            p->pos += w;
        }
        p->tok = t;
        if (t == T_MATCH || t == T_NMATCH)
            p->regex_ok = true;
    }
    p->tlen = p->pos - p->tpos;
}

static bool ls_tok_is(const ls_parser *p, const char *word)
{
    size_t n = strlen(word);
    return p->tok == T_IDENT && p->tlen == n && memcmp(p->s + p->tpos, word, n) == 0;
}

/* "')'", "end of expression", "'foo'" for messages. */
static const char *ls_tok_desc(const ls_parser *p, char *buf, size_t len)
{
    if (p->tok == T_END)
        return "end of expression";
    if (p->tok == T_STRING)
        return "a string";
    size_t n = p->tlen > 40 ? 40 : p->tlen;
    snprintf(buf, len, "'%.*s'", (int)n, p->s + p->tpos);
    return buf;
}

/* ---- tree ---- */

static ls_node *ls_node_new(ls_nop op, size_t pos)
{
    ls_node *n = ls_arena_take(sizeof *n);
    if (n)
        n->in_arena = true;
    else
        n = ls_oom_check(calloc(1, sizeof *n));
    n->op = (uint8_t)op;
    n->pos = (uint32_t)pos;
    n->val = ls_null();
    return n;
}

static void ls_regex_free(ls_regex *re)
{
    if (!re)
        return;
    pcre2_match_data_free(re->md);
    if (re->shared)
        ls_re_shared_drop(re->shared);
    else
        pcre2_code_free(re->code);
    free(re->pat);
    if (!re->in_arena)
        free(re);
}

static void ls_node_free(ls_node *n)
{
    if (!n)
        return;
    ls_node_free(n->a);
    ls_node_free(n->b);
    for (size_t i = 0; i < n->nargs; i++)
        ls_node_free(n->args[i]);
    free(n->args);
    ls_value_free(n->val);
    ls_regex_free(n->re);
    if (!n->in_arena)
        free(n);
}


/* Links children and checks the tree height; NULL (and error) past the bound. */
static ls_node *ls_node_fix(ls_parser *p, ls_node *n)
{
    int h = 0;
    if (n->a && n->a->height > h)
        h = n->a->height;
    if (n->b && n->b->height > h)
        h = n->b->height;
    for (size_t i = 0; i < n->nargs; i++)
        if (n->args[i]->height > h)
            h = n->args[i]->height;
    n->height = (uint16_t)(h + 1);
    if (n->height > LS_EXPR_MAX_HEIGHT) {
        ls_perr(p, n->pos, "expression too complex (more than %d nested operations)",
                LS_EXPR_MAX_HEIGHT);
        ls_node_free(n);
        return NULL;
    }
    return n;
}

static ls_node *ls_node_bin(ls_parser *p, ls_nop op, size_t pos, ls_node *a, ls_node *b)
{
    ls_node *n = ls_node_new(op, pos);
    n->a = a;
    n->b = b;
    return ls_node_fix(p, n);
}

static void ls_args_push(ls_node *n, ls_node *arg, size_t *cap)
{
    if (n->nargs == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        ls_node **na = realloc(n->args, *cap * sizeof *na);
        if (!na) {
            ls_oom();
        }
        n->args = na;
    }
    n->args[n->nargs++] = arg;
}

static void ls_ref_add(int **arr, size_t *n, int idx)
{
    for (size_t i = 0; i < *n; i++)
        if ((*arr)[i] == idx)
            return;
    int *na = realloc(*arr, (*n + 1) * sizeof *na);
    if (!na) {
        ls_oom();
    }
    na[(*n)++] = idx;
    *arr = na;
}

static int ls_name_index(const char *const *names, size_t count, const char *s, size_t len)
{
    for (size_t i = 0; i < count; i++)
        if (names[i] && strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
            return (int)i;
    return -1;
}

static bool ls_enter(ls_parser *p)
{
    if (++p->depth > LS_MAX_DEPTH) {
        ls_perr(p, p->tpos, "expression nested deeper than %d levels", LS_MAX_DEPTH);
        return false;
    }
    return true;
}

static ls_node *ls_parse_or(ls_parser *p);

/* Compiles a constant pattern now; a bad one is a compile error at `pos`. */
static void ls_pattern_prepare(ls_parser *p, ls_node *owner, const ls_node *pat, uint32_t flags)
{
    owner->re = ls_arena_take(sizeof *owner->re);
    if (owner->re)
        owner->re->in_arena = true;
    else
        owner->re = ls_oom_check(calloc(1, sizeof *owner->re));
    owner->re->flags = flags;
    if (pat->op != LS_N_CONST || pat->val.kind != LS_STRING)
        return;
    char msg[256];
    size_t off = 0;
    owner->re->shared = ls_regex_compile_shared(ls_str_ptr(pat->val), ls_str_len(pat->val), flags, msg,
                                                sizeof msg, &off);
    owner->re->code = owner->re->shared ? owner->re->shared->code : NULL;
    if (!owner->re->code) {
        ls_perr(p, pat->pos, "bad regex: %s (at offset %zu)", msg, off);
        return;
    }
    owner->re->constant = true; /* match data comes with the first match (eval.c) */
}

static ls_node *ls_parse_call(ls_parser *p, size_t namepos, size_t namelen)
{
    int fi = ls_func_lookup(p->s + namepos, namelen);
    if (fi < 0) {
        ls_perr(p, namepos, "unknown function '%.*s'", (int)namelen, p->s + namepos);
        return NULL;
    }
    ls_node *n = ls_node_new(LS_N_CALL, namepos);
    n->ival = fi;
    size_t cap = 0;
    ls_next(p); /* ( */
    if (p->tok != T_RPAREN) {
        for (;;) {
            ls_node *arg = ls_parse_or(p);
            if (!arg) {
                ls_node_free(n);
                return NULL;
            }
            ls_args_push(n, arg, &cap);
            if (p->tok == T_COMMA) {
                ls_next(p);
                continue;
            }
            break;
        }
    }
    if (p->tok != T_RPAREN) {
        char tb[64];
        ls_perr(p, p->tpos, "expected ',' or ')' in call of %s(), found %s", ls_functions[fi].name,
                ls_tok_desc(p, tb, sizeof tb));
        ls_node_free(n);
        return NULL;
    }
    ls_next(p);
    const ls_func *f = &ls_functions[fi];
    if ((int)n->nargs < f->min_args || (int)n->nargs > f->max_args) {
        if (f->min_args == f->max_args)
            ls_perr(p, namepos, "%s() takes %d argument%s, got %u", f->name, f->min_args,
                    f->min_args == 1 ? "" : "s", n->nargs);
        else
            ls_perr(p, namepos, "%s() takes %d to %d arguments, got %u", f->name, f->min_args,
                    f->max_args, n->nargs);
        ls_node_free(n);
        return NULL;
    }
    if (strcmp(f->name, "matches") == 0)
        ls_pattern_prepare(p, n, n->args[1], 0);
    if (strcmp(f->name, "now") == 0)
        p->e->roots |= LS_ROOT_NOW;
    if (p->failed) {
        ls_node_free(n);
        return NULL;
    }
    return ls_node_fix(p, n);
}

/* `.NAME` after a root: returns the name's offset and length, or false. */
static bool ls_expect_member(ls_parser *p, const char *root, size_t *pos, size_t *len)
{
    if (p->tok != T_DOT) {
        char tb[64];
        ls_perr(p, p->tpos, "'%s' needs a name: %s.NAME, found %s", root, root,
                ls_tok_desc(p, tb, sizeof tb));
        return false;
    }
    ls_next(p);
    if (p->tok != T_IDENT) {
        char tb[64];
        ls_perr(p, p->tpos, "expected a name after '%s.', found %s", root, ls_tok_desc(p, tb, sizeof tb));
        return false;
    }
    *pos = p->tpos;
    *len = p->tlen;
    return true;
}

/* A name in value position: a root (checked against the compile env) or a call. */
/* A root (params, states, result, run, item, index), noted in the
 * expression's LS_ROOT_* bits. */
static ls_node *ls_root_node(ls_parser *p, size_t pos, unsigned root)
{
    ls_node *n = ls_node_new(LS_N_ROOT, pos);
    n->ival = (int)root;
    n->height = 1;
    p->e->roots |= root;
    return n;
}

static ls_node *ls_parse_name(ls_parser *p)
{
    size_t pos = p->tpos, len = p->tlen;
    const char *name = p->s + pos;
    const ls_compile_env *env = p->env;
    ls_next(p);
    if (p->tok == T_LPAREN)
        return ls_parse_call(p, pos, len);
#define IS(w) (len == sizeof(w) - 1 && memcmp(name, w, len) == 0)
    if (IS("params") || IS("states")) {
        bool isparams = IS("params");
        ls_node *n = ls_root_node(p, pos, isparams ? LS_ROOT_PARAMS : LS_ROOT_STATES);
        if (p->tok != T_DOT)
            return n;
        ls_next(p);
        if (p->tok != T_IDENT) {
            char tb[64];
            ls_perr(p, p->tpos, "expected a name after '%s.', found %s", isparams ? "params" : "states",
                    ls_tok_desc(p, tb, sizeof tb));
            ls_node_free(n);
            return NULL;
        }
        if (env) {
            int idx = isparams ? ls_name_index(env->params, env->nparams, p->s + p->tpos, p->tlen)
                               : ls_name_index(env->states, env->nstates, p->s + p->tpos, p->tlen);
            if (idx < 0) {
                ls_perr(p, p->tpos, "unknown %s '%.*s'", isparams ? "param" : "state", (int)p->tlen,
                        p->s + p->tpos);
                ls_node_free(n);
                return NULL;
            }
            if (!isparams)
                ls_ref_add(&p->e->state_refs, &p->e->nstate_refs, idx);
        }
        ls_node *f = ls_node_new(LS_N_FIELD, p->tpos);
        f->a = n;
        f->val = ls_expr_const_string(p->s + p->tpos, p->tlen);
        ls_next(p);
        return ls_node_fix(p, f);
    }
    if (IS("result") || IS("run")) {
        if (IS("result") && env && !env->allow_result) {
            ls_perr(p, pos, "'result' is only available in expect, retry.until and next conditions");
            return NULL;
        }
        ls_node *n = ls_root_node(p, pos, IS("result") ? LS_ROOT_RESULT : LS_ROOT_RUN);
        return n;
    }
    if (IS("item") || IS("index")) {
        /* The element a for_each state is running its action for. */
        if (env && !env->allow_item) {
            ls_perr(p, pos, "'%s' is only available in a state with for_each (in its with, expect, retry.until "
                    "and landed)", IS("item") ? "item" : "index");
            return NULL;
        }
        ls_node *n = ls_root_node(p, pos, IS("item") ? LS_ROOT_ITEM : LS_ROOT_INDEX);
        return n;
    }
    if (IS("release")) {
        /* Known when the playbook loads: a constant, so plan renders it. */
        ls_node *n = ls_node_new(LS_N_CONST, pos);
        n->val = env ? ls_value_copy(env->release) : ls_null();
        n->height = 1;
        return n;
    }
    if (IS("env") || IS("guards")) {
        bool isenv = IS("env");
        size_t mpos, mlen;
        if (!ls_expect_member(p, isenv ? "env" : "guards", &mpos, &mlen))
            return NULL;
        ls_node *n = ls_node_new(isenv ? LS_N_ENV : LS_N_GUARD, pos);
        n->height = 1;
        n->val = ls_expr_const_string(p->s + mpos, mlen);
        if (isenv) {
            p->e->roots |= LS_ROOT_ENV;
        } else {
            p->e->roots |= LS_ROOT_GUARDS;
            int idx = env ? ls_name_index(env->guards, env->nguards, p->s + mpos, mlen) : -1;
            if (idx < 0) {
                ls_perr(p, mpos, "unknown guard '%.*s'", (int)mlen, p->s + mpos);
                ls_node_free(n);
                return NULL;
            }
            n->ival = idx;
            ls_ref_add(&p->e->guard_refs, &p->e->nguard_refs, idx);
        }
        ls_next(p);
        return n;
    }
#undef IS
    ls_perr(p, pos, "unknown name '%.*s' (expressions start from params, states, result, guards, env, run or release; item and index in a for_each state)",
            (int)(len > 64 ? 64 : len), name);
    return NULL;
}

static bool ls_all_space(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return false;
    return true;
}

static ls_node *ls_parse_prim(ls_parser *p)
{
    ls_node *n;
    char tb[64];
    switch (p->tok) {
    case T_INT:
    case T_FLOAT:
    case T_STRING:
        n = ls_node_new(LS_N_CONST, p->tpos);
        n->val = p->tval;
        n->height = 1;
        p->tval = ls_null();
        ls_next(p);
        return n;
    case T_LPAREN:
        ls_next(p);
        n = ls_parse_or(p);
        if (!n)
            return NULL;
        if (p->tok != T_RPAREN) {
            ls_perr(p, p->tpos, "expected ')', found %s", ls_tok_desc(p, tb, sizeof tb));
            ls_node_free(n);
            return NULL;
        }
        ls_next(p);
        return n;
    case T_LBRACK: {
        n = ls_node_new(LS_N_LIST, p->tpos);
        size_t cap = 0;
        ls_next(p);
        if (p->tok != T_RBRACK) {
            for (;;) {
                ls_node *item = ls_parse_or(p);
                if (!item) {
                    ls_node_free(n);
                    return NULL;
                }
                ls_args_push(n, item, &cap);
                if (p->tok == T_COMMA) {
                    ls_next(p);
                    continue;
                }
                break;
            }
        }
        if (p->tok != T_RBRACK) {
            ls_perr(p, p->tpos, "expected ',' or ']' in list, found %s", ls_tok_desc(p, tb, sizeof tb));
            ls_node_free(n);
            return NULL;
        }
        ls_next(p);
        return ls_node_fix(p, n);
    }
    case T_IDENT:
        if (ls_tok_is(p, "true") || ls_tok_is(p, "false") || ls_tok_is(p, "null")) {
            n = ls_node_new(LS_N_CONST, p->tpos);
            n->height = 1;
            n->val = ls_tok_is(p, "null") ? ls_null() : ls_bool(ls_tok_is(p, "true"));
            ls_next(p);
            return n;
        }
        if (ls_tok_is(p, "and") || ls_tok_is(p, "or") || ls_tok_is(p, "in") || ls_tok_is(p, "not"))
            break;
        return ls_parse_name(p);
    case T_SLASH:
        ls_perr(p, p->tpos, "a regex literal is allowed only right of =~ or !~");
        return NULL;
    case T_ERROR:
        return NULL;
    default:
        break;
    }
    if (p->tok == T_END && p->tpos == p->n && ls_all_space(p->s, p->n))
        ls_perr(p, 0, "empty expression");
    else
        ls_perr(p, p->tpos, "expected a value, found %s", ls_tok_desc(p, tb, sizeof tb));
    return NULL;
}

static ls_node *ls_parse_post(ls_parser *p)
{
    ls_node *n = ls_parse_prim(p);
    while (n) {
        if (p->tok == T_DOT) {
            ls_next(p);
            if (p->tok != T_IDENT) {
                char tb[64];
                ls_perr(p, p->tpos, "expected a name after '.', found %s", ls_tok_desc(p, tb, sizeof tb));
                ls_node_free(n);
                return NULL;
            }
            ls_node *f = ls_node_new(LS_N_FIELD, p->tpos);
            f->a = n;
            f->val = ls_expr_const_string(p->s + p->tpos, p->tlen);
            ls_next(p);
            n = ls_node_fix(p, f);
        } else if (p->tok == T_LBRACK) {
            size_t pos = p->tpos;
            ls_next(p);
            ls_node *idx = ls_parse_or(p); /* parse_or counts the nesting level */
            if (!idx) {
                ls_node_free(n);
                return NULL;
            }
            if (p->tok != T_RBRACK) {
                char tb[64];
                ls_perr(p, p->tpos, "expected ']', found %s", ls_tok_desc(p, tb, sizeof tb));
                ls_node_free(n);
                ls_node_free(idx);
                return NULL;
            }
            ls_next(p);
            n = ls_node_bin(p, LS_N_INDEX, pos, n, idx);
        } else if (p->tok == T_LPAREN) {
            ls_perr(p, p->tpos, "only functions can be called");
            ls_node_free(n);
            return NULL;
        } else {
            break;
        }
    }
    return n;
}

static ls_node *ls_parse_unary(ls_parser *p)
{
    if (p->tok != T_MINUS)
        return ls_parse_post(p);
    size_t pos = p->tpos;
    if (!ls_enter(p))
        return NULL;
    ls_next(p);
    ls_node *a = ls_parse_unary(p);
    p->depth--;
    if (!a)
        return NULL;
    /* Fold a negative literal so -9223372036854775808 stays in range. */
    if (a->op == LS_N_CONST && a->val.kind == LS_FLOAT) {
        a->val.u.f = -a->val.u.f;
        a->pos = (uint32_t)pos;
        return a;
    }
    if (a->op == LS_N_CONST && a->val.kind == LS_INT && a->val.u.i != INT64_MIN) {
        a->val.u.i = -a->val.u.i;
        a->pos = (uint32_t)pos;
        return a;
    }
    return ls_node_bin(p, LS_N_NEG, pos, a, NULL);
}

static ls_node *ls_parse_prod(ls_parser *p)
{
    ls_node *n = ls_parse_unary(p);
    while (n && (p->tok == T_STAR || p->tok == T_SLASH || p->tok == T_PERCENT)) {
        ls_nop op = p->tok == T_STAR ? LS_N_MUL : p->tok == T_SLASH ? LS_N_DIV : LS_N_MOD;
        size_t pos = p->tpos;
        ls_next(p);
        ls_node *b = ls_parse_unary(p);
        if (!b) {
            ls_node_free(n);
            return NULL;
        }
        n = ls_node_bin(p, op, pos, n, b);
    }
    return n;
}

static ls_node *ls_parse_sum(ls_parser *p)
{
    ls_node *n = ls_parse_prod(p);
    while (n && (p->tok == T_PLUS || p->tok == T_MINUS)) {
        ls_nop op = p->tok == T_PLUS ? LS_N_ADD : LS_N_SUB;
        size_t pos = p->tpos;
        ls_next(p);
        ls_node *b = ls_parse_prod(p);
        if (!b) {
            ls_node_free(n);
            return NULL;
        }
        n = ls_node_bin(p, op, pos, n, b);
    }
    return n;
}

static int ls_cmp_op(const ls_parser *p)
{
    switch (p->tok) {
    case T_EQ: return LS_N_EQ;
    case T_NE: return LS_N_NE;
    case T_LT: return LS_N_LT;
    case T_LE: return LS_N_LE;
    case T_GT: return LS_N_GT;
    case T_GE: return LS_N_GE;
    case T_MATCH: return LS_N_MATCH;
    case T_NMATCH: return LS_N_NMATCH;
    default: return ls_tok_is(p, "in") ? LS_N_IN : -1;
    }
}

static ls_node *ls_parse_cmp(ls_parser *p)
{
    ls_node *n = ls_parse_sum(p);
    if (!n)
        return NULL;
    int op = ls_cmp_op(p);
    if (op < 0)
        return n;
    size_t pos = p->tpos;
    ls_next(p);
    ls_node *b;
    uint32_t flags = 0;
    if (p->tok == T_REGEX) {
        b = ls_node_new(LS_N_CONST, p->tpos);
        b->height = 1;
        b->val = p->tval;
        p->tval = ls_null();
        flags = p->tflags;
        ls_next(p);
    } else {
        b = ls_parse_sum(p);
    }
    if (!b) {
        ls_node_free(n);
        return NULL;
    }
    n = ls_node_bin(p, (ls_nop)op, pos, n, b);
    if (!n)
        return NULL;
    if (op == LS_N_MATCH || op == LS_N_NMATCH) {
        ls_pattern_prepare(p, n, b, flags);
        if (p->failed) {
            ls_node_free(n);
            return NULL;
        }
    }
    if (ls_cmp_op(p) >= 0) {
        ls_perr(p, p->tpos, "comparisons do not chain; use parentheses and 'and'");
        ls_node_free(n);
        return NULL;
    }
    return n;
}

static ls_node *ls_parse_not(ls_parser *p)
{
    if (p->tok != T_BANG && !ls_tok_is(p, "not"))
        return ls_parse_cmp(p);
    size_t pos = p->tpos;
    if (!ls_enter(p))
        return NULL;
    ls_next(p);
    ls_node *a = ls_parse_not(p);
    p->depth--;
    if (!a)
        return NULL;
    return ls_node_bin(p, LS_N_NOT, pos, a, NULL);
}

static ls_node *ls_parse_and(ls_parser *p)
{
    ls_node *n = ls_parse_not(p);
    while (n && (p->tok == T_ANDAND || ls_tok_is(p, "and"))) {
        size_t pos = p->tpos;
        ls_next(p);
        ls_node *b = ls_parse_not(p);
        if (!b) {
            ls_node_free(n);
            return NULL;
        }
        n = ls_node_bin(p, LS_N_AND, pos, n, b);
    }
    return n;
}

static ls_node *ls_parse_or(ls_parser *p)
{
    if (!ls_enter(p))
        return NULL;
    ls_node *n = ls_parse_and(p);
    while (n && (p->tok == T_OROR || ls_tok_is(p, "or"))) {
        size_t pos = p->tpos;
        ls_next(p);
        ls_node *b = ls_parse_and(p);
        if (!b) {
            ls_node_free(n);
            return NULL;
        }
        n = ls_node_bin(p, LS_N_OR, pos, n, b);
    }
    p->depth--;
    return n;
}

/* ---- public ---- */

ls_expr *ls_expr_compile(const char *src, size_t len, ls_loc loc, const ls_compile_env *env,
                         ls_diags *d)
{
    if (len > SIZE_MAX - sizeof(ls_expr) - 1)
        return NULL;
    /* the source text follows the struct */
    ls_expr *e = ls_arena_take(sizeof *e + len + 1);
    if (e)
        e->in_arena = true;
    else
        e = ls_oom_check(calloc(1, sizeof *e + len + 1));
    e->src = (char *)(e + 1);
    if (len)
        memcpy(e->src, src, len);
    e->src[len] = '\0';
    e->len = len;
    e->loc = loc;
    ls_parser p;
    memset(&p, 0, sizeof p);
    p.s = e->src;
    p.n = len;
    p.tval = ls_null();
    p.e = e;
    p.env = env;
    p.d = d;
    ls_next(&p);
    ls_node *root = p.failed ? NULL : ls_parse_or(&p);
    if (root && p.tok != T_END) {
        char tb[64];
        if (p.tok == T_RPAREN)
            ls_perr(&p, p.tpos, "unmatched ')'");
        else
            ls_perr(&p, p.tpos, "unexpected %s after the expression", ls_tok_desc(&p, tb, sizeof tb));
    }
    ls_value_free(p.tval);
    if (p.failed || !root) {
        if (!p.failed)
            ls_perr(&p, 0, "empty expression");
        ls_node_free(root);
        ls_expr_free(e);
        return NULL;
    }
    e->root = root;
    return e;
}

void ls_expr_free(ls_expr *e)
{
    if (!e)
        return;
    ls_node_free(e->root);
    free(e->state_refs);
    free(e->guard_refs);
    if (!e->in_arena)
        free(e);
}

const char *ls_expr_source(const ls_expr *e)
{
    return e->src;
}

ls_loc ls_expr_loc(const ls_expr *e)
{
    return e->loc;
}

unsigned ls_expr_roots(const ls_expr *e)
{
    return e->roots;
}

size_t ls_expr_state_refs(const ls_expr *e, const int **out)
{
    *out = e->state_refs;
    return e->nstate_refs;
}

size_t ls_expr_guard_refs(const ls_expr *e, const int **out)
{
    *out = e->guard_refs;
    return e->nguard_refs;
}
