/*
 * normalize.c - PROVISIONAL reference implementation: the direct ICU call
 * chain (nfkc_cf, Traditional-Simplified, whitespace rule) on the whole
 * input.  Offsets are coarse (one unit spanning the whole text whenever the
 * output differs from the input).  Replaced by the table-driven fast path.
 */
#include "normalize.h"

#include "../common/alloc.h"
#include "../common/hash.h"
#include "../common/utf8.h"

#include <stdio.h>
#include <string.h>
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/uscript.h>
#include <unicode/ustring.h>
#include <unicode/utrans.h>
#include <unicode/uversion.h>

struct tdx_norm {
    unsigned steps;
    const UNormalizer2 *nfkc_cf;
    char identity[160];
};

struct tdx_norm_ctx {
    UTransliterator *t2s;
};

static const struct {
    const char *name;
    unsigned bit;
} step_names[] = {
    {"nfkc_cf", TDX_NORM_NFKC_CF},
    {"t2s", TDX_NORM_T2S},
    {"space", TDX_NORM_SPACE},
};

int tdx_norm_parse_steps(const char *list, unsigned *out_steps, tdx_err *err)
{
    if (list == NULL || strcmp(list, "all") == 0) {
        *out_steps = TDX_NORM_ALL;
        return 0;
    }
    if (strcmp(list, "none") == 0) {
        *out_steps = 0;
        return 0;
    }
    unsigned steps = 0;
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        size_t i;
        for (i = 0; i < sizeof step_names / sizeof step_names[0]; i++)
            if (strlen(step_names[i].name) == n && memcmp(step_names[i].name, p, n) == 0)
                break;
        if (i == sizeof step_names / sizeof step_names[0])
            return tdx_err_set(err, TDX_EINVAL,
                               "unknown normalization step '%.*s' (expected a comma-separated "
                               "subset of nfkc_cf, t2s, space; or all, none)",
                               (int)n, p);
        steps |= step_names[i].bit;
        p += n;
        if (*p == ',')
            p++;
    }
    *out_steps = steps;
    return 0;
}

const char *tdx_norm_steps_name(unsigned steps)
{
    static const char *names[8] = {
        "none",          "nfkc_cf",           "t2s",           "nfkc_cf,t2s",
        "space",         "nfkc_cf,space",     "t2s,space",     "nfkc_cf,t2s,space",
    };
    return names[steps & 7];
}

const char *tdx_norm_icu_version(void)
{
    static char v[U_MAX_VERSION_STRING_LENGTH];
    UVersionInfo info;
    u_getVersion(info);
    u_versionToString(info, v);
    return v;
}

int tdx_norm_create(unsigned steps, tdx_norm **out_norm, tdx_err *err)
{
    tdx_norm *n = tdx_calloc(1, sizeof *n);
    if (n == NULL)
        return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    n->steps = steps & TDX_NORM_ALL;
    UErrorCode st = U_ZERO_ERROR;
    n->nfkc_cf = unorm2_getNFKCCasefoldInstance(&st);
    if (U_FAILURE(st)) {
        tdx_free(n);
        return tdx_err_set(err, TDX_EINTERNAL, "ICU nfkc_cf: %s", u_errorName(st));
    }
    snprintf(n->identity, sizeof n->identity, "steps=%s;icu=%s;table=reference",
             tdx_norm_steps_name(n->steps), tdx_norm_icu_version());
    *out_norm = n;
    return 0;
}

void tdx_norm_free(tdx_norm *n)
{
    tdx_free(n);
}

unsigned tdx_norm_steps(const tdx_norm *n)
{
    return n->steps;
}

const char *tdx_norm_identity(const tdx_norm *n)
{
    return n->identity;
}

void tdx_norm_out_init(tdx_norm_out *o)
{
    memset(o, 0, sizeof *o);
}

void tdx_norm_out_free(tdx_norm_out *o)
{
    tdx_buf_free(&o->text);
    tdx_free(o->units);
    memset(o, 0, sizeof *o);
}

int tdx_norm_ctx_create(const tdx_norm *n, tdx_norm_ctx **out_ctx, tdx_err *err)
{
    tdx_norm_ctx *c = tdx_calloc(1, sizeof *c);
    if (c == NULL)
        return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    if (n->steps & TDX_NORM_T2S) {
        UErrorCode st = U_ZERO_ERROR;
        UChar id[32];
        u_uastrcpy(id, "Traditional-Simplified");
        c->t2s = utrans_openU(id, -1, UTRANS_FORWARD, NULL, 0, NULL, &st);
        if (U_FAILURE(st)) {
            tdx_free(c);
            return tdx_err_set(err, TDX_EINTERNAL, "ICU Traditional-Simplified: %s",
                               u_errorName(st));
        }
    }
    *out_ctx = c;
    return 0;
}

