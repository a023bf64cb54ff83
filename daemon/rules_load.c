/*
 * rules_load.c - reads rules.conf ([score], [stage NAME], [sla NAME]) into
 * a compiled struct rules, and owns that struct's life (new, free, slots).
 *
 * The file goes through the same INI reader as batond.conf (ini.h); the
 * raw text is kept beside the parsed document so that a problem inside a
 * value can be reported at its FILE:LINE:COL (the reader keeps only
 * FILE:LINE).  Every problem is reported and loading goes on, so that
 * `batond --check` shows them all; a file with any problem yields no
 * rules at all.
 *
 * [score]
 *   rule  = POINTS if EXPR                                   (fit)
 *   rule  = POINTS on ACTIVITY [where EXPR] [cap N per DURATION]
 *                                                            (engagement)
 *   decay = P% per DURATION                          (engagement only)
 * [stage subscriber|lead|mql|sal|sql|opportunity|customer]
 *   when  = EXPR
 * [sla NAME]
 *   after = STAGE, within = DURATION, on_breach = notify, recycle
 *                                       (on_breach defaults to notify)
 */
#include "rules.h"
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <baton/conf.h>

#include "ini.h"

#define RULES_MAX_FILE          (8 * 1024 * 1024)
#define RULES_MAX_POINTS        1000000
#define LADDER_LIST "subscriber, lead, mql, sal, sql, opportunity, customer"
#define STAGE_LIST LADDER_LIST ", disqualified"
#define DURATION_HINT "write 500ms, 30s, 5m, 24h or 7d"

/* State of one rules_parse_buffer() call. */
struct loader {
	struct rules *r;
	struct diag *d;
	const char *buf;                /* the raw text */
	size_t len;
	size_t *lines;                  /* offset where line i + 1 starts */
	size_t nlines;
	const struct ini_section *score;        /* the first [score] */
	const struct ini_section *stage_sec[RULES_NSTAGES + 1];   /* the last:
	                                           disqualified */
};

/* ---- The struct rules --------------------------------------------------- */

/* An empty struct rules with the fixed slots; NULL when out of memory. */
struct rules *
rules_new(const char *file)
{
	static const char *const fixed[RULES_NFIXED_SLOTS] = {
		[RULES_SLOT_FIT] = "fit",
		[RULES_SLOT_ENGAGEMENT] = "engagement",
		[RULES_SLOT_SCORE] = "score",
		[RULES_SLOT_STAGE] = "stage",
	};
	struct rules *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	if ((r->file = strdup(file != NULL ? file : "rules")) == NULL)
		goto fail;
	for (int i = 0; i < RULES_NFIXED_SLOTS; i++)
		if (rules_slot_intern(r, RULES_NS_LEAD, fixed[i],
		    strlen(fixed[i])) != i)
			goto fail;
	return r;
fail:
	rules_free(r);
	return NULL;
}

/* Frees r and everything it owns; NULL and half-built rules are fine. */
void
rules_free(struct rules *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nrules; i++) {
		free(r->rules[i].activity);
		free(r->rules[i].text);
	}
	free(r->rules);
	for (int i = 0; i < RULES_NSTAGES; i++)
		free(r->stages[i].text);
	free(r->disqualified.text);
	for (size_t i = 0; i < r->nslas; i++)
		free(r->slas[i].name);
	free(r->slas);
	for (size_t i = 0; i < r->nslots; i++)
		free(r->slots[i].name);
	free(r->slots);
	rules_expr_free_all(r->exprs);
	free(r->file);
	free(r);
}

