/*
 * index.h - term extraction and per-batch postings building.
 *
 * Terms (the byte strings the store keys postings by; the first byte is the
 * term class):
 *   'u' cp            every non-ASCII character of the normalized text
 *   'b' cp1 cp2       every pair of adjacent non-ASCII characters
 *   'w' word          every maximal run of ASCII letters and digits
 *                     (lower-case once normalized), cut at TDX_WORD_MAX bytes
 *   't' abc           every 3 consecutive bytes of such a run (builders
 *                     with trigrams on, the default): one entry per
 *                     document, no positions ('t' alone: the documents
 *                     whose trigrams were cut short).  A fragment of a word ("153"
 *                     in "0755153") is then one list, or an intersection,
 *                     where the word dictionary may hold it in thousands of
 *                     words
 *   'f' name 0x1f v   a metadata field with its normalized value
 *   'e' / 'c' / 'p'   entity, category and pattern ids (4 bytes big-endian)
 * ASCII punctuation and spaces are not indexed.  Bigrams and words carry
 * their positions (character offsets in the normalized text) as payload,
 * see postings.h.  Together the classes make any substring of the
 * normalized text findable: a query is cut into the same terms with their
 * offsets in the query, the postings are intersected, and the match is
 * proved by the doc lists alone (one or two CJK characters, a lone word
 * fragment), by positions (terms at the right distances), or, for queries
 * with characters the index does not hold, by the document's text.
 *
 * A tdx_gram_builder collects the terms of a batch of documents (numbered
 * 0, 1, 2, ... within the batch) and emits them as a tdx_postings sorted by
 * term bytes, with the positions of positional terms.
 *
 * Threading: a builder belongs to one worker.
 */
#ifndef TDX_INDEX_H
#define TDX_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"
#include "../common/postings.h"

#define TDX_WORD_MAX 64
#define TDX_FIELD_TERM_MAX 256
/* A field term: 'f', name, 0x1f, the value's first TDX_FIELD_VALUE_MAX
 * bytes (cut on a character boundary); names up to TDX_FIELD_NAME_MAX. */
#define TDX_FIELD_VALUE_MAX 200
#define TDX_FIELD_NAME_MAX (TDX_FIELD_TERM_MAX + 8 - 2 - TDX_FIELD_VALUE_MAX)

enum {
    TDX_TERM_BIGRAM = 'b',
    TDX_TERM_CATEGORY = 'c',
    TDX_TERM_ENTITY = 'e',
    TDX_TERM_FIELD = 'f',
    TDX_TERM_PATTERN = 'p',
    TDX_TERM_TRIGRAM = 't',
    TDX_TERM_UNIGRAM = 'u',
    TDX_TERM_WORD = 'w',
};

/* The bytes of words, in byte order: the symbols trigram terms are made of. */
#define TDX_WORD_BYTES "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

