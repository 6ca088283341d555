/*
 * The expression evaluator (SPEC 3.2).  Walks the compiled tree; every
 * function returns 0 with a new reference in *out, or -1 with err set to
 * `expression "SRC": what went wrong` at the expression's place.
 *
 * Scalar paths allocate nothing: paths borrow from the context and only
 * touch reference counts.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr_int.h"

const char *ls_kind_article(ls_kind k)
{
    switch (k) {
    case LS_NULL: return "null";
    case LS_BOOL: return "a bool";
    case LS_INT: return "an int";
    case LS_FLOAT: return "a float";
    case LS_STRING: return "a string";
    case LS_LIST: return "a list";
    case LS_MAP: return "a map";
    }
    return "a value";
}

/* The source as shown in messages: one line, at most 120 bytes. */
static void ls_src_quote(const ls_expr *e, char *buf, size_t len)
{
    size_t n = e->len > 120 ? 117 : e->len;
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < len; i++) {
        char c = e->src[i];
        buf[o++] = (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
    }
    if (n < e->len)
        for (int i = 0; i < 3 && o + 1 < len; i++)
            buf[o++] = '.';
    buf[o] = '\0';
}

int ls_eval_fail(const ls_expr *e, ls_error *err, const char *fmt, ...)
{
    if (!err || err->code != 0)
        return -1;
    char msg[768], src[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ls_src_quote(e, src, sizeof src);
    ls_error_set(err, e->loc, "expression \"%s\": %s", src, msg);
    return -1;
}

static int ls_ev(const ls_expr *e, const ls_node *n, ls_eval_ctx *ctx, ls_value *out, ls_error *err);

static bool ls_is_num(ls_value v)
{
    return v.kind == LS_INT || v.kind == LS_FLOAT;
}

static double ls_num_f(ls_value v)
{
    return v.kind == LS_INT ? (double)v.u.i : v.u.f;
}

/* -1, 0, 1 for two numbers; ints compare exactly, mixed through long double. */
static int ls_num_cmp(ls_value a, ls_value b)
{
    if (a.kind == LS_INT && b.kind == LS_INT)
        return a.u.i < b.u.i ? -1 : a.u.i > b.u.i;
    long double x = a.kind == LS_INT ? (long double)a.u.i : (long double)a.u.f;
    long double y = b.kind == LS_INT ? (long double)b.u.i : (long double)b.u.f;
    return x < y ? -1 : x > y;
}

int ls_eval_in(const ls_expr *e, ls_value needle, ls_value hay, bool *out, ls_error *err)
{
    switch ((ls_kind)hay.kind) {
    case LS_NULL:
        *out = false;
        return 0;
    case LS_LIST:
        *out = false;
        for (size_t i = 0; i < ls_list_len(hay); i++) {
            if (ls_value_equal(needle, ls_list_at(hay, i))) {
                *out = true;
                break;
            }
        }
        return 0;
    case LS_STRING:
        if (needle.kind != LS_STRING)
            return ls_eval_fail(e, err, "'in' a string needs a string on the left, got %s",
                                ls_kind_article((ls_kind)needle.kind));
        *out = memmem(ls_str_ptr(hay), ls_str_len(hay), ls_str_ptr(needle), ls_str_len(needle)) != NULL;
        return 0;
    case LS_MAP:
        if (needle.kind != LS_STRING)
            return ls_eval_fail(e, err, "'in' a map needs a string key on the left, got %s",
                                ls_kind_article((ls_kind)needle.kind));
        /* A key with a NUL byte cannot exist in a map. */
        *out = strlen(ls_str_ptr(needle)) == ls_str_len(needle) && ls_map_has(hay, ls_str_ptr(needle));
        return 0;
    default:
        return ls_eval_fail(e, err, "'in' needs a list, string or map on the right, got %s",
                            ls_kind_article((ls_kind)hay.kind));
    }
}

int ls_eval_match(const ls_expr *e, ls_regex *re, ls_value subject, ls_value pattern, bool *out,
                  ls_error *err)
{
    if (pattern.kind != LS_STRING)
        return ls_eval_fail(e, err, "a pattern must be a string, got %s",
                            ls_kind_article((ls_kind)pattern.kind));
    if (subject.kind == LS_NULL) { /* a missing field matches nothing */
        *out = false;
        return 0;
    }
    if (subject.kind != LS_STRING)
        return ls_eval_fail(e, err, "cannot match %s against a pattern",
                            ls_kind_article((ls_kind)subject.kind));
    if (!re->constant) {
        size_t plen = ls_str_len(pattern);
        if (!re->code || re->patlen != plen || memcmp(re->pat, ls_str_ptr(pattern), plen) != 0) {
            char msg[256];
            size_t off = 0;
            pcre2_code *code = ls_regex_compile(ls_str_ptr(pattern), plen, re->flags, msg, sizeof msg, &off);
            if (!code)
                return ls_eval_fail(e, err, "bad regex: %s (at offset %zu)", msg, off);
            char *pat = malloc(plen + 1);
            pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, NULL);
            if (!pat || !md) {
                free(pat);
                pcre2_match_data_free(md);
                pcre2_code_free(code);
                ls_oom(); /* diag.h: never steer the playbook */
            }
            memcpy(pat, ls_str_ptr(pattern), plen + 1);
            pcre2_match_data_free(re->md);
            pcre2_code_free(re->code);
            free(re->pat);
            re->code = code;
            re->md = md;
            re->pat = pat;
            re->patlen = plen;
            re->jit_tried = false;
        }
    }
    if (!re->md && !(re->md = pcre2_match_data_create_from_pattern(re->code, NULL)))
        ls_oom(); /* diag.h: never steer the playbook */
    if (!re->jit_tried && ls_str_len(subject) >= LS_REGEX_JIT_MIN) {
        re->jit_tried = true;
        pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE); /* best effort: the interpreter is the fallback */
    }
    int rc = pcre2_match(re->code, (PCRE2_SPTR)ls_str_ptr(subject), ls_str_len(subject), 0, 0, re->md, NULL);
    if (rc >= 0) {
        *out = true;
        return 0;
    }
    if (rc == PCRE2_ERROR_NOMATCH) {
        *out = false;
        return 0;
    }
    PCRE2_UCHAR buf[256];
    if (pcre2_get_error_message(rc, buf, sizeof buf) < 0)
        snprintf((char *)buf, sizeof buf, "error %d", rc);
    return ls_eval_fail(e, err, "regex match failed: %s", (const char *)buf);
}