int
rules_slot_find(const struct rules *r, enum rules_ns ns, const char *name)
{
	for (size_t i = 0; i < r->nslots; i++)
		if (r->slots[i].ns == ns && strcmp(r->slots[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* A NUL-terminated copy of len bytes at p, which need not be terminated
 * (expression text may be a slice of a larger buffer); NULL when out of
 * memory. */
static char *
span_dup(const char *p, size_t len)
{
	char *s = malloc(len + 1);

	if (s != NULL) {
		memcpy(s, p, len);
		s[len] = '\0';
	}
	return s;
}

/* The slot of (ns, name), added when new; -1 when out of memory. */
int
rules_slot_intern(struct rules *r, enum rules_ns ns, const char *name,
    size_t len)
{
	struct rules_slot *s;
	char *copy;

	for (size_t i = 0; i < r->nslots; i++)
		if (r->slots[i].ns == ns && strlen(r->slots[i].name) == len &&
		    memcmp(r->slots[i].name, name, len) == 0)
			return (int)i;
	if (r->nslots >= 1000000)
		return -1;
	if ((copy = span_dup(name, len)) == NULL)
		return -1;
	s = realloc(r->slots, (r->nslots + 1) * sizeof(*s));
	if (s == NULL) {
		free(copy);
		return -1;
	}
	r->slots = s;
	r->slots[r->nslots].name = copy;
	r->slots[r->nslots].ns = ns;
	return (int)r->nslots++;
}

/* ---- Positions ---------------------------------------------------------- */

static int
is_blank(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Indexes the starts of lines, as ini.c counts them. */
static int
index_lines(struct loader *L)
{
	size_t n = 1, i;

	for (i = 0; i < L->len; i++)
		if (L->buf[i] == '\n')
			n++;
	if ((L->lines = calloc(n, sizeof(*L->lines))) == NULL)
		return -1;
	L->lines[0] = L->len >= 3 && memcmp(L->buf, "\xef\xbb\xbf", 3) == 0 ?
	    3 : 0;
	for (i = 0, n = 1; i < L->len; i++)
		if (L->buf[i] == '\n')
			L->lines[n++] = i + 1;
	L->nlines = n;
	return 0;
}

/*
 * Fills src with where e's value is in the raw text: its line, the column
 * of the value's first character and the raw value (with its quotes when
 * it was quoted).  Without the raw text, columns count from the value.
 */
static void
locate(const struct loader *L, const struct ini_entry *e,
    struct rules_src *src)
{
	const char *line, *end, *p, *eq;
	size_t off;

	memset(src, 0, sizeof(*src));
	src->file = L->r->file;
	src->line = e->line;
	src->col0 = 1;
	if (e->line < 1 || (size_t)e->line > L->nlines)
		return;
	off = L->lines[e->line - 1];
	line = L->buf + off;
	end = memchr(line, '\n', L->len - off);
	if (end == NULL)
		end = L->buf + L->len;
	while (end > line && is_blank((unsigned char)end[-1]))
		end--;
	if ((eq = memchr(line, '=', end - line)) == NULL)
		return;
	for (p = eq + 1; p < end && is_blank((unsigned char)*p); p++)
		;
	src->raw = p;
	src->rawlen = end - p;
	src->quoted = e->quoted;
	for (const char *q = line; q < p; q++)
		if (((unsigned char)*q & 0xc0) != 0x80)
			src->col0++;
}

/* ---- Helpers ------------------------------------------------------------ */

static const char *
sec_name(const struct ini_section *s, char *buf, size_t size)
{
	if (s->name != NULL)
		snprintf(buf, size, "[%s %s]", s->kind, s->name);
	else
		snprintf(buf, size, "[%s]", s->kind);
	return buf;
}

/* Reports an unknown key with a suggestion among keys (NULL-terminated). */
static void
unknown_key(struct loader *L, const struct ini_section *s,
    const struct ini_entry *e, const char *const *keys)
{
	const char *best = NULL;
	size_t bd = 3, dist, klen = strlen(e->key);
	char sn[160], list[128] = "";

	for (size_t i = 0; keys[i] != NULL; i++) {
		dist = rules_distance(e->key, klen, keys[i], strlen(keys[i]));
		if (dist < bd) {
			bd = dist;
			best = keys[i];
		}
		snprintf(list + strlen(list), sizeof(list) - strlen(list),
		    "%s%s", i ? ", " : "", keys[i]);
	}
	sec_name(s, sn, sizeof(sn));
	if (best != NULL)
		diag_add(L->d, e->file, e->line, "unknown key '%s' in %s (did "
		    "you mean '%s'?)", e->key, sn, best);
	else
		diag_add(L->d, e->file, e->line, "unknown key '%s' in %s "
		    "(valid keys: %s)", e->key, sn, list);
}

/* Reports a key set twice; returns whether it was (first is the first). */
static bool
twice(struct loader *L, const struct ini_section *s,
    const struct ini_entry *first, const struct ini_entry *e)
{
	char sn[160];

	if (first == NULL)
		return false;
	diag_add(L->d, e->file, e->line, "'%s' is set twice in %s (first at "
	    "%s:%d)", e->key, sec_name(s, sn, sizeof(sn)), first->file,
	    first->line);
	return true;
}

/* Parses the current word as a whole number of points into *out. */
static int
word_points(struct rules_lexer *lx, double *out)
{
	const char *w = lx->s + lx->start;

	if (lx->tok != RT_IDENT || memchr(w, '.', lx->tlen) != NULL ||
	    rules_parse_number(w, lx->tlen, out) == -1)
		return -1;
	return *out >= -RULES_MAX_POINTS && *out <= RULES_MAX_POINTS ? 0 : -1;
}

/* Parses the current word as a duration > 0 into *ms; reports problems
 * (what names the duration: "the cap window"). */
static int
word_duration(struct rules_lexer *lx, int64_t *ms, const char *what)
{
	char shown[64], buf[64];

	if (lx->tok != RT_IDENT) {
		rules_lex_error(lx, lx->start, "expected a duration like 30d "
		    "after 'per', found %s",
		    rules_lex_show(lx, shown, sizeof(shown)));
		return -1;
	}
	snprintf(buf, sizeof(buf), "%.*s", (int)lx->tlen, lx->s + lx->start);
	if (lx->tlen >= sizeof(buf) || conf_parse_duration(buf, ms) == -1) {
		rules_lex_error(lx, lx->start, "invalid duration %s (%s)",
		    rules_lex_show(lx, shown, sizeof(shown)), DURATION_HINT);
		return -1;
	}
	if (*ms <= 0) {
		rules_lex_error(lx, lx->start, "%s must be longer than 0",
		    what);
		return -1;
	}
	return 0;
}

/* Whether the current word is an activity name as intake writes them. */
static bool
word_activity(const struct rules_lexer *lx)
{
	const char *w = lx->s + lx->start;

	if (lx->tok != RT_IDENT || lx->tlen == 0 || lx->tlen > 64)
		return false;
	for (size_t i = 0; i < lx->tlen; i++) {
		int c = (unsigned char)w[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
			return false;
	}
	return true;
}

/* ---- [score] ------------------------------------------------------------ */

/* Parses "cap N per DURATION" (the current token is `cap`). */
static int
parse_cap(struct rules_lexer *lx, struct rules_rule *rule)
{
	char shown[64], prev[64];

	rules_lex_word(lx);
	if (word_points(lx, &rule->cap) == -1 || rule->cap <= 0) {
		rules_lex_error(lx, lx->start, "expected a positive whole "
		    "number of points after 'cap', found %s",
		    rules_lex_show(lx, shown, sizeof(shown)));
		return -1;
	}
	rules_lex_word(lx);
	if (!rules_lex_is(lx, "per")) {
		rules_lex_error(lx, lx->start, "expected 'per' after %s, "
		    "found %s", rules_lex_show_prev(lx, prev, sizeof(prev)),
		    rules_lex_show(lx, shown, sizeof(shown)));
		return -1;
	}
	rules_lex_word(lx);
	if (word_duration(lx, &rule->cap_window_ms, "a cap window") == -1)
		return -1;
	rules_lex_word(lx);     /* only the end may follow */
	return 0;
}

/* Parses the rest of an engagement rule, after `on`. */
static int
parse_engagement(struct loader *L, struct rules_lexer *lx,
    struct rules_rule *rule)
{
	char shown[64], prev[64];
	const char *expected = "'where', 'cap' or the end of the rule";

	rule->kind = RULES_ENGAGEMENT;
	rules_lex_word(lx);
	if (lx->tok == RT_END) {
		rules_lex_error(lx, lx->start, "expected an activity name "
		    "after 'on', found the end of the rule");
		return -1;
	}
	if (!word_activity(lx)) {
		rules_lex_error(lx, lx->start, "invalid activity name %s "
		    "(lower-case letters, digits, '_', '.' and '-', starting "
		    "with a letter or a digit, at most 64)",
		    rules_lex_show(lx, shown, sizeof(shown)));
		return -1;
	}
	rule->activity = span_dup(lx->s + lx->start, lx->tlen);
	if (rule->activity == NULL) {
		rules_lex_error(lx, lx->start, "out of memory");
		return -1;
	}
	rules_lex_next(lx);
	if (rules_lex_is(lx, "where")) {
		rules_lex_next(lx);
		rule->cond = rules_expr_parse(L->r, RULES_CTX_WHERE, lx);
		if (rule->cond == NULL)
			return -1;
		expected = "'and', 'or', 'cap' or the end of the rule";
	}
	if (rules_lex_is(lx, "cap")) {
		if (parse_cap(lx, rule) == -1)
			return -1;
		expected = "the end of the rule";
	}
	if (lx->tok != RT_END) {
		if (!lx->failed)
			rules_lex_error(lx, lx->start, "expected %s after %s, "
			    "found %s", expected, rules_lex_show_prev(lx, prev,
			    sizeof(prev)), rules_lex_show(lx, shown,
			    sizeof(shown)));
		return -1;
	}
	return 0;
}

/* Parses one `rule = …` line and appends it to the rules. */
static void
parse_rule(struct loader *L, const struct ini_entry *e)
{
	struct rules *r = L->r;
	struct rules_rule rule, *nr;
	struct rules_lexer lx;
	struct rules_src src;
	char shown[64], prev[64];
	int rc = -1;

	memset(&rule, 0, sizeof(rule));
	locate(L, e, &src);
	rules_lex_init(&lx, e->value, strlen(e->value), &src, L->d);
	lx.end_name = "the end of the rule";
	rules_lex_word(&lx);
	if (word_points(&lx, &rule.points) == -1) {
		rules_lex_error(&lx, lx.start, "expected points like +20 or "
		    "-30 at the start of the rule, found %s",
		    rules_lex_show(&lx, shown, sizeof(shown)));
		goto done;
	}
	if (rules_lex_next(&lx) == RT_ERROR)
		goto done;
	if (rules_lex_is(&lx, "if")) {
		rule.kind = RULES_FIT;
		rules_lex_next(&lx);
		rule.cond = rules_expr_parse(r, RULES_CTX_FIT, &lx);
		if (rule.cond == NULL)
			goto done;
		if (lx.tok == RT_END)
			rc = 0;
		else if (rules_lex_is(&lx, "cap"))
			rules_lex_error(&lx, lx.start, "a cap applies to "
			    "engagement rules (+N on ACTIVITY ... cap N per "
			    "DURATION), not to fit rules");
		else
			rules_lex_error(&lx, lx.start, "expected 'and' or 'or' "
			    "after %s, found %s", rules_lex_show_prev(&lx, prev,
			    sizeof(prev)), rules_lex_show(&lx, shown,
			    sizeof(shown)));
	} else if (rules_lex_is(&lx, "on"))
		rc = parse_engagement(L, &lx, &rule);
	else
		rules_lex_error(&lx, lx.start, "expected 'if' (a fit rule) or "
		    "'on' (an engagement rule) after %s, found %s",
		    rules_lex_show_prev(&lx, prev, sizeof(prev)),
		    rules_lex_show(&lx, shown, sizeof(shown)));
done:
	rules_lex_done(&lx);
	if (rc == -1)
		goto fail;
	if ((rule.text = strdup(e->value)) == NULL)
		goto oom;
	rule.file = r->file;
	rule.line = e->line;
	rule.index = r->nrules;
	if ((nr = realloc(r->rules, (r->nrules + 1) * sizeof(*nr))) == NULL)
		goto oom;
	r->rules = nr;
	r->rules[r->nrules++] = rule;
	if (rule.kind == RULES_FIT)
		r->nfit++;
	else
		r->nengagement++;
	return;
oom:
	diag_add(L->d, e->file, e->line, "out of memory");
fail:
	free(rule.activity);
	free(rule.text);
	/* rule.cond belongs to r's list of expressions */
}

/* Parses `decay = P% per DURATION`. */
static void
parse_decay(struct loader *L, const struct ini_entry *e)
{
	struct rules_lexer lx;
	struct rules_src src;
	char shown[64], prev[64];
	double pct;
	int64_t ms;

	locate(L, e, &src);
	rules_lex_init(&lx, e->value, strlen(e->value), &src, L->d);
	lx.end_name = "the end of the value";
	rules_lex_word(&lx);
	if (lx.tok != RT_IDENT || lx.tlen < 2 ||
	    lx.s[lx.start + lx.tlen - 1] != '%' ||
	    rules_parse_number(lx.s + lx.start, lx.tlen - 1, &pct) == -1) {
		rules_lex_error(&lx, lx.start, "expected a percentage like "
		    "25%% (as in 'decay = 25%% per 30d'), found %s",
		    rules_lex_show(&lx, shown, sizeof(shown)));
		goto done;
	}
	if (pct <= 0 || pct >= 100) {
		rules_lex_error(&lx, lx.start, "decay must be more than 0%% "
		    "and less than 100%%, found %s",
		    rules_lex_show(&lx, shown, sizeof(shown)));
		goto done;
	}
	rules_lex_word(&lx);
	if (!rules_lex_is(&lx, "per")) {
		rules_lex_error(&lx, lx.start, "expected 'per' after %s, "
		    "found %s", rules_lex_show_prev(&lx, prev, sizeof(prev)),
		    rules_lex_show(&lx, shown, sizeof(shown)));
		goto done;
	}
	rules_lex_word(&lx);
	if (word_duration(&lx, &ms, "a decay period") == -1)
		goto done;
	if (rules_lex_word(&lx) != RT_END) {
		if (!lx.failed)
			rules_lex_error(&lx, lx.start, "expected the end of "
			    "the value after %s, found %s",
			    rules_lex_show_prev(&lx, prev, sizeof(prev)),
			    rules_lex_show(&lx, shown, sizeof(shown)));
		goto done;
	}
	L->r->decay_pct = pct;
	L->r->decay_period_ms = ms;
	L->r->decay_line = e->line;
done:
	rules_lex_done(&lx);
}

static void
load_score(struct loader *L, const struct ini_section *s)
{
	static const char *const keys[] = { "rule", "decay", NULL };
	const struct ini_entry *e, *decay = NULL;
	char sn[160];

	if (s->name != NULL) {
		diag_add(L->d, s->file, s->line, "%s: the score section takes "
		    "no name; write [score]", sec_name(s, sn, sizeof(sn)));
		return;
	}
	if (L->score != NULL) {
		diag_add(L->d, s->file, s->line, "duplicate section [score] "
		    "(first at %s:%d); put every rule in one", L->score->file,
		    L->score->line);
		return;
	}
	L->score = s;
	for (e = s->entries; e != NULL; e = e->next) {
		if (strcmp(e->key, "rule") == 0)
			parse_rule(L, e);
		else if (strcmp(e->key, "decay") == 0) {
			if (!twice(L, s, decay, e))
				parse_decay(L, e);
			if (decay == NULL)
				decay = e;
		} else
			unknown_key(L, s, e, keys);
	}
}

/* ---- [stage NAME] ------------------------------------------------------- */

static void
load_stage(struct loader *L, const struct ini_section *s)
{
	static const char *const keys[] = { "when", NULL };
	const struct ini_entry *e, *when = NULL;
	struct rules_stage_def *def;
	struct rules_lexer lx;
	struct rules_src src;
	char shown[64], prev[64], sn[160];
	int st;

	if (s->name == NULL) {
		diag_add(L->d, s->file, s->line, "[stage] needs the name of a "
		    "stage: one of %s", STAGE_LIST);
		return;
	}
	if (strcasecmp(s->name, "disqualified") == 0)
		st = RULES_NSTAGES;
	else if ((st = rules_stage_parse(s->name, strlen(s->name))) < 0) {
		diag_add(L->d, s->file, s->line, "unknown stage '%s' in %s "
		    "(valid stages: %s)", s->name, sec_name(s, sn, sizeof(sn)),
		    STAGE_LIST);
		return;
	}
	if (L->stage_sec[st] != NULL) {
		diag_add(L->d, s->file, s->line, "duplicate section %s (first "
		    "at %s:%d)", sec_name(s, sn, sizeof(sn)),
		    L->stage_sec[st]->file, L->stage_sec[st]->line);
		return;
	}
	L->stage_sec[st] = s;
	def = st == RULES_NSTAGES ? &L->r->disqualified : &L->r->stages[st];
	for (e = s->entries; e != NULL; e = e->next) {
		if (strcmp(e->key, "when") != 0) {
			unknown_key(L, s, e, keys);
			continue;
		}
		if (twice(L, s, when, e))
			continue;
		when = e;
		locate(L, e, &src);
		rules_lex_init(&lx, e->value, strlen(e->value), &src, L->d);
		rules_lex_next(&lx);
		def->when = rules_expr_parse(L->r, RULES_CTX_LEAD, &lx);
		if (def->when != NULL && lx.tok != RT_END) {
			if (!lx.failed)
				rules_lex_error(&lx, lx.start, "expected 'and' "
				    "or 'or' after %s, found %s",
				    rules_lex_show_prev(&lx, prev,
				    sizeof(prev)), rules_lex_show(&lx, shown,
				    sizeof(shown)));
			def->when = NULL;
		}
		rules_lex_done(&lx);
		def->file = L->r->file;
		def->line = e->line;
		free(def->text);
		if ((def->text = strdup(e->value)) == NULL)
			diag_add(L->d, e->file, e->line, "out of memory");
		def->defined = def->when != NULL && def->text != NULL;
	}
	if (when == NULL)
		diag_add(L->d, s->file, s->line, "%s lacks 'when = EXPRESSION'",
		    sec_name(s, sn, sizeof(sn)));
}

/* ---- [sla NAME] --------------------------------------------------------- */

/* Parses "notify, recycle" into RULES_BREACH_* bits; 0 on a problem. */
static unsigned
parse_breach(struct loader *L, const struct ini_entry *e)
{
	const char *p = e->value, *end, *a, *b;
	unsigned bits = 0, bit;

	for (;;) {
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		for (a = p; a < end && is_blank((unsigned char)*a); a++)
			;
		for (b = end; b > a && is_blank((unsigned char)b[-1]); b--)
			;
		if (a == b) {
			diag_add(L->d, e->file, e->line, "empty action in "
			    "'on_breach' (write notify, recycle or both, "
			    "separated by a comma)");
			return 0;
		}
		if (b - a == 6 && memcmp(a, "notify", 6) == 0)
			bit = RULES_BREACH_NOTIFY;
		else if (b - a == 7 && memcmp(a, "recycle", 7) == 0)
			bit = RULES_BREACH_RECYCLE;
		else {
			diag_add(L->d, e->file, e->line, "unknown action "
			    "'%.*s' in 'on_breach' (valid actions: notify, "
			    "recycle)",
			    (int)(b - a > 64 ? 64 : b - a), a);
			return 0;
		}
		if (bits & bit) {
			diag_add(L->d, e->file, e->line, "'%.*s' is listed "
			    "twice in 'on_breach'", (int)(b - a), a);
			return 0;
		}
		bits |= bit;
		if (*end == '\0')
			return bits;
		p = end + 1;
	}
}

static void
load_sla(struct loader *L, const struct ini_section *s)
{
	static const char *const keys[] = { "after", "within", "on_breach",
		NULL };
	const struct ini_entry *e, *after = NULL, *within = NULL;
	const struct ini_entry *breach = NULL;
	struct rules *r = L->r;
	struct rules_sla sla, *ns;
	char sn[160];
	bool ok = true;

	memset(&sla, 0, sizeof(sla));
	sla.after = -1;
	sla.on_breach = RULES_BREACH_NOTIFY;
	if (s->name == NULL) {
		diag_add(L->d, s->file, s->line, "[sla] needs a name, as in "
		    "[sla accept]");
		return;
	}
	for (size_t i = 0; i < r->nslas; i++)
		if (strcmp(r->slas[i].name, s->name) == 0) {
			diag_add(L->d, s->file, s->line, "duplicate section "
			    "%s (first at %s:%d)", sec_name(s, sn, sizeof(sn)),
			    r->slas[i].file, r->slas[i].line);
			return;
		}
	for (e = s->entries; e != NULL; e = e->next) {
		if (strcmp(e->key, "after") == 0) {
			if (twice(L, s, after, e))
				continue;
			after = e;
			sla.after = rules_stage_parse(e->value,
			    strlen(e->value));
			if (sla.after < 0) {
				diag_add(L->d, e->file, e->line, "unknown "
				    "stage '%s' in 'after' (valid stages: %s)",
				    e->value, LADDER_LIST);
				ok = false;
			}
		} else if (strcmp(e->key, "within") == 0) {
			if (twice(L, s, within, e))
				continue;
			within = e;
			if (conf_parse_duration(e->value,
			    &sla.within_ms) == -1) {
				diag_add(L->d, e->file, e->line, "invalid "
				    "duration '%s' in 'within' (%s)", e->value,
				    DURATION_HINT);
				ok = false;
			} else if (sla.within_ms <= 0) {
				diag_add(L->d, e->file, e->line, "'within' "
				    "must be longer than 0");
				ok = false;
			}
		} else if (strcmp(e->key, "on_breach") == 0) {
			if (twice(L, s, breach, e))
				continue;
			breach = e;
			if ((sla.on_breach = parse_breach(L, e)) == 0)
				ok = false;
		} else
			unknown_key(L, s, e, keys);
	}
	if (after == NULL)
		diag_add(L->d, s->file, s->line, "%s lacks 'after = STAGE'",
		    sec_name(s, sn, sizeof(sn)));
	if (within == NULL)
		diag_add(L->d, s->file, s->line, "%s lacks 'within = DURATION'",
		    sec_name(s, sn, sizeof(sn)));
	if (!ok || after == NULL || within == NULL)
		return;
	sla.file = r->file;
	sla.line = s->line;
	if ((sla.name = strdup(s->name)) == NULL ||
	    (ns = realloc(r->slas, (r->nslas + 1) * sizeof(*ns))) == NULL) {
		free(sla.name);
		diag_add(L->d, s->file, s->line, "out of memory");
		return;
	}
	r->slas = ns;
	r->slas[r->nslas++] = sla;
}

/* ---- Files -------------------------------------------------------------- */

/*
 * Compiles the rules in buf (len bytes) read as the file name.  Returns
 * them when no problem was reported, else NULL; see rules.h.
 */
struct rules *
rules_parse_buffer(const char *name, const char *buf, size_t len,
    struct diag *d)
{
	struct loader L;
	struct ini_doc *doc;
	const struct ini_section *s;
	size_t before = diag_count(d);
	char sn[160];

	memset(&L, 0, sizeof(L));
	L.d = d;
	L.buf = buf;
	L.len = len;
	if ((doc = ini_parse_buffer(name, buf, len, d)) == NULL ||
	    (L.r = rules_new(name)) == NULL || index_lines(&L) == -1) {
		diag_add(d, name, 0, "out of memory");
		goto done;
	}
	for (s = doc->sections; s != NULL; s = s->next) {
		if (strcmp(s->kind, "score") == 0)
			load_score(&L, s);
		else if (strcmp(s->kind, "stage") == 0)
			load_stage(&L, s);
		else if (strcmp(s->kind, "sla") == 0)
			load_sla(&L, s);
		else
			diag_add(d, s->file, s->line, "unknown section %s (a "
			    "rules file has [score], [stage NAME] and "
			    "[sla NAME])", sec_name(s, sn, sizeof(sn)));
	}
done:
	ini_free(doc);
	free(L.lines);
	if (diag_count(d) != before) {
		rules_free(L.r);
		return NULL;
	}
	return L.r;
}

/* Reads path whole and compiles it; see rules.h. */
struct rules *
rules_load(const char *path, struct diag *d)
{
	struct rules *r;
	char *buf, err[256];
	size_t len;

	if ((buf = file_read(path, RULES_MAX_FILE, &len, NULL, err,
	    sizeof(err))) == NULL) {
		diag_add(d, path, 0, "%s", err);
		return NULL;
	}
	r = rules_parse_buffer(path, buf, len, d);
	free(buf);
	return r;
}
