/*
 * norm_ref.c - the reference normalizer: the direct ICU call chain on the
 * whole text (UTF-8 -> UTF-16 with U+FFFD per maximal ill-formed subpart,
 * unorm2_normalize with nfkc_cf, utrans_transUChars with
 * Traditional-Simplified, then the whitespace rule while converting back).
 *
 * This chain defines what normalization means; the fast path in
 * norm_run.c must produce exactly its text.  Tests compare the two and the
 * benchmark measures both.  Offsets are coarse: one unit for the whole text
 * when it changed.
 *
 * Threading: like tdx_norm_run (the ctx holds the transliterator).
 */
#include "norm_int.h"

#include "../common/alloc.h"
#include "../common/utf8.h"

#include <string.h>
#include <unicode/ustring.h>

static int to_utf16(const uint8_t *src, size_t len, UChar **out, int32_t *out_len, size_t *invalid)
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

int tdx_norm_run_reference(const tdx_norm *n, tdx_norm_ctx *ctx, const uint8_t *src, size_t len,
                           tdx_norm_out *out, tdx_err *err)
{
    if (n == NULL || out == NULL || ctx == NULL || (src == NULL && len > 0))
        return tdx_err_set(err, TDX_EINVAL, "tdx_norm_run_reference: missing argument");
    tdx_buf_reset(&out->text);
    out->nunits = 0;
    out->invalid = 0;
    out->src_len = len;
    if (len >= INT32_MAX / 4)
        return tdx_err_set(err, TDX_ELIMIT, "text of %zu bytes is too long for the reference", len);

    UChar *u = NULL, *v = NULL;
    int32_t ulen = 0;
    int rc = to_utf16(src, len, &u, &ulen, &out->invalid);
    if (rc)
        return tdx_err_set(err, rc, "out of memory");
    UErrorCode st = U_ZERO_ERROR;
    if (n->steps & TDX_NORM_NFKC_CF) {
        int32_t cap = ulen * 2 + 16, vlen = 0;
        for (int attempt = 0; attempt < 2; attempt++) {
            tdx_free(v);
            v = tdx_reallocarray(NULL, (size_t)cap, sizeof(UChar));
            if (v == NULL) {
                rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
                goto done;
            }
            st = U_ZERO_ERROR;
            vlen = unorm2_normalize(n->nfkc_cf, u, ulen, v, cap, &st);
            if (st != U_BUFFER_OVERFLOW_ERROR)
                break;
            cap = vlen + 1;
        }
        if (U_FAILURE(st)) {
            rc = norm_icu_err(err, "normalize", st);
            goto done;
        }
        tdx_free(u);
        u = v;
        v = NULL;
        ulen = vlen;
    }
    if (n->steps & TDX_NORM_T2S) {
        if ((rc = norm_ctx_t2s(ctx, err)) != 0)
            goto done;
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
            rc = norm_icu_err(err, "transliterate", st);
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
                if (!(any && prev_cjk && cc == TDX_CC_CJK) && tdx_buf_putc(&out->text, ' ')) {
                    rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
                    goto done;
                }
                pending = 0;
            }
            uint8_t b[4];
            if (tdx_buf_append(&out->text, b, tdx_utf8_encode(b, (uint32_t)cp)) != 0) {
                rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
                goto done;
            }
            prev_cjk = cc == TDX_CC_CJK;
            any = 1;
        }
        if (pending && tdx_buf_putc(&out->text, ' ')) {
            rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
            goto done;
        }
    }
    if (out->text.p == NULL && tdx_buf_grow(&out->text, 0) != 0) {
        rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
        goto done;
    }
    if (out->text.len != len || (len && memcmp(out->text.p, src, len) != 0)) {
        if (out->cap_units == 0) {
            tdx_norm_unit *un = tdx_reallocarray(NULL, 16, sizeof *un);
            if (un == NULL) {
                rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
                goto done;
            }
            out->units = un;
            out->cap_units = 16;
        }
        out->units[out->nunits++] = (tdx_norm_unit){0, (uint32_t)out->text.len, 0, (uint32_t)len};
    }
done:
    if (rc) {
        tdx_buf_reset(&out->text);
        out->nunits = 0;
        out->invalid = 0;
    }
    tdx_free(u);
    tdx_free(v);
    return rc;
}
