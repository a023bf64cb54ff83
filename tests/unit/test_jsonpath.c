/*
 * test_jsonpath.c - dotted paths: every accepted form, every compile error
 * with its column, and lookups that miss or meet the wrong kind.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <baton/jsonpath.h>

static const char doc_text[] =
    "{\"contact\": {\"email\": \"ada@example.com\", \"First Name\": \"Ada\"},"
    " \"events\": [{\"id\": \"e0\"},"
    "  {\"id\": \"e1\", \"tags\": [\"a\", \"b\"]},"
    "  {\"id\": 2}],"
    " \"properties\": {\"email\": {\"value\": \"p@example.com\"}},"
    " \"identities\": [{\"value\": \"i0\"}, {\"value\": \"i1\"}],"
    " \"byname\": {\"0\": \"zero\", \"1\": {\"x\": \"one.x\"}},"
    " \"grid\": [[1, 2], [3, 4]],"
    " \"n\": null}";

static json_t *doc;

static int
setup(void **state)
{
	(void)state;
	doc = json_loads(doc_text, 0, NULL);
	return doc == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	json_decref(doc);
	return 0;
}

/* The value at path in doc as compact JSON ("" when missing). */
static char *
get(const char *path)
{
	char err[128] = "";
	struct jsonpath *p = jsonpath_compile(path, err, sizeof(err));
	json_t *v;
	char *s;

	if (p == NULL)
		fail_msg("\"%s\": %s", path, err);
	assert_string_equal(jsonpath_text(p), path);
	v = jsonpath_get(p, doc);
	s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("");
	jsonpath_free(p);
	assert_non_null(s);
	return s;
}

static void
expect_get(const char *path, const char *want)
{
	char *s = get(path);

	assert_string_equal(s, want);
	free(s);
}

static void
expect_error(const char *path, const char *want)
{
	char err[128] = "";

	assert_null(jsonpath_compile(path, err, sizeof(err)));
	assert_string_equal(err, want);
}

static void
test_names(void **state)
{
	(void)state;
	expect_get("contact.email", "\"ada@example.com\"");
	expect_get("contact.First Name", "\"Ada\"");
	expect_get("properties.email.value", "\"p@example.com\"");
	expect_get("contact", "{\"email\":\"ada@example.com\","
	    "\"First Name\":\"Ada\"}");
	expect_get("n", "null");
}

static void
test_indexes(void **state)
{
	(void)state;
	expect_get("identities[0].value", "\"i0\"");
	expect_get("identities[1].value", "\"i1\"");
	expect_get("identities.1.value", "\"i1\"");
	expect_get("events.2.id", "2");
	expect_get("events[1].tags[1]", "\"b\"");
	expect_get("events.1.tags.0", "\"a\"");
	expect_get("grid[1][0]", "3");
	expect_get("grid.0.1", "2");
	/* a bare number names a member of an object */
	expect_get("byname.0", "\"zero\"");
	expect_get("byname.1.x", "\"one.x\"");
}

static void
test_misses(void **state)
{
	(void)state;
	expect_get("contact.phone", "");
	expect_get("nothing.at.all", "");
	expect_get("identities[2].value", "");
	expect_get("events[0].id.deeper", "");
	/* a bracketed index never reads an object's member */
	expect_get("byname[0]", "");
	/* a name never indexes an array */
	expect_get("events.id", "");
	expect_get("contact[0]", "");
	expect_get("n.x", "");
}

static void
test_root_array(void **state)
{
	char err[64];
	struct jsonpath *p = jsonpath_compile("[1].id", err, sizeof(err));
	json_t *arr = json_loads("[{\"id\":\"a\"},{\"id\":\"b\"}]", 0, NULL);

	(void)state;
	assert_non_null(p);
	assert_string_equal(json_string_value(jsonpath_get(p, arr)), "b");
	assert_null(jsonpath_get(p, NULL));
	assert_null(jsonpath_get(NULL, arr));
	jsonpath_free(p);
	json_decref(arr);
	jsonpath_free(NULL);
}

static void
test_errors(void **state)
{
	(void)state;
	expect_error("", "empty path");
	expect_error(NULL, "empty path");
	expect_error(".a", "column 1: empty segment");
	expect_error("a.", "column 3: empty segment");
	expect_error("a..b", "column 3: empty segment");
	expect_error("a.[0]", "column 3: empty segment");
	expect_error("a[0", "column 2: unclosed '['");
	expect_error("a[", "column 2: unclosed '['");
	expect_error("a[-1]", "column 3: an index is a non-negative integer "
	    "in [ ]");
	expect_error("a[x]", "column 3: an index is a non-negative integer "
	    "in [ ]");
	expect_error("a[]", "column 3: an index is a non-negative integer "
	    "in [ ]");
	expect_error("a[1x]", "column 4: an index is a non-negative integer "
	    "in [ ]");
	expect_error("a[99999999999]", "column 3: index too large");
	expect_error("a[0]b", "column 5: expected '.' or '[' after ']'");
	expect_error("a]b", "column 2: unexpected ']'");
	expect_error("a.b]", "column 4: unexpected ']'");
}

static void
test_big_numbers_are_names(void **state)
{
	char err[64];
	struct jsonpath *p;
	json_t *o = json_loads("{\"99999999999\": 1}", 0, NULL);

	(void)state;
	/* too large to be an index, so only a member name */
	p = jsonpath_compile("99999999999", err, sizeof(err));
	assert_non_null(p);
	assert_int_equal(json_integer_value(jsonpath_get(p, o)), 1);
	jsonpath_free(p);
	json_decref(o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_indexes),
		cmocka_unit_test(test_misses),
		cmocka_unit_test(test_root_array),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_big_numbers_are_names),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
