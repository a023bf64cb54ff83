/*
 * test_ini.c - the INI reader: sections, entries, quotes and escapes,
 * comments, every syntax error with its exact FILE:LINE message, limits,
 * and includes (globs, sorting, relative paths, missing files, cycles,
 * depth, file modes) on files in a temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag.h"
#include "ini.h"

/* ---- Helpers ---------------------------------------------------------- */

static struct ini_doc *
parse(const char *text, struct diag *d)
{
	struct ini_doc *doc = ini_parse_buffer("t.conf", text, strlen(text), d);

	assert_non_null(doc);
	return doc;
}

/* Asserts that d holds exactly the n messages given, in order. */
static void
expect_diag(const struct diag *d, size_t n, ...)
{
	va_list ap;

	if (diag_count(d) != n) {
		diag_print(d, stderr);
		assert_int_equal(diag_count(d), n);
	}
	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(d->msgs[i], va_arg(ap, const char *));
	va_end(ap);
}

/* Parses text that must give exactly one problem, msg. */
static void
expect_one_error(const char *text, const char *msg)
{
	struct diag d = { 0 };
	struct ini_doc *doc = parse(text, &d);

	expect_diag(&d, 1, msg);
	ini_free(doc);
	diag_clear(&d);
}

static size_t
count_sections(const struct ini_doc *doc)
{
	size_t n = 0;

	for (struct ini_section *s = doc->sections; s != NULL; s = s->next)
		n++;
	return n;
}

static char tmpdir[64];

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