/* Is c one of TDX_WORD_BYTES (a byte of a 'w' term)? */
static inline int tdx_is_word_byte(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

typedef struct tdx_gram_builder tdx_gram_builder;

int tdx_gram_builder_create(tdx_gram_builder **out_b, tdx_err *err);
void tdx_gram_builder_free(tdx_gram_builder *b);
/** Forget all terms (keeps memory). */
void tdx_gram_builder_reset(tdx_gram_builder *b);
/**
 * Whether tdx_gram_add_text adds 't' terms (on after create).  An index
 * whose earlier documents have none must not get them for new ones: its
 * readers cannot tell which documents a trigram list covers.  max_pairs
 * (0: no bound) bounds the trigram entries of a batch: a document whose
 * words would pass it keeps the trigrams it has and is listed under the
 * term TDX_TRIGRAM_CUT instead of getting more; readers check such
 * documents in their text.  Text of random Latin runs (base64) has a
 * trigram per byte, notices about 90 a document.
 */
void tdx_gram_builder_set_trigrams(tdx_gram_builder *b, int on, size_t max_pairs);
/* The term of the documents whose trigrams a batch's bound cut short. */
#define TDX_TRIGRAM_CUT "t"

/**
 * Make room for a batch of about text_bytes of normalized text, so adding
 * never reallocates (and copies) pair arrays halfway through a batch.
 */
int tdx_gram_builder_reserve(tdx_gram_builder *b, size_t text_bytes);

/**
 * Add the unigram, bigram and word terms of normalized UTF-8 text for batch
 * document `doc`, with positions counted from 0 at the start of text.
 * Documents must be added in increasing order, each with one call (a
 * second call for the same document would restart its positions).
 */
int tdx_gram_add_text(tdx_gram_builder *b, uint32_t doc, const uint8_t *text, size_t len);
/**
 * Add one explicit term (fields, entities, categories) for `doc`.  Such
 * terms have no position; a positional one (a bigram or word term, as tests
 * add) is recorded at position 0, so it must not follow tdx_gram_add_text
 * for the same document with the same term (positions must ascend).
 */
int tdx_gram_add_term(tdx_gram_builder *b, uint32_t doc, const uint8_t *term, size_t len);

/**
 * The term of metadata field `name` with normalized value v[0..len), built
 * the same way for indexing and for field:value queries: spaces at the ends
 * trimmed, long values cut, NUL bytes as spaces.  Returns the term's length
 * in out (room for TDX_FIELD_TERM_MAX + 8 bytes), or 0 when there is no
 * term (empty or over-long name, empty value).
 */
size_t tdx_field_term(const char *name, const uint8_t *v, size_t len, uint8_t *out);

/**
 * Emit all terms, sorted by bytes, into out (reset first).  Emitting again
 * gives the same postings; adding after an emit needs tdx_gram_builder_reset
 * first (TDX_EINVAL otherwise).
 */
int tdx_gram_emit(tdx_gram_builder *b, tdx_postings *out, tdx_err *err);

/**
 * Number of distinct terms the last tdx_gram_emit produced (0 before any).
 * Bigram repeats are only found when sorting, so there is no exact count
 * before emitting.
 */
size_t tdx_gram_nterms(const tdx_gram_builder *b);

/**
 * Bytes the batch since the last reset has used in the builder's arrays
 * (entries, terms, their sort buffers; valid after tdx_gram_emit), without
 * the fixed tables every builder has: what the batch's text cost.
 */
size_t tdx_gram_builder_bytes(const tdx_gram_builder *b);

/**
 * Query side: the terms a substring query needs.  For normalized query text
 * q, fills `out` (each term prefixed by its class byte) with terms every
 * matching document must contain, each with its offset in the query in
 * characters (for a word fragment: where the fragment starts).  Bigrams
 * cover every adjacent pair of non-ASCII characters; a lone non-ASCII
 * character gives its unigram; ASCII runs give word terms with the kind of
 * match the dictionary of indexed words must do: TDX_PART_EXACT (a whole
 * word), TDX_PART_PREFIX (a word starting with it: the run ends the query),
 * TDX_PART_SUFFIX (a word ending with it: the run starts the query) or
 * TDX_PART_INFIX (both: the query is one run).
 *   *out_exact    containing all the terms proves the match (one or two
 *                 non-ASCII characters, or one ASCII run)
 *   *out_posexact having every term at its offset from a common start
 *                 proves the match (no character the index does not hold,
 *                 no lone unigram, no fragment too long to have a term)
 */
enum { TDX_PART_EXACT = 0, TDX_PART_PREFIX = 1, TDX_PART_SUFFIX = 2, TDX_PART_INFIX = 3 };

typedef struct tdx_qterm {
    uint8_t term[TDX_WORD_MAX + 8];
    uint8_t len;
    uint8_t part; /* TDX_PART_* (words only; EXACT for grams) */
    uint16_t off; /* offset in the query, in characters */
} tdx_qterm;

int tdx_query_terms(const uint8_t *q, size_t len, tdx_qterm *out, size_t cap, size_t *out_n,
                    int *out_exact, int *out_posexact);

#endif