void tdx_norm_ctx_free(tdx_norm_ctx *c)
{
    if (c == NULL)
        return;
    if (c->t2s)
        utrans_close(c->t2s);
    tdx_free(c);
}

int tdx_norm_char_class(uint32_t cp)
{
    if (cp < 0x80) {
        if ((cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z'))
            return TDX_CC_WORD;
        return u_isUWhiteSpace((UChar32)cp) ? TDX_CC_SPACE : TDX_CC_OTHER;
    }
    if (u_isUWhiteSpace((UChar32)cp))
        return TDX_CC_SPACE;
    UErrorCode st = U_ZERO_ERROR;
    UScriptCode sc = uscript_getScript((UChar32)cp, &st);
    if (sc == USCRIPT_HAN || sc == USCRIPT_HIRAGANA || sc == USCRIPT_KATAKANA ||
        sc == USCRIPT_HANGUL || sc == USCRIPT_BOPOMOFO)
        return TDX_CC_CJK;
    if (ublock_getCode((UChar32)cp) == UBLOCK_CJK_SYMBOLS_AND_PUNCTUATION)
        return TDX_CC_CJK;
    return TDX_CC_OTHER;
}

size_t tdx_text_width(const char *s, size_t len)
{
    const uint8_t *p = (const uint8_t *)s, *end = p + len;
    size_t w = 0;
    while (p < end) {
        size_t l;
        int32_t cp = tdx_utf8_decode(p, end, &l);
        p += l;
        if (cp < 0) {
            w++;
            continue;
        }
        int ea = u_getIntPropertyValue(cp, UCHAR_EAST_ASIAN_WIDTH);
        if (u_getCombiningClass(cp) != 0 || cp == 0x200B)
            continue;
        w += (ea == U_EA_WIDE || ea == U_EA_FULLWIDTH) ? 2 : 1;
    }
    return w;
}

/* UTF-8 -> UTF-16 with U+FFFD for each maximal ill-formed subpart. */
static int to_utf16(const uint8_t *src, size_t len, UChar **out, int32_t *out_len,
                    size_t *invalid)
{
    UChar *u = tdx_reallocarray(NULL, len + 1, sizeof(UChar));
    if (u == NULL)
        return TDX_ENOMEM;
    int32_t n = 0;
    const uint8_t *p = src, *end = src + len;
    while (p < end) {
        size_t l;
        int32_t cp = tdx_utf8_decode(p, end, &l);
        p += l;
        if (cp < 0) {
            cp = 0xFFFD;
            (*invalid)++;
        }
        U16_APPEND_UNSAFE(u, n, cp);
    }
    *out = u;
    *out_len = n;
    return 0;
}

static int push_unit(tdx_norm_out *o, uint32_t oo, uint32_t ol, uint32_t so, uint32_t sl)
{
    if (o->nunits == o->cap_units) {
        size_t cap = o->cap_units ? o->cap_units * 2 : 16;
        tdx_norm_unit *u = tdx_reallocarray(o->units, cap, sizeof *u);
        if (u == NULL)
            return TDX_ENOMEM;
        o->units = u;
        o->cap_units = cap;
    }
    o->units[o->nunits++] = (tdx_norm_unit){oo, ol, so, sl};
    return 0;
}

int tdx_norm_run(const tdx_norm *n, tdx_norm_ctx *ctx, const uint8_t *src, size_t len,
                 tdx_norm_out *out, tdx_err *err)
{
    if (len >= UINT32_MAX / 4)
        return tdx_err_set(err, TDX_ELIMIT, "text of %zu bytes is too long to normalize", len);
    tdx_buf_reset(&out->text);
    out->nunits = 0;
    out->invalid = 0;
    out->src_len = len;

    UChar *u = NULL, *v = NULL;
    int32_t ulen = 0;
    int rc = to_utf16(src, len, &u, &ulen, &out->invalid);
    if (rc)
        return tdx_err_set(err, rc, "out of memory");
    UErrorCode st = U_ZERO_ERROR;
    if (n->steps & TDX_NORM_NFKC_CF) {
        int32_t cap = ulen * 4 + 16;
        v = tdx_reallocarray(NULL, (size_t)cap, sizeof(UChar));
        if (v == NULL) {
            rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
            goto done;
        }
        int32_t vlen = unorm2_normalize(n->nfkc_cf, u, ulen, v, cap, &st);
        if (U_FAILURE(st)) {
            rc = tdx_err_set(err, TDX_EINTERNAL, "ICU normalize: %s", u_errorName(st));
            goto done;
        }
        tdx_free(u);
        u = v;
        v = NULL;
        ulen = vlen;
    }
    if ((n->steps & TDX_NORM_T2S) && ctx && ctx->t2s) {
        int32_t cap = ulen * 2 + 16;
        UChar *w = tdx_reallocarray(u, (size_t)cap, sizeof(UChar));
        if (w == NULL) {
            rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
            goto done;
        }
        u = w;
        int32_t limit = ulen;
        utrans_transUChars(ctx->t2s, u, &ulen, cap, 0, &limit, &st);
        if (U_FAILURE(st)) {
            rc = tdx_err_set(err, TDX_EINTERNAL, "ICU transliterate: %s", u_errorName(st));
            goto done;
        }
    }
    /* UTF-16 -> UTF-8 with the whitespace rule. */
    {
        int prev_cjk = 0, pending = 0, any = 0;
        int32_t i = 0;
        while (i < ulen) {
            UChar32 cp;
            U16_NEXT(u, i, ulen, cp);
            int cc = tdx_norm_char_class((uint32_t)cp);
            if ((n->steps & TDX_NORM_SPACE) && cc == TDX_CC_SPACE) {
                pending = 1;
                continue;
            }
            if (pending) {
                if (!(any && prev_cjk && cc == TDX_CC_CJK))
                    tdx_buf_putc(&out->text, ' ');
                pending = 0;
            }
            uint8_t b[4];
            if ((rc = tdx_buf_append(&out->text, b, tdx_utf8_encode(b, (uint32_t)cp))) != 0) {
                rc = tdx_err_set(err, rc, "out of memory");
                goto done;
            }
            prev_cjk = cc == TDX_CC_CJK;
            any = 1;
        }
        if (pending)
            tdx_buf_putc(&out->text, ' ');
    }
    if (out->text.len != len || (len && memcmp(out->text.p, src, len) != 0))
        rc = push_unit(out, 0, (uint32_t)out->text.len, 0, (uint32_t)len);
    if (rc)
        rc = tdx_err_set(err, rc, "out of memory");
    if (out->text.p == NULL)
        tdx_buf_grow(&out->text, 0);
done:
    tdx_free(u);
    tdx_free(v);
    return rc;
}

int tdx_norm_str(const tdx_norm *n, const char *s, size_t len, char **out_str, size_t *out_len,
                 tdx_err *err)
{
    tdx_norm_ctx *ctx = NULL;
    int rc = tdx_norm_ctx_create(n, &ctx, err);
    if (rc)
        return rc;
    tdx_norm_out o;
    tdx_norm_out_init(&o);
    rc = tdx_norm_run(n, ctx, (const uint8_t *)s, len, &o, err);
    if (rc == 0) {
        size_t l;
        char *p = (char *)tdx_buf_steal(&o.text, &l);
        if (p == NULL) {
            rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
        } else {
            *out_str = p;
            if (out_len)
                *out_len = l;
        }
    }
    tdx_norm_out_free(&o);
    tdx_norm_ctx_free(ctx);
    return rc;
}

static const tdx_norm_unit *unit_before(const tdx_norm_out *o, size_t out_off)
{
    /* Last unit with out_off <= pos. */
    size_t lo = 0, hi = o->nunits;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (o->units[mid].out_off <= out_off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo ? &o->units[lo - 1] : NULL;
}

size_t tdx_norm_map_start(const tdx_norm_out *o, size_t out_off)
{
    const tdx_norm_unit *u = unit_before(o, out_off);
    if (u == NULL)
        return out_off;
    if (out_off < (size_t)u->out_off + u->out_len)
        return u->src_off;
    return (size_t)u->src_off + u->src_len + (out_off - u->out_off - u->out_len);
}

size_t tdx_norm_map_end(const tdx_norm_out *o, size_t out_end)
{
    if (out_end == 0)
        return 0;
    const tdx_norm_unit *u = unit_before(o, out_end - 1);
    if (u == NULL)
        return out_end;
    if (out_end - 1 < (size_t)u->out_off + u->out_len)
        return (size_t)u->src_off + u->src_len;
    return (size_t)u->src_off + u->src_len + (out_end - u->out_off - u->out_len);
}
