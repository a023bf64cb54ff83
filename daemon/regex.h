/*
 * regex.h - a thin wrapper over PCRE2 for the `~` operator of the rules
 * language.
 *
 * A pattern is compiled once (at rules load) and is then immutable: any
 * number of evaluators may match it at the same time, each with its own
 * struct regex_matcher (the match data and the limits PCRE2 needs while
 * matching), so nothing is allocated per match.
 *
 * Semantics, fixed here for every caller:
 *   - case-insensitive (PCRE2_CASELESS), Unicode-aware for UTF-8 text;
 *   - the pattern must be valid UTF-8; a subject need not be: invalid
 *     sequences simply never match a character (PCRE2_MATCH_INVALID_UTF),
 *     so no subject can crash or error the match;
 *   - unanchored: "vp" matches "SVP of Sales"; use ^ and $ to anchor;
 *   - bounded: a match gives up after REGEX_MATCH_LIMIT backtracking steps
 *     (or the JIT stack runs out), so a catastrophic pattern such as
 *     (a+)+$ costs at most about a millisecond per subject.  Such a
 *     failure is reported as -1, not as a match.
 * The JIT compiler is used when PCRE2 has it; otherwise the interpreter.
 */
#ifndef BATON_REGEX_H
#define BATON_REGEX_H

#include <stddef.h>

#define REGEX_MATCH_LIMIT       100000  /* pcre2_set_match_limit */
#define REGEX_DEPTH_LIMIT       5000    /* pcre2_set_depth_limit */
#define REGEX_HEAP_LIMIT_KIB    4096    /* pcre2_set_heap_limit */

struct regex;
struct regex_matcher;

/*
 * Compiles pat (len bytes; need not be NUL-terminated; may contain NUL).
 * Returns the compiled pattern, owned by the caller (regex_free), or NULL
 * with PCRE2's message in err and the byte offset in pat where the
 * problem was found in *erroff (0 when it has no position, e.g. out of
 * memory).
 */
struct regex *regex_compile(const char *pat, size_t len, size_t *erroff,
    char *err, size_t errlen);

/* Frees a compiled pattern; NULL is a no-op. */
void regex_free(struct regex *re);

/* Scratch space for matching, one per evaluating thread.  Returns NULL
 * when out of memory.  Owned by the caller (regex_matcher_free). */
struct regex_matcher *regex_matcher_new(void);
void regex_matcher_free(struct regex_matcher *m);

/*
 * Matches re against s (len bytes, any bytes).  Returns 1 when it
 * matches, 0 when it does not, -1 when the match was abandoned (match,
 * depth or heap limit; JIT stack exhausted).
 */
int regex_match(const struct regex *re, struct regex_matcher *m,
    const char *s, size_t len);

#endif
