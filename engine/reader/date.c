/*
 * date.c - publication dates as found in notices, to ISO 8601.
 *
 * Part of the reader stage: reader.c passes the date field of each record
 * (JSON Lines date, HTML <meta> date) through tdx_reader_date_parse(), so
 * `date:2023-01..2023-06` queries compare plain strings.  Accepted, after
 * full-width digits and punctuation are folded to ASCII:
 *
 *   2023-03-15  2023/3/15  2023.03.15  2023年3月15日  2023年03月15号
 *   20230315    二〇二三年三月十五日
 *   any of those followed by a time: 10:00, 10:00:00, T10:00:00(.123)(Z|+08:00),
 *   10时30分(15秒), 10点30分
 *   epoch seconds (10 digits) or milliseconds (13 digits), shown in UTC+8,
 *   the time zone of the notices
 *
 * A time zone suffix is accepted and dropped: notices give local time.
 * Output is "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SS".  Anything else is left
 * to the caller, who keeps the text and counts it as unparsed.
 *
 * Threading: pure functions.
 */
#include "reader_int.h"

#include "../common/utf8.h"

#include <string.h>
#include <time.h>

#define FOLD_MAX 128

static int chinese_digit(uint32_t cp)
{
    static const uint32_t d[] = {0x3007, 0x4E00, 0x4E8C, 0x4E09, 0x56DB,
                                 0x4E94, 0x516D, 0x4E03, 0x516B, 0x4E5D};
    for (int i = 0; i < 10; i++)
        if (cp == d[i])
            return i;
    if (cp == 0x96F6 || cp == 0x25CB || cp == 0x039F || cp == 0x004F)
        return 0; /* 零, and the circles typed for 〇 */
    return -1;
}

/*
 * Fold to a small ASCII form: full-width digits and separators to ASCII,
 * Chinese numerals to digits (十 becomes 'X', resolved below), 年月日号 to
 * 'y' 'm' 'd', 时/点 'h', 分 'n', 秒 's'; other characters are kept as '?'.
 */
static int fold(const char *s, size_t len, char *out, size_t *out_len)
{
    const uint8_t *p = (const uint8_t *)s, *end = p + len;
    size_t n = 0;
    while (p < end) {
        size_t l;
        int32_t cp = tdx_utf8_decode(p, end, &l);
        if (cp < 0)
            return 0;
        p += l;
        char c;
        int dg;
        if (cp >= 0xFF01 && cp <= 0xFF5E)
            cp -= 0xFEE0; /* full-width ASCII */
        if (cp == 0x3000)
            cp = ' ';
        if (cp < 0x80)
            c = (char)cp;
        else if ((dg = chinese_digit((uint32_t)cp)) >= 0)
            c = (char)('0' + dg);
        else if (cp == 0x5341)
            c = 'X'; /* 十 */
        else if (cp == 0x5E74)
            c = 'y';
        else if (cp == 0x6708)
            c = 'm';
        else if (cp == 0x65E5 || cp == 0x53F7)
            c = 'd';
        else if (cp == 0x65F6 || cp == 0x6642 || cp == 0x70B9 || cp == 0x9EDE)
            c = 'h';
        else if (cp == 0x5206)
            c = 'n';
        else if (cp == 0x79D2)
            c = 's';
        else
            c = '?';
        if (n + 1 >= FOLD_MAX)
            return 0;
        out[n++] = c;
    }
    out[n] = 0;
    *out_len = n;
    return 1;
}

/* A number of 1..maxd digits, or a Chinese-numeral form with 十 ("X", "X5", "2X", "2X5"). */
static int number(const char **pp, int maxd, int *out)
{
    const char *p = *pp;
    int v = 0, nd = 0;
    if (*p == 'X' || (p[0] >= '0' && p[0] <= '9' && p[1] == 'X')) {
        int tens = 1;
        if (*p != 'X')
            tens = *p++ - '0';
        p++; /* X */
        v = tens * 10;
        if (*p >= '0' && *p <= '9' && !(p[1] >= '0' && p[1] <= '9'))
            v += *p++ - '0';
        *pp = p;
        *out = v;
        return 1;
    }
    while (*p >= '0' && *p <= '9' && nd < maxd) {
        v = v * 10 + (*p - '0');
        p++;
        nd++;
    }
    if (nd == 0 || (*p >= '0' && *p <= '9'))
        return 0;
    *pp = p;
    *out = v;
    return 1;
}

/* "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SS" (hh < 0: date only), without printf on the hot path. */
static void format_iso(char out[TDX_DATE_MAX], int y, int m, int d, int hh, int mi, int ss)
{
    char *o = out;
    *o++ = (char)('0' + y / 1000 % 10);
    *o++ = (char)('0' + y / 100 % 10);
    *o++ = (char)('0' + y / 10 % 10);
    *o++ = (char)('0' + y % 10);
    const int parts[5] = {m, d, hh, mi, ss};
    const char seps[5] = {'-', '-', 'T', ':', ':'};
    for (int i = 0; i < (hh < 0 ? 2 : 5); i++) {
        *o++ = seps[i];
        *o++ = (char)('0' + parts[i] / 10 % 10);
        *o++ = (char)('0' + parts[i] % 10);
    }
    *o = 0;
}

