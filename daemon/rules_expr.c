/*
 * rules_expr.c - the parser, compiler and evaluator of rule expressions
 * (the language and its comparison semantics are in rules.h).
 *
 * An expression compiles to a small tree: `and` and `or` nodes hold all
 * their operands in one array (so a long chain is flat, not deep), `not`
 * one child, and the leaves are comparisons whose operands are either a
 * constant (a number, or a string with its numeric value worked out at
 * compile time) or a slot number.  Regexes are compiled once, here.
 * Nesting (parentheses and `not`) is bounded by RULES_MAX_DEPTH, so
 * neither parsing nor evaluation can run out of stack.
 *
 * Grammar:
 *   expr    := and ("or" and)*
 *   and     := not ("and" not)*
 *   not     := "not" not | primary
 *   primary := "(" expr ")" | "true" | "false" | cmp
 *   cmp     := operand ( ("=="|"!="|"<"|"<="|">"|">=") operand
 *                      | "~" STRING
 *                      | ["not"] "in" "(" literal ("," literal)* ")" )
 *   operand := NUMBER | STRING | IDENT
 */
#include "rules.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regex.h"

#define RULES_MAX_DEPTH 64

enum node_op {
	N_TRUE = 1,
	N_FALSE,
	N_AND,                  /* every kid holds */
	N_OR,                   /* some kid holds */
	N_NOT,
	N_CMP,                  /* a cmp b */
	N_STAGE,                /* stage slot a cmp the constant stage */
	N_MATCH,                /* a ~ re */
	N_IN,                   /* a in list (neg: not in) */
};

struct operand {
	int slot;               /* >= 0: a field; -1: the constant c */
	struct rules_value c;   /* c.s is owned */
	bool cnum;              /* c is a number or a numeric string */
	double cn;              /* its numeric value */
};

struct node {
	enum node_op op;
	enum rules_tok cmp;     /* N_CMP, N_STAGE: RT_EQ … RT_GE */
	bool neg;               /* N_IN: `not in` */
	struct node **kids;     /* N_AND, N_OR (nkids), N_NOT (1) */
	size_t nkids;
	struct operand a, b;    /* N_CMP: both; others: a */
	struct operand *list;   /* N_IN: constants */
	size_t nlist;
	struct regex *re;       /* N_MATCH */
	int stage;              /* N_STAGE */
};

struct rules_expr {
	struct node *root;
	struct rules_expr *next;        /* the rules' list of expressions */
};

struct parser {
	struct rules *r;
	enum rules_ctx ctx;
	struct rules_lexer *lx;
	int depth;
};

/* ---- Fields ------------------------------------------------------------- */

static const char *const lead_fields[] = {
	"email", "first_name", "last_name", "title", "company",
	"company_size", "industry", "country", "phone", NULL
};

/* Lead state other than attributes; the first three are computed. */
static const char *const state_fields[] = {
	"fit", "engagement", "score", "stage",
	"sales.status", "sales.reason", "sales.owner",
	"deal.stage", "deal.amount", "deal.currency", "deal.outcome", NULL
};

#define KNOWN_FIELDS "email, first_name, last_name, title, company, " \
	"company_size, industry, country, phone, custom.NAME, fit, " \
	"engagement, score, stage, sales.status, sales.reason, sales.owner, " \
	"deal.stage, deal.amount, deal.currency, deal.outcome"

static const char *const keywords[] = {
	"and", "or", "not", "in", "true", "false", NULL
};

static bool
span_is(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && memcmp(s, word, len) == 0;
}

/* The known field closest to name, when it is close enough, else NULL. */
static const char *
suggest(const char *name, size_t len)
{
	const char *const *lists[] = { lead_fields, state_fields };
	const char *best = NULL;
	size_t bd = 3, dist;

	for (size_t l = 0; l < 2; l++)
		for (size_t i = 0; lists[l][i] != NULL; i++) {
			dist = rules_distance(name, len, lists[l][i],
			    strlen(lists[l][i]));
			if (dist < bd) {
				bd = dist;
				best = lists[l][i];
			}
		}
	return best != NULL && bd * 2 <= len ? best : NULL;
}

static void
syntax(struct parser *p, size_t off, const char *fmt, ...) BATON_PRINTF(3, 4);

