/*
 * rules.h - the shared MQL/SQL definitions (SPEC "Shared MQL/SQL
 * definitions", a contract): rules.conf compiled into a struct rules, and
 * the pure functions that evaluate it against one lead.
 *
 * Life of a rules file:
 *   1. rules_load() (or rules_parse_buffer()) reads [score], [stage NAME]
 *      and [sla NAME], compiles every expression once and reports every
 *      problem to a struct diag as FILE:LINE: or FILE:LINE:COL: message.
 *   2. Every field an expression names is interned into a numbered slot
 *      (struct rules_slot).  The caller looks each slot up once per event
 *      (by name, in the lead's state or the activity's attributes) and
 *      passes the values as an array indexed by slot; evaluation itself
 *      does no string lookup and no allocation.
 *   3. The helpers of rules_eval.c turn values into fit points, matching
 *      engagement rules, stage changes and decayed engagement.  They read
 *      no clock and touch no Redis: time is a parameter, so the worker and
 *      the tests call the same code.
 * A loaded struct rules is immutable and may be shared by any number of
 * threads; the only mutable state is the struct rules_eval each thread
 * owns (regex scratch space and counters).
 *
 * The expression language (documented for users in conf/rules.conf):
 *   literals      42  -3  0.5  "text" (\" and \\ are escapes; any other
 *                 backslash is kept, so "\." reaches a regex as \.)
 *   fields        email first_name last_name title company company_size
 *                 industry country phone custom.NAME fit engagement score
 *                 stage sales.status sales.reason sales.owner deal.stage
 *                 deal.amount deal.currency deal.outcome (sales.* and
 *                 deal.* are these only: a typo is an error, not a
 *                 silently missing field); lead.FIELD is the same
 *                 field.  Inside `where` an identifier names an attribute
 *                 of the activity (form, url, ...; any name) and
 *                 lead.FIELD reaches the lead.
 *   comparisons   == != < <= > >=, FIELD ~ "regex", FIELD in ("a", 3),
 *                 FIELD not in (...)
 *   logic         not, and, or, parentheses, true, false; keywords are
 *                 case-insensitive; `not` binds to the comparison or group
 *                 after it, then comparisons, then and, then or.
 * Values and comparisons:
 *   - a value is a number, a string or missing (the lead has no such
 *     field, no deal exists, the activity lacks the attribute);
 *   - a string is numeric when it is entirely [+-]digits[.digits]
 *     (no spaces, no exponent);
 *   - == and != compare numerically when one side is a number and the
 *     other a number or a numeric string; otherwise as strings, ignoring
 *     ASCII case ("Qualified" == "qualified"); a number never equals a
 *     non-numeric string; a missing value equals "" and nothing else, so
 *     `deal.stage != ""` is true only when a deal with a stage exists.
 *     `a != b` is always exactly `not (a == b)`;
 *   - < <= > >= compare numerically when both sides are numbers or
 *     numeric strings; two strings that are not both numeric compare by
 *     bytes ignoring ASCII case (ISO dates order correctly); anything else
 *     (a missing side, a number against a non-numeric string) is false.
 *     `stage` against a stage name compares in lifecycle order
 *     (subscriber < lead < mql < sal < sql < opportunity < customer);
 *     a value that is no stage name ("recycled") makes that false;
 *   - `~` is false for a missing value; a number is matched in its
 *     shortest decimal form ("%.15g"); see regex.h for the regex
 *     semantics (a match abandoned at its limit counts as no match);
 *   - `x in (a, b)` is `x == a or x == b`; `x not in (...)` its negation.
 */
#ifndef BATON_RULES_H
#define BATON_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"

/* ---- Values ------------------------------------------------------------- */

enum rules_vkind {
	RULES_MISSING = 0,      /* zero-initialized arrays are all missing */
	RULES_NUMBER,
	RULES_STRING,
};

/* One slot's value for one evaluation.  Strings are borrowed: they must
 * stay valid during the evaluation call only, need not be NUL-terminated
 * and may hold any bytes. */
struct rules_value {
	enum rules_vkind kind;
	double num;             /* RULES_NUMBER */
	const char *s;          /* RULES_STRING: len bytes */
	size_t len;
};

static inline struct rules_value
rules_number(double n)
{
	struct rules_value v = { RULES_NUMBER, n, NULL, 0 };
	return v;
}

static inline struct rules_value
rules_string(const char *s, size_t len)
{
	struct rules_value v = { RULES_STRING, 0, s, len };
	return v;
}

