/*
 * charset.c - encodings for the reader stage: labels, byte-order marks,
 * <meta charset>, detection and conversion to UTF-8, all through ICU.
 *
 * The reader decides an input's encoding in this order: the user's
 * --encoding, a byte-order mark, the HTML <meta charset>, and, only when
 * the bytes are not UTF-8, ICU's charset detector (ucsdet).  GB2312 and GBK
 * are read as GB18030 (a superset); Big5 is ICU's windows-950, upgraded to
 * Big5-HKSCS when only that decodes a sample cleanly.  Conversions count
 * the byte sequences the converter had to replace with U+FFFD.
 *
 * Main data structure: tdx_charset keeps the detector and a few open
 * converters by name, so a file of a million GB18030 lines opens one
 * converter.  Threading: one tdx_charset per reader (ICU converters are
 * not thread-safe).
 */
#include "reader_int.h"

#include "../common/alloc.h"
#include "../common/utf8.h"

#include <string.h>
#include <strings.h>
#include <unicode/ucnv.h>
#include <unicode/ucnv_err.h>
#include <unicode/ucsdet.h>
#include <unicode/ustring.h>

#define NCACHE        4
#define DETECT_SAMPLE ((size_t)256 << 10)
#define MAX_NAMES     16

typedef struct cnv_slot {
    const char *name; /* canonical name (static or interned) */
    UConverter *cnv;
} cnv_slot;

struct tdx_charset {
    UCharsetDetector *det;
    cnv_slot cache[NCACHE];
    unsigned next_slot;
    char *names[MAX_NAMES]; /* interned canonical names of other encodings */
    size_t nnames;
};

/* ---- labels ---- */

static const struct {
    const char *label;
    const char *canon;
} known_labels[] = {
    {"utf-8", "UTF-8"},
    {"utf8", "UTF-8"},
    {"unicode-1-1-utf-8", "UTF-8"},
    {"gb18030", "GB18030"},
    {"gbk", "GB18030"},
    {"gb2312", "GB18030"},
    {"gb_2312", "GB18030"},
    {"gb_2312-80", "GB18030"},
    {"cp936", "GB18030"},
    {"ms936", "GB18030"},
    {"windows-936", "GB18030"},
    {"x-gbk", "GB18030"},
    {"euc-cn", "GB18030"},
    {"csgb2312", "GB18030"},
    {"chinese", "GB18030"},
    {"iso-ir-58", "GB18030"},
    {"big5", "Big5"},
    {"big-5", "Big5"},
    {"cn-big5", "Big5"},
    {"csbig5", "Big5"},
    {"x-x-big5", "Big5"},
    {"cp950", "Big5"},
    {"windows-950", "Big5"},
    {"big5-hkscs", "Big5-HKSCS"},
    {"big5hkscs", "Big5-HKSCS"},
    {"big5hk", "Big5-HKSCS"},
    {"hkscs", "Big5-HKSCS"},
    {"hkscs-big5", "Big5-HKSCS"},
    {"utf-16le", "UTF-16LE"},
    {"utf-16be", "UTF-16BE"},
    {"utf-16", "UTF-16"},
    {"utf-32le", "UTF-32LE"},
    {"utf-32be", "UTF-32BE"},
};

/* ICU's converter name for a canonical name (ICU calls windows-950 "Big5"). */
static const char *icu_name(const char *canon)
{
    if (strcmp(canon, "Big5-HKSCS") == 0)
        return "ibm-1375_P100-2008";
    if (strcmp(canon, "Big5") == 0)
        return "windows-950-2000";
    return canon;
}

static const char *intern(tdx_charset *cs, const char *name)
{
    for (size_t i = 0; i < cs->nnames; i++)
        if (strcmp(cs->names[i], name) == 0)
            return cs->names[i];
    if (cs->nnames == MAX_NAMES)
        return NULL;
    char *s = tdx_strdup(name);
    if (s == NULL)
        return NULL;
    cs->names[cs->nnames++] = s;
    return s;
}

const char *tdx_reader_charset_canon(tdx_charset *cs, const char *label, size_t len)
{
    char buf[64];
    /* Trim spaces and quotes the way labels appear in markup. */
    while (len > 0 && (*label == ' ' || *label == '"' || *label == '\''))
        label++, len--;
    while (len > 0 && (label[len - 1] == ' ' || label[len - 1] == '"' || label[len - 1] == '\''))
        len--;
    if (len == 0 || len >= sizeof buf)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        char c = label[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':'))
            return NULL;
        buf[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    buf[len] = 0;
    for (size_t i = 0; i < sizeof known_labels / sizeof known_labels[0]; i++)
        if (strcmp(buf, known_labels[i].label) == 0)
            return known_labels[i].canon;
    UErrorCode ec = U_ZERO_ERROR;
    UConverter *c = ucnv_open(buf, &ec);
    if (U_FAILURE(ec) || c == NULL)
        return NULL;
    const char *internal = ucnv_getName(c, &ec);
    const char *std = U_SUCCESS(ec) ? ucnv_getStandardName(internal, "IANA", &ec) : NULL;
    const char *res = intern(cs, std && U_SUCCESS(ec) ? std : buf);
    ucnv_close(c);
    return res;
}