/* Reports a problem at off unless one was reported already. */
static void
syntax(struct parser *p, size_t off, const char *fmt, ...)
{
	char body[1024];
	va_list ap;

	if (p->lx->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	rules_lex_error(p->lx, off, "%s", body);
}

/*
 * The slot of the identifier that is the current token, checked against
 * the context.  Returns it, or -1 with the problem reported.
 */
static int
resolve(struct parser *p)
{
	struct rules_lexer *lx = p->lx;
	const char *name = lx->s + lx->start, *s;
	size_t len = lx->tlen, i;
	enum rules_ctx ctx = p->ctx;
	int slot;

	if (ctx == RULES_CTX_WHERE) {
		if (len <= 5 || memcmp(name, "lead.", 5) != 0) {
			slot = rules_slot_intern(p->r, RULES_NS_ACTIVITY, name,
			    len);
			goto done;
		}
		ctx = RULES_CTX_FIT;
	}
	if (len > 5 && memcmp(name, "lead.", 5) == 0) {
		name += 5;
		len -= 5;
	}
	for (i = 0; lead_fields[i] != NULL; i++)
		if (span_is(name, len, lead_fields[i]))
			break;
	if (lead_fields[i] != NULL || (len > 7 &&
	    memcmp(name, "custom.", 7) == 0)) {
		slot = rules_slot_intern(p->r, RULES_NS_LEAD, name, len);
		goto done;
	}
	for (i = 0; state_fields[i] != NULL; i++)
		if (span_is(name, len, state_fields[i]))
			break;
	if (state_fields[i] == NULL) {
		s = suggest(name, len);
		if (s != NULL)
			syntax(p, lx->start, "unknown field '%.*s' (did you "
			    "mean '%s'?)", (int)lx->tlen, lx->s + lx->start,
			    s);
		else
			syntax(p, lx->start, "unknown field '%.*s' (known "
			    "fields: %s)", (int)(lx->tlen > 64 ? 64 :
			    lx->tlen), lx->s + lx->start, KNOWN_FIELDS);
		return -1;
	}
	if (i < 3 && ctx == RULES_CTX_FIT) {
		syntax(p, lx->start, "'%.*s' cannot be used in a score rule "
		    "(fit, engagement and score are what these rules "
		    "compute)", (int)lx->tlen, lx->s + lx->start);
		return -1;
	}
	slot = rules_slot_intern(p->r, RULES_NS_LEAD, name, len);
done:
	if (slot == -1)
		syntax(p, lx->start, "out of memory");
	return slot;
}

/* ---- Nodes -------------------------------------------------------------- */

static void
operand_clear(struct operand *o)
{
	if (o->slot < 0 && o->c.kind == RULES_STRING)
		free((char *)o->c.s);
	memset(o, 0, sizeof(*o));
}

static void
node_free(struct node *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->nkids; i++)
		node_free(n->kids[i]);
	free(n->kids);
	operand_clear(&n->a);
	operand_clear(&n->b);
	for (size_t i = 0; i < n->nlist; i++)
		operand_clear(&n->list[i]);
	free(n->list);
	regex_free(n->re);
	free(n);
}

static struct node *
node_new(struct parser *p, enum node_op op)
{
	struct node *n;

	if ((n = calloc(1, sizeof(*n))) == NULL) {
		syntax(p, p->lx->start, "out of memory");
		return NULL;
	}
	n->op = op;
	n->a.slot = n->b.slot = -1;
	return n;
}

/* Adds kid to n (freeing kid on failure).  Returns 0 or -1. */
static int
node_add(struct parser *p, struct node *n, struct node *kid)
{
	struct node **k;

	k = realloc(n->kids, (n->nkids + 1) * sizeof(*k));
	if (k == NULL) {
		node_free(kid);
		syntax(p, p->lx->start, "out of memory");
		return -1;
	}
	n->kids = k;
	n->kids[n->nkids++] = kid;
	return 0;
}

/* ---- Parsing ------------------------------------------------------------ */

static struct node *parse_or(struct parser *);

static bool
is_keyword(const struct rules_lexer *lx)
{
	for (size_t i = 0; keywords[i] != NULL; i++)
		if (rules_lex_is(lx, keywords[i]))
			return true;
	return false;
}

/* Takes the current token, a number or a string, as a constant. */
static void
take_constant(struct rules_lexer *lx, struct operand *o)
{
	o->slot = -1;
	if (lx->tok == RT_NUMBER) {
		o->c = rules_number(lx->num);
		o->cnum = true;
		o->cn = lx->num;
		return;
	}
	o->c = rules_string(lx->str, lx->slen);
	lx->str = NULL;         /* now the operand's */
	o->cnum = rules_parse_number(o->c.s, o->c.len, &o->cn) == 0;
}