/* ---- Slots -------------------------------------------------------------- */

/* Where a slot's value comes from. */
enum rules_ns {
	RULES_NS_LEAD = 0,      /* the lead: attributes, fit/score, sales.*,
	                           deal.*, stage */
	RULES_NS_ACTIVITY,      /* the activity event being matched (where) */
};

/* Slots every struct rules has, in this order, whether used or not. */
#define RULES_SLOT_FIT          0
#define RULES_SLOT_ENGAGEMENT   1
#define RULES_SLOT_SCORE        2
#define RULES_SLOT_STAGE        3
#define RULES_NFIXED_SLOTS      4

struct rules_slot {
	char *name;             /* "title", "custom.plan", "sales.status",
	                           "url" (owned; no "lead." prefix) */
	enum rules_ns ns;
};

/* ---- Lifecycle stages and SLAs ------------------------------------------ */

enum rules_stage {
	RULES_STAGE_SUBSCRIBER = 0,
	RULES_STAGE_LEAD,
	RULES_STAGE_MQL,
	RULES_STAGE_SAL,
	RULES_STAGE_SQL,
	RULES_STAGE_OPPORTUNITY,
	RULES_STAGE_CUSTOMER,
	RULES_NSTAGES
};

/* "subscriber" … "customer"; NULL outside the enum. */
const char *rules_stage_name(int stage);

/* The stage named s (len bytes, ASCII case ignored), or -1. */
int rules_stage_parse(const char *s, size_t len);

#define RULES_BREACH_NOTIFY     0x1u
#define RULES_BREACH_RECYCLE    0x2u

/* ---- The compiled file -------------------------------------------------- */

struct rules_expr;              /* a compiled expression, opaque */

enum rules_rule_kind {
	RULES_FIT = 1,          /* +N if EXPR */
	RULES_ENGAGEMENT,       /* +N on ACTIVITY [where EXPR] [cap N per D] */
};

/* One `rule =` line of [score]. */
struct rules_rule {
	enum rules_rule_kind kind;
	double points;                  /* whole number, may be negative */
	struct rules_expr *cond;        /* fit: the condition; engagement:
	                                   the where clause or NULL */
	char *activity;                 /* engagement: "form_submit" (owned) */
	double cap;                     /* engagement: points per window,
	                                   0 when uncapped */
	int64_t cap_window_ms;          /* the window of cap */
	char *text;                     /* the value as written (owned):
	                                   "+20 if title ~ \"vp\"" */
	const char *file;               /* owned by the struct rules */
	int line;
	size_t index;                   /* position in rules->rules; stable
	                                   for a given file, for history */
};

/* A [stage NAME] section. */
struct rules_stage_def {
	bool defined;                   /* the file has this section */
	struct rules_expr *when;
	char *text;                     /* the `when` value (owned) */
	const char *file;
	int line;                       /* of the `when` line */
};

/* A [sla NAME] section. */
struct rules_sla {
	char *name;                     /* "accept" (owned) */
	int after;                      /* enum rules_stage */
	int64_t within_ms;
	unsigned on_breach;             /* RULES_BREACH_* bits */
	const char *file;
	int line;                       /* of the section header */
};

struct rules {
	char *file;                     /* the file name used in messages */
	struct rules_rule *rules;       /* [score] rule lines, in file order */
	size_t nrules;
	size_t nfit, nengagement;       /* how many of each kind */
	double decay_pct;               /* 25 for "25% per 30d"; 0: none */
	int64_t decay_period_ms;
	int decay_line;
	struct rules_stage_def stages[RULES_NSTAGES];
	struct rules_stage_def disqualified;    /* [stage disqualified]: a
	                                           final stage off the ladder */
	struct rules_sla *slas;         /* in file order */
	size_t nslas;
	struct rules_slot *slots;       /* index = slot number */
	size_t nslots;
	struct rules_expr *exprs;       /* every compiled expression (owned) */
};

/*
 * Reads and compiles a rules file.  Every problem goes to d (INI syntax as
 * FILE:LINE:, expressions as FILE:LINE:COL: with the offending text
 * quoted; columns count characters from 1).  Returns the rules when the
 * file had no problem at all, else NULL (with everything freed).  The
 * caller frees the result with rules_free().
 */
struct rules *rules_load(const char *path, struct diag *d);

