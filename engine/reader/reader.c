/*
 * reader.c - inputs to documents: the first stage of the pipeline.
 *
 * The pipeline's reader thread pulls documents with tdx_reader_next(); this
 * file walks the inputs, opens containers and splits their contents:
 *
 *   inputs ─► walk (directories in sorted byte order, "-" = stdin)
 *          ─► file (fd) ─► frames: up to MAX_FRAMES libarchive readers, each
 *             reading the current entry of the one below it (a .gz, a tar, a
 *             zip member that is itself a .jsonl.gz ...)
 *          ─► leaf: one decompressed byte stream (a plain file or an archive
 *             member), sniffed for format and encoding, then split:
 *               JSON Lines: one record per '\n'-terminated line
 *               HTML, text: the whole leaf is one document
 *
 * Main data structure: one growable window buf[beg, end) over the current
 * leaf.  Lines are found with memchr and parsed where they lie; strings are
 * unescaped in place, so a JSON Lines record costs one read, one UTF-8 check
 * and one parse, and is handed out as pointers into the window (valid until
 * the next call).  The window holds at most max_doc_bytes plus one read
 * chunk, never a whole file.  Libarchive pulls its input through callbacks
 * that read the level below (fd or parent entry), so nothing touches disk.
 *
 * Bad input never stops the reader: each problem becomes one tdx_reject
 * through on_reject and reading continues with the next record, member or
 * file.  Only allocation failure is fatal.
 *
 * Threading: a tdx_reader is used by one thread at a time; callbacks run on
 * that thread.
 */
#include "reader.h"
#include "reader_int.h"

#include "../common/alloc.h"
#include "../common/buf.h"
#include "../common/hash.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_MAX_DOC ((size_t)64 << 20)
#define READ_CHUNK      ((size_t)256 << 10)
#define SNIFF_BYTES     ((size_t)64 << 10)
#define FRAME_BUF       ((size_t)256 << 10)
#define MAX_FRAMES      3
#define MAX_DIR_DEPTH   256

enum { F_ID, F_TITLE, F_DATE, F_URL, F_TEXT, F_HTML, NFIELDS };
static const char *const field_names[NFIELDS] = {"id", "title", "date", "url", "text", "html"};

enum { FMT_NONE, FMT_JSONL, FMT_HTML, FMT_TEXT };
static const char *const format_names[] = {"", "jsonl", "html", "text"};

enum { LEAF_NONE, LEAF_JSONL, LEAF_WHOLE };

typedef struct dirlevel {
    char *path;
    char **names; /* sorted; directories carry a trailing '/' */
    size_t n, i;
    dev_t dev;
    ino_t ino;
} dirlevel;

typedef struct frame {
    struct archive *a;
    tdx_reader *r;
    int level;       /* index in r->frames */
    char *source;    /* source of the container itself */
    char *stem;      /* name of a single compressed stream's content */
    uint8_t *replay; /* bytes read while sniffing, fed to libarchive first */
    size_t replay_len, replay_pos;
    uint8_t *rbuf;
    int seekable;       /* level 0 over a regular file: libarchive may seek the fd */
    int raw;            /* a single compressed stream, not an archive */
    int failed;         /* a data error was reported; a failing header is the same error */
    const uint8_t *blk; /* rest of the entry's current data block (libarchive's memory) */
    size_t blk_len;
    int warned; /* libarchive flagged the entry's data (bad CRC): report at its end */
} frame;

struct tdx_reader {
    /* options */
    char *format_opt; /* NULL: sniff */
    int format_forced;
    const char *enc_forced; /* canonical name or NULL */
    char *fmap[NFIELDS];    /* source key of each document field */
    size_t fmap_len[NFIELDS];
    size_t max_doc;
    tdx_reject_fn on_reject;
    tdx_file_fn on_file;
    tdx_file_done_fn on_file_done;
    void *ctx;

    /* inputs and the directory walk */
    char **inputs;
    size_t ninputs, next_input;
    dirlevel dirs[MAX_DIR_DEPTH];
    size_t ndirs;

    /* current top-level file */
    int file_open;
    int fd;
    int is_stdin;
    int fd_seekable;
    int file_leaf_done; /* the file itself has been taken as a leaf */
    char *path;
    uint64_t file_index;
    uint64_t record;    /* next record ordinal in this file */
    uint64_t skip;      /* leading records still to skip */
    uint64_t file_size; /* 0 when unknown (pipes) */
    uint64_t file_read; /* bytes read from the fd, for progress */

    frame frames[MAX_FRAMES];
    int nframes;

    /* current leaf */
    int leaf;
    int leaf_fmt;
    char *leaf_source;
    char *leaf_name;
    const char *leaf_enc;
    int leaf_enc_fixed; /* forced or from a BOM: never second-guessed */
    int leaf_utf8_seen; /* well-formed multi-byte UTF-8 seen: bad bytes are damage */
    uint64_t leaf_off;  /* leaf offset of buf[0] */
    uint64_t line;
    int leaf_eof;
    int leaf_failed; /* a read error ended the leaf early */
    int discard;     /* inside a line longer than max_doc, dropping bytes */

    /* window over the leaf; buf[end] is a NUL sentinel followed by slack */
    uint8_t *buf;
    size_t cap, beg, end, scan;

    /* per-document scratch */
    tdx_buf conv, text, title, key, datebuf, tmp;
    char date_iso[TDX_DATE_MAX];
    tdx_kv *meta;
    size_t nmeta, capmeta;
    uint32_t *htab; /* positions in meta by key hash, for records with many fields */
    size_t hcap;
    tdx_jparser jp;
    tdx_charset *cs;
    char reason[1024];
    uint64_t first_bad; /* source offset of the first byte to_utf8 replaced */

    tdx_read_progress prog;
};

/* ---------------------------------------------------------------------- */
/* rejects                                                                */