static const char *ls_op_name(ls_nop op)
{
    switch (op) {
    case LS_N_ADD: return "+";
    case LS_N_SUB: return "-";
    case LS_N_MUL: return "*";
    case LS_N_DIV: return "/";
    case LS_N_MOD: return "%";
    case LS_N_LT: return "<";
    case LS_N_LE: return "<=";
    case LS_N_GT: return ">";
    case LS_N_GE: return ">=";
    default: return "?";
    }
}

static int ls_ev_arith(const ls_expr *e, ls_nop op, ls_value a, ls_value b, ls_value *out, ls_error *err)
{
    if (op == LS_N_ADD && a.kind == LS_STRING && b.kind == LS_STRING) {
        size_t la = ls_str_len(a), lb = ls_str_len(b);
        char *tmp = malloc(la + lb + 1);
        if (!tmp)
            ls_oom(); /* diag.h: never steer the playbook */
        memcpy(tmp, ls_str_ptr(a), la);
        memcpy(tmp + la, ls_str_ptr(b), lb);
        *out = ls_string_n(tmp, la + lb);
        free(tmp);
        return 0;
    }
    if (op == LS_N_ADD && a.kind == LS_LIST && b.kind == LS_LIST) {
        ls_value l = ls_list_new();
        for (size_t i = 0; i < ls_list_len(a); i++)
            ls_list_push(&l, ls_value_copy(ls_list_at(a, i)));
        for (size_t i = 0; i < ls_list_len(b); i++)
            ls_list_push(&l, ls_value_copy(ls_list_at(b, i)));
        *out = l;
        return 0;
    }
    if (!ls_is_num(a) || !ls_is_num(b)) {
        if (op == LS_N_ADD)
            return ls_eval_fail(e, err, "'+' needs two numbers, two strings or two lists, got %s and %s",
                                ls_kind_article((ls_kind)a.kind), ls_kind_article((ls_kind)b.kind));
        if (op == LS_N_MOD)
            return ls_eval_fail(e, err, "'%%' needs two ints, got %s and %s",
                                ls_kind_article((ls_kind)a.kind), ls_kind_article((ls_kind)b.kind));
        return ls_eval_fail(e, err, "'%s' needs two numbers, got %s and %s", ls_op_name(op),
                            ls_kind_article((ls_kind)a.kind), ls_kind_article((ls_kind)b.kind));
    }
    if (op == LS_N_DIV) {
        double y = ls_num_f(b);
        if (y == 0.0)
            return ls_eval_fail(e, err, "division by zero");
        *out = ls_float(ls_num_f(a) / y);
        return 0;
    }
    if (op == LS_N_MOD) {
        if (a.kind != LS_INT || b.kind != LS_INT)
            return ls_eval_fail(e, err, "'%%' needs two ints, got %s and %s",
                                ls_kind_article((ls_kind)a.kind), ls_kind_article((ls_kind)b.kind));
        if (b.u.i == 0)
            return ls_eval_fail(e, err, "division by zero");
        *out = ls_int(b.u.i == -1 ? 0 : a.u.i % b.u.i);
        return 0;
    }
    if (a.kind == LS_INT && b.kind == LS_INT) {
        int64_t r;
        bool ovf = op == LS_N_ADD ? __builtin_add_overflow(a.u.i, b.u.i, &r)
                 : op == LS_N_SUB ? __builtin_sub_overflow(a.u.i, b.u.i, &r)
                                  : __builtin_mul_overflow(a.u.i, b.u.i, &r);
        if (ovf)
            return ls_eval_fail(e, err, "integer overflow in '%s'", ls_op_name(op));
        *out = ls_int(r);
        return 0;
    }
    double x = ls_num_f(a), y = ls_num_f(b);
    *out = ls_float(op == LS_N_ADD ? x + y : op == LS_N_SUB ? x - y : x * y);
    return 0;
}

