/*
 * err.h - error codes and error context for every tenderidx module.
 *
 * A fallible function returns int: 0 on success, a negative TDX_E* code on
 * failure.  The codes come from one X-macro table, which generates both the
 * enum and tdx_strerror().  Context travels in a caller-owned tdx_err: the
 * first error recorded wins, later ones are ignored, so the message a user
 * sees names the root cause and not a consequence of it.
 */
#ifndef TDX_COMMON_ERR_H
#define TDX_COMMON_ERR_H

#include <stdarg.h>
#include <stddef.h>

#define TDX_ERRNO_MAP(X)                                                                   \
    X(ENOMEM, 1, "out of memory")                                                          \
    X(EIO, 2, "input/output error")                                                        \
    X(EINVAL, 3, "invalid argument")                                                       \
    X(EENCODING, 4, "invalid text encoding")                                               \
    X(EPATTERN, 5, "invalid watch-list pattern")                                           \
    X(ECORRUPT, 6, "index is corrupt")                                                     \
    X(EFORMAT, 7, "incompatible index format")                                             \
    X(ELIMIT, 8, "limit exceeded")                                                         \
    X(ECANCELED, 9, "canceled")                                                            \
    X(ENOTFOUND, 10, "not found")                                                          \
    X(ESYNTAX, 11, "syntax error")                                                         \
    X(ENOSPC, 12, "no space left on device")                                               \
    X(EINPUT, 13, "input rejected")                                                        \
    X(EINTERNAL, 14, "internal error")

enum tdx_errno {
    TDX_OK = 0,
#define TDX_ERR_ENUM_(name, num, msg) TDX_##name = -(num),
    TDX_ERRNO_MAP(TDX_ERR_ENUM_)
#undef TDX_ERR_ENUM_
};

/** Static description of a TDX_E* code ("unknown error" for others). */
const char *tdx_strerror(int code);

/** Symbolic name of a code, e.g. "TDX_ECORRUPT". */
const char *tdx_errname(int code);

#define TDX_ERR_MSG_MAX 512

/**
 * Error context.  Zero-initialize (tdx_err e = {0};) before use.  code is 0
 * while no error has been recorded.  msg is a complete, human-readable
 * sentence fragment such as "cannot open 'a.txt': No such file or directory".
 */
typedef struct tdx_err {
    int code;
    char msg[TDX_ERR_MSG_MAX];
} tdx_err;

/**
 * Record an error unless one is already recorded (first error wins).
 * err may be NULL.  Returns code, so callers can write
 *     return tdx_err_set(err, TDX_EIO, "cannot read '%s'", path);
 */
int tdx_err_set(tdx_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int tdx_err_vset(tdx_err *err, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/** Forget a recorded error. */
void tdx_err_clear(tdx_err *err);

/** Map an errno value to the closest TDX_E* code. */
int tdx_err_from_errno(int e);

#endif