static void reject(tdx_reader *r, const char *source, uint64_t line, uint64_t offset, int kept,
                   const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void reject(tdx_reader *r, const char *source, uint64_t line, uint64_t offset, int kept,
                   const char *fmt, ...)
{
    /* Rejects inside the skipped prefix were reported by the run that read it. */
    if (r->skip > 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->reason, sizeof r->reason, fmt, ap);
    va_end(ap);
    for (char *c = r->reason; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    for (size_t n = strlen(r->reason); n > 0 && r->reason[n - 1] == ' ';)
        r->reason[--n] = 0;
    if (kept)
        r->prog.warnings++;
    else
        r->prog.rejects++;
    if (r->on_reject) {
        tdx_reject rj = {source, line, offset, r->reason, kept, r->record};
        r->on_reject(r->ctx, &rj);
    }
}

/* ---------------------------------------------------------------------- */
/* options                                                                */

static int parse_fields(tdx_reader *r, const char *spec, tdx_err *err)
{
    for (int i = 0; i < NFIELDS; i++) {
        if ((r->fmap[i] = tdx_strdup(field_names[i])) == NULL)
            return tdx_err_set(err, TDX_ENOMEM, "out of memory");
        r->fmap_len[i] = strlen(r->fmap[i]);
    }
    if (spec == NULL)
        return 0;
    const char *p = spec;
    while (*p) {
        size_t n = strcspn(p, ",");
        const char *eq = memchr(p, '=', n);
        if (eq == NULL || eq == p || eq == p + n - 1)
            return tdx_err_set(err, TDX_EINVAL,
                               "invalid field mapping '%.*s' (expected FIELD=KEY, e.g. "
                               "text=content)",
                               (int)n, p);
        size_t tn = (size_t)(eq - p);
        int t;
        for (t = 0; t < NFIELDS; t++)
            if (strlen(field_names[t]) == tn && memcmp(field_names[t], p, tn) == 0)
                break;
        if (t == NFIELDS)
            return tdx_err_set(err, TDX_EINVAL,
                               "unknown document field '%.*s' in field mapping (expected one "
                               "of id, title, date, url, text, html)",
                               (int)tn, p);
        tdx_free(r->fmap[t]);
        if ((r->fmap[t] = tdx_strndup(eq + 1, (size_t)(p + n - eq - 1))) == NULL)
            return tdx_err_set(err, TDX_ENOMEM, "out of memory");
        p += n;
        if (*p == ',')
            p++;
    }
    for (int i = 0; i < NFIELDS; i++)
        r->fmap_len[i] = strlen(r->fmap[i]);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* total size, by a stat-only walk (for the ETA)                          */

static char *join_path(const char *dir, const char *name);

static void sum_tree(const char *path, int depth, uint64_t *bytes, uint64_t *files)
{
    DIR *d = opendir(path);
    if (d == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, 0) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            char *sub;
            if (depth + 1 < MAX_DIR_DEPTH && (sub = join_path(path, de->d_name)) != NULL) {
                sum_tree(sub, depth + 1, bytes, files);
                tdx_free(sub);
            }
        } else if (S_ISREG(st.st_mode)) {
            *bytes += (uint64_t)st.st_size;
            (*files)++;
        }
    }
    closedir(d);
}

/* ---------------------------------------------------------------------- */
/* open / free                                                            */

int tdx_reader_open(const char *const *inputs, size_t ninputs, const tdx_reader_opts *opts,
                    tdx_reader **out_r, tdx_err *err)
{
    static const tdx_reader_opts defaults = {0};
    if (out_r == NULL || (inputs == NULL && ninputs > 0))
        return tdx_err_set(err, TDX_EINVAL, "tdx_reader_open: invalid arguments");
    if (opts == NULL)
        opts = &defaults;
    for (size_t i = 0; i < ninputs; i++)
        if (inputs[i] == NULL || inputs[i][0] == 0)
            return tdx_err_set(err, TDX_EINVAL, "empty input path");

    tdx_reader *r = tdx_calloc(1, sizeof *r);
    if (r == NULL)
        return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    int rc;
    r->fd = -1;
    r->on_reject = opts->on_reject;
    r->on_file = opts->on_file;
    r->on_file_done = opts->on_file_done;
    r->ctx = opts->ctx;
    r->max_doc = opts->max_doc_bytes ? opts->max_doc_bytes : DEFAULT_MAX_DOC;
    if (r->max_doc > SIZE_MAX / 4) {
        rc = tdx_err_set(err, TDX_EINVAL, "max_doc_bytes too large");
        goto fail;
    }
    if (opts->format && strcmp(opts->format, "auto") != 0) {
        int f;
        for (f = FMT_JSONL; f <= FMT_TEXT; f++)
            if (strcmp(opts->format, format_names[f]) == 0)
                break;
        if (f > FMT_TEXT) {
            rc = tdx_err_set(err, TDX_EINVAL,
                             "unknown format '%s' (expected auto, jsonl, html or text)",
                             opts->format);
            goto fail;
        }
        r->format_forced = f;
    }
    if ((rc = tdx_reader_charset_open(&r->cs)) != 0) {
        tdx_err_set(err, rc, "cannot set up the charset converters");
        goto fail;
    }
    if (opts->encoding && strcmp(opts->encoding, "auto") != 0) {
        r->enc_forced = tdx_reader_charset_canon(r->cs, opts->encoding, strlen(opts->encoding));
        if (r->enc_forced == NULL) {
            rc = tdx_err_set(err, TDX_EINVAL, "unknown encoding '%s'", opts->encoding);
            goto fail;
        }
    }
    if ((rc = parse_fields(r, opts->fields, err)) != 0)
        goto fail;
    if (ninputs > 0) {
        r->inputs = tdx_calloc(ninputs, sizeof *r->inputs);
        if (r->inputs == NULL) {
            rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
            goto fail;
        }
        r->ninputs = ninputs;
        for (size_t i = 0; i < ninputs; i++)
            if ((r->inputs[i] = tdx_strdup(inputs[i])) == NULL) {
                rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
                goto fail;
            }
    }
    r->cap = READ_CHUNK;
    r->buf = tdx_malloc(r->cap + TDX_READER_SLACK);
    if (r->buf == NULL) {
        rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
        goto fail;
    }
    memset(r->buf, 0, TDX_READER_SLACK);

    /* Total size for the ETA; unknown (0) as soon as stdin is an input. */
    uint64_t total = 0, nfiles = 0;
    int known = 1;
    for (size_t i = 0; i < ninputs; i++) {
        struct stat st;
        if (strcmp(inputs[i], "-") == 0) {
            known = 0;
        } else if (stat(inputs[i], &st) == 0) {
            if (S_ISDIR(st.st_mode)) {
                sum_tree(inputs[i], 0, &total, &nfiles);
            } else {
                total += S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
                nfiles++;
            }
        }
    }
    r->prog.total_bytes = known ? total : 0;
    r->prog.total_files = nfiles;
    *out_r = r;
    return 0;
fail:
    tdx_reader_free(r);
    return rc;
}

static void frame_close(frame *f)
{
    if (f->a)
        archive_read_free(f->a);
    tdx_free(f->source);
    tdx_free(f->stem);
    tdx_free(f->replay);
    tdx_free(f->rbuf);
    memset(f, 0, sizeof *f);
}

static void leaf_clear(tdx_reader *r)
{
    r->leaf = LEAF_NONE;
    tdx_free(r->leaf_source);
    tdx_free(r->leaf_name);
    r->leaf_source = r->leaf_name = NULL;
    r->beg = r->end = r->scan = 0;
    r->buf[0] = 0;
    r->discard = 0;
}

/* Bytes of the current file counted as read: at most its size (zip readers seek back). */
static uint64_t file_progress(const tdx_reader *r)
{
    if (!r->file_open)
        return 0;
    return r->file_size && r->file_read > r->file_size ? r->file_size : r->file_read;
}

static void file_close(tdx_reader *r)
{
    r->prog.bytes += file_progress(r);
    r->file_read = 0;
    leaf_clear(r);
    while (r->nframes > 0)
        frame_close(&r->frames[--r->nframes]);
    if (r->fd >= 0 && !r->is_stdin)
        close(r->fd);
    r->fd = -1;
    r->file_open = 0;
    tdx_free(r->path);
    r->path = NULL;
    r->skip = 0;
}

void tdx_reader_free(tdx_reader *r)
{
    if (r == NULL)
        return;
    if (r->buf)
        file_close(r);
    for (size_t i = 0; i < r->ndirs; i++) {
        for (size_t j = 0; j < r->dirs[i].n; j++)
            tdx_free(r->dirs[i].names[j]);
        tdx_free(r->dirs[i].names);
        tdx_free(r->dirs[i].path);
    }
    for (size_t i = 0; i < r->ninputs; i++)
        tdx_free(r->inputs[i]);
    tdx_free(r->inputs);
    for (int i = 0; i < NFIELDS; i++)
        tdx_free(r->fmap[i]);
    tdx_free(r->buf);
    tdx_buf_free(&r->conv);
    tdx_buf_free(&r->text);
    tdx_buf_free(&r->title);
    tdx_buf_free(&r->key);
    tdx_buf_free(&r->datebuf);
    tdx_buf_free(&r->tmp);
    tdx_free(r->meta);
    tdx_free(r->htab);
    tdx_reader_json_free(&r->jp);
    tdx_reader_charset_free(r->cs);
    tdx_free(r);
}

void tdx_reader_progress(const tdx_reader *r, tdx_read_progress *out)
{
    if (r == NULL || out == NULL)
        return;
    *out = r->prog;
    out->bytes += file_progress(r);
}

/* ---------------------------------------------------------------------- */
/* directory walk                                                         */

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *join_path(const char *dir, const char *name)
{
    size_t dl = strlen(dir), nl = strlen(name);
    int slash = dl > 0 && dir[dl - 1] != '/';
    char *p = tdx_malloc(dl + (size_t)slash + nl + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, dir, dl);
    if (slash)
        p[dl] = '/';
    memcpy(p + dl + (size_t)slash, name, nl + 1);
    return p;
}

/*
 * Push a directory listing.  Names of subdirectories get a trailing '/'
 * before sorting: then sorting each directory by strcmp and walking depth
 * first visits paths in the byte order of their full text ("a.txt" <
 * "a/b"), the order `LC_ALL=C sort` gives a path list.  Returns 0 or
 * TDX_ENOMEM; an unreadable directory is a reject.
 */
static int push_dir(tdx_reader *r, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        reject(r, path, 0, 0, 0, "cannot read directory: %s", strerror(errno));
        return 0;
    }
    for (size_t i = 0; i < r->ndirs; i++)
        if (r->dirs[i].dev == st.st_dev && r->dirs[i].ino == st.st_ino) {
            reject(r, path, 0, 0, 0, "directory loop (a symbolic link to an enclosing directory)");
            return 0;
        }
    if (r->ndirs == MAX_DIR_DEPTH) {
        reject(r, path, 0, 0, 0, "directories nested deeper than %d levels", MAX_DIR_DEPTH);
        return 0;
    }
    DIR *d = opendir(path);
    if (d == NULL) {
        reject(r, path, 0, 0, 0, "cannot read directory: %s", strerror(errno));
        return 0;
    }
    dirlevel *lv = &r->dirs[r->ndirs];
    memset(lv, 0, sizeof *lv);
    size_t cap = 0;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        int is_dir = de->d_type == DT_DIR;
        if (de->d_type == DT_UNKNOWN || de->d_type == DT_LNK) {
            struct stat es;
            is_dir = fstatat(dirfd(d), de->d_name, &es, 0) == 0 && S_ISDIR(es.st_mode);
        }
        if (lv->n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = tdx_reallocarray(lv->names, cap, sizeof *nn);
            if (nn == NULL) {
                rc = TDX_ENOMEM;
                break;
            }
            lv->names = nn;
        }
        size_t nl = strlen(de->d_name);
        char *name = tdx_malloc(nl + 2);
        if (name == NULL) {
            rc = TDX_ENOMEM;
            break;
        }
        memcpy(name, de->d_name, nl);
        name[nl] = is_dir ? '/' : 0;
        name[nl + 1] = 0;
        lv->names[lv->n++] = name;
    }
    closedir(d);
    lv->path = tdx_strdup(path);
    if (rc == 0 && lv->path == NULL)
        rc = TDX_ENOMEM;
    if (rc != 0) {
        for (size_t j = 0; j < lv->n; j++)
            tdx_free(lv->names[j]);
        tdx_free(lv->names);
        tdx_free(lv->path);
        return rc;
    }
    if (lv->n) /* names may be NULL then */
        qsort(lv->names, lv->n, sizeof *lv->names, cmp_names);
    lv->dev = st.st_dev;
    lv->ino = st.st_ino;
    r->ndirs++;
    return 0;
}