static int ls_ev_compare(const ls_expr *e, ls_nop op, ls_value a, ls_value b, bool *out, ls_error *err)
{
    int c;
    if (ls_is_num(a) && ls_is_num(b)) {
        if ((a.kind == LS_FLOAT && isnan(a.u.f)) || (b.kind == LS_FLOAT && isnan(b.u.f))) {
            *out = false;
            return 0;
        }
        c = ls_num_cmp(a, b);
    } else if (a.kind == LS_STRING && b.kind == LS_STRING) {
        size_t la = ls_str_len(a), lb = ls_str_len(b);
        c = memcmp(ls_str_ptr(a), ls_str_ptr(b), la < lb ? la : lb);
        if (c == 0)
            c = la < lb ? -1 : la > lb;
    } else {
        return ls_eval_fail(e, err, "'%s' compares two numbers or two strings, got %s and %s",
                            ls_op_name(op), ls_kind_article((ls_kind)a.kind),
                            ls_kind_article((ls_kind)b.kind));
    }
    switch (op) {
    case LS_N_LT: *out = c < 0; break;
    case LS_N_LE: *out = c <= 0; break;
    case LS_N_GT: *out = c > 0; break;
    default: *out = c >= 0; break;
    }
    return 0;
}

/* An operand of and/or/not: must be a bool. */
static int ls_ev_bool(const ls_expr *e, const ls_node *n, ls_eval_ctx *ctx, const char *opname,
                      bool *out, ls_error *err)
{
    ls_value v;
    if (ls_ev(e, n, ctx, &v, err) != 0)
        return -1;
    if (v.kind != LS_BOOL) {
        ls_value_free(v);
        return ls_eval_fail(e, err, "'%s' needs bools, got %s", opname, ls_kind_article((ls_kind)v.kind));
    }
    *out = v.u.b;
    return 0;
}

