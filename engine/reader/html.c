/*
 * html.c - the visible text of an HTML page, by an HTML5 parser (gumbo).
 *
 * Part of the reader stage: saved pages, and JSON Lines records that only
 * carry an `html` field, become documents here.  The page is parsed as a
 * browser would (entities and numeric references decoded, broken markup
 * repaired by the HTML5 tree-building rules), then the tree is walked:
 *
 *   - script, style, template, noscript, elements with `hidden`, and the
 *     head (but for <title>) produce no text;
 *   - block elements and <br> end a line, table cells are separated by a
 *     tab; inline elements join their text, so 深圳<span>大学</span> stays
 *     one name;
 *   - whitespace runs (including &nbsp;) collapse to one space, except in
 *     <pre> and <textarea>.
 *
 * The walk uses an explicit stack: tag soup nests thousands deep.
 * Threading: pure function of its input; gumbo keeps no global state.
 */
#include "reader_int.h"

#include "../common/alloc.h"

#include <gumbo.h>
#include <string.h>
#include <strings.h>

enum { BRK_NONE, BRK_SPACE, BRK_TAB, BRK_LINE };

typedef struct emit {
    tdx_buf *out;
    int pending; /* strongest separator seen since the last character */
    int failed;
} emit;

static void put_sep(emit *e)
{
    tdx_buf *b = e->out;
    if (e->pending == BRK_NONE || b->len == 0) {
        e->pending = BRK_NONE;
        return;
    }
    uint8_t last = b->p[b->len - 1];
    uint8_t c = e->pending == BRK_LINE ? '\n' : e->pending == BRK_TAB ? '\t' : ' ';
    if (last == '\n' || (last == '\t' && c != '\n')) {
        e->pending = BRK_NONE;
        return;
    }
    if (last == ' ' || last == '\t') /* a tab or newline replaces a trailing space */
        b->len--;
    if (tdx_buf_putc(b, c) != 0)
        e->failed = 1;
    e->pending = BRK_NONE;
}

static void sep(emit *e, int kind)
{
    if (kind > e->pending)
        e->pending = kind;
}

/* Append text, collapsing whitespace unless pre. */
static void put_text(emit *e, const char *s, size_t n, int pre)
{
    const uint8_t *p = (const uint8_t *)s, *end = p + n;
    if (pre) {
        put_sep(e);
        if (tdx_buf_append(e->out, p, n) != 0)
            e->failed = 1;
        return;
    }
    while (p < end) {
        const uint8_t *q = p;
        while (q < end && *q != ' ' && *q != '\t' && *q != '\n' && *q != '\r' && *q != '\f' &&
               !(q[0] == 0xC2 && q + 1 < end && q[1] == 0xA0))
            q++;
        if (q > p) {
            put_sep(e);
            if (tdx_buf_append(e->out, p, (size_t)(q - p)) != 0)
                e->failed = 1;
        }
        if (q < end) {
            sep(e, BRK_SPACE);
            q += *q == 0xC2 ? 2 : 1;
        }
        p = q;
    }
}

static int is_block(GumboTag t)
{
    switch (t) {
    case GUMBO_TAG_ADDRESS:
    case GUMBO_TAG_ARTICLE:
    case GUMBO_TAG_ASIDE:
    case GUMBO_TAG_BLOCKQUOTE:
    case GUMBO_TAG_BODY:
    case GUMBO_TAG_CAPTION:
    case GUMBO_TAG_CENTER:
    case GUMBO_TAG_DD:
    case GUMBO_TAG_DETAILS:
    case GUMBO_TAG_DIR:
    case GUMBO_TAG_DIV:
    case GUMBO_TAG_DL:
    case GUMBO_TAG_DT:
    case GUMBO_TAG_FIELDSET:
    case GUMBO_TAG_FIGCAPTION:
    case GUMBO_TAG_FIGURE:
    case GUMBO_TAG_FOOTER:
    case GUMBO_TAG_FORM:
    case GUMBO_TAG_FRAMESET:
    case GUMBO_TAG_H1:
    case GUMBO_TAG_H2:
    case GUMBO_TAG_H3:
    case GUMBO_TAG_H4:
    case GUMBO_TAG_H5:
    case GUMBO_TAG_H6:
    case GUMBO_TAG_HEADER:
    case GUMBO_TAG_HGROUP:
    case GUMBO_TAG_HR:
    case GUMBO_TAG_HTML:
    case GUMBO_TAG_LEGEND:
    case GUMBO_TAG_LI:
    case GUMBO_TAG_MAIN:
    case GUMBO_TAG_MENU:
    case GUMBO_TAG_NAV:
    case GUMBO_TAG_OL:
    case GUMBO_TAG_OPTION:
    case GUMBO_TAG_P:
    case GUMBO_TAG_PRE:
    case GUMBO_TAG_SECTION:
    case GUMBO_TAG_SELECT:
    case GUMBO_TAG_SUMMARY:
    case GUMBO_TAG_TABLE:
    case GUMBO_TAG_TBODY:
    case GUMBO_TAG_TEXTAREA:
    case GUMBO_TAG_TFOOT:
    case GUMBO_TAG_THEAD:
    case GUMBO_TAG_TR:
    case GUMBO_TAG_UL:
        return 1;
    default:
        return 0;
    }
}