/*
 * Parses one operand into o; after is the operator before it ("" for a
 * left operand).  Returns 0, or -1 (reported).
 */
static int
parse_operand(struct parser *p, struct operand *o, const char *after)
{
	struct rules_lexer *lx = p->lx;
	char shown[64];

	switch (lx->tok) {
	case RT_NUMBER:
	case RT_STRING:
		take_constant(lx, o);
		break;
	case RT_IDENT:
		if (is_keyword(lx))
			goto expected;
		if ((o->slot = resolve(p)) == -1)
			return -1;
		break;
	case RT_ERROR:
		return -1;
	default:
		goto expected;
	}
	rules_lex_next(lx);
	return 0;
expected:
	syntax(p, lx->start, "expected a field, a number or a string%s%s%s, "
	    "found %s", *after ? " after '" : "", after, *after ? "'" : "",
	    rules_lex_show(lx, shown, sizeof(shown)));
	return -1;
}

static enum rules_tok
mirror(enum rules_tok t)
{
	switch (t) {
	case RT_LT:
		return RT_GT;
	case RT_LE:
		return RT_GE;
	case RT_GT:
		return RT_LT;
	case RT_GE:
		return RT_LE;
	default:
		return t;
	}
}

static const char *
op_text(enum rules_tok t)
{
	switch (t) {
	case RT_EQ:
		return "==";
	case RT_NE:
		return "!=";
	case RT_LT:
		return "<";
	case RT_LE:
		return "<=";
	case RT_GT:
		return ">";
	case RT_GE:
		return ">=";
	default:
		return "~";
	}
}

/*
 * Turns an ordering comparison with `stage` into a lifecycle comparison:
 * the other side must then be a stage name.  Returns 0 (n may have become
 * N_STAGE) or -1 (reported).
 */
static int
stage_order(struct parser *p, struct node *n, size_t aoff, size_t boff)
{
	struct operand *other;
	size_t off;
	int st;

	if (n->cmp == RT_EQ || n->cmp == RT_NE)
		return 0;
	if (n->a.slot == RULES_SLOT_STAGE && n->b.slot < 0) {
		other = &n->b;
		off = boff;
	} else if (n->b.slot == RULES_SLOT_STAGE && n->a.slot < 0) {
		other = &n->a;
		off = aoff;
		n->cmp = mirror(n->cmp);
	} else
		return 0;
	if (other->c.kind != RULES_STRING ||
	    (st = rules_stage_parse(other->c.s, other->c.len)) < 0) {
		syntax(p, off, "'stage' is compared in lifecycle order with a "
		    "stage name: subscriber, lead, mql, sal, sql, opportunity "
		    "or customer in double quotes");
		return -1;
	}
	n->op = N_STAGE;
	n->stage = st;
	operand_clear(other);
	other->slot = -1;
	n->a.slot = RULES_SLOT_STAGE;
	n->b.slot = -1;
	return 0;
}

/* Parses "( literal, … )" after `in`, the current token. */
static int
parse_list(struct parser *p, struct node *n)
{
	struct rules_lexer *lx = p->lx;
	struct operand *l;
	char shown[64];

	if (rules_lex_next(lx) != RT_LPAREN) {
		syntax(p, lx->start, "expected '(' after 'in', found %s",
		    rules_lex_show(lx, shown, sizeof(shown)));
		return -1;
	}
	for (;;) {
		rules_lex_next(lx);
		if (lx->tok != RT_NUMBER && lx->tok != RT_STRING) {
			syntax(p, lx->start, "expected a number or a string in "
			    "the 'in' list, found %s",
			    rules_lex_show(lx, shown, sizeof(shown)));
			return -1;
		}
		l = realloc(n->list, (n->nlist + 1) * sizeof(*l));
		if (l == NULL) {
			syntax(p, lx->start, "out of memory");
			return -1;
		}
		n->list = l;
		memset(&l[n->nlist], 0, sizeof(*l));
		take_constant(lx, &l[n->nlist++]);
		rules_lex_next(lx);
		if (lx->tok == RT_COMMA)
			continue;
		if (lx->tok == RT_RPAREN)
			break;
		syntax(p, lx->start, "expected ',' or ')' in the 'in' list, "
		    "found %s", rules_lex_show(lx, shown, sizeof(shown)));
		return -1;
	}
	rules_lex_next(lx);
	return 0;
}

