/*
 * fuzz_reader.c - libFuzzer target for the reader's own parsers: any bytes
 * as a JSON Lines record (after UTF-8 repair, as the reader does), as an
 * HTML page, as text in an unknown, GB18030 or Big5 encoding, and every
 * string value as a date.  Invariants that do not hold end the process
 * (__builtin_trap), so the fuzzer reports them like a crash; AddressSanitizer
 * reports memory errors and leaks.
 *
 * Invariants: UTF-8 repair and every decoder give well-formed UTF-8 (and
 * repair leaves well-formed input as it is); a parsed record's members are
 * NUL-terminated at their lengths; a refused record names an offset inside
 * the line; HTML extraction of well-formed input gives well-formed text; a
 * date that parses is "YYYY-MM-DD" with a valid month and day, optionally
 * followed by "THH:MM:SS".
 *
 * Built and run by scripts/fuzz.sh (clang, -fsanitize=fuzzer,address);
 * seed inputs are in tests/fuzz/corpus-reader/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "reader/reader_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            __builtin_trap();                                                                      \
    } while (0)

static int well_formed(const tdx_buf *b)
{
    return tdx_reader_utf8_check(b->p, b->len) == b->len;
}

static int digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

static void check_date(const char *s, size_t len)
{
    char out[TDX_DATE_MAX];
    memset(out, 'x', sizeof out);
    if (!tdx_reader_date_parse(s, len, out))
        return;
    size_t n = strnlen(out, sizeof out);
    CHECK(n == 10 || n == 19);
    CHECK(digits(out, 4) && out[4] == '-' && digits(out + 5, 2) && out[7] == '-' &&
          digits(out + 8, 2));
    int month = (out[5] - '0') * 10 + (out[6] - '0'), day = (out[8] - '0') * 10 + (out[9] - '0');
    CHECK(month >= 1 && month <= 12 && day >= 1 && day <= 31);
    if (n == 19)
        CHECK(out[10] == 'T' && digits(out + 11, 2) && out[13] == ':' && digits(out + 14, 2) &&
              out[16] == ':' && digits(out + 17, 2));
}

static void json(const uint8_t *data, size_t size)
{
    tdx_buf line = TDX_BUF_INIT;
    long bad = tdx_reader_utf8_repair(data, size, &line);
    CHECK(bad >= 0 && well_formed(&line));
    if (bad == 0)
        CHECK(line.len == size && memcmp(line.p, data, size) == 0);
    size_t len = line.len;
    /* The parser's contract: a byte below 0x20 after the line, then slack. */
    CHECK(tdx_buf_grow(&line, 1 + TDX_READER_SLACK) == 0);
    memset(line.p + len, '\n', 1 + TDX_READER_SLACK);
    tdx_jparser jp = {0};
    jp.max_depth = 64;
    int rc = tdx_reader_json_parse(&jp, line.p, len);
    CHECK(rc == 0 || rc == 1);
    if (rc == 1)
        CHECK(jp.err_pos <= len && jp.err[0] != '\0');
    for (size_t i = 0; rc == 0 && i < jp.n; i++) {
        const tdx_jmember *m = &jp.m[i];
        CHECK(m->key != NULL && strlen(m->key) == m->key_len);
        if (m->val == NULL)
            continue;
        CHECK(strlen(m->val) == m->val_len);
        check_date(m->val, m->val_len);
    }
    tdx_reader_json_free(&jp);
    tdx_buf_free(&line);
}

static void html(const uint8_t *data, size_t size)
{
    int valid = tdx_reader_utf8_check(data, size) == size;
    tdx_buf text = TDX_BUF_INIT, title = TDX_BUF_INIT, date = TDX_BUF_INIT;
    CHECK(tdx_reader_html_extract(data, size, &text, &title, &date) == 0);
    if (valid)
        CHECK(well_formed(&text) && well_formed(&title));
    if (date.len)
        check_date((const char *)date.p, date.len);
    const uint8_t *label;
    size_t ll = tdx_reader_html_meta_charset(data, size, &label);
    CHECK(ll == 0 || (label >= data && label + ll <= data + size));
    tdx_buf_free(&text);
    tdx_buf_free(&title);
    tdx_buf_free(&date);
}

static tdx_charset *CS;

static void decode(const uint8_t *data, size_t size)
{
    if (CS == NULL)
        CHECK(tdx_reader_charset_open(&CS) == 0);
    const char *bom = NULL;
    size_t skip = tdx_reader_charset_bom(data, size, &bom);
    CHECK(skip <= size);
    const char *names[4] = {tdx_reader_charset_detect(CS, data, size, 0),
                            tdx_reader_charset_detect(CS, data, size, 1),
                            tdx_reader_charset_canon(CS, "gbk", 3),
                            tdx_reader_charset_canon(CS, "big5", 4)};
    for (int i = 0; i < 4; i++) {
        if (names[i] == NULL)
            continue;
        tdx_buf out = TDX_BUF_INIT;
        size_t invalid = 0, first_bad = 0;
        const char *used = NULL;
        int rc = tdx_reader_charset_decode(CS, names[i], data, size, &out, &invalid, &first_bad,
                                           &used);
        CHECK(rc == 0 || rc == TDX_EENCODING);
        if (rc == 0) {
            CHECK(well_formed(&out) && used != NULL);
            CHECK(invalid == 0 || first_bad < size);
        }
        tdx_buf_free(&out);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20))
        return 0;
    json(data, size);
    html(data, size);
    decode(data, size);
    check_date((const char *)data, size);
    return 0;
}
