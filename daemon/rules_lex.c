/*
 * rules_lex.c - the tokenizer of the rules language (rules.h), and the
 * mapping from offsets in a value back to FILE:LINE:COL.
 *
 * Tokens: numbers ([-]digits[.digits]), double-quoted strings (\" and \\
 * are escapes, any other backslash is kept so that regexes keep theirs),
 * identifiers ([A-Za-z_][A-Za-z0-9_.-]*, keywords among them), ( ) , and
 * the operators == != < <= > >= ~.  The rule-line parser also reads raw
 * words ("+20", "30d", "25%") with rules_lex_word().  A problem is
 * reported once, at its column, and turns the token into RT_ERROR.
 */
#include "rules.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHOW_MAX        40      /* bytes of a token quoted in a message */

static int
is_blank(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' ||
	    c == '\n';
}

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
is_ident_start(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int
is_ident(int c)
{
	return is_ident_start(c) || is_digit(c) || c == '.' || c == '-';
}

static int
ascii_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* The length of the UTF-8 sequence starting at s (1 when invalid). */
static size_t
utf8_len(const char *s, size_t avail)
{
	unsigned char c = (unsigned char)s[0];
	size_t n, i;

	if (c < 0xc2)
		return 1;
	n = c < 0xe0 ? 2 : c < 0xf0 ? 3 : c < 0xf5 ? 4 : 1;
	if (n > avail)
		return 1;
	for (i = 1; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			return 1;
	return n;
}

/* ---- Positions ---------------------------------------------------------- */

void
rules_lex_init(struct rules_lexer *lx, const char *s, size_t len,
    const struct rules_src *src, struct diag *d)
{
	memset(lx, 0, sizeof(*lx));
	lx->s = s;
	lx->len = len;
	lx->src = src;
	lx->d = d;
	lx->end_name = "the end of the expression";
}

/*
 * The column of offset off of the lexer's text: the raw text is walked
 * (through the escapes of a quoted value) to the byte that produced it and
 * characters (not UTF-8 continuation bytes) are counted from col0.
 */
int
rules_lex_col(const struct rules_lexer *lx, size_t off)
{
	const struct rules_src *src = lx->src;
	size_t raw, u, i;
	int col;

	if (src == NULL || src->raw == NULL)
		return (int)off + 1;
	if (!src->quoted)
		raw = off;
	else {
		for (raw = 1, u = 0; u < off && raw < src->rawlen; u++) {
			if (src->raw[raw] == '\\' && raw + 1 < src->rawlen &&
			    (src->raw[raw + 1] == '"' ||
			    src->raw[raw + 1] == '\\'))
				raw += 2;
			else
				raw++;
		}
	}
	if (raw > src->rawlen)
		raw = src->rawlen;
	for (col = src->col0, i = 0; i < raw; i++)
		if (((unsigned char)src->raw[i] & 0xc0) != 0x80)
			col++;
	return col;
}

void
rules_lex_error(struct rules_lexer *lx, size_t off, const char *fmt, ...)
{
	char body[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	diag_add_col(lx->d, lx->src != NULL ? lx->src->file : NULL,
	    lx->src != NULL ? lx->src->line : 0, rules_lex_col(lx, off),
	    "%s", body);
	lx->failed = 1;
}

/* Quotes text (len bytes) for a message, cut after SHOW_MAX bytes at a
 * character boundary. */
static const char *
show_text(const char *t, size_t len, char *buf, size_t size)
{
	size_t n = 0;

	while (n < len && n < SHOW_MAX)
		n += utf8_len(t + n, len - n);
	if (n > len)
		n = len;
	snprintf(buf, size, "'%.*s%s'", (int)n, t, n < len ? "..." : "");
	return buf;
}

const char *
rules_lex_show(const struct rules_lexer *lx, char *buf, size_t size)
{
	if (lx->tok == RT_END) {
		snprintf(buf, size, "%s", lx->end_name);
		return buf;
	}
	return show_text(lx->s + lx->start, lx->tlen, buf, size);
}

bool
rules_lex_is(const struct rules_lexer *lx, const char *kw)
{
	size_t i;

	if (lx->tok != RT_IDENT || strlen(kw) != lx->tlen)
		return false;
	for (i = 0; i < lx->tlen; i++)
		if (ascii_lower((unsigned char)lx->s[lx->start + i]) != kw[i])
			return false;
	return true;
}

/* ---- Numbers ------------------------------------------------------------ */

/*
 * Parses the whole of s as [+-]digits[.digits].  Up to 15 significant
 * digits and 22 decimals the value is one correctly rounded division of
 * two exact doubles (the same as strtod); longer ones go through strtod.
 * Returns 0, or -1 when s is not such a number (or longer than 127).
 */
int
rules_parse_number(const char *s, size_t len, double *out)
{
	static const double pow10[] = {
		1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
		1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21,
		1e22,
	};
	size_t i = 0, ndig = 0, nfrac = 0;
	uint64_t mant = 0;
	int neg = 0, dot = 0;

	if (len > 0 && (s[0] == '-' || s[0] == '+')) {
		neg = s[0] == '-';
		i++;
	}
	if (i == len || !is_digit((unsigned char)s[i]))
		return -1;
	for (; i < len; i++) {
		if (is_digit((unsigned char)s[i])) {
			if (mant != 0 || s[i] != '0')
				ndig++;
			if (ndig <= 18)
				mant = mant * 10 + (uint64_t)(s[i] - '0');
			if (dot)
				nfrac++;
		} else if (s[i] == '.' && !dot && i + 1 < len &&
		    is_digit((unsigned char)s[i + 1]))
			dot = 1;
		else
			return -1;
	}
	if (ndig <= 15 && nfrac <= 22) {
		double v = (double)mant / pow10[nfrac];

		*out = neg ? -v : v;
		return 0;
	}
	if (len > 127)
		return -1;
	{
		char buf[128];

		memcpy(buf, s, len);
		buf[len] = '\0';
		*out = strtod(buf, NULL);
	}
	return 0;
}

/* ---- Tokens ------------------------------------------------------------- */

/* Reports an unexpected character at pos with advice when there is some. */
static void
bad_char(struct rules_lexer *lx, size_t pos)
{
	const char *p = lx->s + pos;
	size_t n = utf8_len(p, lx->len - pos);
	char shown[16];

	if (n == 1 && ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e))
		snprintf(shown, sizeof(shown), "\\x%02x", (unsigned char)*p);
	else
		snprintf(shown, sizeof(shown), "%.*s", (int)n, p);
	switch (*p) {
	case '=':
		rules_lex_error(lx, pos, "unexpected '%s' (did you mean '=='?)",
		    shown);
		return;
	case '!':
		rules_lex_error(lx, pos, "unexpected '%s' (did you mean '!=' "
		    "or 'not'?)", shown);
		return;
	case '&':
		rules_lex_error(lx, pos, "unexpected '%s' (write 'and')",
		    shown);
		return;
	case '|':
		rules_lex_error(lx, pos, "unexpected '%s' (write 'or')", shown);
		return;
	case '#':
		rules_lex_error(lx, pos, "unexpected '%s' (a comment must be "
		    "on a line of its own)", shown);
		return;
	case '\'':
		rules_lex_error(lx, pos, "unexpected '%s' (strings are in "
		    "double quotes)", shown);
		return;
	}
	if (n == 3 && (memcmp(p, "\xe2\x80\x9c", 3) == 0 ||
	    memcmp(p, "\xe2\x80\x9d", 3) == 0)) {
		rules_lex_error(lx, pos, "unexpected '%s' (strings are in "
		    "straight double quotes \")", shown);
		return;
	}
	rules_lex_error(lx, pos, "unexpected character '%s'", shown);
}

/* Reads a string starting at the '"' at lx->start. */
static enum rules_tok
lex_string(struct rules_lexer *lx)
{
	size_t i = lx->start + 1, n = 0;
	char *out;

	if ((out = malloc(lx->len - lx->start)) == NULL) {
		rules_lex_error(lx, lx->start, "out of memory");
		return lx->tok = RT_ERROR;
	}
	for (; i < lx->len; i++) {
		if (lx->s[i] == '"')
			break;
		if (lx->s[i] == '\\' && i + 1 < lx->len &&
		    (lx->s[i + 1] == '"' || lx->s[i + 1] == '\\'))
			i++;
		out[n++] = lx->s[i];
	}
	if (i >= lx->len) {
		free(out);
		rules_lex_error(lx, lx->start,
		    "unterminated string (no closing '\"')");
		lx->pos = lx->len;
		return lx->tok = RT_ERROR;
	}
	out[n] = '\0';
	lx->str = out;
	lx->slen = n;
	lx->pos = i + 1;
	lx->tlen = lx->pos - lx->start;
	return lx->tok = RT_STRING;
}

/* Reads a number starting at lx->start ('-' or a digit). */
static enum rules_tok
lex_number(struct rules_lexer *lx)
{
	size_t i = lx->start;

	if (lx->s[i] == '-')
		i++;
	while (i < lx->len && is_digit((unsigned char)lx->s[i]))
		i++;
	if (i + 1 < lx->len && lx->s[i] == '.' &&
	    is_digit((unsigned char)lx->s[i + 1]))
		for (i++; i < lx->len && is_digit((unsigned char)lx->s[i]);)
			i++;
	if (i < lx->len && is_ident((unsigned char)lx->s[i])) {
		while (i < lx->len && is_ident((unsigned char)lx->s[i]))
			i++;
		lx->tlen = i - lx->start;
		rules_lex_error(lx, lx->start, "invalid number '%.*s'",
		    (int)(lx->tlen > SHOW_MAX ? SHOW_MAX : lx->tlen),
		    lx->s + lx->start);
		lx->pos = i;
		return lx->tok = RT_ERROR;
	}
	lx->pos = i;
	lx->tlen = i - lx->start;
	if (rules_parse_number(lx->s + lx->start, lx->tlen, &lx->num) == -1) {
		rules_lex_error(lx, lx->start, "invalid number '%.*s'",
		    (int)lx->tlen, lx->s + lx->start);
		return lx->tok = RT_ERROR;
	}
	return lx->tok = RT_NUMBER;
}

static void
lex_begin(struct rules_lexer *lx)
{
	free(lx->str);
	lx->str = NULL;
	lx->slen = 0;
	if (lx->tok != RT_END || lx->tlen != 0) {
		lx->pstart = lx->start;
		lx->plen = lx->tlen;
	}
	while (lx->pos < lx->len && is_blank((unsigned char)lx->s[lx->pos]))
		lx->pos++;
	lx->start = lx->pos;
	lx->tlen = 0;
}

/*
 * Advances to the next token and returns it (also in lx->tok).  After a
 * problem (RT_ERROR, reported) the caller should stop.
 */
enum rules_tok
rules_lex_next(struct rules_lexer *lx)
{
	const char *s = lx->s;
	size_t p;
	int c;

	lex_begin(lx);
	p = lx->pos;
	if (p >= lx->len)
		return lx->tok = RT_END;
	c = (unsigned char)s[p];
	if (c == '"')
		return lex_string(lx);
	if (is_digit(c) || (c == '-' && p + 1 < lx->len &&
	    is_digit((unsigned char)s[p + 1])))
		return lex_number(lx);
	if (is_ident_start(c)) {
		while (p < lx->len && is_ident((unsigned char)s[p]))
			p++;
		lx->pos = p;
		lx->tlen = p - lx->start;
		return lx->tok = RT_IDENT;
	}
	lx->tlen = 1;
	lx->pos = p + 1;
	switch (c) {
	case '(':
		return lx->tok = RT_LPAREN;
	case ')':
		return lx->tok = RT_RPAREN;
	case ',':
		return lx->tok = RT_COMMA;
	case '~':
		return lx->tok = RT_MATCH;
	case '<':
	case '>':
		if (p + 1 < lx->len && s[p + 1] == '=') {
			lx->tlen = 2;
			lx->pos = p + 2;
			return lx->tok = c == '<' ? RT_LE : RT_GE;
		}
		return lx->tok = c == '<' ? RT_LT : RT_GT;
	case '=':
	case '!':
		if (p + 1 < lx->len && s[p + 1] == '=') {
			lx->tlen = 2;
			lx->pos = p + 2;
			return lx->tok = c == '=' ? RT_EQ : RT_NE;
		}
		break;
	}
	lx->tlen = utf8_len(s + p, lx->len - p);
	lx->pos = p + lx->tlen;
	bad_char(lx, p);
	return lx->tok = RT_ERROR;
}

/* Reads the next run of non-blank characters as one RT_IDENT "word". */
enum rules_tok
rules_lex_word(struct rules_lexer *lx)
{
	size_t p;

	lex_begin(lx);
	p = lx->pos;
	if (p >= lx->len)
		return lx->tok = RT_END;
	while (p < lx->len && !is_blank((unsigned char)lx->s[p]))
		p++;
	lx->pos = p;
	lx->tlen = p - lx->start;
	return lx->tok = RT_IDENT;
}

/* Frees what the lexer holds (a string token not taken). */
void
rules_lex_done(struct rules_lexer *lx)
{
	free(lx->str);
	lx->str = NULL;
}

const char *
rules_lex_show_prev(const struct rules_lexer *lx, char *buf, size_t size)
{
	return show_text(lx->s + lx->pstart, lx->plen, buf, size);
}

/* Edit distance of a and b (Levenshtein), capped at 9: enough to suggest
 * a name.  Names of 63 bytes or more are simply "far". */
size_t
rules_distance(const char *a, size_t al, const char *b, size_t bl)
{
	size_t row[64], prev, tmp, best, i, j;

	if (al >= 63 || bl >= 63)
		return 9;
	for (j = 0; j <= bl; j++)
		row[j] = j;
	for (i = 1; i <= al; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= bl; j++) {
			tmp = row[j];
			if (a[i - 1] == b[j - 1])
				best = prev;
			else {
				best = prev;
				if (row[j] < best)
					best = row[j];
				if (row[j - 1] < best)
					best = row[j - 1];
				best++;
			}
			row[j] = best;
			prev = tmp;
		}
	}
	return row[bl] > 9 ? 9 : row[bl];
}
