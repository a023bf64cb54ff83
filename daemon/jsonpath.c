/*
 * jsonpath.c - compiled dotted paths into JSON documents (jsonpath.h).
 *
 * A path is a list of segments separated by '.': a member name (any bytes
 * but '.', '[' and ']', so "First Name" works), an index in brackets
 * ("identities[0]", "[1][2]", "[0].id" on a root array), or a bare number
 * ("items.2.id").  A bracketed index only steps into arrays.  A bare
 * number steps into an array by index and into an object by member name,
 * since JSON keys such as "0" exist in the wild.
 *
 * Compilation checks the syntax once at load time; jsonpath_get() then
 * walks without allocating.
 */
#include <baton/jsonpath.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSONPATH_INDEX_MAX 2147483647u  /* largest index accepted */

enum seg_kind {
	SEG_NAME,               /* member of an object */
	SEG_INDEX,              /* [N]: element of an array */
	SEG_NUMBER,             /* bare N: element of an array, or member "N" */
};

struct seg {
	enum seg_kind kind;
	char *name;             /* SEG_NAME, SEG_NUMBER: the text (owned) */
	size_t index;           /* SEG_INDEX, SEG_NUMBER */
};

struct jsonpath {
	char *text;             /* the path as written (owned) */
	struct seg *segs;       /* owned, n of them */
	size_t n;
};

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Parses len digits at s into *out; -1 when they overflow the limit. */
static int
parse_index(const char *s, size_t len, size_t *out)
{
	size_t v = 0;

	for (size_t i = 0; i < len; i++) {
		v = v * 10 + (size_t)(s[i] - '0');
		if (v > JSONPATH_INDEX_MAX)
			return -1;
	}
	*out = v;
	return 0;
}

static int
push_seg(struct jsonpath *p, size_t *cap, enum seg_kind kind,
    const char *name, size_t namelen, size_t index)
{
	struct seg *s;

	if (p->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 4;

		if ((s = realloc(p->segs, ncap * sizeof(*s))) == NULL)
			return -1;
		p->segs = s;
		*cap = ncap;
	}
	s = &p->segs[p->n];
	s->kind = kind;
	s->index = index;
	s->name = NULL;
	if (name != NULL && (s->name = strndup(name, namelen)) == NULL)
		return -1;
	p->n++;
	return 0;
}

/*
 * Compiles path.  Returns the compiled path (caller frees with
 * jsonpath_free()), or NULL with "column N: what" in err (N counts bytes
 * from 1), or "out of memory".
 */
struct jsonpath *
jsonpath_compile(const char *path, char *err, size_t errlen)
{
	struct jsonpath *p;
	size_t cap = 0, i = 0, len;

	if (path == NULL || path[0] == '\0') {
		snprintf(err, errlen, "empty path");
		return NULL;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->text = strdup(path)) == NULL)
		goto nomem;
	len = strlen(path);

	for (;;) {
		/* At the start of a segment. */
		if (path[i] == '[') {
			size_t open = i, start = ++i, index;

			while (i < len && is_digit(path[i]))
				i++;
			if (i == len) {
				snprintf(err, errlen, "column %zu: unclosed "
				    "'['", open + 1);
				goto fail;
			}
			if (path[i] != ']' || i == start) {
				snprintf(err, errlen, "column %zu: an index is "
				    "a non-negative integer in [ ]", i + 1);
				goto fail;
			}
			if (parse_index(path + start, i - start,
			    &index) == -1) {
				snprintf(err, errlen, "column %zu: index too "
				    "large", start + 1);
				goto fail;
			}
			if (push_seg(p, &cap, SEG_INDEX, NULL, 0, index) == -1)
				goto nomem;
			i++;    /* the ']' */
		} else {
			size_t start = i, index = 0;
			int digits = 1;
			enum seg_kind kind;

			while (i < len && path[i] != '.' && path[i] != '[') {
				if (path[i] == ']') {
					snprintf(err, errlen, "column %zu: "
					    "unexpected ']'", i + 1);
					goto fail;
				}
				digits &= is_digit(path[i]);
				i++;
			}
			if (i == start) {
				snprintf(err, errlen, "column %zu: empty "
				    "segment", i + 1);
				goto fail;
			}
			kind = SEG_NAME;
			if (digits && parse_index(path + start, i - start,
			    &index) == 0)
				kind = SEG_NUMBER;
			if (push_seg(p, &cap, kind, path + start, i - start,
			    index) == -1)
				goto nomem;
		}
		/* Between segments: end, '.' or '['. */
		if (i == len)
			break;
		if (path[i] == '.') {
			i++;
			if (i == len || path[i] == '.' || path[i] == '[') {
				snprintf(err, errlen, "column %zu: empty "
				    "segment", i + 1);
				goto fail;
			}
		} else if (path[i] != '[') {
			snprintf(err, errlen, "column %zu: expected '.' or "
			    "'[' after ']'", i + 1);
			goto fail;
		}
	}
	return p;

nomem:
	snprintf(err, errlen, "out of memory");
fail:
	jsonpath_free(p);
	return NULL;
}

/* The value at p in root (a borrowed reference), or NULL when a step is
 * missing or meets the wrong kind of value. */
json_t *
jsonpath_get(const struct jsonpath *p, json_t *root)
{
	json_t *v = root;

	if (p == NULL)
		return NULL;
	for (size_t i = 0; i < p->n && v != NULL; i++) {
		const struct seg *s = &p->segs[i];

		if (json_is_array(v) && s->kind != SEG_NAME)
			v = json_array_get(v, s->index);
		else if (json_is_object(v) && s->kind != SEG_INDEX)
			v = json_object_get(v, s->name);
		else
			v = NULL;
	}
	return v;
}

/* The path's text as compiled (owned by p). */
const char *
jsonpath_text(const struct jsonpath *p)
{
	return p->text;
}

/* Frees p; NULL and half-compiled paths are fine. */
void
jsonpath_free(struct jsonpath *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n; i++)
		free(p->segs[i].name);
	free(p->segs);
	free(p->text);
	free(p);
}