size_t tdx_reader_charset_bom(const uint8_t *p, size_t n, const char **out_name)
{
    if (n >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) {
        *out_name = "UTF-8";
        return 3;
    }
    if (n >= 4 && p[0] == 0xFF && p[1] == 0xFE && p[2] == 0 && p[3] == 0) {
        *out_name = "UTF-32LE";
        return 4;
    }
    if (n >= 4 && p[0] == 0 && p[1] == 0 && p[2] == 0xFE && p[3] == 0xFF) {
        *out_name = "UTF-32BE";
        return 4;
    }
    if (n >= 2 && p[0] == 0xFF && p[1] == 0xFE) {
        *out_name = "UTF-16LE";
        return 2;
    }
    if (n >= 2 && p[0] == 0xFE && p[1] == 0xFF) {
        *out_name = "UTF-16BE";
        return 2;
    }
    if (n >= 4 && p[0] == 0x84 && p[1] == 0x31 && p[2] == 0x95 && p[3] == 0x33) {
        *out_name = "GB18030";
        return 4;
    }
    *out_name = NULL;
    return 0;
}

/* ---- meta charset prescan ---- */

static int ci_eq(const uint8_t *p, const char *s, size_t n)
{
    return strncasecmp((const char *)p, s, n) == 0;
}

size_t tdx_reader_html_meta_charset(const uint8_t *p, size_t n, const uint8_t **out_p)
{
    /* Browsers look at the first 1024 bytes; saved pages put long comments first. */
    size_t lim = n < 8192 ? n : 8192;
    for (size_t i = 0; i + 5 < lim; i++) {
        if (p[i] != '<' || !ci_eq(p + i + 1, "meta", 4))
            continue;
        size_t j = i + 5, tag_end = j;
        while (tag_end < lim && p[tag_end] != '>')
            tag_end++;
        for (; j + 7 < tag_end; j++) {
            if (!ci_eq(p + j, "charset", 7))
                continue;
            size_t k = j + 7;
            while (k < tag_end && (p[k] == ' ' || p[k] == '\t'))
                k++;
            if (k >= tag_end || p[k] != '=')
                continue;
            k++;
            while (k < tag_end && (p[k] == ' ' || p[k] == '\t' || p[k] == '"' || p[k] == '\''))
                k++;
            size_t s = k;
            while (k < tag_end && p[k] != '"' && p[k] != '\'' && p[k] != ' ' && p[k] != ';' &&
                   p[k] != '/' && p[k] != '>')
                k++;
            if (k > s) {
                *out_p = p + s;
                return k - s;
            }
        }
        i = tag_end;
    }
    return 0;
}

/* ---- UTF-8 or not ---- */

int tdx_reader_charset_looks_utf8(const uint8_t *p, size_t n, int partial, size_t *out_valid)
{
    size_t valid = 0, invalid = 0;
    const uint8_t *s = p, *end = p + n;
    while (s < end) {
        if (*s < 0x80) {
            s++;
            continue;
        }
        size_t len;
        if (tdx_utf8_decode(s, end, &len) == TDX_UTF8_INVALID) {
            /* A sequence cut by the end of a sample is not evidence. */
            if (partial && end - s < 4 && s + len == end)
                break;
            invalid++;
        } else {
            valid++;
        }
        s += len;
    }
    /*
     * A UTF-8 file with a few damaged bytes is still UTF-8 (repaired with
     * U+FFFD).  GB18030 or Big5 text forms valid UTF-8 sequences only by
     * accident: about one character in six starts a valid two-byte
     * sequence, while most start an invalid one (ratio near 0.2, far below 3).
     */
    if (out_valid)
        *out_valid = valid;
    return invalid == 0 || valid >= 3 * invalid;
}

/* ---- conversion ---- */

typedef struct count_ctx {
    size_t count;
    size_t first;
    const char *base;
} count_ctx;

