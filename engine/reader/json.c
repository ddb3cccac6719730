/*
 * json.c - strict, in-place parser for one JSON Lines record.
 *
 * Part of the reader stage: reader.c hands it each line of a JSON Lines
 * input (already well-formed UTF-8) and maps the top-level members it
 * returns to document fields.  Only top-level scalars are kept; nested
 * objects and arrays are validated and skipped.  Strings are unescaped in
 * place (an escape never grows: \uXXXX is 6 bytes for at most 3 of UTF-8, a
 * surrogate pair 12 for 4), so a text field costs one scan and, after the
 * first escape, one memmove per run of plain bytes; nothing is copied into a
 * tree.  The scan for the bytes that end a run ('"', '\\', controls) takes
 * 16 bytes at a time and relies on the sentinel below 0x20 that follows
 * every line (see TDX_READER_SLACK).
 *
 * Strictness follows RFC 8259 plus two refusals shared with jansson, which
 * the tests use as the reference: "\u0000" (documents are C strings) and
 * unpaired surrogates (they have no UTF-8 form).  Errors carry the byte
 * offset where the input stopped making sense.
 *
 * Threading: a tdx_jparser belongs to one reader; no shared state.
 */
#include "reader_int.h"

#include "../common/alloc.h"
#include "../common/utf8.h"

#include <emmintrin.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define DEFAULT_MAX_DEPTH 512

typedef struct jp_state {
    tdx_jparser *jp;
    uint8_t *base;
    uint8_t *end;
} jp_state;

static int fail_at(jp_state *s, const uint8_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_at(jp_state *s, const uint8_t *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->jp->err, sizeof s->jp->err, fmt, ap);
    va_end(ap);
    s->jp->err_pos = (size_t)(at - s->base);
    return 1;
}

/* Describe the byte at p for an error message ("end of line", "'x'", "byte 0x00"). */
static const char *what(const jp_state *s, const uint8_t *p, char buf[16])
{
    if (p >= s->end)
        return "end of line";
    if (*p >= 0x21 && *p < 0x7F)
        snprintf(buf, 16, "'%c'", *p);
    else if (*p == 0)
        snprintf(buf, 16, "NUL byte");
    else
        snprintf(buf, 16, "byte 0x%02X", *p);
    return buf;
}

static inline uint8_t *skip_ws(uint8_t *p)
{
    /* No '\n': lines never contain one, and the sentinel may be one. */
    while (*p == ' ' || *p == '\t' || *p == '\r')
        p++;
    return p;
}

/*
 * Count the bytes before the first '"', '\\' or control byte.  The sentinel
 * after the line is a control byte, so the loop stops by itself; the loads
 * may read up to 15 bytes past it, inside the slack.
 */
static inline size_t scan_plain(const uint8_t *s)
{
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i bslash = _mm_set1_epi8('\\');
    const __m128i c1f = _mm_set1_epi8(0x1F);
    size_t i = 0;
    for (;;) {
        __m128i x = _mm_loadu_si128((const __m128i *)(s + i));
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)),
                                 _mm_cmpeq_epi8(_mm_min_epu8(x, c1f), x));
        unsigned mask = (unsigned)_mm_movemask_epi8(m);
        if (mask)
            return i + (size_t)__builtin_ctz(mask);
        i += 16;
    }
}

