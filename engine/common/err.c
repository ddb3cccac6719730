/*
 * err.c - the error table and first-error-wins recording (see err.h).
 */
#include "err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

const char *tdx_strerror(int code)
{
    switch (code) {
    case 0:
        return "success";
#define TDX_ERR_STR_(name, num, msg)                                                          \
    case -(num):                                                                           \
        return msg;
        TDX_ERRNO_MAP(TDX_ERR_STR_)
#undef TDX_ERR_STR_
    }
    return "unknown error";
}

const char *tdx_errname(int code)
{
    switch (code) {
    case 0:
        return "TDX_OK";
#define TDX_ERR_NAME_(name, num, msg)                                                         \
    case -(num):                                                                           \
        return "TDX_" #name;
        TDX_ERRNO_MAP(TDX_ERR_NAME_)
#undef TDX_ERR_NAME_
    }
    return "TDX_UNKNOWN";
}

int tdx_err_vset(tdx_err *err, int code, const char *fmt, va_list ap)
{
    if (err == NULL || err->code != 0)
        return code;
    err->code = code;
    if (fmt == NULL || vsnprintf(err->msg, sizeof err->msg, fmt, ap) < 0)
        snprintf(err->msg, sizeof err->msg, "%s", tdx_strerror(code));
    return code;
}

int tdx_err_set(tdx_err *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tdx_err_vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

void tdx_err_clear(tdx_err *err)
{
    if (err != NULL) {
        err->code = 0;
        err->msg[0] = '\0';
    }
}

int tdx_err_from_errno(int e)
{
    switch (e) {
    case ENOMEM:
        return TDX_ENOMEM;
    case ENOSPC:
    case EDQUOT:
        return TDX_ENOSPC;
    case EINVAL:
        return TDX_EINVAL;
    case ENOENT:
        return TDX_ENOTFOUND;
    default:
        return TDX_EIO;
    }
}