static void pop_dir(tdx_reader *r)
{
    dirlevel *lv = &r->dirs[--r->ndirs];
    for (size_t j = 0; j < lv->n; j++)
        tdx_free(lv->names[j]);
    tdx_free(lv->names);
    tdx_free(lv->path);
    memset(lv, 0, sizeof *lv);
}

/*
 * Start reading a top-level file.  Returns 1 when the file is open, 0 when
 * it was skipped or rejected, TDX_ENOMEM.
 */
static int start_file(tdx_reader *r, const char *path, int walked)
{
    struct stat st;
    int is_stdin = strcmp(path, "-") == 0 && !walked;
    uint64_t index = r->prog.files++;
    int stat_rc = is_stdin ? fstat(0, &st) : stat(path, &st);
    if (stat_rc != 0) {
        reject(r, path, 0, 0, 0, "cannot open: %s", strerror(errno));
        return 0;
    }
    if (walked && !S_ISREG(st.st_mode)) {
        reject(r, path, 0, 0, 0, "not a regular file");
        return 0;
    }
    uint64_t size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
    uint64_t skip = 0;
    if (r->on_file &&
        r->on_file(r->ctx, path, index, size, is_stdin ? 0 : (int64_t)st.st_mtime, &skip)) {
        r->prog.skipped_files++;
        return 0;
    }
    int fd = is_stdin ? 0 : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        reject(r, path, 0, 0, 0, "cannot open: %s", strerror(errno));
        return 0;
    }
    if ((r->path = tdx_strdup(path)) == NULL) {
        if (!is_stdin)
            close(fd);
        return TDX_ENOMEM;
    }
    if (S_ISREG(st.st_mode))
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    r->fd = fd;
    r->is_stdin = is_stdin;
    r->fd_seekable = S_ISREG(st.st_mode) && lseek(fd, 0, SEEK_CUR) == 0;
    r->file_open = 1;
    r->file_leaf_done = 0;
    r->file_index = index;
    r->file_size = size;
    r->file_read = 0;
    r->record = 0;
    r->skip = skip;
    return 1;
}

/* Advance to the next top-level file: 1 opened, 0 no more inputs, <0 error. */
static int next_file(tdx_reader *r)
{
    int rc;
    for (;;) {
        if (r->ndirs > 0) {
            dirlevel *lv = &r->dirs[r->ndirs - 1];
            if (lv->i == lv->n) {
                pop_dir(r);
                continue;
            }
            const char *name = lv->names[lv->i++];
            size_t nl = strlen(name);
            char *path;
            if (name[nl - 1] == '/') {
                char *sub = tdx_strndup(name, nl - 1);
                if (sub == NULL)
                    return TDX_ENOMEM;
                path = join_path(lv->path, sub);
                tdx_free(sub);
                if (path == NULL)
                    return TDX_ENOMEM;
                rc = push_dir(r, path);
                tdx_free(path);
                if (rc < 0)
                    return rc;
                continue;
            }
            if ((path = join_path(lv->path, name)) == NULL)
                return TDX_ENOMEM;
            rc = start_file(r, path, 1);
            tdx_free(path);
            if (rc != 0)
                return rc;
            continue;
        }
        if (r->next_input == r->ninputs)
            return 0;
        const char *in = r->inputs[r->next_input++];
        struct stat st;
        if (strcmp(in, "-") != 0 && stat(in, &st) == 0 && S_ISDIR(st.st_mode)) {
            if ((rc = push_dir(r, in)) < 0)
                return rc;
            continue;
        }
        if ((rc = start_file(r, in, 0)) != 0)
            return rc;
    }
}

/* ---------------------------------------------------------------------- */
/* byte sources: the fd, and libarchive frames reading from below         */

static ssize_t fd_read(tdx_reader *r, void *dst, size_t n)
{
    for (;;) {
        ssize_t k = read(r->fd, dst, n);
        if (k >= 0) {
            r->file_read += (uint64_t)k;
            return k;
        }
        if (errno != EINTR)
            return -1;
    }
}

/*
 * Next bytes of frame `level`'s current entry, in place: block by block
 * (archive_read_data_block), because archive_read_data() drops what it had
 * decoded in a call that then fails, and a truncated stream should yield
 * every line before the damage.  Returns the length (0 at the end) or -1.
 */
static ssize_t entry_block(frame *f, const uint8_t **out)
{
    while (f->blk_len == 0) {
        const void *b;
        size_t len;
        la_int64_t off;
        int st = archive_read_data_block(f->a, &b, &len, &off);
        if (st == ARCHIVE_EOF)
            return 0;
        if (st != ARCHIVE_OK && st != ARCHIVE_WARN)
            return -1;
        if (st == ARCHIVE_WARN)
            f->warned = 1;
        f->blk = b;
        f->blk_len = len;
    }
    *out = f->blk;
    return (ssize_t)f->blk_len;
}

/* Read from level `level`: -1 is the file itself, else frame `level`'s entry. */
static ssize_t level_read(tdx_reader *r, int level, void *dst, size_t n)
{
    if (level < 0)
        return fd_read(r, dst, n);
    frame *f = &r->frames[level];
    const uint8_t *b;
    ssize_t k = entry_block(f, &b);
    if (k <= 0)
        return k;
    if ((size_t)k > n)
        k = (ssize_t)n;
    memcpy(dst, b, (size_t)k);
    f->blk += k;
    f->blk_len -= (size_t)k;
    return k;
}