static int hex4(const uint8_t *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            v |= (uint32_t)((c | 0x20) - 'a' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/*
 * *pp points just after an opening quote.  Unescape in place when decode is
 * set (else only validate), NUL-terminate, and leave *pp after the closing
 * quote.  Returns 0 or 1 (malformed).
 */
static int parse_string(jp_state *s, uint8_t **pp, int decode, size_t *out_len)
{
    uint8_t *in = *pp, *out = in, *start = in;
    for (;;) {
        size_t k = scan_plain(in);
        if (decode && out != in)
            memmove(out, in, k);
        in += k;
        out += k;
        uint8_t c = *in;
        if (c == '"') {
            if (decode)
                *out = 0;
            *out_len = (size_t)(out - start);
            *pp = in + 1;
            return 0;
        }
        if (c != '\\') {
            if (in >= s->end)
                return fail_at(s, in, "unterminated string");
            if (c == 0)
                return fail_at(s, in, "NUL byte in string");
            return fail_at(s, in, "unescaped control character U+%04X in string", c);
        }
        if (in + 1 >= s->end)
            return fail_at(s, in, "unterminated string");
        uint8_t e = in[1];
        uint8_t ch;
        switch (e) {
        case '"':
            ch = '"';
            break;
        case '\\':
            ch = '\\';
            break;
        case '/':
            ch = '/';
            break;
        case 'b':
            ch = '\b';
            break;
        case 'f':
            ch = '\f';
            break;
        case 'n':
            ch = '\n';
            break;
        case 'r':
            ch = '\r';
            break;
        case 't':
            ch = '\t';
            break;
        case 'u': {
            uint32_t cp, lo;
            if (s->end - in < 6 || hex4(in + 2, &cp) != 0)
                return fail_at(s, in, "invalid \\u escape (expected 4 hex digits)");
            size_t used = 6;
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return fail_at(s, in, "invalid \\u escape: unpaired low surrogate \\u%04X", cp);
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (s->end - in < 12 || in[6] != '\\' || in[7] != 'u' || hex4(in + 8, &lo) != 0 ||
                    lo < 0xDC00 || lo > 0xDFFF)
                    return fail_at(s, in, "invalid \\u escape: unpaired high surrogate \\u%04X",
                                   cp);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                used = 12;
            }
            if (cp == 0)
                return fail_at(s, in, "\\u0000 (NUL) in string");
            if (decode)
                out += tdx_utf8_encode(out, cp);
            in += used;
            continue;
        }
        default: {
            char b[16];
            return fail_at(s, in, "invalid escape '\\' followed by %s", what(s, in + 1, b));
        }
        }
        if (decode)
            *out++ = ch;
        in += 2;
    }
}

/* A number per RFC 8259; *pp at its first byte.  Returns 0 or 1. */
static int parse_number(jp_state *s, uint8_t **pp)
{
    uint8_t *p = *pp;
    char b[16];
    if (*p == '-')
        p++;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (*p >= '0' && *p <= '9')
            p++;
    } else {
        return fail_at(s, p, "invalid number: expected a digit, found %s", what(s, p, b));
    }
    if (*p == '.') {
        p++;
        if (!(*p >= '0' && *p <= '9'))
            return fail_at(s, p, "invalid number: expected a digit after '.', found %s",
                           what(s, p, b));
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return fail_at(s, p, "invalid number: expected a digit in the exponent, found %s",
                           what(s, p, b));
        while (*p >= '0' && *p <= '9')
            p++;
    }
    *pp = p;
    return 0;
}

static int parse_literal(jp_state *s, uint8_t **pp, int *out_type)
{
    uint8_t *p = *pp;
    size_t avail = (size_t)(s->end - p);
    if (avail >= 4 && memcmp(p, "true", 4) == 0) {
        *out_type = TDX_JTRUE;
        *pp = p + 4;
    } else if (avail >= 5 && memcmp(p, "false", 5) == 0) {
        *out_type = TDX_JFALSE;
        *pp = p + 5;
    } else if (avail >= 4 && memcmp(p, "null", 4) == 0) {
        *out_type = TDX_JNULL;
        *pp = p + 4;
    } else {
        char b[16];
        return fail_at(s, p, "unexpected %s where a value was expected", what(s, p, b));
    }
    return 0;
}

/*
 * Validate a nested object or array starting at *pp ('{' or '[') without
 * keeping anything.  Iterative, with the open brackets on a small stack, so
 * deep nesting costs no C stack.
 */
static int skip_nested(jp_state *s, uint8_t **pp, unsigned depth0)
{
    uint8_t stack[1024];
    unsigned max = s->jp->max_depth;
    if (max > sizeof stack)
        max = (unsigned)sizeof stack;
    size_t depth = 0;
    uint8_t *p = *pp;
    char b[16];
    size_t len;
    int t;

    stack[depth++] = *p++;
open:
    p = skip_ws(p);
    if (*p == (stack[depth - 1] == '{' ? '}' : ']')) {
        p++;
        depth--;
        goto after_value;
    }
    if (stack[depth - 1] == '[')
        goto value;
key:
    if (*p != '"')
        return fail_at(s, p, "expected a string key, found %s", what(s, p, b));
    p++;
    if (parse_string(s, &p, 0, &len))
        return 1;
    p = skip_ws(p);
    if (*p != ':')
        return fail_at(s, p, "expected ':' after the key, found %s", what(s, p, b));
    p = skip_ws(p + 1);
value:
    switch (*p) {
    case '"':
        p++;
        if (parse_string(s, &p, 0, &len))
            return 1;
        break;
    case '{':
    case '[':
        if (depth0 + depth >= max)
            return fail_at(s, p, "nesting deeper than %u levels", max);
        stack[depth++] = *p++;
        goto open;
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        if (parse_number(s, &p))
            return 1;
        break;
    default:
        if (parse_literal(s, &p, &t))
            return 1;
        break;
    }
after_value:
    if (depth == 0) {
        *pp = p;
        return 0;
    }
    p = skip_ws(p);
    if (*p == ',') {
        p = skip_ws(p + 1);
        if (stack[depth - 1] == '{')
            goto key;
        goto value;
    }
    if (*p == (stack[depth - 1] == '{' ? '}' : ']')) {
        p++;
        depth--;
        goto after_value;
    }
    return fail_at(s, p, "expected ',' or '%c', found %s", stack[depth - 1] == '{' ? '}' : ']',
                   what(s, p, b));
}