static void count_cb(const void *ctx, UConverterToUnicodeArgs *args, const char *units, int32_t len,
                     UConverterCallbackReason reason, UErrorCode *ec)
{
    count_ctx *c = (count_ctx *)ctx;
    if (reason == UCNV_ILLEGAL || reason == UCNV_UNASSIGNED || reason == UCNV_IRREGULAR) {
        if (c->count == 0) {
            ptrdiff_t at = args->source - c->base - len;
            c->first = at > 0 ? (size_t)at : 0;
        }
        c->count++;
        /* Always U+FFFD: ICU's own substitute is U+001A for some converters. */
        static const UChar fffd = 0xFFFD;
        *ec = U_ZERO_ERROR;
        ucnv_cbToUWriteUChars(args, &fffd, 1, 0, ec);
    }
}

static UConverter *get_converter(tdx_charset *cs, const char *name)
{
    for (unsigned i = 0; i < NCACHE; i++)
        if (cs->cache[i].name && strcmp(cs->cache[i].name, name) == 0) {
            ucnv_reset(cs->cache[i].cnv);
            return cs->cache[i].cnv;
        }
    UErrorCode ec = U_ZERO_ERROR;
    UConverter *c = ucnv_open(icu_name(name), &ec);
    if (U_FAILURE(ec) || c == NULL)
        return NULL;
    cnv_slot *s = &cs->cache[cs->next_slot++ % NCACHE];
    if (s->cnv)
        ucnv_close(s->cnv);
    s->name = name;
    s->cnv = c;
    return c;
}

int tdx_reader_charset_convert(tdx_charset *cs, const char *name, const uint8_t *p, size_t n,
                               tdx_buf *out, size_t *out_invalid, size_t *out_first_bad)
{
    UConverter *c = get_converter(cs, name);
    if (c == NULL)
        return TDX_EENCODING;
    count_ctx cc = {0, 0, (const char *)p};
    UErrorCode ec = U_ZERO_ERROR;
    ucnv_setToUCallBack(c, count_cb, &cc, NULL, NULL, &ec);
    if (U_FAILURE(ec))
        return TDX_EENCODING;
    UChar u16[8192];
    const char *src = (const char *)p, *src_end = (const char *)p + n;
    int rc = 0;
    for (;;) {
        UChar *t = u16;
        ec = U_ZERO_ERROR;
        ucnv_toUnicode(c, &t, u16 + 8192, &src, src_end, NULL, 1, &ec);
        if (ec != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(ec)) {
            rc = TDX_EENCODING;
            break;
        }
        int32_t ulen = (int32_t)(t - u16), need = 0;
        UErrorCode e2 = U_ZERO_ERROR;
        if (tdx_buf_grow(out, (size_t)ulen * 3) != 0) {
            rc = TDX_ENOMEM;
            break;
        }
        u_strToUTF8WithSub((char *)out->p + out->len, (int32_t)(out->cap - out->len - 1), &need,
                           u16, ulen, 0xFFFD, NULL, &e2);
        if (U_FAILURE(e2)) {
            rc = TDX_EENCODING;
            break;
        }
        out->len += (size_t)need;
        out->p[out->len] = 0;
        if (ec != U_BUFFER_OVERFLOW_ERROR)
            break;
    }
    ucnv_setToUCallBack(c, UCNV_TO_U_CALLBACK_SUBSTITUTE, NULL, NULL, NULL, &ec);
    *out_invalid = cc.count;
    *out_first_bad = cc.first;
    return rc;
}

/*
 * Code points of the Private Use Area in UTF-8.  windows-950 (ICU's Big5)
 * maps the user-defined rows, where Big5-HKSCS puts its characters, to the
 * PUA without complaint: in a notice a PUA character means a wrong guess.
 */
static size_t count_pua(const uint8_t *p, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i + 2 < n; i++)
        if (p[i] == 0xEE || (p[i] == 0xEF && p[i + 1] >= 0x80 && p[i + 1] <= 0xA3))
            k++;
    return k;
}

int tdx_reader_charset_decode(tdx_charset *cs, const char *name, const uint8_t *p, size_t n,
                              tdx_buf *out, size_t *out_invalid, size_t *out_first_bad,
                              const char **out_used)
{
    size_t start = out->len;
    int rc = tdx_reader_charset_convert(cs, name, p, n, out, out_invalid, out_first_bad);
    *out_used = name;
    if (rc != 0 || strcmp(name, "Big5") != 0)
        return rc;
    size_t pua = count_pua(out->p + start, out->len - start);
    if (pua == 0 && *out_invalid == 0)
        return 0;
    tdx_buf alt = TDX_BUF_INIT;
    size_t inv2 = 0, first2 = 0;
    rc = tdx_reader_charset_convert(cs, "Big5-HKSCS", p, n, &alt, &inv2, &first2);
    if (rc == 0 && inv2 + count_pua(alt.p, alt.len) < *out_invalid + pua) {
        out->len = start;
        rc = tdx_buf_append(out, alt.p, alt.len);
        *out_invalid = inv2;
        *out_first_bad = first2;
        *out_used = "Big5-HKSCS";
    }
    tdx_buf_free(&alt);
    return rc == TDX_ENOMEM ? rc : 0;
}