static const char *level_error(tdx_reader *r, int level, int errnum)
{
    if (level < 0)
        return strerror(errnum);
    const char *m = archive_error_string(r->frames[level].a);
    return m ? m : "unknown error";
}

static la_ssize_t frame_read_cb(struct archive *a, void *ud, const void **out)
{
    frame *f = ud;
    if (f->replay_pos < f->replay_len) {
        *out = f->replay + f->replay_pos;
        size_t n = f->replay_len - f->replay_pos;
        f->replay_pos = f->replay_len;
        return (la_ssize_t)n;
    }
    ssize_t n;
    if (f->level == 0) {
        n = fd_read(f->r, f->rbuf, FRAME_BUF);
        *out = f->rbuf;
    } else {
        /* Hand the parent's block on without copying. */
        frame *parent = &f->r->frames[f->level - 1];
        const uint8_t *b = NULL;
        n = entry_block(parent, &b);
        if (n > 0) {
            parent->blk_len = 0;
            *out = b;
        }
    }
    if (n < 0) {
        int e = errno;
        archive_set_error(a, e ? e : EIO, "%s", level_error(f->r, f->level - 1, e));
        return -1;
    }
    if (n == 0)
        *out = f->rbuf;
    return n;
}

static la_int64_t frame_seek_cb(struct archive *a, void *ud, la_int64_t off, int whence)
{
    frame *f = ud;
    off_t o = lseek(f->r->fd, (off_t)off, whence);
    if (o < 0) {
        archive_set_error(a, errno, "cannot seek: %s", strerror(errno));
        return ARCHIVE_FATAL;
    }
    return (la_int64_t)o;
}

static la_int64_t frame_skip_cb(struct archive *a, void *ud, la_int64_t n)
{
    frame *f = ud;
    (void)a;
    off_t cur = lseek(f->r->fd, 0, SEEK_CUR);
    if (cur < 0 || lseek(f->r->fd, (off_t)n, SEEK_CUR) < 0)
        return 0;
    return n;
}

/* Names that libarchive would open as zip but that are documents in their own right. */
static int is_office_container(const char *name)
{
    static const char *const ext[] = {".docx", ".xlsx", ".pptx", ".odt", ".ods",
                                      ".odp",  ".epub", ".jar",  ".apk", ".ofd"};
    size_t nl = strlen(name);
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        size_t el = strlen(ext[i]);
        if (nl > el && strcasecmp(name + nl - el, ext[i]) == 0)
            return 1;
    }
    return 0;
}

/* Container magic at the start of a leaf: 1 compressed stream, 2 archive, 0 neither. */
static int container_kind(const uint8_t *p, size_t n)
{
    if (n >= 2 && p[0] == 0x1F && p[1] == 0x8B)
        return 1;
    if (n >= 3 && memcmp(p, "BZh", 3) == 0)
        return 1;
    if (n >= 6 && memcmp(p,
                         "\xFD"
                         "7zXZ\0",
                         6) == 0)
        return 1;
    if (n >= 4 && memcmp(p, "\x28\xB5\x2F\xFD", 4) == 0)
        return 1;
    if (n >= 4 && memcmp(p, "\x04\x22\x4D\x18", 4) == 0)
        return 1;
    if (n >= 4 && (memcmp(p, "PK\3\4", 4) == 0 || memcmp(p, "PK\5\6", 4) == 0 ||
                   memcmp(p, "PK\7\x08", 4) == 0))
        return 2;
    if (n >= 6 && memcmp(p, "7z\xBC\xAF\x27\x1C", 6) == 0)
        return 2;
    if (n >= 6 && memcmp(p, "Rar!\x1A\x07", 6) == 0)
        return 2;
    if (n >= 262 && memcmp(p + 257, "ustar", 5) == 0)
        return 2;
    if (n >= 8 && memcmp(p, "!<arch>\n", 8) == 0)
        return 2;
    if (n >= 6 &&
        (memcmp(p, "070701", 6) == 0 || memcmp(p, "070707", 6) == 0 || memcmp(p, "070702", 6) == 0))
        return 2;
    return 0;
}

/* The name of a compressed stream's content: "a.jsonl.gz" -> "a.jsonl", "a.tgz" -> "a.tar". */
static char *strip_compression(const char *name)
{
    static const char *const ext[][2] = {
        {".gz", ""},       {".gzip", ""},    {".bz2", ""},      {".xz", ""},
        {".zst", ""},      {".zstd", ""},    {".lz4", ""},      {".tgz", ".tar"},
        {".tbz2", ".tar"}, {".txz", ".tar"}, {".tzst", ".tar"},
    };
    size_t nl = strlen(name);
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        size_t el = strlen(ext[i][0]);
        if (nl > el && strcasecmp(name + nl - el, ext[i][0]) == 0) {
            size_t rl = strlen(ext[i][1]);
            char *s = tdx_malloc(nl - el + rl + 1);
            if (s) {
                memcpy(s, name, nl - el);
                memcpy(s + nl - el, ext[i][1], rl + 1);
            }
            return s;
        }
    }
    return tdx_strdup(name);
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/*
 * Open a libarchive reader over the current leaf, whose first bytes are
 * buf[0, end).  Returns 1 when the frame is pushed, 0 when the container
 * was rejected, TDX_ENOMEM.
 */