static int is_hidden(const GumboElement *el)
{
    switch (el->tag) {
    case GUMBO_TAG_SCRIPT:
    case GUMBO_TAG_STYLE:
    case GUMBO_TAG_TEMPLATE:
    case GUMBO_TAG_NOSCRIPT:
    case GUMBO_TAG_HEAD:
    case GUMBO_TAG_IFRAME:
    case GUMBO_TAG_OBJECT:
        return 1;
    default:
        return gumbo_get_attribute(&el->attributes, "hidden") != NULL;
    }
}

/* Text of a subtree, whitespace collapsed (for <title>). */
static void collect_text(const GumboNode *n, emit *e)
{
    const GumboVector *kids = &n->v.element.children;
    for (unsigned i = 0; i < kids->length; i++) {
        const GumboNode *c = kids->data[i];
        if (c->type == GUMBO_NODE_TEXT || c->type == GUMBO_NODE_WHITESPACE ||
            c->type == GUMBO_NODE_CDATA)
            put_text(e, c->v.text.text, strlen(c->v.text.text), 0);
        else if (c->type == GUMBO_NODE_ELEMENT)
            collect_text(c, e);
    }
}

static const GumboNode *find_tag(const GumboNode *n, GumboTag tag, int depth)
{
    if (n->type != GUMBO_NODE_ELEMENT && n->type != GUMBO_NODE_DOCUMENT)
        return NULL;
    if (n->type == GUMBO_NODE_ELEMENT && n->v.element.tag == tag)
        return n;
    if (depth > 8)
        return NULL;
    const GumboVector *kids =
        n->type == GUMBO_NODE_DOCUMENT ? &n->v.document.children : &n->v.element.children;
    for (unsigned i = 0; i < kids->length; i++) {
        const GumboNode *f = find_tag(kids->data[i], tag, depth + 1);
        if (f)
            return f;
    }
    return NULL;
}

/* A publication date from <meta name|property=... content=...> in the head. */
static void meta_date(const GumboNode *head, tdx_buf *date)
{
    static const char *const names[] = {
        "pubdate",           "publishdate",   "publish_date",
        "publishtime",       "publish-date",  "article:published_time",
        "og:published_time", "datepublished", "dc.date.issued",
        "dcterms.issued",    "dc.date",       "date",
    };
    const GumboVector *kids = &head->v.element.children;
    size_t best = sizeof names / sizeof names[0];
    const char *val = NULL;
    for (unsigned i = 0; i < kids->length; i++) {
        const GumboNode *c = kids->data[i];
        if (c->type != GUMBO_NODE_ELEMENT || c->v.element.tag != GUMBO_TAG_META)
            continue;
        const GumboAttribute *nm = gumbo_get_attribute(&c->v.element.attributes, "name");
        if (nm == NULL)
            nm = gumbo_get_attribute(&c->v.element.attributes, "property");
        if (nm == NULL)
            nm = gumbo_get_attribute(&c->v.element.attributes, "itemprop");
        const GumboAttribute *ct = gumbo_get_attribute(&c->v.element.attributes, "content");
        if (nm == NULL || ct == NULL)
            continue;
        for (size_t k = 0; k < best; k++)
            if (strcasecmp(nm->value, names[k]) == 0) {
                best = k;
                val = ct->value;
                break;
            }
    }
    if (val) {
        while (*val == ' ')
            val++;
        size_t n = strlen(val);
        while (n > 0 && val[n - 1] == ' ')
            n--;
        tdx_buf_append(date, val, n);
    }
}