/* Invalid sequences when decoding a sample, ignoring a sequence cut at its end. */
static size_t sample_errors(tdx_charset *cs, const char *name, const uint8_t *p, size_t n,
                            tdx_buf *tmp)
{
    size_t inv = 0, first = 0;
    tdx_buf_reset(tmp);
    if (tdx_reader_charset_convert(cs, name, p, n, tmp, &inv, &first) != 0)
        return SIZE_MAX;
    if (inv == 1 && first + 4 >= n)
        inv = 0;
    return inv + count_pua(tmp->p, tmp->len);
}

static int is_cjk(const char *canon)
{
    static const char *const cjk[] = {"GB18030",     "Big5",        "Big5-HKSCS",
                                      "EUC-JP",      "Shift_JIS",   "EUC-KR",
                                      "ISO-2022-JP", "ISO-2022-KR", "ISO-2022-CN"};
    for (size_t i = 0; i < sizeof cjk / sizeof cjk[0]; i++)
        if (strcmp(canon, cjk[i]) == 0)
            return 1;
    return 0;
}

const char *tdx_reader_charset_detect(tdx_charset *cs, const uint8_t *p, size_t n, int html)
{
    if (n > DETECT_SAMPLE)
        n = DETECT_SAMPLE;
    UErrorCode ec = U_ZERO_ERROR;
    ucsdet_setText(cs->det, (const char *)p, (int32_t)n, &ec);
    ucsdet_enableInputFilter(cs->det, html ? 1 : 0);
    int32_t nm = 0;
    const UCharsetMatch **m = ucsdet_detectAll(cs->det, &nm, &ec);
    if (U_FAILURE(ec) || m == NULL || nm == 0)
        return NULL;
    tdx_buf tmp = TDX_BUF_INIT;
    const char *best = NULL;
    size_t best_err = SIZE_MAX;
    int best_cjk = 0;
    /*
     * Take the detector's order, but prefer an answer that decodes the
     * sample cleanly, and among clean answers a CJK multi-byte encoding:
     * single-byte charsets decode anything without error, and these are
     * Chinese archives.
     */
    for (int32_t i = 0; i < nm && i < 6; i++) {
        ec = U_ZERO_ERROR;
        const char *label = ucsdet_getName(m[i], &ec);
        int32_t conf = ucsdet_getConfidence(m[i], &ec);
        if (U_FAILURE(ec) || label == NULL || conf < 10)
            continue;
        const char *canon = tdx_reader_charset_canon(cs, label, strlen(label));
        if (canon == NULL)
            continue;
        size_t e = sample_errors(cs, canon, p, n, &tmp);
        if (e > 0 && strcmp(canon, "Big5") == 0) {
            size_t eh = sample_errors(cs, "Big5-HKSCS", p, n, &tmp);
            if (eh < e) {
                canon = "Big5-HKSCS";
                e = eh;
            }
        }
        int cjk = is_cjk(canon);
        if (e < best_err || (e == 0 && best_err == 0 && cjk && !best_cjk)) {
            best = canon;
            best_err = e;
            best_cjk = cjk;
        }
        if (e == 0 && cjk)
            break;
    }
    tdx_buf_free(&tmp);
    return best;
}

/* ---- lifetime ---- */

int tdx_reader_charset_open(tdx_charset **out_cs)
{
    tdx_charset *cs = tdx_calloc(1, sizeof *cs);
    if (cs == NULL)
        return TDX_ENOMEM;
    UErrorCode ec = U_ZERO_ERROR;
    cs->det = ucsdet_open(&ec);
    if (U_FAILURE(ec)) {
        tdx_reader_charset_free(cs);
        return ec == U_MEMORY_ALLOCATION_ERROR ? TDX_ENOMEM : TDX_EINTERNAL;
    }
    *out_cs = cs;
    return 0;
}

void tdx_reader_charset_free(tdx_charset *cs)
{
    if (cs == NULL)
        return;
    if (cs->det)
        ucsdet_close(cs->det);
    for (unsigned i = 0; i < NCACHE; i++)
        if (cs->cache[i].cnv)
            ucnv_close(cs->cache[i].cnv);
    for (size_t i = 0; i < cs->nnames; i++)
        tdx_free(cs->names[i]);
    tdx_free(cs);
}