static int push_frame(tdx_reader *r)
{
    frame *f = &r->frames[r->nframes];
    memset(f, 0, sizeof *f);
    f->r = r;
    f->level = r->nframes;
    /* Over a leaf already cut short: its end is reported, the frame's own end is the same. */
    f->failed = r->leaf_failed;
    f->source = tdx_strdup(r->leaf_source);
    f->stem = strip_compression(r->leaf_name);
    f->rbuf = tdx_malloc(FRAME_BUF);
    f->a = archive_read_new();
    if (f->source == NULL || f->stem == NULL || f->rbuf == NULL || f->a == NULL) {
        frame_close(f);
        return TDX_ENOMEM;
    }
    /* Level 0 over a regular file may seek (7z and zip need it); others replay the sniff. */
    f->seekable = f->level == 0 && r->fd_seekable;
    if (f->seekable) {
        if (lseek(r->fd, 0, SEEK_SET) != 0)
            f->seekable = 0;
        else
            r->file_read = 0; /* the sniffed bytes will be read again */
    }
    if (!f->seekable) {
        f->replay = tdx_malloc(r->end ? r->end : 1);
        if (f->replay == NULL) {
            frame_close(f);
            return TDX_ENOMEM;
        }
        memcpy(f->replay, r->buf, r->end);
        f->replay_len = r->end;
    }
    struct archive *a = f->a;
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
    archive_read_support_format_zip(a);
    archive_read_support_format_7zip(a);
    archive_read_support_format_rar(a);
    archive_read_support_format_rar5(a);
    archive_read_support_format_cpio(a);
    archive_read_support_format_ar(a);
    archive_read_support_format_raw(a);
    archive_read_support_format_empty(a);
    archive_read_set_callback_data(a, f);
    archive_read_set_read_callback(a, frame_read_cb);
    if (f->seekable) {
        archive_read_set_seek_callback(a, frame_seek_cb);
        archive_read_set_skip_callback(a, frame_skip_cb);
    }
    r->nframes++;
    if (archive_read_open1(a) != ARCHIVE_OK) {
        const char *m = archive_error_string(a);
        reject(r, r->leaf_source, 0, 0, 0, "cannot read archive or compressed data: %s",
               m ? m : "unrecognized data");
        frame_close(&r->frames[--r->nframes]);
        return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------------- */
/* the leaf window                                                        */

static ssize_t leaf_read(tdx_reader *r, void *dst, size_t n)
{
    return level_read(r, r->nframes - 1, dst, n);
}

/*
 * Make room and read once more into the window.  Returns the bytes read, 0
 * at the end of the leaf or after a read error (rejected here; leaf_failed
 * set), or TDX_ENOMEM.
 */
static ssize_t fill(tdx_reader *r)
{
    if (r->beg > 0 && (r->beg == r->end || r->cap - r->end < READ_CHUNK)) {
        memmove(r->buf, r->buf + r->beg, r->end - r->beg);
        r->leaf_off += r->beg;
        r->end -= r->beg;
        r->scan = r->scan > r->beg ? r->scan - r->beg : 0;
        r->beg = 0;
    }
    if (r->cap - r->end < READ_CHUNK) {
        size_t ncap = r->cap * 2;
        while (ncap - r->end < READ_CHUNK)
            ncap *= 2;
        uint8_t *nb = tdx_realloc(r->buf, ncap + TDX_READER_SLACK);
        if (nb == NULL)
            return TDX_ENOMEM;
        r->buf = nb;
        r->cap = ncap;
    }
    ssize_t n = leaf_read(r, r->buf + r->end, READ_CHUNK);
    if (n < 0) {
        int e = errno, echo = 0;
        /* An error below the innermost frame was reported where it happened. */
        for (int i = 0; i < r->nframes; i++)
            echo |= r->frames[i].failed;
        if (r->nframes > 0)
            r->frames[r->nframes - 1].failed = 1;
        r->leaf_failed = 1;
        if (!echo)
            reject(r, r->leaf_source, 0, r->leaf_off + r->end, 0, "%s after byte %llu: %s",
                   r->nframes ? "truncated or corrupt data" : "read error",
                   (unsigned long long)(r->leaf_off + r->end), level_error(r, r->nframes - 1, e));
        n = 0;
    }
    if (n == 0) {
        r->leaf_eof = 1;
        if (r->nframes > 0 && r->frames[r->nframes - 1].warned && !r->leaf_failed) {
            /* The data was delivered, then found bad (a CRC mismatch): say so once. */
            const char *m = archive_error_string(r->frames[r->nframes - 1].a);
            reject(r, r->leaf_source, 0, r->leaf_off + r->end, 0,
                   "corrupt data (documents before this point may be damaged): %s",
                   m ? m : "checksum mismatch");
            r->frames[r->nframes - 1].warned = 0;
        }
    }
    r->end += (size_t)n;
    r->buf[r->end] = 0;
    return n;
}

/* ---------------------------------------------------------------------- */
/* format and encoding sniffing                                           */

static int ends_with_ci(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

static int format_by_name(const char *name)
{
    static const struct {
        const char *ext;
        int fmt;
    } map[] = {
        {".jsonl", FMT_JSONL}, {".ndjson", FMT_JSONL}, {".jsonlines", FMT_JSONL},
        {".html", FMT_HTML},   {".htm", FMT_HTML},     {".xhtml", FMT_HTML},
        {".shtml", FMT_HTML},  {".txt", FMT_TEXT},     {".text", FMT_TEXT},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (ends_with_ci(name, map[i].ext))
            return map[i].fmt;
    return FMT_NONE;
}

static int has_ci(const uint8_t *p, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++)
        if (strncasecmp((const char *)p + i, needle, m) == 0)
            return 1;
    return 0;
}

/*
 * Sniff the format from content: '{' starts JSON Lines, markup that names
 * an HTML element is HTML, text without control bytes is text.  Binary data
 * (NUL or other control bytes in the sample) is no format we read.
 */
static int format_by_content(const uint8_t *p, size_t n, const char **why)
{
    size_t i = 0;
    const char *bom_enc;
    size_t bom = tdx_reader_charset_bom(p, n, &bom_enc);
    if (bom && bom_enc[0] == 'U' && strcmp(bom_enc, "UTF-8") != 0) {
        /* UTF-16 or UTF-32: NUL bytes are expected; judge by the first character. */
        size_t lo = bom_enc[4] == '1' ? 2 : 4, at = bom;
        if (strstr(bom_enc, "BE"))
            at += lo - 1;
        uint8_t c = at < n ? p[at] : 0;
        return c == '{' ? FMT_JSONL : c == '<' ? FMT_HTML : FMT_TEXT;
    }
    if (bom == 3)
        i = 3;
    size_t ctl = 0;
    for (size_t j = 0; j < n; j++)
        if (p[j] < 0x20 && p[j] != '\n' && p[j] != '\r' && p[j] != '\t' && p[j] != '\f' &&
            p[j] != 0x1B && p[j] != '\v')
            ctl++;
    if (ctl > 0) {
        *why = memchr(p, 0, n) ? "binary data (NUL bytes)" : "binary data (control bytes)";
        return FMT_NONE;
    }
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
        i++;
    if (i < n && p[i] == '{')
        return FMT_JSONL;
    size_t look = n - i < 4096 ? n - i : 4096;
    if (i < n && p[i] == '<') {
        static const char *const tags[] = {"<!doctype html", "<html",  "<head", "<body",
                                           "<meta",          "<title", "<div",  "<p>",
                                           "<table",         "<br",    "<span", "<a "};
        for (size_t t = 0; t < sizeof tags / sizeof tags[0]; t++)
            if (has_ci(p + i, look, tags[t]))
                return FMT_HTML;
        *why = "markup that is not HTML";
        return FMT_NONE;
    }
    if (i < n && p[i] == '[') {
        *why = "a JSON array (expected JSON Lines: one object per line)";
        return FMT_NONE;
    }
    if (n >= 4 && memcmp(p, "%PDF", 4) == 0) {
        *why = "PDF";
        return FMT_NONE;
    }
    return FMT_TEXT;
}

static int is_wide_encoding(const char *name)
{
    return strncmp(name, "UTF-16", 6) == 0 || strncmp(name, "UTF-32", 6) == 0;
}

/*
 * Decide the encoding of a JSON Lines leaf from its first bytes (after a
 * BOM, which is skipped).  Returns 0, or 1 when the leaf was rejected.
 */
static int jsonl_encoding(tdx_reader *r)
{
    const char *bom_enc = NULL;
    size_t bom = tdx_reader_charset_bom(r->buf, r->end, &bom_enc);
    r->leaf_enc_fixed = 1;
    if (r->enc_forced) {
        r->leaf_enc = r->enc_forced;
        if (bom && strcmp(bom_enc, r->enc_forced) == 0)
            r->beg = bom;
    } else if (bom) {
        r->leaf_enc = bom_enc;
        r->beg = bom;
    } else {
        r->leaf_enc_fixed = 0;
        r->leaf_enc = "UTF-8";
        size_t valid = 0;
        int utf8 = tdx_reader_charset_looks_utf8(r->buf, r->end, !r->leaf_eof, &valid);
        r->leaf_utf8_seen = utf8 && valid > 0;
        if (!utf8) {
            const char *d = tdx_reader_charset_detect(r->cs, r->buf, r->end, 0);
            if (d)
                r->leaf_enc = d;
        }
    }
    if (is_wide_encoding(r->leaf_enc)) {
        reject(r, r->leaf_source, 0, 0, 0,
               "%s JSON Lines are not supported (convert the file to UTF-8)", r->leaf_enc);
        return 1;
    }
    r->scan = r->beg;
    return 0;
}

/*
 * Take the next leaf: the file itself, or the next regular entry of the
 * innermost archive.  Returns 1 with the leaf window primed, 0 when the file
 * has no more leaves, TDX_ENOMEM.
 */
static int start_leaf(tdx_reader *r, const char *source, const char *name);

static int next_leaf(tdx_reader *r)
{
    for (;;) {
        if (r->nframes == 0) {
            if (r->file_leaf_done)
                return 0;
            r->file_leaf_done = 1;
            int rc = start_leaf(r, r->path, base_name(r->path));
            if (rc != 0)
                return rc;
            continue;
        }
        frame *f = &r->frames[r->nframes - 1];
        struct archive_entry *e;
        int st = archive_read_next_header(f->a, &e);
        if (st == ARCHIVE_EOF || st == ARCHIVE_FATAL || st == ARCHIVE_RETRY) {
            int echo = 0;
            for (int i = 0; i < r->nframes; i++)
                echo |= r->frames[i].failed;
            if (st != ARCHIVE_EOF && !echo) {
                const char *m = archive_error_string(f->a);
                reject(r, f->source, 0, 0, 0, "corrupt archive: %s", m ? m : "unreadable header");
            }
            frame_close(f);
            r->nframes--;
            continue;
        }
        f->blk_len = 0;
        f->warned = 0;
        /* Directories, links, devices; a hard link repeats a member already read. */
        if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e) != NULL)
            continue;
        f->raw = archive_format(f->a) == ARCHIVE_FORMAT_RAW;
        int rc;
        if (f->raw) {
            rc = start_leaf(r, f->source, f->stem);
        } else {
            const char *mn = archive_entry_pathname_utf8(e);
            if (mn == NULL)
                mn = archive_entry_pathname(e);
            if (mn == NULL)
                mn = "?";
            tdx_buf_reset(&r->tmp);
            if (tdx_buf_puts(&r->tmp, f->source) || tdx_buf_putc(&r->tmp, '!'))
                return TDX_ENOMEM;
            /* Member names may be in a legacy charset; keys must be UTF-8. */
            if (tdx_reader_utf8_check((const uint8_t *)mn, strlen(mn)) == strlen(mn)) {
                if (tdx_buf_puts(&r->tmp, mn))
                    return TDX_ENOMEM;
            } else {
                size_t inv = 0, first = 0;
                size_t at = r->tmp.len;
                rc = tdx_reader_charset_convert(r->cs, "GB18030", (const uint8_t *)mn, strlen(mn),
                                                &r->tmp, &inv, &first);
                if (rc == TDX_ENOMEM)
                    return rc;
                if (rc != 0 || inv > 0) {
                    r->tmp.len = at;
                    if (tdx_reader_utf8_repair((const uint8_t *)mn, strlen(mn), &r->tmp) < 0)
                        return TDX_ENOMEM;
                }
            }
            char *src = tdx_strdup((const char *)r->tmp.p);
            if (src == NULL)
                return TDX_ENOMEM;
            rc = start_leaf(r, src, base_name(src));
            tdx_free(src);
        }
        if (rc != 0)
            return rc;
    }
}

static int start_leaf(tdx_reader *r, const char *source, const char *name)
{
    leaf_clear(r);
    r->leaf_source = tdx_strdup(source);
    r->leaf_name = tdx_strdup(name);
    if (r->leaf_source == NULL || r->leaf_name == NULL)
        return TDX_ENOMEM;
    r->leaf_off = 0;
    r->leaf_eof = 0;
    r->leaf_failed = 0;
    r->leaf_utf8_seen = 0;
    r->line = 0;
    while (!r->leaf_eof && r->end < SNIFF_BYTES) {
        if (fill(r) == TDX_ENOMEM)
            return TDX_ENOMEM;
    }
    if (r->end == 0) {
        if (!r->leaf_failed)
            reject(r, r->leaf_source, 0, 0, 0, "empty file");
        return 0;
    }
    int kind = container_kind(r->buf, r->end);
    if (kind && !is_office_container(name)) {
        if (r->nframes == MAX_FRAMES) {
            reject(r, r->leaf_source, 0, 0, 0,
                   "archive nested more than %d levels deep, not opened", MAX_FRAMES);
            return 0;
        }
        int rc = push_frame(r);
        leaf_clear(r);
        return rc < 0 ? rc : 0;
    }
    const char *why = "unrecognized content";
    int fmt = r->format_forced;
    if (fmt == FMT_NONE && !kind)
        fmt = format_by_name(name);
    if (fmt == FMT_NONE && !kind)
        fmt = format_by_content(r->buf, r->end, &why);
    if (fmt == FMT_NONE) {
        if (kind)
            why = "an office document or other zip-based file";
        reject(r, r->leaf_source, 0, 0, 0, "unknown format: %s", why);
        return 0;
    }
    r->leaf_fmt = fmt;
    if (fmt == FMT_JSONL) {
        if (jsonl_encoding(r))
            return 0;
        r->leaf = LEAF_JSONL;
    } else {
        r->leaf = LEAF_WHOLE;
    }
    return 1;
}

/* ---------------------------------------------------------------------- */
/* building documents                                                     */

static void doc_base(tdx_reader *r, tdx_doc *out, uint64_t record, uint64_t offset)
{
    memset(out, 0, sizeof *out);
    out->source = r->leaf_source;
    out->file_index = r->file_index;
    out->record = record;
    out->offset = offset;
    out->format = format_names[r->leaf_fmt];
    out->title = "";
    out->date = "";
    out->url = "";
}

static void set_date(tdx_reader *r, tdx_doc *out, const char *d, size_t n)
{
    if (n == 0) {
        out->date = "";
        return;
    }
    if (tdx_reader_date_parse(d, n, r->date_iso)) {
        out->date = r->date_iso;
        out->date_parsed = 1;
    } else {
        out->date = d;
        out->date_parsed = 0;
        r->prog.dates_unparsed++;
    }
}

static int is_blank(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
            return 0;
    return 1;
}

static int has_high_bit(const uint8_t *p, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w & 0x8080808080808080ULL)
            return 1;
    }
    for (; i < n; i++)
        if (p[i] & 0x80)
            return 1;
    return 0;
}