/*
 * Deep nesting.  The HTML5 tree builder walks the stack of open elements for
 * most start tags ("has a p element in button scope"), so N unclosed <div>s
 * cost N^2: 200,000 of them take minutes.  Browsers cap the tree depth
 * (Blink at 512).  We do the same before parsing: a light lexer follows the
 * nesting of elements that stay open; when it would pass MAX_DEPTH, start
 * tags (and the end tags that match them) are left out of the copy handed to
 * gumbo.  Their text is kept.  Elements that close themselves implicitly
 * (p, li, td, option ...) and void elements do not nest, so ordinary pages
 * that never close their <p> are not touched.
 */
#define MAX_DEPTH 512

static int name_in(const uint8_t *name, size_t n, const char *const *list)
{
    for (; *list; list++)
        if (strlen(*list) == n && strncasecmp((const char *)name, *list, n) == 0)
            return 1;
    return 0;
}

static const char *const void_or_self_closing[] = {
    "area",     "base",   "br",    "col",  "embed", "hr",     "img",   "input", "link",  "meta",
    "param",    "source", "track", "wbr",  "p",     "li",     "td",    "th",    "tr",    "option",
    "optgroup", "dt",     "dd",    "rb",   "rt",    "rp",     "tbody", "thead", "tfoot", "colgroup",
    "caption",  "html",   "head",  "body", "frame", "keygen", NULL};
static const char *const raw_text[] = {"script", "style",   "textarea", "title",    "xmp",
                                       "iframe", "noembed", "noframes", "noscript", NULL};