static int ls_ev_index(const ls_expr *e, ls_value base, ls_value idx, ls_value *out, ls_error *err)
{
    if (base.kind == LS_LIST) {
        if (idx.kind != LS_INT)
            return ls_eval_fail(e, err, "a list index must be an int, got %s", ls_kind_article((ls_kind)idx.kind));
        int64_t len = (int64_t)ls_list_len(base);
        int64_t i = idx.u.i < 0 ? len + idx.u.i : idx.u.i; /* -1 is the last item */
        *out = (i >= 0 && i < len) ? ls_value_copy(ls_list_at(base, (size_t)i)) : ls_null();
        return 0;
    }
    if (base.kind == LS_MAP) {
        if (idx.kind != LS_STRING)
            return ls_eval_fail(e, err, "a map key must be a string, got %s", ls_kind_article((ls_kind)idx.kind));
        *out = ls_value_copy(ls_map_get_n(base, ls_str_ptr(idx), ls_str_len(idx)));
        return 0;
    }
    *out = ls_null(); /* indexing null or a scalar: null-safe */
    return 0;
}

static int ls_ev(const ls_expr *e, const ls_node *n, ls_eval_ctx *ctx, ls_value *out, ls_error *err)
{
    ls_value a, b;
    bool r = false;
    switch ((ls_nop)n->op) {
    case LS_N_CONST:
        *out = ls_value_copy(n->val);
        return 0;
    case LS_N_LIST: {
        ls_value l = ls_list_new();
        for (size_t i = 0; i < n->nargs; i++) {
            if (ls_ev(e, n->args[i], ctx, &a, err) != 0) {
                ls_value_free(l);
                return -1;
            }
            ls_list_push(&l, a);
        }
        *out = l;
        return 0;
    }
    case LS_N_ROOT:
        switch (n->ival) {
        case LS_ROOT_PARAMS: *out = ls_value_copy(ctx->params); break;
        case LS_ROOT_STATES: *out = ls_value_copy(ctx->states); break;
        case LS_ROOT_RUN: *out = ls_value_copy(ctx->run); break;
        case LS_ROOT_ITEM:
            if (!ctx->item)
                return ls_eval_fail(e, err, "'item' is not bound here (only while a for_each state runs its action)");
            *out = ls_value_copy(*ctx->item);
            break;
        case LS_ROOT_INDEX:
            if (!ctx->item)
                return ls_eval_fail(e, err, "'index' is not bound here (only while a for_each state runs its action)");
            *out = ls_int(ctx->index);
            break;
        default: *out = ctx->result ? ls_value_copy(*ctx->result) : ls_null(); break;
        }
        return 0;
    case LS_N_ENV: {
        const char *v = getenv(ls_str_ptr(n->val));
        *out = v ? ls_string(v) : ls_null();
        return 0;
    }
    case LS_N_GUARD: {
        if (!ctx->guards || n->ival < 0 || (size_t)n->ival >= ctx->nguards || !ctx->guards[n->ival])
            return ls_eval_fail(e, err, "guard '%s' is not available here", ls_str_ptr(n->val));
        const ls_expr *g = ctx->guards[n->ival];
        int cost = g->root->height + 1;
        if (ctx->depth + cost > LS_GUARD_MAX_DEPTH)
            return ls_eval_fail(e, err, "guards nested too deeply (a guard cycle?)");
        ctx->depth += cost;
        int rc = ls_expr_eval_cond(g, ctx, &r, err);
        ctx->depth -= cost;
        if (rc != 0)
            return -1;
        *out = ls_bool(r);
        return 0;
    }
    case LS_N_FIELD:
        if (ls_ev(e, n->a, ctx, &a, err) != 0)
            return -1;
        *out = ls_value_copy(ls_map_get_n(a, ls_str_ptr(n->val), ls_str_len(n->val)));
        ls_value_free(a);
        return 0;
    case LS_N_INDEX: {
        if (ls_ev(e, n->a, ctx, &a, err) != 0)
            return -1;
        if (ls_ev(e, n->b, ctx, &b, err) != 0) {
            ls_value_free(a);
            return -1;
        }
        int rc = ls_ev_index(e, a, b, out, err);
        ls_value_free(a);
        ls_value_free(b);
        return rc;
    }
    case LS_N_CALL: {
        ls_value args[4] = {{0}, {0}, {0}, {0}};
        size_t na = n->nargs;
        for (size_t i = 0; i < na; i++) {
            if (ls_ev(e, n->args[i], ctx, &args[i], err) != 0) {
                for (size_t j = 0; j < i; j++)
                    ls_value_free(args[j]);
                return -1;
            }
        }
        ls_fcall fc = {e, n, err};
        int rc = ls_functions[n->ival].fn(&fc, args, na, out);
        for (size_t i = 0; i < na; i++)
            ls_value_free(args[i]);
        return rc;
    }
    case LS_N_NEG:
        if (ls_ev(e, n->a, ctx, &a, err) != 0)
            return -1;
        if (a.kind == LS_INT) {
            if (a.u.i == INT64_MIN)
                return ls_eval_fail(e, err, "integer overflow in unary '-'");
            *out = ls_int(-a.u.i);
            return 0;
        }
        if (a.kind == LS_FLOAT) {
            *out = ls_float(-a.u.f);
            return 0;
        }
        ls_value_free(a);
        return ls_eval_fail(e, err, "unary '-' needs a number, got %s", ls_kind_article((ls_kind)a.kind));
    case LS_N_NOT:
        if (ls_ev_bool(e, n->a, ctx, "not", &r, err) != 0)
            return -1;
        *out = ls_bool(!r);
        return 0;
    case LS_N_AND:
        if (ls_ev_bool(e, n->a, ctx, "and", &r, err) != 0)
            return -1;
        if (r && ls_ev_bool(e, n->b, ctx, "and", &r, err) != 0)
            return -1;
        *out = ls_bool(r);
        return 0;
    case LS_N_OR:
        if (ls_ev_bool(e, n->a, ctx, "or", &r, err) != 0)
            return -1;
        if (!r && ls_ev_bool(e, n->b, ctx, "or", &r, err) != 0)
            return -1;
        *out = ls_bool(r);
        return 0;
    default:
        break;
    }
    /* Binary operators: both sides first. */
    if (ls_ev(e, n->a, ctx, &a, err) != 0)
        return -1;
    if (ls_ev(e, n->b, ctx, &b, err) != 0) {
        ls_value_free(a);
        return -1;
    }
    int rc = 0;
    switch ((ls_nop)n->op) {
    case LS_N_EQ: *out = ls_bool(ls_value_equal(a, b)); break;
    case LS_N_NE: *out = ls_bool(!ls_value_equal(a, b)); break;
    case LS_N_LT:
    case LS_N_LE:
    case LS_N_GT:
    case LS_N_GE:
        rc = ls_ev_compare(e, (ls_nop)n->op, a, b, &r, err);
        if (rc == 0)
            *out = ls_bool(r);
        break;
    case LS_N_IN:
        rc = ls_eval_in(e, a, b, &r, err);
        if (rc == 0)
            *out = ls_bool(r);
        break;
    case LS_N_MATCH:
    case LS_N_NMATCH:
        rc = ls_eval_match(e, n->re, a, b, &r, err);
        if (rc == 0)
            *out = ls_bool(n->op == LS_N_MATCH ? r : !r);
        break;
    default:
        rc = ls_ev_arith(e, (ls_nop)n->op, a, b, out, err);
        break;
    }
    ls_value_free(a);
    ls_value_free(b);
    return rc;
}

int ls_expr_eval(const ls_expr *e, ls_eval_ctx *ctx, ls_value *out, ls_error *err)
{
    *out = ls_null();
    return ls_ev(e, e->root, ctx, out, err);
}

int ls_expr_eval_cond(const ls_expr *e, ls_eval_ctx *ctx, bool *out, ls_error *err)
{
    ls_value v;
    if (ls_expr_eval(e, ctx, &v, err) != 0)
        return -1;
    if (v.kind != LS_BOOL) {
        char src[128];
        ls_src_quote(e, src, sizeof src);
        ls_error_set(err, e->loc, "condition \"%s\" evaluated to %s, not a bool", src,
                     ls_kind_article((ls_kind)v.kind));
        ls_value_free(v);
        return -1;
    }
    *out = v.u.b;
    return 0;
}