static int
setup_dir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/baton-test-ini-XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown_dir(void **state)
{
	(void)state;
	return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes tmpdir/name with mode; returns the full path (static buffer
 * rotated among four). */
static const char *
write_file(const char *name, mode_t mode, const char *text)
{
	static char paths[4][512];
	static int next;
	char *path = paths[next++ % 4];
	FILE *fp;

	snprintf(path, 512, "%s/%s", tmpdir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

static void
make_dir(const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	assert_int_equal(mkdir(path, 0700), 0);
}

/* ---- Syntax ----------------------------------------------------------- */

static void
test_sections_and_entries(void **state)
{
	struct diag d = { 0 };
	struct ini_doc *doc;
	struct ini_section *s;
	struct ini_entry *e;

	(void)state;
	doc = parse("# a comment\n"
	    "; another comment\n"
	    "\n"
	    "[daemon]\n"
	    "listen = 127.0.0.1:8787\n"
	    "  key2=value with  spaces  \n"
	    "\t[connector website]   \n"
	    "type = webhook\n"
	    "empty =\n"
	    "map.custom.plan = plan.name\n"
	    "url = https://x.example/a=b#frag\n"
	    "rule = +20 if title ~ \"vp|director\"  # kept\n", &d);
	expect_diag(&d, 0);
	assert_int_equal(count_sections(doc), 2);
	assert_int_equal(doc->nfiles, 1);
	assert_string_equal(doc->files[0], "t.conf");

	s = doc->sections;
	assert_string_equal(s->kind, "daemon");
	assert_null(s->name);
	assert_string_equal(s->file, "t.conf");
	assert_int_equal(s->line, 4);
	e = s->entries;
	assert_string_equal(e->key, "listen");
	assert_string_equal(e->value, "127.0.0.1:8787");
	assert_int_equal(e->line, 5);
	assert_false(e->quoted);
	e = e->next;
	assert_string_equal(e->key, "key2");
	assert_string_equal(e->value, "value with  spaces");
	assert_int_equal(e->line, 6);
	assert_null(e->next);

	s = s->next;
	assert_string_equal(s->kind, "connector");
	assert_string_equal(s->name, "website");
	assert_int_equal(s->line, 7);
	e = s->entries;
	assert_string_equal(e->value, "webhook");
	e = e->next;
	assert_string_equal(e->key, "empty");
	assert_string_equal(e->value, "");
	e = e->next;
	assert_string_equal(e->key, "map.custom.plan");
	assert_string_equal(e->value, "plan.name");
	e = e->next;
	assert_string_equal(e->value, "https://x.example/a=b#frag");
	e = e->next;
	/* No inline comments; quotes inside a value are its own business. */
	assert_string_equal(e->value, "+20 if title ~ \"vp|director\"  # kept");
	assert_false(e->quoted);
	assert_int_equal(e->line, 12);

	assert_ptr_equal(ini_find(doc, "connector", "website"), s);
	assert_ptr_equal(ini_find(doc, "daemon", NULL), doc->sections);
	assert_null(ini_find(doc, "connector", NULL));
	assert_null(ini_find(doc, "connector", "other"));
	assert_null(ini_find(doc, "redis", NULL));
	ini_free(doc);
	diag_clear(&d);
}

static void
test_quotes_and_escapes(void **state)
{
	struct diag d = { 0 };
	struct ini_doc *doc;
	struct ini_entry *e;

	(void)state;
	doc = parse("[s]\n"
	    "a = \"  padded  \"\n"
	    "b = \"say \\\"hi\\\" to C:\\\\dir\"\n"
	    "c = \"\"\n"
	    "d = \"# not a comment\"\n"
	    "e = \"=\"\n"
	    "f = \"mql\" <= stage\n"
	    "g = \"a \\\" b\" ~ \"\\d\"\n", &d);
	expect_diag(&d, 0);
	e = doc->sections->entries;
	assert_string_equal(e->value, "  padded  ");
	assert_true(e->quoted);
	e = e->next;
	assert_string_equal(e->value, "say \"hi\" to C:\\dir");
	e = e->next;
	assert_string_equal(e->value, "");
	assert_true(e->quoted);
	e = e->next;
	assert_string_equal(e->value, "# not a comment");
	e = e->next;
	assert_string_equal(e->value, "=");
	/* Quotes that do not surround the whole value are part of it. */
	e = e->next;
	assert_string_equal(e->value, "\"mql\" <= stage");
	assert_false(e->quoted);
	e = e->next;
	assert_string_equal(e->value, "\"a \\\" b\" ~ \"\\d\"");
	assert_false(e->quoted);
	ini_free(doc);
	diag_clear(&d);
}

static void
test_crlf_bom_and_repeats(void **state)
{
	struct diag d = { 0 };
	struct ini_doc *doc;
	struct ini_entry *e;

	(void)state;
	doc = parse("\xef\xbb\xbf[daemon]\r\ninclude = a\r\ninclude = b\r\n"
	    "[daemon]\r\n", &d);
	expect_diag(&d, 0);
	/* Repeats of keys and sections are conf_apply's and config's
	 * business: the parser keeps them all. */
	assert_int_equal(count_sections(doc), 2);
	e = doc->sections->entries;
	assert_string_equal(e->key, "include");
	assert_string_equal(e->value, "a");
	assert_string_equal(e->next->value, "b");
	assert_int_equal(e->next->line, 3);
	ini_free(doc);
	diag_clear(&d);
}

static void
test_syntax_errors(void **state)
{
	(void)state;
	expect_one_error("[s]\ngarbage line\n",
	    "t.conf:2: expected 'key = value', '[section]' or a '#' comment, "
	    "got 'garbage line'");
	expect_one_error("[s]\na = \"unterminated\n",
	    "t.conf:2: unterminated quoted value (no closing '\"')");
	expect_one_error("[s]\na = \"ends in backslash\\\"\n",
	    "t.conf:2: unterminated quoted value (no closing '\"')");
	expect_one_error("[s]\na = \"lone backslash\\\n",
	    "t.conf:2: unterminated quoted value (no closing '\"')");
	expect_one_error("[s]\na = \"\n",
	    "t.conf:2: unterminated quoted value (no closing '\"')");
	expect_one_error("[s]\n  = value\n", "t.conf:2: empty key before '='");
	expect_one_error("[s]\na = \"bad \\n escape\"\n",
	    "t.conf:2: invalid escape '\\n' in quoted value (only \\\" and "
	    "\\\\ are escapes)");
	expect_one_error("[s]\na b = c\n",
	    "t.conf:2: invalid character 'space' in key 'a b' (keys are "
	    "letters, digits, '_', '-', '.')");
	expect_one_error("[s]\nk/ey = c\n",
	    "t.conf:2: invalid character '/' in key 'k/ey' (keys are "
	    "letters, digits, '_', '-', '.')");
	expect_one_error("\nlisten = x\n[daemon]\n",
	    "t.conf:2: key 'listen' outside any section (put a [section] "
	    "header before it)");
	expect_one_error("[bad!]\n",
	    "t.conf:1: invalid character '!' in section header (expected "
	    "[kind] or [kind name] of letters, digits, '_', '-', '.')");
	expect_one_error("[connector \"web\"]\n",
	    "t.conf:1: invalid character '\"' in section header (expected "
	    "[kind] or [kind name] of letters, digits, '_', '-', '.')");
	expect_one_error("[a b c]\n",
	    "t.conf:1: section header has more than a kind and a name: "
	    "'[a b c]'");
	expect_one_error("[daemon\n",
	    "t.conf:1: section header '[daemon' lacks its closing ']'");
	expect_one_error("[daemon] # note\n",
	    "t.conf:1: text after the section header: ' # note'");
	expect_one_error("[ ]\n", "t.conf:1: empty section header '[]'");
}

static void
test_errors_do_not_stop_parsing(void **state)
{
	struct diag d = { 0 };
	struct ini_doc *doc;

	(void)state;
	doc = parse("oops = 1\n[a]\nx\n[b!]\ny = 2\n[c]\nz = \"3\n"
	    "w = 4\n", &d);
	expect_diag(&d, 4,
	    "t.conf:1: key 'oops' outside any section (put a [section] "
	    "header before it)",
	    "t.conf:3: expected 'key = value', '[section]' or a '#' comment, "
	    "got 'x'",
	    "t.conf:4: invalid character '!' in section header (expected "
	    "[kind] or [kind name] of letters, digits, '_', '-', '.')",
	    "t.conf:7: unterminated quoted value (no closing '\"')");
	/* The entries under a bad header are dropped, not given to the
	 * section before it. */
	assert_int_equal(count_sections(doc), 2);
	assert_null(doc->sections->entries);
	assert_string_equal(doc->sections->next->entries->key, "w");
	assert_null(doc->sections->next->entries->next);
	ini_free(doc);
	diag_clear(&d);
}

static void
test_nul_and_long_lines(void **state)
{
	static const char text[] = "[s]\na = 1\nb = x\0y\nc = 3\n";
	struct diag d = { 0 };
	struct ini_doc *doc;
	char *big;
	size_t n = 70000;

	(void)state;
	doc = ini_parse_buffer("t.conf", text, sizeof(text) - 1, &d);
	assert_non_null(doc);
	expect_diag(&d, 1, "t.conf:3: NUL byte in the file (not a text "
	    "file?); the rest of the file is ignored");
	assert_string_equal(doc->sections->entries->key, "a");
	assert_null(doc->sections->entries->next);
	ini_free(doc);
	diag_clear(&d);

	big = malloc(n + 32);
	assert_non_null(big);
	strcpy(big, "[s]\nk = ");
	memset(big + 8, 'v', n);
	strcpy(big + 8 + n, "\nok = 1\n");
	doc = parse(big, &d);
	expect_diag(&d, 1, "t.conf:2: line longer than 65536 bytes");
	assert_string_equal(doc->sections->entries->key, "ok");
	assert_int_equal(doc->sections->entries->line, 3);
	ini_free(doc);
	diag_clear(&d);
	free(big);
}

static void
test_buffer_mode_and_empty(void **state)
{
	struct diag d = { 0 };
	struct ini_doc *doc;

	(void)state;
	doc = ini_parse_buffer("empty.conf", "", 0, &d);
	assert_non_null(doc);
	assert_null(doc->sections);
	expect_diag(&d, 0);
	ini_free(doc);
	doc = parse("[s]\ninclude = /nonexistent/*.conf\n", &d);
	/* Buffers follow no includes; sections count as mode 0600. */
	expect_diag(&d, 0);
	assert_int_equal(doc->sections->file_mode & 0777, 0600);
	ini_free(doc);
	ini_free(NULL);
	diag_clear(&d);
}

/* ---- Files and includes ----------------------------------------------- */

static void
test_load_missing_file(void **state)
{
	struct diag d = { 0 };
	char path[512], msg[1400];

	(void)state;
	snprintf(path, sizeof(path), "%s/none.conf", tmpdir);
	assert_null(ini_load(path, &d));
	snprintf(msg, sizeof(msg), "%s: cannot open: No such file or "
	    "directory", path);
	expect_diag(&d, 1, msg);
	diag_clear(&d);

	assert_null(ini_load(tmpdir, &d));
	snprintf(msg, sizeof(msg), "%s: not a regular file", tmpdir);
	expect_diag(&d, 1, msg);
	diag_clear(&d);
}

static void
test_load_modes(void **state)
{
	struct diag d = { 0 };
	struct ini_doc *doc;
	const char *p;

	(void)state;
	p = write_file("open.conf", 0644, "[redis]\nprefix = x\n");
	doc = ini_load(p, &d);
	assert_non_null(doc);
	expect_diag(&d, 0);
	assert_int_equal(doc->sections->file_mode & 07777, 0644);
	assert_string_equal(doc->sections->file, p);
	assert_string_equal(doc->files[0], p);
	ini_free(doc);

	p = write_file("closed.conf", 0600, "[redis]\nprefix = x\n");
	doc = ini_load(p, &d);
	assert_non_null(doc);
	assert_int_equal(doc->sections->file_mode & 07777, 0600);
	ini_free(doc);
	diag_clear(&d);
}

static void
test_include_glob_sorted(void **state)
{
	struct diag d = { 0 };
	struct ini_doc *doc;
	struct ini_section *s;
	char main[512], expect[512];

	(void)state;
	make_dir("conf.d");
	write_file("conf.d/b.conf", 0644, "[connector b]\ntype = webhook\n");
	write_file("conf.d/a.conf", 0600,
	    "# first\n[connector a]\ntype = webhook\n");
	write_file("conf.d/skip.txt", 0644, "not ini at all\n");
	write_file("extra.conf", 0644, "[connector x]\n");
	snprintf(main, sizeof(main), "%s",
	    write_file("main.conf", 0644, "[daemon]\n"
	    "include = conf.d/*.conf\n"
	    "include = extra.conf\n"
	    "include = empty.d/*.conf\n"
	    "[redis]\n"));
	make_dir("empty.d");

	doc = ini_load(main, &d);
	assert_non_null(doc);
	expect_diag(&d, 0);
	/* The including file's sections first, then each include in order,
	 * each glob's matches sorted. */
	s = doc->sections;
	assert_string_equal(s->kind, "daemon");
	s = s->next;
	assert_string_equal(s->kind, "redis");
	s = s->next;
	assert_string_equal(s->name, "a");
	snprintf(expect, sizeof(expect), "%s/conf.d/a.conf", tmpdir);
	assert_string_equal(s->file, expect);
	assert_int_equal(s->line, 2);
	assert_int_equal(s->file_mode & 0777, 0600);
	s = s->next;
	assert_string_equal(s->name, "b");
	assert_int_equal(s->file_mode & 0777, 0644);
	s = s->next;
	assert_string_equal(s->name, "x");
	snprintf(expect, sizeof(expect), "%s/extra.conf", tmpdir);
	assert_string_equal(s->file, expect);
	assert_null(s->next);
	assert_int_equal(doc->nfiles, 4);
	ini_free(doc);
	diag_clear(&d);
}

static void
test_include_absolute_and_nested(void **state)
{
	struct diag d = { 0 };
	struct ini_doc *doc;
	char main[512], inc[1400];

	(void)state;
	make_dir("sub");
	write_file("sub/inner.conf", 0644, "[connector inner]\n");
	/* A relative include is relative to the including file's dir. */
	write_file("sub/outer.conf", 0644,
	    "[daemon]\ninclude = inner.conf\n[connector outer]\n");
	snprintf(inc, sizeof(inc), "[daemon]\ninclude = %s/sub/out*.conf\n",
	    tmpdir);
	snprintf(main, sizeof(main), "%s", write_file("main.conf", 0644, inc));
	doc = ini_load(main, &d);
	assert_non_null(doc);
	expect_diag(&d, 0);
	assert_string_equal(ini_find(doc, "connector", "outer")->kind,
	    "connector");
	assert_non_null(ini_find(doc, "connector", "inner"));
	assert_int_equal(doc->nfiles, 3);
	ini_free(doc);
	diag_clear(&d);
}

static void
test_include_problems(void **state)
{
	struct diag d = { 0 };
	struct ini_doc *doc;
	char main[512], m1[1400], m2[1400], m3[1400];

	(void)state;
	write_file("bad.conf", 0644, "stray = 1\n[connector ok]\nnonsense\n");
	make_dir("adir.conf");
	snprintf(main, sizeof(main), "%s", write_file("main.conf", 0644,
	    "[daemon]\n"
	    "include = missing.conf\n"
	    "include = bad.conf\n"
	    "include =\n"
	    "include = adir.conf\n"
	    "[connector main]\n"
	    "include = not-followed.conf\n"));
	doc = ini_load(main, &d);
	assert_non_null(doc);
	snprintf(m1, sizeof(m1), "%s:2: include '%s/missing.conf': cannot "
	    "open: No such file or directory", main, tmpdir);
	snprintf(m2, sizeof(m2), "%s/bad.conf:3: expected 'key = value', "
	    "'[section]' or a '#' comment, got 'nonsense'", tmpdir);
	snprintf(m3, sizeof(m3), "%s:5: include '%s/adir.conf': not a "
	    "regular file", main, tmpdir);
	{
		char m4[1400], m5[1400];

		snprintf(m4, sizeof(m4), "%s:4: include needs a file name or "
		    "a glob pattern", main);
		/* An included file starts outside any section, too. */
		snprintf(m5, sizeof(m5), "%s/bad.conf:1: key 'stray' outside "
		    "any section (put a [section] header before it)", tmpdir);
		expect_diag(&d, 5, m1, m5, m2, m4, m3);
	}
	assert_non_null(ini_find(doc, "connector", "ok"));
	/* [daemon] kept only its own includes. */
	assert_string_equal(doc->sections->entries->key, "include");
	assert_null(ini_find(doc, "connector", "main")->entries->next);
	ini_free(doc);
	diag_clear(&d);
}

static void
test_include_cycles(void **state)
{
	struct diag d = { 0 };
	struct ini_doc *doc;
	char a[512], msg[1400];

	(void)state;
	snprintf(a, sizeof(a), "%s", write_file("a.conf", 0644,
	    "[daemon]\ninclude = b.conf\n[connector a]\n"));
	write_file("b.conf", 0644, "\n[daemon]\ninclude = a.conf\n");
	doc = ini_load(a, &d);
	assert_non_null(doc);
	snprintf(msg, sizeof(msg), "%s/b.conf:3: include cycle: '%s/a.conf' "
	    "is already being read", tmpdir, tmpdir);
	expect_diag(&d, 1, msg);
	ini_free(doc);
	diag_clear(&d);

	/* Read twice without a cycle: the second time is refused too. */
	write_file("twice.conf", 0644, "[connector t]\n");
	snprintf(a, sizeof(a), "%s", write_file("top.conf", 0644,
	    "[daemon]\ninclude = twice.conf\ninclude = tw*.conf\n"));
	doc = ini_load(a, &d);
	assert_non_null(doc);
	snprintf(msg, sizeof(msg), "%s:3: include '%s/twice.conf': already "
	    "read (a file is read only once)", a, tmpdir);
	expect_diag(&d, 1, msg);
	assert_int_equal(count_sections(doc), 2);
	ini_free(doc);
	diag_clear(&d);

	/* A file including itself through a glob. */
	snprintf(a, sizeof(a), "%s", write_file("self.conf", 0644,
	    "[daemon]\ninclude = sel?.conf\n"));
	doc = ini_load(a, &d);
	assert_non_null(doc);
	snprintf(msg, sizeof(msg), "%s:2: include cycle: '%s/self.conf' is "
	    "already being read", a, tmpdir);
	expect_diag(&d, 1, msg);
	ini_free(doc);
	diag_clear(&d);
}

static void
test_include_depth(void **state)
{
	struct diag d = { 0 };
	struct ini_doc *doc;
	char name[32], text[64], first[512], msg[1400];

	(void)state;
	/* f0 includes f1 ... includes f9: depth 9 is one too many. */
	for (int i = 0; i <= 9; i++) {
		snprintf(name, sizeof(name), "f%d.conf", i);
		snprintf(text, sizeof(text),
		    "[daemon]\ninclude = f%d.conf\n[connector c%d]\n", i + 1,
		    i);
		if (i == 0)
			snprintf(first, sizeof(first), "%s",
			    write_file(name, 0644, text));
		else
			write_file(name, 0644, text);
	}
	doc = ini_load(first, &d);
	assert_non_null(doc);
	snprintf(msg, sizeof(msg), "%s/f8.conf:2: includes nested deeper "
	    "than 8 levels", tmpdir);
	expect_diag(&d, 1, msg);
	assert_non_null(ini_find(doc, "connector", "c8"));
	assert_null(ini_find(doc, "connector", "c9"));
	ini_free(doc);
	diag_clear(&d);
}

static void
test_file_too_large(void **state)
{
	struct diag d = { 0 };
	char path[512], msg[1400];
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/huge.conf", tmpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 8 * 1024 * 1024 + 1), 0);
	close(fd);
	assert_null(ini_load(path, &d));
	snprintf(msg, sizeof(msg), "%s: file too large (8388609 bytes; the "
	    "limit is 8 MiB)", path);
	expect_diag(&d, 1, msg);
	diag_clear(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sections_and_entries),
		cmocka_unit_test(test_quotes_and_escapes),
		cmocka_unit_test(test_crlf_bom_and_repeats),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_errors_do_not_stop_parsing),
		cmocka_unit_test(test_nul_and_long_lines),
		cmocka_unit_test(test_buffer_mode_and_empty),
		cmocka_unit_test_setup_teardown(test_load_missing_file,
		    setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_load_modes,
		    setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_include_glob_sorted,
		    setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(
		    test_include_absolute_and_nested, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_include_problems,
		    setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_include_cycles,
		    setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_include_depth,
		    setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_file_too_large,
		    setup_dir, teardown_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