/* Parses "~ STRING" (the current token is '~'). */
static int
parse_match(struct parser *p, struct node *n)
{
	struct rules_lexer *lx = p->lx;
	char shown[64], err[256];
	size_t erroff;

	if (rules_lex_next(lx) != RT_STRING) {
		syntax(p, lx->start, "expected a regular expression in double "
		    "quotes after '~', found %s",
		    rules_lex_show(lx, shown, sizeof(shown)));
		return -1;
	}
	n->re = regex_compile(lx->str, lx->slen, &erroff, err, sizeof(err));
	if (n->re == NULL) {
		syntax(p, lx->start, "invalid regular expression %s: %s",
		    rules_lex_show(lx, shown, sizeof(shown)), err);
		return -1;
	}
	rules_lex_next(lx);
	return 0;
}

static struct node *
parse_cmp(struct parser *p)
{
	struct rules_lexer *lx = p->lx;
	struct node *n;
	char shown[64], left[64];
	size_t aoff, boff;

	if ((n = node_new(p, N_CMP)) == NULL)
		return NULL;
	aoff = lx->start;
	if (parse_operand(p, &n->a, "") == -1)
		goto fail;
	switch (lx->tok) {
	case RT_EQ: case RT_NE: case RT_LT: case RT_LE: case RT_GT: case RT_GE:
		n->cmp = lx->tok;
		rules_lex_next(lx);
		boff = lx->start;
		if (parse_operand(p, &n->b, op_text(n->cmp)) == -1 ||
		    stage_order(p, n, aoff, boff) == -1)
			goto fail;
		return n;
	case RT_MATCH:
		n->op = N_MATCH;
		if (parse_match(p, n) == -1)
			goto fail;
		return n;
	default:
		break;
	}
	if (rules_lex_is(lx, "not")) {
		rules_lex_next(lx);
		if (!rules_lex_is(lx, "in")) {
			syntax(p, lx->start, "expected 'in' after 'not', "
			    "found %s", rules_lex_show(lx, shown,
			    sizeof(shown)));
			goto fail;
		}
		n->neg = true;
	}
	if (rules_lex_is(lx, "in")) {
		n->op = N_IN;
		if (parse_list(p, n) == -1)
			goto fail;
		return n;
	}
	syntax(p, lx->start, "expected an operator after %s, found %s",
	    rules_lex_show_prev(lx, left, sizeof(left)),
	    rules_lex_show(lx, shown, sizeof(shown)));
fail:
	node_free(n);
	return NULL;
}

static struct node *
parse_primary(struct parser *p)
{
	struct rules_lexer *lx = p->lx;
	struct node *n;
	char shown[64];
	size_t open;

	if (lx->tok == RT_LPAREN) {
		open = lx->start;
		if (++p->depth > RULES_MAX_DEPTH) {
			syntax(p, open, "expression nested more than %d levels "
			    "deep", RULES_MAX_DEPTH);
			return NULL;
		}
		rules_lex_next(lx);
		if ((n = parse_or(p)) == NULL)
			return NULL;
		p->depth--;
		if (lx->tok != RT_RPAREN) {
			syntax(p, lx->start, "expected ')' to close the '(' at "
			    "column %d, found %s", rules_lex_col(lx, open),
			    rules_lex_show(lx, shown, sizeof(shown)));
			node_free(n);
			return NULL;
		}
		rules_lex_next(lx);
		return n;
	}
	if (rules_lex_is(lx, "true") || rules_lex_is(lx, "false")) {
		n = node_new(p, rules_lex_is(lx, "true") ? N_TRUE : N_FALSE);
		rules_lex_next(lx);
		return n;
	}
	return parse_cmp(p);
}

static struct node *
parse_not(struct parser *p)
{
	struct rules_lexer *lx = p->lx;
	struct node *n, *kid;

	if (!rules_lex_is(lx, "not"))
		return parse_primary(p);
	if (++p->depth > RULES_MAX_DEPTH) {
		syntax(p, lx->start, "expression nested more than %d levels "
		    "deep", RULES_MAX_DEPTH);
		return NULL;
	}
	rules_lex_next(lx);
	if ((kid = parse_not(p)) == NULL)
		return NULL;
	p->depth--;
	if ((n = node_new(p, N_NOT)) == NULL) {
		node_free(kid);
		return NULL;
	}
	if (node_add(p, n, kid) == -1) {
		node_free(n);
		return NULL;
	}
	return n;
}

