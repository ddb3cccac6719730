/*
 * normalize.c - the normalizer's interface: step lists, creation and
 * identity, result buffers, per-thread contexts, offset mapping, and the
 * character class / display width tables used by the whitespace rule and
 * by tokenizers.
 *
 * Pipeline position: workers call tdx_norm_run() on every document before
 * matching and tokenizing; watch-list literals and queries go through
 * tdx_norm_str().  The work itself is in norm_run.c (fast path and general
 * path), norm_build.c (tables built from ICU) and norm_ref.c (the direct
 * ICU chain that defines the semantics).
 *
 * Main data structure here: the class table, one byte per code point
 * (class in bits 0-1, display width in bits 2-3), filled once per process
 * from ICU's property maps under pthread_once and read-only afterwards.
 *
 * Threading: a tdx_norm is immutable after tdx_norm_create(); contexts and
 * result buffers belong to one thread at a time.
 */
#include "norm_int.h"

#include "../common/alloc.h"
#include "../common/utf8.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unicode/uchar.h>
#include <unicode/ucpmap.h>
#include <unicode/uscript.h>
#include <unicode/uset.h>
#include <unicode/uversion.h>

static const struct {
    const char *name;
    unsigned bit;
} step_names[] = {
    {"nfkc_cf", TDX_NORM_NFKC_CF},
    {"t2s", TDX_NORM_T2S},
    {"space", TDX_NORM_SPACE},
};
#define NSTEP_NAMES (sizeof step_names / sizeof step_names[0])

int tdx_norm_parse_steps(const char *list, unsigned *out_steps, tdx_err *err)
{
    if (out_steps == NULL)
        return tdx_err_set(err, TDX_EINVAL, "tdx_norm_parse_steps: no output");
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
    if (*p == '\0')
        return tdx_err_set(err, TDX_EINVAL,
                           "empty normalization step list (expected a comma-separated subset "
                           "of nfkc_cf, t2s, space; or all, none)");
    for (;;) {
        size_t n = strcspn(p, ",");
        size_t i;
        for (i = 0; i < NSTEP_NAMES; i++)
            if (strlen(step_names[i].name) == n && memcmp(step_names[i].name, p, n) == 0)
                break;
        if (i == NSTEP_NAMES)
            return tdx_err_set(err, TDX_EINVAL,
                               "unknown normalization step '%.*s' (expected a comma-separated "
                               "subset of nfkc_cf, t2s, space; or all, none)",
                               (int)n, p);
        steps |= step_names[i].bit;
        p += n;
        if (*p == '\0')
            break;
        p++; /* ',' */
    }
    *out_steps = steps;
    return 0;
}