/* The same from memory (len bytes, need not be NUL-terminated); name is
 * the file name used in messages and explanations. */
struct rules *rules_parse_buffer(const char *name, const char *buf,
    size_t len, struct diag *d);

/* An empty struct rules (no rule, only the fixed slots) to which
 * expressions can be compiled with rules_expr_compile(); file is copied
 * and used in messages.  NULL when out of memory. */
struct rules *rules_new(const char *file);

/* Frees everything, including the compiled expressions; NULL is fine. */
void rules_free(struct rules *r);

/* The slot of a field, or -1 when no expression uses it. */
int rules_slot_find(const struct rules *r, enum rules_ns ns,
    const char *name);

/* ---- Expressions -------------------------------------------------------- */

/* What an expression may name. */
enum rules_ctx {
	RULES_CTX_LEAD = 0,     /* stage conditions: every lead field */
	RULES_CTX_FIT,          /* fit rules: lead fields but not fit,
	                           engagement or score */
	RULES_CTX_WHERE,        /* where clauses: activity attributes, and
	                           lead.FIELD as in RULES_CTX_FIT */
};

/*
 * Compiles src (len bytes, any bytes) into r: its fields become slots of
 * r and the expression is owned by r (freed by rules_free).  r->file,
 * line and col (the column of src[0]) place messages; the problem is added
 * to d as FILE:LINE:COL: message (compilation stops at the first one).
 * Returns the expression, or NULL.
 */
struct rules_expr *rules_expr_compile(struct rules *r, enum rules_ctx ctx,
    const char *src, size_t len, int line, int col, struct diag *d);

/* ---- Evaluation (rules_eval.c) ------------------------------------------ */

/* One thread's evaluation state: regex scratch space and counters. */
struct rules_eval {
	struct regex_matcher *rm;       /* owned */
	uint64_t regex_aborts;          /* matches given up at a limit
	                                   (counted as no match) */
};

/* NULL when out of memory.  Owned by the caller (rules_eval_free). */
struct rules_eval *rules_eval_new(void);
void rules_eval_free(struct rules_eval *ev);

/*
 * Evaluates e with vals[slot] for every slot of the rules e belongs to
 * (vals has at least r->nslots entries).  Never fails: a missing field
 * only makes comparisons false as documented above.
 */
bool rules_expr_eval(const struct rules_expr *e, struct rules_eval *ev,
    const struct rules_value *vals);

/* A rule that applied and the points it gives. */
struct rules_contrib {
	const struct rules_rule *rule;  /* borrowed from the struct rules */
	double points;
};

/*
 * Fit: the sum of the points of every fit rule whose condition holds for
 * vals.  When out is not NULL, the first max contributions are stored
 * there in file order and *nout (when not NULL) gets their number; r->nfit
 * entries are always enough.
 */
double rules_fit(const struct rules *r, struct rules_eval *ev,
    const struct rules_value *vals, struct rules_contrib *out, size_t max,
    size_t *nout);

/*
 * The engagement rules that an activity named activity (compared
 * exactly: intake lower-cases activity names) triggers, given its
 * attributes and the lead in vals: each rule `on ACTIVITY` whose where
 * clause holds (or that has none), with its points before caps, in file
 * order.  Stores up to max of them in out and returns how many apply
 * (which may exceed max).  Caps are the caller's: see rules_cap_points().
 */
size_t rules_match_activity(const struct rules *r, struct rules_eval *ev,
    const char *activity, const struct rules_value *vals,
    struct rules_contrib *out, size_t max);

/*
 * The points an engagement rule may still award now, given the magnitude
 * of what it already awarded within its cap window (awarded_in_window,
 * summed by the caller from its history over the last cap_window_ms).
 * Without a cap: rule->points.  With one: rule->points clipped so that the
 * window's total magnitude stays within cap (possibly a part, or 0), with
 * the sign of rule->points.
 */
double rules_cap_points(const struct rules_rule *rule,
    double awarded_in_window);

/*
 * Engagement after elapsed_ms of decay "P% per PERIOD", continuous and
 * exponential: engagement * (1 - P/100) ^ (elapsed_ms / PERIOD).  After
 * one period P% is gone, after two (1 - P/100)^2 remains, and decaying in
 * steps equals decaying once over their sum.  Without decay, or for
 * elapsed_ms <= 0, engagement is returned unchanged.
 */
double rules_decay(const struct rules *r, double engagement,
    int64_t elapsed_ms);