/*
 * Bring one record to well-formed UTF-8.  *pp and *pn are updated to point at
 * the UTF-8 bytes (in place or in r->conv, with sentinel and slack);
 * *out_enc and *out_invalid describe what was done.  offset is the source
 * offset of the record, for the warning.  Returns 0 or TDX_ENOMEM.
 */
static int to_utf8(tdx_reader *r, const uint8_t **pp, size_t *pn, uint64_t offset, const char *enc,
                   int fixed, int html, const char **out_enc, size_t *out_invalid)
{
    const uint8_t *p = *pp;
    size_t n = *pn, inv = 0, first_bad = 0;
    *out_invalid = 0;
    *out_enc = enc;
    if (strcmp(enc, "UTF-8") == 0) {
        size_t bad = tdx_reader_utf8_check(p, n);
        if (bad == n) {
            /* Real UTF-8 after an ASCII start: later bad bytes are damage, not a charset. */
            if (!r->leaf_utf8_seen && !fixed && has_high_bit(p, n))
                r->leaf_utf8_seen = 1;
            return 0;
        }
        /*
         * Bad bytes in a leaf that has shown real UTF-8 are damage.  In a
         * leaf that was pure ASCII so far they may be the first line of a
         * legacy encoding: detect, and keep the answer for the lines after.
         */
        if (!fixed && !r->leaf_utf8_seen && !tdx_reader_charset_looks_utf8(p, n, 0, NULL)) {
            const char *d = tdx_reader_charset_detect(r->cs, p, n, html);
            if (d && strcmp(d, "UTF-8") != 0) {
                enc = d;
                *out_enc = d;
                if (r->leaf == LEAF_JSONL)
                    r->leaf_enc = d;
                goto convert;
            }
        }
        tdx_buf_reset(&r->conv);
        long k = tdx_reader_utf8_repair(p, n, &r->conv);
        if (k < 0)
            return TDX_ENOMEM;
        inv = (size_t)k;
        first_bad = bad;
        goto done;
    }
convert:
    tdx_buf_reset(&r->conv);
    {
        int rc = tdx_reader_charset_decode(r->cs, enc, p, n, &r->conv, &inv, &first_bad, out_enc);
        if (rc == TDX_ENOMEM)
            return rc;
        if (rc != 0) {
            /* No converter (cannot happen for canonical names); keep the bytes repaired. */
            tdx_buf_reset(&r->conv);
            long k = tdx_reader_utf8_repair(p, n, &r->conv);
            if (k < 0)
                return TDX_ENOMEM;
            *out_enc = "UTF-8";
            inv = (size_t)k;
        }
    }
done:
    if (tdx_buf_grow(&r->conv, TDX_READER_SLACK) != 0)
        return TDX_ENOMEM;
    memset(r->conv.p + r->conv.len, 0, TDX_READER_SLACK);
    *pp = r->conv.p;
    *pn = r->conv.len;
    *out_invalid = inv;
    r->first_bad = offset + first_bad;
    return 0;
}