static int days_in(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return d[m - 1];
}

static int valid_ymd(int y, int m, int d)
{
    return y >= 1000 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 && d <= days_in(y, m);
}

static int epoch(const char *f, size_t n, char out[TDX_DATE_MAX])
{
    long long v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (f[i] - '0');
    if (n == 13)
        v /= 1000;
    time_t t = (time_t)(v + 8 * 3600);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 < 1990 || tm.tm_year + 1900 > 2100)
        return 0;
    format_iso(out, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return 1;
}

int tdx_reader_date_parse(const char *s, size_t len, char out[TDX_DATE_MAX])
{
    char f[FOLD_MAX];
    size_t n;
    while (len > 0 && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len == 0 || len >= FOLD_MAX || !fold(s, len, f, &n))
        return 0;
    while (n > 0 && f[n - 1] == ' ')
        f[--n] = 0;
    /* "2023 年 3 月": spaces around the Chinese unit characters carry nothing. */
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (f[i] == ' ' &&
            ((i > 0 && strchr("ymdhns", f[i - 1])) || (i + 1 < n && strchr("ymdhns", f[i + 1]))) &&
            !(i > 0 && f[i - 1] == 'd' && i + 1 < n && f[i + 1] >= '0' && f[i + 1] <= '9'))
            continue;
        f[w++] = f[i];
    }
    f[w] = 0;
    n = w;
    size_t digits = strspn(f, "0123456789");
    if (digits == n && (n == 10 || n == 13))
        return epoch(f, n, out);

    const char *p = f;
    int y, m, d, hh = -1, mi = 0, ss = 0, cjk = 0;
    if (digits == 8 && (f[8] == 0 || f[8] == ' ' || f[8] == 'T')) {
        y = (f[0] - '0') * 1000 + (f[1] - '0') * 100 + (f[2] - '0') * 10 + (f[3] - '0');
        m = (f[4] - '0') * 10 + (f[5] - '0');
        d = (f[6] - '0') * 10 + (f[7] - '0');
        p = f + 8;
    } else {
        if (digits != 4)
            return 0;
        y = (f[0] - '0') * 1000 + (f[1] - '0') * 100 + (f[2] - '0') * 10 + (f[3] - '0');
        p = f + 4;
        char sep = *p;
        if (sep != '-' && sep != '/' && sep != '.' && sep != 'y')
            return 0;
        p++;
        while (sep == 'y' && *p == ' ')
            p++;
        if (!number(&p, 2, &m))
            return 0;
        char sep2 = *p;
        if (sep == 'y' ? sep2 != 'm' : sep2 != sep)
            return 0;
        p++;
        while (sep == 'y' && *p == ' ')
            p++;
        if (!number(&p, 2, &d))
            return 0;
        if (sep == 'y') {
            if (*p != 'd')
                return 0;
            p++;
            cjk = 1;
        }
    }
    if (!valid_ymd(y, m, d))
        return 0;
    /* Optional time. */
    if (*p == 'T' || *p == ' ' || (cjk && ((*p >= '0' && *p <= '9') || *p == 'X'))) {
        while (*p == 'T' || *p == ' ')
            p++;
        if (*p) {
            if (!number(&p, 2, &hh))
                return 0;
            if (*p == ':') {
                p++;
                if (!number(&p, 2, &mi))
                    return 0;
                if (*p == ':') {
                    p++;
                    if (!number(&p, 2, &ss))
                        return 0;
                    if (*p == '.' || *p == ',') {
                        p++;
                        while (*p >= '0' && *p <= '9')
                            p++;
                    }
                }
            } else if (*p == 'h') {
                p++;
                if (*p) {
                    if (!number(&p, 2, &mi) || *p != 'n')
                        return 0;
                    p++;
                    if (*p) {
                        if (!number(&p, 2, &ss) || *p != 's')
                            return 0;
                        p++;
                    }
                }
            } else {
                return 0;
            }
            /* Time zone: Z, +08, +0800, +08:00; dropped. */
            if (*p == 'Z') {
                p++;
            } else if (*p == '+' || *p == '-') {
                p++;
                size_t z = strspn(p, "0123456789:");
                if (z < 2 || z > 5)
                    return 0;
                p += z;
            }
        }
    }
    if (*p != 0)
        return 0;
    if (hh > 23 || mi > 59 || ss > 60)
        return 0;
    format_iso(out, y, m, d, hh, mi, ss);
    return 1;
}