static int is_alpha(uint8_t c)
{
    return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

/* End of the tag starting at p[i] == '<' (index after '>'), quotes respected. */
static size_t tag_end(const uint8_t *p, size_t n, size_t i)
{
    uint8_t q = 0;
    for (size_t k = i + 1; k < n; k++) {
        if (q) {
            if (p[k] == q)
                q = 0;
        } else if (p[k] == '"' || p[k] == '\'') {
            q = p[k];
        } else if (p[k] == '>') {
            return k + 1;
        }
    }
    return n;
}

/*
 * Copy p to out without the start and end tags nested beyond MAX_DEPTH.
 * With out == NULL, only answer whether that would change anything (1).
 * Returns 1 when something was (or would be) dropped, 0 when the input is
 * fine as it is, TDX_ENOMEM.
 */
static int flatten(const uint8_t *p, size_t n, tdx_buf *out)
{
    size_t i = 0, copied = 0, depth = 0, dropped = 0;
    int changed = 0;
    while (i < n) {
        const uint8_t *lt = memchr(p + i, '<', n - i);
        if (lt == NULL)
            break;
        i = (size_t)(lt - p);
        if (i + 3 < n && memcmp(p + i, "<!--", 4) == 0) {
            const uint8_t *e = memmem(p + i + 4, n - i - 4, "-->", 3);
            i = e ? (size_t)(e - p) + 3 : n;
            continue;
        }
        int end = i + 1 < n && p[i + 1] == '/';
        size_t ns = i + 1 + (size_t)end, ne = ns;
        if (ns >= n || !is_alpha(p[ns])) {
            i++;
            continue;
        }
        while (ne < n && (is_alpha(p[ne]) || (p[ne] >= '0' && p[ne] <= '9')))
            ne++;
        size_t te = tag_end(p, n, i);
        const uint8_t *name = p + ns;
        size_t nl = ne - ns;
        int drop = 0;
        if (!end && name_in(name, nl, raw_text)) {
            /* Skip the raw text up to its end tag: '<' inside a script is not markup. */
            size_t k = te;
            while (k + 2 + nl <= n) {
                const uint8_t *e = memchr(p + k, '<', n - k);
                if (e == NULL) {
                    k = n;
                    break;
                }
                k = (size_t)(e - p);
                if (k + 2 + nl <= n && p[k + 1] == '/' &&
                    strncasecmp((const char *)p + k + 2, (const char *)name, nl) == 0)
                    break;
                k++;
            }
            te = k < n ? k : n;
        } else if (!name_in(name, nl, void_or_self_closing) && p[te - 1 - (te > 1)] != '/') {
            if (!end) {
                if (depth >= MAX_DEPTH) {
                    drop = 1;
                    dropped++;
                } else {
                    depth++;
                }
            } else if (dropped > 0) {
                drop = 1;
                dropped--;
            } else if (depth > 0) {
                depth--;
            }
        }
        if (drop) {
            changed = 1;
            if (out == NULL)
                return 1;
            if (tdx_buf_append(out, p + copied, i - copied) != 0)
                return TDX_ENOMEM;
            copied = te;
        }
        i = te;
    }
    if (out && changed && tdx_buf_append(out, p + copied, n - copied) != 0)
        return TDX_ENOMEM;
    return changed;
}

typedef struct walk_item {
    const GumboNode *node;
    unsigned next; /* next child to visit */
    int pre;
} walk_item;

int tdx_reader_html_extract(const uint8_t *html, size_t len, tdx_buf *text, tdx_buf *title,
                            tdx_buf *date)
{
    GumboOptions opts = kGumboDefaultOptions;
    /*
     * Parse errors are not wanted, and gumbo copies the stack of open
     * elements into each one: 20,000 unclosed <div>s cost minutes and
     * gigabytes with error recording on.
     */
    opts.max_errors = 0;
    tdx_buf flat = TDX_BUF_INIT;
    int rc = flatten(html, len, NULL);
    if (rc == 1) {
        rc = flatten(html, len, &flat);
        if (rc < 0) {
            tdx_buf_free(&flat);
            return rc;
        }
        html = flat.p;
        len = flat.len;
    }
    GumboOutput *g = gumbo_parse_with_options(&opts, (const char *)html, len);
    if (g == NULL) {
        tdx_buf_free(&flat);
        return TDX_ENOMEM;
    }
    rc = 0;
    emit e = {text, BRK_NONE, 0};

    const GumboNode *head = find_tag(g->root, GUMBO_TAG_HEAD, 0);
    const GumboNode *t = head ? find_tag(head, GUMBO_TAG_TITLE, 0) : NULL;
    if (t == NULL)
        t = find_tag(g->root, GUMBO_TAG_TITLE, 0);
    if (t) {
        emit et = {title, BRK_NONE, 0};
        collect_text(t, &et);
        if (et.failed)
            rc = TDX_ENOMEM;
    }
    if (head)
        meta_date(head, date);

    size_t cap = 64, depth = 0;
    walk_item *st = tdx_malloc(cap * sizeof *st);
    if (st == NULL) {
        gumbo_destroy_output(&opts, g);
        tdx_buf_free(&flat);
        return TDX_ENOMEM;
    }
    st[depth++] = (walk_item){g->root, 0, 0};
    while (depth > 0 && !e.failed) {
        walk_item *it = &st[depth - 1];
        const GumboElement *el = &it->node->v.element;
        if (it->next == el->children.length) {
            if (is_block(el->tag))
                sep(&e, BRK_LINE);
            depth--;
            continue;
        }
        const GumboNode *c = el->children.data[it->next++];
        switch (c->type) {
        case GUMBO_NODE_TEXT:
        case GUMBO_NODE_CDATA:
        case GUMBO_NODE_WHITESPACE:
            put_text(&e, c->v.text.text, strlen(c->v.text.text), it->pre);
            break;
        case GUMBO_NODE_ELEMENT:
        case GUMBO_NODE_TEMPLATE: {
            const GumboElement *ce = &c->v.element;
            if (c->type == GUMBO_NODE_TEMPLATE || is_hidden(ce))
                break;
            if (ce->tag == GUMBO_TAG_BR) {
                sep(&e, BRK_LINE);
                break;
            }
            if (ce->tag == GUMBO_TAG_TD || ce->tag == GUMBO_TAG_TH)
                sep(&e, BRK_TAB);
            if (is_block(ce->tag))
                sep(&e, BRK_LINE);
            if (depth == cap) {
                walk_item *ns = tdx_reallocarray(st, cap * 2, sizeof *ns);
                if (ns == NULL) {
                    e.failed = 1;
                    break;
                }
                st = ns;
                cap *= 2;
            }
            int pre = st[depth - 1].pre || ce->tag == GUMBO_TAG_PRE ||
                      ce->tag == GUMBO_TAG_TEXTAREA || ce->tag == GUMBO_TAG_LISTING;
            st[depth++] = (walk_item){c, 0, pre};
            break;
        }
        default:
            break;
        }
    }
    tdx_free(st);
    gumbo_destroy_output(&opts, g);
    tdx_buf_free(&flat);
    /* Trailing separators are not text. */
    while (text->len > 0 && (text->p[text->len - 1] == ' ' || text->p[text->len - 1] == '\n' ||
                             text->p[text->len - 1] == '\t'))
        text->len--;
    if (text->p)
        text->p[text->len] = 0;
    while (title->len > 0 && title->p[title->len - 1] == ' ')
        title->len--;
    if (title->p)
        title->p[title->len] = 0;
    if (e.failed)
        rc = TDX_ENOMEM;
    return rc;
}
