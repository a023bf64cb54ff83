/*
 * jsonpath.h - the dotted paths that map webhook bodies to canonical
 * fields: `contact.email`, `events`, `properties.email.value`,
 * `identities[0].value`, `items.2.id` (a numeric segment indexes an
 * array).  Compiled once at load, so a bad path is a configuration error
 * with its line, not a surprise on the first request.
 */
#ifndef BATON_JSONPATH_H
#define BATON_JSONPATH_H

#include <stddef.h>

#include <jansson.h>

struct jsonpath;

/*
 * Compiles a path: segments separated by '.', each a member name or an
 * array index written [N] or as a bare number.  Empty segments, an
 * unclosed '[', a negative or non-numeric index are errors.  Returns the
 * compiled path (free with jsonpath_free), or NULL with a message in err
 * naming the column.
 */
struct jsonpath *jsonpath_compile(const char *path, char *err, size_t errlen);

/* The value at the path in root (borrowed), or NULL when any step is
 * missing or of the wrong kind. */
json_t *jsonpath_get(const struct jsonpath *p, json_t *root);

/* The source text of the path, as compiled. */
const char *jsonpath_text(const struct jsonpath *p);

void jsonpath_free(struct jsonpath *p);

#endif