/* The warning for a record returned with repairs (a rejected one says it in its reason). */
static void warn_repaired(tdx_reader *r, uint64_t line, const char *enc, size_t inv)
{
    if (inv > 0)
        reject(r, r->leaf_source, line, r->first_bad, 1,
               "%zu invalid %s byte sequence%s replaced by U+FFFD (first at byte %llu)", inv, enc,
               inv == 1 ? "" : "s", (unsigned long long)r->first_bad);
}

/*
 * Add a metadata field; a repeated key keeps its first position and takes
 * the last value (what jansson does).  Past a few fields, repeats are found
 * through a small hash table of positions, so a record with a million keys
 * stays linear.
 */
#define META_LINEAR 16

static int push_meta(tdx_reader *r, const char *k, size_t kn, const char *v, size_t vn)
{
    uint32_t *slot = NULL;
    if (r->nmeta < META_LINEAR) {
        for (size_t i = 0; i < r->nmeta; i++)
            if (strcmp(r->meta[i].key, k) == 0) {
                r->meta[i].val = v;
                r->meta[i].val_len = vn;
                return 0;
            }
    } else {
        /* (Re)build on entering hash mode in each record, and when half full. */
        if (r->nmeta == META_LINEAR || r->nmeta * 2 >= r->hcap) {
            size_t cap = r->nmeta == META_LINEAR ? 64 : r->hcap * 2;
            uint32_t *h = r->htab;
            if (cap != r->hcap && (h = tdx_reallocarray(r->htab, cap, sizeof *h)) == NULL)
                return TDX_ENOMEM;
            r->htab = h;
            r->hcap = cap;
            memset(h, 0xFF, cap * sizeof *h);
            for (size_t i = 0; i < r->nmeta; i++) {
                const char *mk = r->meta[i].key;
                size_t j = tdx_hash64(mk, strlen(mk)) & (cap - 1);
                while (h[j] != UINT32_MAX)
                    j = (j + 1) & (cap - 1);
                h[j] = (uint32_t)i;
            }
        }
        size_t j = tdx_hash64(k, kn) & (r->hcap - 1);
        for (; r->htab[j] != UINT32_MAX; j = (j + 1) & (r->hcap - 1))
            if (strcmp(r->meta[r->htab[j]].key, k) == 0) {
                r->meta[r->htab[j]].val = v;
                r->meta[r->htab[j]].val_len = vn;
                return 0;
            }
        slot = &r->htab[j];
    }
    if (r->nmeta == r->capmeta || r->nmeta >= UINT32_MAX - 1) {
        size_t cap = r->capmeta ? r->capmeta * 2 : 16;
        tdx_kv *nm = tdx_reallocarray(r->meta, cap, sizeof *nm);
        if (nm == NULL)
            return TDX_ENOMEM;
        r->meta = nm;
        r->capmeta = cap;
    }
    if (slot)
        *slot = (uint32_t)r->nmeta;
    r->meta[r->nmeta].key = k;
    r->meta[r->nmeta].val = v;
    r->meta[r->nmeta].val_len = vn;
    r->nmeta++;
    return 0;
}

/* One JSON Lines record.  Returns 1 (document in *out), 0 (rejected), TDX_ENOMEM. */
static int jsonl_record(tdx_reader *r, uint8_t *line, size_t len, uint64_t off, uint64_t record,
                        tdx_doc *out)
{
    const uint8_t *p = line;
    size_t n = len, invalid;
    const char *enc;
    int rc = to_utf8(r, &p, &n, off, r->leaf_enc, r->leaf_enc_fixed, 0, &enc, &invalid);
    if (rc < 0)
        return rc;
    int converted = p != line;
    rc = tdx_reader_json_parse(&r->jp, (uint8_t *)p, n);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        if (invalid > 0)
            reject(r, r->leaf_source, r->line, off, 0,
                   "malformed JSON: %s (at byte %zu of the line after replacing %zu invalid %s "
                   "sequence%s by U+FFFD)",
                   r->jp.err, r->jp.err_pos, invalid, enc, invalid == 1 ? "" : "s");
        else if (converted && strcmp(enc, "UTF-8") != 0)
            reject(r, r->leaf_source, r->line, off, 0,
                   "malformed JSON: %s (at byte %zu of the line decoded from %s)", r->jp.err,
                   r->jp.err_pos, enc);
        else
            reject(r, r->leaf_source, r->line, off + r->jp.err_pos, 0,
                   "malformed JSON: %s (at byte %zu of the line)", r->jp.err, r->jp.err_pos);
        return 0;
    }
    const tdx_jmember *f[NFIELDS] = {0};
    r->nmeta = 0;
    for (size_t i = 0; i < r->jp.n; i++) {
        const tdx_jmember *m = &r->jp.m[i];
        int t;
        for (t = 0; t < NFIELDS; t++)
            if (m->key_len == r->fmap_len[t] && memcmp(m->key, r->fmap[t], m->key_len) == 0)
                break;
        if (t < NFIELDS) {
            f[t] = m->type == TDX_JNULL || m->val == NULL ? NULL : m;
            continue;
        }
        if (m->val == NULL || m->type == TDX_JNULL)
            continue;
        if ((rc = push_meta(r, m->key, m->key_len, m->val, m->val_len)) < 0)
            return rc;
    }
    doc_base(r, out, record, off);
    out->line = r->line;
    out->encoding = enc;
    out->invalid = invalid;
    if (f[F_TEXT]) {
        out->text = (const uint8_t *)f[F_TEXT]->val;
        out->text_len = f[F_TEXT]->val_len;
    } else if (f[F_HTML]) {
        tdx_buf_reset(&r->text);
        tdx_buf_reset(&r->title);
        tdx_buf_reset(&r->datebuf);
        if (tdx_reader_html_extract((const uint8_t *)f[F_HTML]->val, f[F_HTML]->val_len, &r->text,
                                    &r->title, &r->datebuf) != 0 ||
            tdx_buf_putc(&r->text, 0) != 0)
            return TDX_ENOMEM;
        r->text.len--;
        out->text = r->text.p;
        out->text_len = r->text.len;
        if (!f[F_TITLE] && r->title.len)
            out->title = (const char *)r->title.p;
    } else {
        reject(r, r->leaf_source, r->line, off, 0, "no text: the record has no '%s' or '%s' field",
               r->fmap[F_TEXT], r->fmap[F_HTML]);
        return 0;
    }
    warn_repaired(r, r->line, enc, invalid);
    if (f[F_TITLE])
        out->title = f[F_TITLE]->val;
    if (f[F_URL])
        out->url = f[F_URL]->val;
    if (f[F_DATE])
        set_date(r, out, f[F_DATE]->val, f[F_DATE]->val_len);
    if (f[F_ID] && f[F_ID]->val_len > 0) {
        out->key = f[F_ID]->val;
    } else {
        tdx_buf_reset(&r->key);
        if (tdx_buf_printf(&r->key, "%s:%llu", r->leaf_source, (unsigned long long)r->line))
            return TDX_ENOMEM;
        out->key = (const char *)r->key.p;
    }
    out->meta = r->meta;
    out->nmeta = r->nmeta;
    return 1;
}