/* Parses sub ("kw" sub)* into one flat node of op. */
static struct node *
parse_chain(struct parser *p, const char *kw, enum node_op op,
    struct node *(*sub)(struct parser *))
{
	struct rules_lexer *lx = p->lx;
	struct node *first, *n, *kid;

	if ((first = sub(p)) == NULL)
		return NULL;
	if (!rules_lex_is(lx, kw))
		return first;
	if ((n = node_new(p, op)) == NULL) {
		node_free(first);
		return NULL;
	}
	if (node_add(p, n, first) == -1)
		goto fail;
	while (rules_lex_is(lx, kw)) {
		rules_lex_next(lx);
		if ((kid = sub(p)) == NULL || node_add(p, n, kid) == -1)
			goto fail;
	}
	return n;
fail:
	node_free(n);
	return NULL;
}

static struct node *
parse_and(struct parser *p)
{
	return parse_chain(p, "and", N_AND, parse_not);
}

static struct node *
parse_or(struct parser *p)
{
	return parse_chain(p, "or", N_OR, parse_and);
}

/*
 * Compiles the expression at the lexer's current token into r; the token
 * that ends it stays current.  Returns the expression (owned by r) or NULL
 * with the problem reported.
 */
struct rules_expr *
rules_expr_parse(struct rules *r, enum rules_ctx ctx, struct rules_lexer *lx)
{
	struct parser p = { r, ctx, lx, 0 };
	struct rules_expr *e;
	struct node *root;

	root = parse_or(&p);
	if (root == NULL || lx->failed) {
		node_free(root);
		return NULL;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL) {
		node_free(root);
		rules_lex_error(lx, lx->start, "out of memory");
		return NULL;
	}
	e->root = root;
	e->next = r->exprs;
	r->exprs = e;
	return e;
}

/*
 * Compiles a whole expression (src, len bytes) into r.  Returns it (owned
 * by r) or NULL with the first problem added to d as FILE:LINE:COL.
 */
struct rules_expr *
rules_expr_compile(struct rules *r, enum rules_ctx ctx, const char *src,
    size_t len, int line, int col, struct diag *d)
{
	struct rules_src where = { r->file, line, src, len, false, col };
	struct rules_lexer lx;
	struct rules_expr *e;
	char shown[64], prev[64];

	rules_lex_init(&lx, src, len, &where, d);
	rules_lex_next(&lx);
	e = rules_expr_parse(r, ctx, &lx);
	if (e != NULL && lx.tok != RT_END) {
		if (!lx.failed)
			rules_lex_error(&lx, lx.start, "expected 'and' or 'or' "
			    "after %s, found %s", rules_lex_show_prev(&lx, prev,
			    sizeof(prev)), rules_lex_show(&lx, shown,
			    sizeof(shown)));
		e = NULL;       /* stays on r's list, freed with r */
	}
	rules_lex_done(&lx);
	return e;
}

void
rules_expr_free_all(struct rules_expr *e)
{
	struct rules_expr *next;

	for (; e != NULL; e = next) {
		next = e->next;
		node_free(e->root);
		free(e);
	}
}

/* ---- Evaluation --------------------------------------------------------- */

static inline int
lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static bool
str_eq(const char *a, size_t al, const char *b, size_t bl)
{
	if (al != bl)
		return false;
	for (size_t i = 0; i < al; i++)
		if (a[i] != b[i] && lower((unsigned char)a[i]) !=
		    lower((unsigned char)b[i]))
			return false;
	return true;
}

static int
str_cmp(const char *a, size_t al, const char *b, size_t bl)
{
	size_t n = al < bl ? al : bl;

	for (size_t i = 0; i < n; i++) {
		int ca = lower((unsigned char)a[i]);
		int cb = lower((unsigned char)b[i]);

		if (ca != cb)
			return ca - cb;
	}
	return al < bl ? -1 : al > bl;
}

/* The value of an operand: its slot's or its constant. */
static inline const struct rules_value *
value_of(const struct operand *o, const struct rules_value *vals)
{
	return o->slot >= 0 ? &vals[o->slot] : &o->c;
}

/* Whether the operand's value is numeric, with the number in *d. */
static inline bool
numeric(const struct operand *o, const struct rules_value *v, double *d)
{
	if (o->slot < 0) {
		*d = o->cn;
		return o->cnum;
	}
	switch (v->kind) {
	case RULES_NUMBER:
		*d = v->num;
		return true;
	case RULES_STRING:
		return v->s != NULL &&
		    rules_parse_number(v->s, v->len, d) == 0;
	default:
		return false;
	}
}

