/*
 * regex.c - compiled PCRE2 patterns and per-evaluator matchers (see
 * regex.h for the semantics every caller relies on).
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "regex.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>

/*
 * Valgrind cannot follow code PCRE2's JIT writes at run time and reports
 * its reads as uninitialised, so under valgrind (the test suite's second
 * pass) patterns are interpreted instead; same results, no false alarms.
 * Without valgrind's header the JIT is always used.
 */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define BATON_HAVE_VALGRIND_H 1
#endif
#endif

static int
under_valgrind(void)
{
#ifdef BATON_HAVE_VALGRIND_H
	return RUNNING_ON_VALGRIND != 0;
#else
	return 0;
#endif
}

struct regex {
	pcre2_code *code;               /* owned */
	int jit;                        /* JIT-compiled: use pcre2_jit_match */
};

struct regex_matcher {
	pcre2_match_data *md;           /* room for the whole match only */
	pcre2_match_context *mctx;      /* the limits */
};

/*
 * Compiles pat case-insensitively as UTF-8 that tolerates invalid
 * subjects.  Returns the pattern, or NULL with a message and an offset.
 */
struct regex *
regex_compile(const char *pat, size_t len, size_t *erroff, char *err,
    size_t errlen)
{
	struct regex *re;
	PCRE2_SIZE off = 0;
	int code = 0;

	*erroff = 0;
	if ((re = calloc(1, sizeof(*re))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	re->code = pcre2_compile((PCRE2_SPTR)pat, len,
	    PCRE2_CASELESS | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &code,
	    &off, NULL);
	if (re->code == NULL) {
		PCRE2_UCHAR msg[256];

		if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0)
			snprintf((char *)msg, sizeof(msg), "error %d", code);
		snprintf(err, errlen, "%s", (const char *)msg);
		*erroff = off > len ? len : off;
		free(re);
		return NULL;
	}
	re->jit = !under_valgrind() &&
	    pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE) == 0;
	return re;
}

void
regex_free(struct regex *re)
{
	if (re == NULL)
		return;
	pcre2_code_free(re->code);
	free(re);
}

/* Returns scratch space with the limits of regex.h set, or NULL. */
struct regex_matcher *
regex_matcher_new(void)
{
	struct regex_matcher *m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	m->md = pcre2_match_data_create(1, NULL);
	m->mctx = pcre2_match_context_create(NULL);
	if (m->md == NULL || m->mctx == NULL) {
		regex_matcher_free(m);
		return NULL;
	}
	pcre2_set_match_limit(m->mctx, REGEX_MATCH_LIMIT);
	pcre2_set_depth_limit(m->mctx, REGEX_DEPTH_LIMIT);
	pcre2_set_heap_limit(m->mctx, REGEX_HEAP_LIMIT_KIB);
	return m;
}

void
regex_matcher_free(struct regex_matcher *m)
{
	if (m == NULL)
		return;
	pcre2_match_data_free(m->md);
	pcre2_match_context_free(m->mctx);
	free(m);
}

/* Returns 1 (match), 0 (no match) or -1 (abandoned at a limit). */
int
regex_match(const struct regex *re, struct regex_matcher *m, const char *s,
    size_t len)
{
	static const char empty[1] = "";
	int rc;

	if (s == NULL) {
		s = empty;
		len = 0;
	}
	if (re->jit)
		rc = pcre2_jit_match(re->code, (PCRE2_SPTR)s, len, 0, 0,
		    m->md, m->mctx);
	else
		rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, 0, 0, m->md,
		    m->mctx);
	if (rc >= 0)
		return 1;
	if (rc == PCRE2_ERROR_NOMATCH)
		return 0;
	return -1;
}