/* Next document from a JSON Lines leaf: 1, 0 at its end, TDX_ENOMEM. */
static int jsonl_step(tdx_reader *r, tdx_doc *out)
{
    for (;;) {
        uint8_t *nl = r->scan < r->end ? memchr(r->buf + r->scan, '\n', r->end - r->scan) : NULL;
        if (r->discard) {
            if (nl == NULL) {
                r->beg = r->scan = r->end;
                if (r->leaf_eof)
                    return 0;
                if (fill(r) == TDX_ENOMEM)
                    return TDX_ENOMEM;
                continue;
            }
            r->beg = r->scan = (size_t)(nl - r->buf) + 1;
            r->discard = 0;
            continue;
        }
        size_t lb = r->beg, le;
        if (nl == NULL) {
            if (r->end - r->beg > r->max_doc) {
                r->line++;
                uint64_t rec = r->record++;
                if (r->skip > 0) {
                    r->skip--;
                    r->prog.skipped_records++;
                } else {
                    (void)rec;
                    reject(r, r->leaf_source, r->line, r->leaf_off + r->beg, 0,
                           "record longer than the limit of %zu bytes (max-doc-bytes), skipped",
                           r->max_doc);
                }
                r->discard = 1;
                r->beg = r->scan = r->end;
                continue;
            }
            if (r->leaf_eof) {
                if (r->beg == r->end)
                    return 0;
                if (r->leaf_failed) {
                    /* A truncated stream: the partial last line is part of that reject. */
                    r->beg = r->end;
                    return 0;
                }
                le = r->end;
                r->beg = r->scan = r->end;
            } else {
                r->scan = r->end;
                if (fill(r) == TDX_ENOMEM)
                    return TDX_ENOMEM;
                continue;
            }
        } else {
            le = (size_t)(nl - r->buf);
            r->beg = r->scan = le + 1;
        }
        r->line++;
        size_t len = le - lb;
        if (is_blank(r->buf + lb, len))
            continue;
        uint64_t rec = r->record++;
        if (r->skip > 0) {
            r->skip--;
            r->prog.skipped_records++;
            continue;
        }
        uint64_t off = r->leaf_off + lb;
        if (len > r->max_doc) {
            reject(r, r->leaf_source, r->line, off, 0,
                   "record of %zu bytes is longer than the limit of %zu bytes (max-doc-bytes), "
                   "skipped",
                   len, r->max_doc);
            continue;
        }
        /* The parser needs a sentinel below 0x20 right after the line. */
        r->buf[le] = 0;
        int rc = jsonl_record(r, r->buf + lb, len, off, rec, out);
        if (rc != 0)
            return rc;
    }
}

/* A whole-leaf document (HTML or text).  Returns 1, 0 (rejected or skipped), TDX_ENOMEM. */
static int whole_step(tdx_reader *r, tdx_doc *out)
{
    while (!r->leaf_eof && r->end <= r->max_doc) {
        if (fill(r) == TDX_ENOMEM)
            return TDX_ENOMEM;
    }
    r->leaf = LEAF_NONE;
    if (r->leaf_failed)
        return 0; /* truncated: reported by fill() */
    uint64_t rec = r->record++;
    if (r->skip > 0) {
        r->skip--;
        r->prog.skipped_records++;
        return 0;
    }
    if (r->end > r->max_doc) {
        reject(r, r->leaf_source, 0, 0, 0,
               "document longer than the limit of %zu bytes (max-doc-bytes), skipped", r->max_doc);
        return 0;
    }
    const uint8_t *p = r->buf;
    size_t n = r->end;
    const char *bom_enc = NULL, *enc = NULL;
    size_t bom = tdx_reader_charset_bom(p, n, &bom_enc);
    int html = r->leaf_fmt == FMT_HTML, declared = 0;
    if (r->enc_forced) {
        enc = r->enc_forced;
        if (bom && strcmp(bom_enc, enc) != 0)
            bom = 0;
    } else if (bom) {
        enc = bom_enc;
    } else {
        const uint8_t *lp;
        size_t ll = html ? tdx_reader_html_meta_charset(p, n, &lp) : 0;
        enc = ll ? tdx_reader_charset_canon(r->cs, (const char *)lp, ll) : NULL;
        declared = enc != NULL;
        if (enc == NULL) {
            enc = "UTF-8";
            if (tdx_reader_utf8_check(p, n) != n && !tdx_reader_charset_looks_utf8(p, n, 0, NULL)) {
                const char *d = tdx_reader_charset_detect(r->cs, p, n, html);
                if (d)
                    enc = d;
            }
        }
    }
    p += bom;
    n -= bom;
    if (!is_wide_encoding(enc)) {
        const uint8_t *z = memchr(p, 0, n);
        if (z) {
            reject(r, r->leaf_source, 0, bom + (uint64_t)(z - p), 0,
                   "NUL byte at byte %llu: not a text document",
                   (unsigned long long)(bom + (uint64_t)(z - p)));
            return 0;
        }
    }
    size_t invalid;
    const char *used;
    const uint8_t *q = p;
    size_t qn = n;
    int rc = to_utf8(r, &q, &qn, bom, enc, 1, html, &used, &invalid);
    if (rc < 0)
        return rc;
    if (declared && invalid > 0) {
        /* Saved pages often declare one charset and hold another: trust the bytes. */
        const char *d = tdx_reader_charset_detect(r->cs, p, n, html);
        if (d && strcmp(d, enc) != 0) {
            size_t inv2;
            const char *used2;
            const uint8_t *q2 = p;
            size_t qn2 = n;
            if ((rc = to_utf8(r, &q2, &qn2, bom, d, 1, html, &used2, &inv2)) < 0)
                return rc;
            if (inv2 < invalid) {
                q = q2, qn = qn2, used = used2, invalid = inv2;
            } else {
                q = p, qn = n;
                if ((rc = to_utf8(r, &q, &qn, bom, enc, 1, html, &used, &invalid)) < 0)
                    return rc;
            }
        }
    }
    p = q;
    n = qn;
    if (is_wide_encoding(used) && memchr(p, 0, n)) {
        reject(r, r->leaf_source, 0, 0, 0, "NUL character in the text: not a text document");
        return 0;
    }
    warn_repaired(r, 0, used, invalid);
    doc_base(r, out, rec, 0);
    out->encoding = used;
    out->invalid = invalid;
    out->key = r->leaf_source;
    if (html) {
        tdx_buf_reset(&r->text);
        tdx_buf_reset(&r->title);
        tdx_buf_reset(&r->datebuf);
        if (tdx_reader_html_extract(p, n, &r->text, &r->title, &r->datebuf) != 0 ||
            tdx_buf_putc(&r->text, 0) != 0 || tdx_buf_putc(&r->title, 0) != 0 ||
            tdx_buf_putc(&r->datebuf, 0) != 0)
            return TDX_ENOMEM;
        r->text.len--;
        r->title.len--;
        r->datebuf.len--;
        out->text = r->text.p;
        out->text_len = r->text.len;
        out->title = (const char *)r->title.p;
        set_date(r, out, (const char *)r->datebuf.p, r->datebuf.len);
    } else {
        /* p is NUL-terminated: the window's sentinel or r->conv's terminator. */
        out->text = p;
        out->text_len = n;
    }
    return 1;
}

int tdx_reader_next(tdx_reader *r, tdx_doc *out, tdx_err *err)
{
    if (r == NULL || out == NULL)
        return tdx_err_set(err, TDX_EINVAL, "tdx_reader_next: invalid arguments");
    int rc;
    for (;;) {
        if (!r->file_open) {
            rc = next_file(r);
            if (rc == 0)
                return 0;
            if (rc < 0)
                goto fail;
            continue;
        }
        if (r->leaf == LEAF_NONE) {
            rc = next_leaf(r);
            if (rc < 0)
                goto fail;
            if (rc == 0) {
                /* Everything of this file is out: say so before moving on. */
                if (r->on_file_done)
                    r->on_file_done(r->ctx, r->path, r->record);
                file_close(r);
                continue;
            }
        }
        rc = r->leaf == LEAF_JSONL ? jsonl_step(r, out) : whole_step(r, out);
        if (rc < 0)
            goto fail;
        if (rc == 1) {
            r->prog.docs++;
            return 1;
        }
        if (r->leaf == LEAF_JSONL)
            r->leaf = LEAF_NONE;
    }
fail:
    return tdx_err_set(err, rc, "%s", rc == TDX_ENOMEM ? "out of memory" : tdx_strerror(rc));
}