static int push_member(tdx_jparser *jp, const tdx_jmember *m)
{
    if (jp->n == jp->cap) {
        size_t cap = jp->cap ? jp->cap * 2 : 32;
        tdx_jmember *nm = tdx_reallocarray(jp->m, cap, sizeof *nm);
        if (nm == NULL)
            return TDX_ENOMEM;
        jp->m = nm;
        jp->cap = cap;
    }
    jp->m[jp->n++] = *m;
    return 0;
}

int tdx_reader_json_parse(tdx_jparser *jp, uint8_t *line, size_t len)
{
    jp_state st = {jp, line, line + len};
    jp_state *s = &st;
    uint8_t *p = skip_ws(line);
    char b[16];
    int rc;

    jp->n = 0;
    if (jp->max_depth == 0)
        jp->max_depth = DEFAULT_MAX_DEPTH;
    if (*p != '{')
        return fail_at(s, p, "expected '{' (each line must be one JSON object), found %s",
                       what(s, p, b));
    p = skip_ws(p + 1);
    if (*p == '}') {
        p++;
        goto done;
    }
    for (;;) {
        tdx_jmember m;
        if (*p != '"')
            return fail_at(s, p, "expected a string key, found %s", what(s, p, b));
        p++;
        m.key = (const char *)p;
        if (parse_string(s, &p, 1, &m.key_len))
            return 1;
        p = skip_ws(p);
        if (*p != ':')
            return fail_at(s, p, "expected ':' after the key, found %s", what(s, p, b));
        p = skip_ws(p + 1);
        switch (*p) {
        case '"':
            p++;
            m.val = (const char *)p;
            m.type = TDX_JSTRING;
            if (parse_string(s, &p, 1, &m.val_len))
                return 1;
            break;
        case '{':
        case '[':
            m.type = *p == '{' ? TDX_JOBJECT : TDX_JARRAY;
            m.val = NULL;
            m.val_len = 0;
            if (skip_nested(s, &p, 1))
                return 1;
            break;
        case '-':
        case '0':
        case '1':
        case '2':
        case '3':
        case '4':
        case '5':
        case '6':
        case '7':
        case '8':
        case '9':
            m.val = (const char *)p;
            m.type = TDX_JNUMBER;
            if (parse_number(s, &p))
                return 1;
            m.val_len = (size_t)(p - (const uint8_t *)m.val);
            break;
        default:
            if (parse_literal(s, &p, &m.type))
                return 1;
            m.val = m.type == TDX_JTRUE ? "true" : m.type == TDX_JFALSE ? "false" : "null";
            m.val_len = strlen(m.val);
            break;
        }
        if ((rc = push_member(jp, &m)) != 0)
            return rc;
        p = skip_ws(p);
        if (*p == ',') {
            p = skip_ws(p + 1);
            continue;
        }
        if (*p == '}') {
            p++;
            break;
        }
        return fail_at(s, p, "expected ',' or '}', found %s", what(s, p, b));
    }
done:
    p = skip_ws(p);
    if (p < s->end)
        return fail_at(s, p, "unexpected %s after the object", what(s, p, b));
    /*
     * Numbers are terminated only now: the byte after a number is a
     * delimiter the parser had to read first.  No decoded string reaches it.
     */
    for (size_t i = 0; i < jp->n; i++)
        if (jp->m[i].type == TDX_JNUMBER)
            ((uint8_t *)jp->m[i].val)[jp->m[i].val_len] = 0;
    return 0;
}

void tdx_reader_json_free(tdx_jparser *jp)
{
    if (jp == NULL)
        return;
    tdx_free(jp->m);
    jp->m = NULL;
    jp->n = jp->cap = 0;
}