/* The text of a string value; "" for anything else. */
static inline void
text_of(const struct rules_value *v, const char **s, size_t *len)
{
	if (v->kind == RULES_STRING && v->s != NULL) {
		*s = v->s;
		*len = v->len;
	} else {
		*s = "";
		*len = 0;
	}
}

static bool
equal(const struct operand *ao, const struct rules_value *a,
    const struct operand *bo, const struct rules_value *b)
{
	const char *as, *bs;
	size_t al, bl;
	double x, y;

	if (a->kind == RULES_NUMBER || b->kind == RULES_NUMBER)
		return numeric(ao, a, &x) && numeric(bo, b, &y) && x == y;
	text_of(a, &as, &al);
	text_of(b, &bs, &bl);
	return str_eq(as, al, bs, bl);
}

static bool
order_holds(enum rules_tok op, int c)
{
	switch (op) {
	case RT_LT:
		return c < 0;
	case RT_LE:
		return c <= 0;
	case RT_GT:
		return c > 0;
	case RT_GE:
		return c >= 0;
	default:
		return false;
	}
}

static bool
compare(const struct node *n, const struct rules_value *vals)
{
	const struct rules_value *a = value_of(&n->a, vals);
	const struct rules_value *b = value_of(&n->b, vals);
	double x, y;
	bool xn, yn;

	if (n->cmp == RT_EQ)
		return equal(&n->a, a, &n->b, b);
	if (n->cmp == RT_NE)
		return !equal(&n->a, a, &n->b, b);
	if (a->kind != RULES_NUMBER && a->kind != RULES_STRING)
		return false;
	if (b->kind != RULES_NUMBER && b->kind != RULES_STRING)
		return false;
	xn = numeric(&n->a, a, &x);
	yn = numeric(&n->b, b, &y);
	if (xn && yn)
		return order_holds(n->cmp, x < y ? -1 : x > y);
	if (a->kind == RULES_NUMBER || b->kind == RULES_NUMBER ||
	    a->s == NULL || b->s == NULL)
		return false;
	return order_holds(n->cmp, str_cmp(a->s, a->len, b->s, b->len));
}

static bool
match(const struct node *n, struct rules_eval *ev,
    const struct rules_value *vals)
{
	const struct rules_value *a = value_of(&n->a, vals);
	char buf[64];
	int rc, len;

	switch (a->kind) {
	case RULES_STRING:
		rc = regex_match(n->re, ev->rm, a->s,
		    a->s != NULL ? a->len : 0);
		break;
	case RULES_NUMBER:
		len = snprintf(buf, sizeof(buf), "%.15g", a->num);
		rc = regex_match(n->re, ev->rm, buf, (size_t)len);
		break;
	default:
		return false;
	}
	if (rc == -1)
		ev->regex_aborts++;
	return rc == 1;
}

static bool
eval_node(const struct node *n, struct rules_eval *ev,
    const struct rules_value *vals)
{
	const struct rules_value *a;
	size_t i;
	int st;

	switch (n->op) {
	case N_TRUE:
		return true;
	case N_FALSE:
		return false;
	case N_AND:
		for (i = 0; i < n->nkids; i++)
			if (!eval_node(n->kids[i], ev, vals))
				return false;
		return true;
	case N_OR:
		for (i = 0; i < n->nkids; i++)
			if (eval_node(n->kids[i], ev, vals))
				return true;
		return false;
	case N_NOT:
		return !eval_node(n->kids[0], ev, vals);
	case N_CMP:
		return compare(n, vals);
	case N_STAGE:
		a = &vals[n->a.slot];
		if (a->kind != RULES_STRING || a->s == NULL ||
		    (st = rules_stage_parse(a->s, a->len)) < 0)
			return false;
		return order_holds(n->cmp, st < n->stage ? -1 :
		    st > n->stage);
	case N_MATCH:
		return match(n, ev, vals);
	case N_IN:
		a = value_of(&n->a, vals);
		for (i = 0; i < n->nlist; i++)
			if (equal(&n->a, a, &n->list[i], &n->list[i].c))
				return !n->neg;
		return n->neg;
	}
	return false;
}

/* Evaluates e for vals (see rules.h).  Never fails. */
bool
rules_expr_eval(const struct rules_expr *e, struct rules_eval *ev,
    const struct rules_value *vals)
{
	return eval_node(e->root, ev, vals);
}
