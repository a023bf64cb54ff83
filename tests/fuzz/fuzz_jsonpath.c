/*
 * fuzz_jsonpath.c - libFuzzer target for daemon/jsonpath.c: compiles the
 * input as a path and, when it compiles, looks it up in a fixed document
 * of nested objects and arrays.  A compiled path must give back its text,
 * and a refused one must say why.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <baton/jsonpath.h>

static json_t *doc;

static const char doc_text[] =
    "{\"contact\": {\"email\": \"a@b.co\", \"First Name\": \"Ada\","
    " \"emails\": [{\"value\": \"x@y.io\"}, {\"value\": null}]},"
    " \"events\": [{\"id\": 1}, {\"id\": \"2\", \"tags\": [[1, [2]], {}]}],"
    " \"0\": {\"1\": [true, false]}, \"\": {\"\": 1},"
    " \"grid\": [[0, 1, 2], [3, 4, 5]]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jsonpath *p;
	char err[128], *path;
	json_t *v;

	if (doc == NULL && (doc = json_loads(doc_text, 0, NULL)) == NULL)
		abort();
	if ((path = malloc(size + 1)) == NULL)
		return 0;
	memcpy(path, data, size);
	path[size] = '\0';
	err[0] = '\0';
	p = jsonpath_compile(path, err, sizeof(err));
	if (p == NULL) {
		if (err[0] == '\0')
			abort();        /* refused without a reason */
	} else {
		if (strcmp(jsonpath_text(p), path) != 0)
			abort();
		/* what a path finds is part of the document: it serializes */
		if ((v = jsonpath_get(p, doc)) != NULL) {
			char *s = json_dumps(v, JSON_ENCODE_ANY);

			if (s == NULL)
				abort();
			free(s);
		}
		(void)jsonpath_get(p, json_array_get(json_object_get(doc,
		    "grid"), 1));
		jsonpath_free(p);
	}
	free(path);
	return 0;
}