const char *tdx_norm_steps_name(unsigned steps)
{
    static const char *names[8] = {
        "none",  "nfkc_cf",       "t2s",       "nfkc_cf,t2s",
        "space", "nfkc_cf,space", "t2s,space", "nfkc_cf,t2s,space",
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

/* ---- class and width table -------------------------------------------- */

/*
 * One byte per code point: written only inside cls_init (pthread_once),
 * read-only afterwards.  A flat array keeps tdx_norm_char_class() to one
 * load; it is 1.1 MB of BSS.
 */
static uint8_t cls_tab[0x110000];
static int cls_ok;
static pthread_once_t cls_once = PTHREAD_ONCE_INIT;
/* A table from a normalizer cache file, for cls_init to take instead of
 * asking ICU (norm_class_install); set only while cls_install_mu is held. */
static _Atomic(const uint8_t *) cls_preload;
static pthread_mutex_t cls_install_mu = PTHREAD_MUTEX_INITIALIZER;

/* The definition, straight from ICU properties (also the fallback). */
static int class_direct(uint32_t cp)
{
    if (cp > 0x10FFFF)
        return TDX_CC_OTHER;
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

static int width_direct(uint32_t cp)
{
    if (u_getCombiningClass((UChar32)cp) != 0 || cp == 0x200B)
        return 0;
    int ea = u_getIntPropertyValue((UChar32)cp, UCHAR_EAST_ASIAN_WIDTH);
    return (ea == U_EA_WIDE || ea == U_EA_FULLWIDTH) ? 2 : 1;
}

/* Apply fn(value) -> or-mask over the ranges of an int property. */
static int cls_apply_map(UProperty prop, int (*pick)(uint32_t value), uint8_t mask, int clear)
{
    UErrorCode st = U_ZERO_ERROR;
    const UCPMap *m = u_getIntPropertyMap(prop, &st);
    if (U_FAILURE(st))
        return -1;
    UChar32 start = 0, end;
    uint32_t v;
    while ((end = ucpmap_getRange(m, start, UCPMAP_RANGE_NORMAL, 0, NULL, NULL, &v)) >= 0) {
        int x = pick(v);
        if (x >= 0)
            for (UChar32 c = start; c <= end; c++)
                cls_tab[c] = (uint8_t)((clear ? (cls_tab[c] & ~mask) : cls_tab[c]) | (x & mask));
        start = end + 1;
    }
    return 0;
}

static int pick_script(uint32_t v)
{
    return (v == USCRIPT_HAN || v == USCRIPT_HIRAGANA || v == USCRIPT_KATAKANA ||
            v == USCRIPT_HANGUL || v == USCRIPT_BOPOMOFO)
               ? TDX_CC_CJK
               : -1;
}

static int pick_block(uint32_t v)
{
    return v == UBLOCK_CJK_SYMBOLS_AND_PUNCTUATION ? TDX_CC_CJK : -1;
}

static int pick_eaw(uint32_t v)
{
    return (v == U_EA_WIDE || v == U_EA_FULLWIDTH) ? (2 << 2) : -1;
}

static int pick_ccc(uint32_t v)
{
    return v != 0 ? 0 : -1;
}

static void cls_init(void)
{
    const uint8_t *pre = atomic_load(&cls_preload);
    if (pre) {
        memcpy(cls_tab, pre, sizeof cls_tab);
        cls_ok = 1;
        return;
    }
    /* width 1, class OTHER */
    memset(cls_tab, 1 << 2, sizeof cls_tab);
    if (cls_apply_map(UCHAR_SCRIPT, pick_script, 3, 0) ||
        cls_apply_map(UCHAR_BLOCK, pick_block, 3, 0) ||
        cls_apply_map(UCHAR_EAST_ASIAN_WIDTH, pick_eaw, 0xC, 1) ||
        cls_apply_map(UCHAR_CANONICAL_COMBINING_CLASS, pick_ccc, 0xC, 1))
        return;
    cls_tab[0x200B] &= 3;
    UErrorCode st = U_ZERO_ERROR;
    const USet *ws = u_getBinaryPropertySet(UCHAR_WHITE_SPACE, &st);
    if (U_FAILURE(st))
        return;
    int32_t nitems = uset_getItemCount(ws);
    for (int32_t i = 0; i < nitems; i++) {
        UChar32 a, b;
        if (uset_getItem(ws, i, &a, &b, NULL, 0, &st) != 0 || U_FAILURE(st))
            return;
        for (UChar32 c = a; c <= b; c++)
            cls_tab[c] = (uint8_t)((cls_tab[c] & ~3) | TDX_CC_SPACE);
    }
    for (uint32_t c = 0; c < 0x80; c++)
        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
            cls_tab[c] = (uint8_t)((cls_tab[c] & ~3) | TDX_CC_WORD);
    cls_ok = 1;
}

const uint8_t *norm_class_table(void)
{
    pthread_once(&cls_once, cls_init);
    return cls_ok ? cls_tab : NULL;
}

int norm_class_install(const uint8_t *tab)
{
    pthread_mutex_lock(&cls_install_mu);
    atomic_store(&cls_preload, tab);
    pthread_once(&cls_once, cls_init);
    atomic_store(&cls_preload, NULL);
    pthread_mutex_unlock(&cls_install_mu);
    return cls_ok && memcmp(cls_tab, tab, sizeof cls_tab) == 0 ? 0 : -1;
}

int tdx_norm_char_class(uint32_t cp)
{
    pthread_once(&cls_once, cls_init);
    if (cp > 0x10FFFF)
        return TDX_CC_OTHER;
    return cls_ok ? (cls_tab[cp] & 3) : class_direct(cp);
}

size_t tdx_text_width(const char *s, size_t len)
{
    if (s == NULL)
        return 0;
    pthread_once(&cls_once, cls_init);
    const uint8_t *p = (const uint8_t *)s, *end = p + len;
    size_t w = 0;
    while (p < end) {
        if (*p < 0x80) {
            w += cls_ok ? (size_t)(cls_tab[*p] >> 2) : (size_t)width_direct(*p);
            p++;
            continue;
        }
        size_t l;
        int32_t cp = tdx_utf8_decode(p, end, &l);
        p += l;
        if (cp < 0)
            w++;
        else
            w += cls_ok ? (size_t)(cls_tab[cp] >> 2) : (size_t)width_direct((uint32_t)cp);
    }
    return w;
}

/* ---- normalizer --------------------------------------------------------- */

int tdx_norm_create_ex(unsigned steps, unsigned xflags, tdx_norm **out_norm, tdx_err *err)
{
    if (out_norm == NULL)
        return tdx_err_set(err, TDX_EINVAL, "tdx_norm_create: no output");
    if (steps & ~(unsigned)TDX_NORM_ALL)
        return tdx_err_set(err, TDX_EINVAL, "unknown normalization step bits 0x%x",
                           steps & ~(unsigned)TDX_NORM_ALL);
    if (norm_class_table() == NULL)
        return tdx_err_set(err, TDX_EINTERNAL, "ICU character properties are unavailable");
    tdx_norm *n = tdx_calloc(1, sizeof *n);
    if (n == NULL)
        return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    n->steps = steps;
    n->flags = xflags;
    int rc = norm_build(n, err);
    if (rc) {
        tdx_norm_free(n);
        return rc;
    }
    *out_norm = n;
    return 0;
}

int tdx_norm_create(unsigned steps, tdx_norm **out_norm, tdx_err *err)
{
    return tdx_norm_create_ex(steps, 0, out_norm, err);
}

void tdx_norm_free(tdx_norm *n)
{
    if (n == NULL)
        return;
    norm_build_free(n);
    tdx_free(n);
}

unsigned tdx_norm_steps(const tdx_norm *n)
{
    return n ? n->steps : 0;
}

const char *tdx_norm_identity(const tdx_norm *n)
{
    return n ? n->identity : "";
}

size_t tdx_norm_table_bytes(const tdx_norm *n)
{
    return n ? n->table_bytes : 0;
}

void tdx_norm_out_init(tdx_norm_out *o)
{
    memset(o, 0, sizeof *o);
}

void tdx_norm_out_free(tdx_norm_out *o)
{
    if (o == NULL)
        return;
    tdx_buf_free(&o->text);
    tdx_free(o->units);
    memset(o, 0, sizeof *o);
}

int tdx_norm_ctx_create(const tdx_norm *n, tdx_norm_ctx **out_ctx, tdx_err *err)
{
    if (n == NULL || out_ctx == NULL)
        return tdx_err_set(err, TDX_EINVAL, "tdx_norm_ctx_create: missing argument");
    tdx_norm_ctx *c = tdx_calloc(1, sizeof *c);
    if (c == NULL)
        return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    /* Only the ICU fallback for t2s needs a transliterator; open it now so
     * that failures show at setup, not in the middle of a document. */
    if (n->t2s_icu && (n->steps & TDX_NORM_T2S)) {
        int rc = norm_ctx_t2s(c, err);
        if (rc) {
            tdx_norm_ctx_free(c);
            return rc;
        }
    }
    *out_ctx = c;
    return 0;
}

int norm_icu_err(tdx_err *err, const char *what, UErrorCode st)
{
    if (st == U_MEMORY_ALLOCATION_ERROR)
        return tdx_err_set(err, TDX_ENOMEM, "out of memory (ICU %s)", what);
    return tdx_err_set(err, TDX_EINTERNAL, "ICU %s: %s", what, u_errorName(st));
}

int norm_open_t2s(UTransliterator **out, tdx_err *err)
{
    UErrorCode st = U_ZERO_ERROR;
    UChar id[32];
    u_uastrcpy(id, "Traditional-Simplified");
    UTransliterator *t = utrans_openU(id, -1, UTRANS_FORWARD, NULL, 0, NULL, &st);
    if (U_FAILURE(st))
        return norm_icu_err(err, "Traditional-Simplified", st);
    *out = t;
    return 0;
}

int norm_ctx_t2s(tdx_norm_ctx *c, tdx_err *err)
{
    return c->t2s ? 0 : norm_open_t2s(&c->t2s, err);
}

void tdx_norm_ctx_free(tdx_norm_ctx *c)
{
    if (c == NULL)
        return;
    if (c->t2s)
        utrans_close(c->t2s);
    tdx_free(c->a);
    tdx_free(c->b);
    tdx_free(c->g);
    tdx_free(c->u16);
    tdx_free(c->v16);
    tdx_free(c);
}

int tdx_norm_str(const tdx_norm *n, const char *s, size_t len, char **out_str, size_t *out_len,
                 tdx_err *err)
{
    if (n == NULL || out_str == NULL || (s == NULL && len > 0))
        return tdx_err_set(err, TDX_EINVAL, "tdx_norm_str: missing argument");
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

/* Last unit with out_off <= pos (units are sorted by out_off). */
static const tdx_norm_unit *unit_before(const tdx_norm_out *o, size_t pos)
{
    size_t lo = 0, hi = o->nunits;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (o->units[mid].out_off <= pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo ? &o->units[lo - 1] : NULL;
}

size_t tdx_norm_map_start(const tdx_norm_out *o, size_t out_off)
{
    if (out_off > o->text.len)
        out_off = o->text.len;
    const tdx_norm_unit *u = unit_before(o, out_off);
    size_t r;
    if (u == NULL)
        r = out_off;
    else if (out_off < (size_t)u->out_off + u->out_len)
        r = u->src_off;
    else
        r = (size_t)u->src_off + u->src_len + (out_off - u->out_off - u->out_len);
    return r < o->src_len ? r : o->src_len;
}

size_t tdx_norm_map_end(const tdx_norm_out *o, size_t out_end)
{
    if (out_end == 0)
        return 0;
    if (out_end > o->text.len)
        out_end = o->text.len;
    if (out_end == 0)
        return 0;
    const tdx_norm_unit *u = unit_before(o, out_end - 1);
    size_t r;
    if (u == NULL)
        r = out_end;
    else if (out_end - 1 < (size_t)u->out_off + u->out_len)
        r = (size_t)u->src_off + u->src_len;
    else
        r = (size_t)u->src_off + u->src_len + (out_end - u->out_off - u->out_len);
    return r < o->src_len ? r : o->src_len;
}