/* Whether [stage stage] is defined and its `when` holds for vals. */
bool rules_stage_holds(const struct rules *r, struct rules_eval *ev,
    int stage, const struct rules_value *vals);

/*
 * Forward-only lifecycle: the latest stage after current (an enum
 * rules_stage, or -1 for none yet) whose condition holds, or -1 when no
 * later stage's does.  A lead can skip stages (sql straight after lead).
 */
int rules_stage_next(const struct rules *r, struct rules_eval *ev,
    int current, const struct rules_value *vals);

/*
 * Writes an explanation of rule into buf (always NUL-terminated when
 * size > 0): "+20 if title ~ \"vp\" (rules.conf:2)".  Returns what
 * snprintf returns.
 */
int rules_rule_describe(const struct rules_rule *rule, char *buf,
    size_t size);

/* ---- Internal: shared by rules_lex.c, rules_expr.c and rules_load.c ----- */

enum rules_tok {
	RT_END = 0,     /* end of the text */
	RT_ERROR,       /* reported by the lexer already */
	RT_NUMBER,
	RT_STRING,
	RT_IDENT,
	RT_LPAREN, RT_RPAREN, RT_COMMA,
	RT_EQ, RT_NE, RT_LT, RT_LE, RT_GT, RT_GE, RT_MATCH,
};

/* Where a piece of text came from, to turn offsets into columns. */
struct rules_src {
	const char *file;
	int line;
	const char *raw;        /* the text as written in the file, from
	                           the start of the value: */
	size_t rawlen;
	bool quoted;            /* raw is "…" with \" and \\ escapes */
	int col0;               /* the column of raw[0] */
};

struct rules_lexer {
	const char *s;          /* the (unquoted) text being read */
	size_t len, pos;
	const struct rules_src *src;
	struct diag *d;
	/* the current token, after rules_lex_next(): */
	enum rules_tok tok;
	size_t start, tlen;     /* its text: s[start, start + tlen) */
	char *str;              /* RT_STRING: unescaped value (owned by the
	                           lexer until taken: set it to NULL) */
	size_t slen;
	double num;             /* RT_NUMBER */
	size_t pstart, plen;    /* the token before the current one */
	const char *end_name;   /* "the end of the expression" */
	int failed;             /* a problem was reported */
};

void rules_lex_init(struct rules_lexer *lx, const char *s, size_t len,
    const struct rules_src *src, struct diag *d);
enum rules_tok rules_lex_next(struct rules_lexer *lx);
/* Reads the next run of non-blank characters as one RT_IDENT token (for
 * +20, 30d, 25%); RT_END when none is left. */
enum rules_tok rules_lex_word(struct rules_lexer *lx);
void rules_lex_done(struct rules_lexer *lx);
/* Column of offset off of the lexer's text. */
int rules_lex_col(const struct rules_lexer *lx, size_t off);
/* Reports a problem at offset off (printf-style). */
void rules_lex_error(struct rules_lexer *lx, size_t off, const char *fmt,
    ...) BATON_PRINTF(3, 4);
/* The current token quoted for a message: "'title'", "'\"vp\"'" (cut
 * after 40 bytes with "...") or lx->end_name; buf holds 64 bytes or more. */
const char *rules_lex_show(const struct rules_lexer *lx, char *buf,
    size_t size);
/* The same for the token before the current one. */
const char *rules_lex_show_prev(const struct rules_lexer *lx, char *buf,
    size_t size);
/* Whether the current token is the keyword kw (ASCII case ignored). */
bool rules_lex_is(const struct rules_lexer *lx, const char *kw);
/* Edit distance of a and b, capped at 9 (for "did you mean"). */
size_t rules_distance(const char *a, size_t al, const char *b, size_t bl);
/* Parses the whole of s as [+-]digits[.digits]; 0 or -1. */
int rules_parse_number(const char *s, size_t len, double *out);

/* Compiles the expression starting at the lexer's current token, up to a
 * token that cannot continue it (left current), into r (which owns it).
 * NULL on a problem (reported). */
struct rules_expr *rules_expr_parse(struct rules *r, enum rules_ctx ctx,
    struct rules_lexer *lx);
/* Frees a list of expressions linked through their next pointers. */
void rules_expr_free_all(struct rules_expr *e);
/* The slot of (ns, name[0, len)), added when new; -1 when out of memory. */
int rules_slot_intern(struct rules *r, enum rules_ns ns, const char *name,
    size_t len);

#endif
