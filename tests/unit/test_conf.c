/*
 * test_conf.c - key tables applied to sections: every type, bounds,
 * defaults, unknown keys with suggestions, required and repeated keys,
 * lists, maps, env:/file:/credential: resolution, the inline-secret check
 * by file mode, and the duration/size/bool parsers at their edges.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "diag.h"
#include "ini.h"

struct tctx {
	char *name;
	char *secret;
	bool flag;
	long long count;
	long long big;
	int64_t ttl;
	uint64_t size;
	struct conf_list tags;
	struct conf_map map;
};

#define K(n, t, def, f, fl, mn, mx) \
	{ n, t, def, offsetof(struct tctx, f), fl, mn, mx, "test" }

static const struct conf_key tkeys[] = {
	K("name", CONF_STRING, "anon", name, 0, 0, 0),
	K("secret", CONF_SECRET, NULL, secret, 0, 0, 0),
	K("flag", CONF_BOOL, "yes", flag, 0, 0, 0),
	K("count", CONF_INT, "5", count, 0, 1, 10),
	K("big", CONF_INT, NULL, big, 0, 0, 0),
	K("ttl", CONF_DURATION, "30s", ttl, 0, 0, 0),
	K("size", CONF_SIZE, "1MiB", size, 0, 0, 0),
	K("tag", CONF_LIST, NULL, tags, 0, 0, 0),
	K("map", CONF_MAP, NULL, map, 0, 0, 0),
	{ 0 },
};

struct rctx {
	char *type;
	long long min_only;
};

static const struct conf_key rkeys[] = {
	{ "type", CONF_STRING, NULL, offsetof(struct rctx, type),
	    CONF_REQUIRED, 0, 0, "required" },
	{ "min_only", CONF_INT, NULL, offsetof(struct rctx, min_only), 0,
	    1000, LLONG_MAX, "at least 1000" },
	{ 0 },
};

static char tmpdir[64];

/* ---- Helpers ---------------------------------------------------------- */

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

/* Parses text as "t.conf" (mode 0600 unless changed) and applies tkeys to
 * its first section; returns conf_apply's result.  The caller releases
 * ctx and frees *docp. */
static int
apply(const char *text, mode_t mode, struct tctx *ctx, struct diag *d,
    struct ini_doc **docp)
{
	const struct conf_key *tables[] = { tkeys, NULL };
	struct diag pd = { 0 };
	struct ini_doc *doc;

	doc = ini_parse_buffer("t.conf", text, strlen(text), &pd);
	assert_non_null(doc);
	if (diag_count(&pd) != 0)
		diag_print(&pd, stderr);
	assert_int_equal(diag_count(&pd), 0);
	assert_non_null(doc->sections);
	doc->sections->file_mode = S_IFREG | mode;
	memset(ctx, 0, sizeof(*ctx));
	*docp = doc;
	return conf_apply(doc->sections, tables, ctx, NULL, d);
}

/* Applies text that must give exactly one problem, msg. */
static void
expect_apply_error(const char *text, const char *msg)
{
	struct diag d = { 0 };
	struct ini_doc *doc;
	struct tctx c;

	assert_int_equal(apply(text, 0600, &c, &d, &doc), -1);
	expect_diag(&d, 1, msg);
	conf_release(tkeys, &c);
	ini_free(doc);
	diag_clear(&d);
}

static const char *
write_tmp(const char *name, const char *text, size_t len)
{
	static char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
	return path;
}

static int
setup_dir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/baton-test-conf-XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown_dir(void **state)
{
	const char *names[] = { "secret", "nl2", "big", "empty", "cred",
	    "main.conf", NULL };
	char path[256];

	(void)state;
	for (size_t i = 0; names[i] != NULL; i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
		unlink(path);
	}
	return rmdir(tmpdir);
}

/* ---- Parsers ---------------------------------------------------------- */

static void
test_parse_duration(void **state)
{
	static const struct { const char *s; int64_t ms; } ok[] = {
		{ "500ms", 500 }, { "30s", 30000 }, { "5m", 300000 },
		{ "24h", 86400000 }, { "7d", 604800000 }, { "10", 10000 },
		{ "0", 0 }, { "0ms", 0 }, { "007s", 7000 },
		{ "9223372036854775807ms", INT64_MAX },
		{ "106751991167d", 106751991167LL * 86400000 },
	};
	static const char *const bad[] = {
		"", "-1", "+1s", "1.5s", "5 m", "5x", "ms", "s", "1S", "1ms5",
		"1h30m", " 5s", "5s ", "9223372036854775808ms",
		"9223372036854775807s", "106751991168d",
		"99999999999999999999", "184467440737095516160ms",
	};
	int64_t ms;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ms = -1;
		assert_int_equal(conf_parse_duration(ok[i].s, &ms), 0);
		assert_int_equal(ms, ok[i].ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ms = 42;
		if (conf_parse_duration(bad[i], &ms) != -1)
			fail_msg("duration '%s' was accepted", bad[i]);
		assert_int_equal(ms, 42);
	}
	assert_int_equal(conf_parse_duration(NULL, &ms), -1);
}

static void
test_parse_size(void **state)
{
	static const struct { const char *s; uint64_t b; } ok[] = {
		{ "512", 512 }, { "512B", 512 }, { "0", 0 },
		{ "64KiB", 65536 }, { "1MiB", 1048576 },
		{ "1GiB", 1073741824 }, { "1KB", 1024 }, { "1MB", 1048576 },
		{ "2GB", 2147483648ULL }, { "1kib", 1024 }, { "3K", 3072 },
		{ "1TiB", 1099511627776ULL },
		{ "17179869183GiB", 17179869183ULL << 30 },
		{ "18446744073709551615", UINT64_MAX },
	};
	static const char *const bad[] = {
		"", "-1", "1.5MiB", "MiB", "1 MiB", "1EiB", "1Mi", "1iB",
		"17179869184GiB", "18446744073709551616", "16777216TiB",
		"1MiBs", "0x10",
	};
	uint64_t b;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		b = 7;
		assert_int_equal(conf_parse_size(ok[i].s, &b), 0);
		assert_true(b == ok[i].b);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b = 7;
		if (conf_parse_size(bad[i], &b) != -1)
			fail_msg("size '%s' was accepted", bad[i]);
		assert_true(b == 7);
	}
}

static void
test_parse_bool(void **state)
{
	static const char *const yes[] = { "yes", "true", "on", "1", "YES",
	    "True" };
	static const char *const no[] = { "no", "false", "off", "0", "No",
	    "OFF" };
	static const char *const bad[] = { "", "y", "n", "2", "yes ",
	    "enabled" };
	bool b;

	(void)state;
	for (size_t i = 0; i < 6; i++) {
		b = false;
		assert_int_equal(conf_parse_bool(yes[i], &b), 0);
		assert_true(b);
		assert_int_equal(conf_parse_bool(no[i], &b), 0);
		assert_false(b);
		assert_int_equal(conf_parse_bool(bad[i], &b), -1);
	}
}

/* ---- conf_apply ------------------------------------------------------- */

static void
test_defaults(void **state)
{
	struct diag d = { 0 };
	struct ini_doc *doc;
	struct tctx c;

	(void)state;
	assert_int_equal(apply("[s]\n", 0644, &c, &d, &doc), 0);
	expect_diag(&d, 0);
	assert_string_equal(c.name, "anon");
	assert_null(c.secret);
	assert_true(c.flag);
	assert_int_equal(c.count, 5);
	assert_int_equal(c.big, 0);
	assert_int_equal(c.ttl, 30000);
	assert_true(c.size == 1048576);
	assert_int_equal(c.tags.n, 0);
	assert_int_equal(c.map.n, 0);
	conf_release(tkeys, &c);
	assert_null(c.name);
	ini_free(doc);
}

static void
test_every_type(void **state)
{
	struct diag d = { 0 };
	struct ini_doc *doc;
	const struct conf_map_entry *me;
	struct tctx c;

	(void)state;
	assert_int_equal(apply("[connector website]\n"
	    "name = \"  web site \"\n"
	    "secret = s3cr3t\n"
	    "flag = off\n"
	    "count = 10\n"
	    "big = -9223372036854775808\n"
	    "ttl = 250ms\n"
	    "size = 64KiB\n"
	    "tag = a\n"
	    "map.email = contact.email\n"
	    "tag = b b\n"
	    "map.custom.plan = plan.name\n"
	    "tag =\n", 0600, &c, &d, &doc), 0);
	expect_diag(&d, 0);
	assert_string_equal(c.name, "  web site ");
	assert_string_equal(c.secret, "s3cr3t");
	assert_false(c.flag);
	assert_int_equal(c.count, 10);
	assert_true(c.big == LLONG_MIN);
	assert_int_equal(c.ttl, 250);
	assert_true(c.size == 65536);
	assert_int_equal(c.tags.n, 3);
	assert_string_equal(c.tags.v[0], "a");
	assert_string_equal(c.tags.v[1], "b b");
	assert_string_equal(c.tags.v[2], "");
	assert_string_equal(c.tags.where[1].file, "t.conf");
	assert_int_equal(c.tags.where[1].line, 11);
	assert_int_equal(c.map.n, 2);
	me = conf_map_get(&c.map, "email");
	assert_non_null(me);
	assert_string_equal(me->value, "contact.email");
	assert_int_equal(me->where.line, 10);
	me = conf_map_get(&c.map, "custom.plan");
	assert_non_null(me);
	assert_string_equal(me->key, "custom.plan");
	assert_string_equal(me->value, "plan.name");
	assert_string_equal(me->where.file, "t.conf");
	assert_int_equal(me->where.line, 12);
	assert_null(conf_map_get(&c.map, "custom"));
	assert_null(conf_map_get(NULL, "email"));
	assert_string_equal(conf_entry(doc->sections, "tag")->value, "");
	assert_null(conf_entry(doc->sections, "nope"));

	conf_release(tkeys, &c);
	assert_null(c.name);
	assert_null(c.secret);
	assert_int_equal(c.tags.n, 0);
	assert_null(c.tags.v);
	assert_int_equal(c.map.n, 0);
	assert_null(c.map.v);
	conf_release(tkeys, &c);        /* twice is harmless */
	ini_free(doc);
}

static void
test_bad_values(void **state)
{
	(void)state;
	expect_apply_error("[s]\ncount = 0\n",
	    "t.conf:2: 'count' must be between 1 and 10, got 0");
	expect_apply_error("[s]\ncount = 11\n",
	    "t.conf:2: 'count' must be between 1 and 10, got 11");
	expect_apply_error("[s]\ncount = 3x\n",
	    "t.conf:2: invalid integer '3x' for 'count'");
	expect_apply_error("[s]\nbig = 9223372036854775808\n",
	    "t.conf:2: invalid integer '9223372036854775808' for 'big'");
	expect_apply_error("[s]\nbig =\n",
	    "t.conf:2: invalid integer '' for 'big'");
	expect_apply_error("[s]\nflag = maybe\n",
	    "t.conf:2: invalid boolean 'maybe' for 'flag' (expected yes or "
	    "no)");
	expect_apply_error("[s]\nttl = 5 minutes\n",
	    "t.conf:2: invalid duration '5 minutes' for 'ttl' (expected e.g. "
	    "500ms, 30s, 5m, 24h, 7d)");
	expect_apply_error("[s]\nsize = 1TB2\n",
	    "t.conf:2: invalid size '1TB2' for 'size' (expected e.g. 512, "
	    "64KiB, 1MiB, 1GiB)");
}

static void
test_bad_value_keeps_default(void **state)
{
	struct diag d = { 0 };
	struct ini_doc *doc;
	struct tctx c;

	(void)state;
	assert_int_equal(apply("[s]\ncount = 99\nname = set\n", 0600, &c, &d,
	    &doc), -1);
	assert_int_equal(diag_count(&d), 1);
	assert_int_equal(c.count, 5);
	assert_string_equal(c.name, "set");
	conf_release(tkeys, &c);
	ini_free(doc);
	diag_clear(&d);
}

static void
test_min_only_and_required(void **state)
{
	const struct conf_key *tables[] = { rkeys, NULL };
	struct diag d = { 0 }, pd = { 0 };
	struct ini_doc *doc;
	struct rctx c = { 0 };
	const char *text = "\n[connector website]\nmin_only = 999\n";

	(void)state;
	doc = ini_parse_buffer("t.conf", text, strlen(text), &pd);
	assert_int_equal(conf_apply(doc->sections, tables, &c, NULL, &d), -1);
	expect_diag(&d, 2,
	    "t.conf:3: 'min_only' must be at least 1000, got 999",
	    "t.conf:2: missing required key 'type' in [connector website]");
	conf_release(rkeys, &c);
	diag_clear(&d);
	ini_free(doc);

	text = "[s]\ntype = x\nmin_only = 9223372036854775807\n";
	doc = ini_parse_buffer("t.conf", text, strlen(text), &pd);
	memset(&c, 0, sizeof(c));
	assert_int_equal(conf_apply(doc->sections, tables, &c, NULL, &d), 0);
	assert_true(c.min_only == LLONG_MAX);
	assert_string_equal(c.type, "x");
	conf_release(rkeys, &c);
	ini_free(doc);
	assert_int_equal(diag_count(&pd), 0);
}

static void
test_unknown_keys(void **state)
{
	(void)state;
	expect_apply_error("[connector website]\nsecrt = x\n",
	    "t.conf:2: unknown key 'secrt' in [connector website]; did you "
	    "mean 'secret'?");
	expect_apply_error("[s]\nnmae = x\n",
	    "t.conf:2: unknown key 'nmae' in [s]; did you mean 'name'?");
	expect_apply_error("[s]\ncont = 3\n",
	    "t.conf:2: unknown key 'cont' in [s]; did you mean 'count'?");
	expect_apply_error("[s]\nzebra = x\n",
	    "t.conf:2: unknown key 'zebra' in [s]");
	expect_apply_error("[s]\nx = 1\n", "t.conf:2: unknown key 'x' in [s]");
	expect_apply_error("[s]\nmaps.email = x\n",
	    "t.conf:2: unknown key 'maps.email' in [s]");
}

static void
test_repeats(void **state)
{
	(void)state;
	expect_apply_error("[s]\nname = a\n\nname = b\n",
	    "t.conf:4: duplicate key 'name' (first set on line 2)");
	expect_apply_error("[s]\nmap.email = a\nmap.email = b\n",
	    "t.conf:3: duplicate key 'map.email' (first set on line 2)");
	expect_apply_error("[s]\nmap. = a\n",
	    "t.conf:2: key 'map.' needs a name after 'map.', as in "
	    "'map.email'");
	expect_apply_error("[s]\nmap = a\n",
	    "t.conf:2: key 'map' needs a name after 'map.', as in "
	    "'map.email'");
}

static void
test_skip(void **state)
{
	const struct conf_key *tables[] = { tkeys, NULL };
	const char *const skip[] = { "type", "role", NULL };
	const char *text = "[s]\ntype = webhook\nrole = x\nname = n\n";
	struct diag d = { 0 };
	struct ini_doc *doc;
	struct tctx c = { 0 };

	(void)state;
	doc = ini_parse_buffer("t.conf", text, strlen(text), &d);
	assert_int_equal(conf_apply(doc->sections, tables, &c, skip, &d), 0);
	expect_diag(&d, 0);
	assert_string_equal(c.name, "n");
	conf_release(tkeys, &c);
	ini_free(doc);
}

/* ---- Secrets ---------------------------------------------------------- */

static void
test_inline_secret_by_mode(void **state)
{
	struct diag d = { 0 };
	struct ini_doc *doc;
	struct tctx c;

	(void)state;
	assert_int_equal(apply("[connector website]\nsecret = hunter2\n",
	    0644, &c, &d, &doc), -1);
	expect_diag(&d, 1, "t.conf:2: inline secret for 'secret' in a file "
	    "readable by group or others (mode 0644); use env:, file: or "
	    "credential:, or chmod 600 t.conf");
	assert_null(c.secret);
	conf_release(tkeys, &c);
	ini_free(doc);
	diag_clear(&d);

	assert_int_equal(apply("[s]\nsecret = hunter2\n", 0640, &c, &d,
	    &doc), -1);
	expect_diag(&d, 1, "t.conf:2: inline secret for 'secret' in a file "
	    "readable by group or others (mode 0640); use env:, file: or "
	    "credential:, or chmod 600 t.conf");
	conf_release(tkeys, &c);
	ini_free(doc);
	diag_clear(&d);

	assert_int_equal(apply("[s]\nsecret = hunter2\n", 0600, &c, &d,
	    &doc), 0);
	assert_string_equal(c.secret, "hunter2");
	conf_release(tkeys, &c);
	ini_free(doc);

	/* Only secrets: a plain string inline is fine in any file. */
	assert_int_equal(apply("[s]\nname = hunter2\n", 0644, &c, &d, &doc),
	    0);
	conf_release(tkeys, &c);
	ini_free(doc);

	setenv("BATON_TEST_SECRET", "from-env", 1);
	assert_int_equal(apply("[s]\nsecret = env:BATON_TEST_SECRET\n", 0644,
	    &c, &d, &doc), 0);
	expect_diag(&d, 0);
	assert_string_equal(c.secret, "from-env");
	conf_release(tkeys, &c);
	ini_free(doc);
	unsetenv("BATON_TEST_SECRET");
}

static void
test_inline_secret_real_file(void **state)
{
	const struct conf_key *tables[] = { tkeys, NULL };
	char path[256], msg[1024];
	struct diag d = { 0 };
	struct ini_doc *doc;
	struct tctx c = { 0 };
	const char *p;

	(void)state;
	p = write_tmp("main.conf", "[s]\nsecret = hunter2\n", 20);
	snprintf(path, sizeof(path), "%s", p);
	assert_int_equal(chmod(path, 0604), 0);
	doc = ini_load(path, &d);
	assert_non_null(doc);
	assert_int_equal(conf_apply(doc->sections, tables, &c, NULL, &d), -1);
	snprintf(msg, sizeof(msg), "%s:2: inline secret for 'secret' in a "
	    "file readable by group or others (mode 0604); use env:, file: "
	    "or credential:, or chmod 600 %s", path, path);
	expect_diag(&d, 1, msg);
	conf_release(tkeys, &c);
	ini_free(doc);
	diag_clear(&d);

	assert_int_equal(chmod(path, 0600), 0);
	doc = ini_load(path, &d);
	assert_int_equal(conf_apply(doc->sections, tables, &c, NULL, &d), 0);
	assert_string_equal(c.secret, "hunter2");
	conf_release(tkeys, &c);
	ini_free(doc);
}

static void
test_resolve_env(void **state)
{
	struct diag d = { 0 };
	struct ini_doc *doc;
	struct tctx c;
	char err[256];
	int inl;
	char *v;

	(void)state;
	setenv("BATON_TEST_COUNT", "7", 1);
	setenv("BATON_TEST_EMPTY", "", 1);
	unsetenv("BATON_TEST_UNSET");
	/* Every type resolves env: before parsing. */
	assert_int_equal(apply("[s]\ncount = env:BATON_TEST_COUNT\n"
	    "name = env:BATON_TEST_EMPTY\ntag = env:BATON_TEST_COUNT\n",
	    0644, &c, &d, &doc), 0);
	assert_int_equal(c.count, 7);
	assert_string_equal(c.name, "");
	assert_string_equal(c.tags.v[0], "7");
	conf_release(tkeys, &c);
	ini_free(doc);

	expect_apply_error("[s]\nsecret = env:BATON_TEST_UNSET\n",
	    "t.conf:2: secret: environment variable 'BATON_TEST_UNSET' is "
	    "not set");
	expect_apply_error("[s]\nname = env:\n",
	    "t.conf:2: name: env: needs a variable name");

	v = conf_resolve_value("plain", &inl, err, sizeof(err));
	assert_string_equal(v, "plain");
	assert_int_equal(inl, 1);
	free(v);
	v = conf_resolve_value("env:BATON_TEST_COUNT", &inl, err, sizeof(err));
	assert_string_equal(v, "7");
	assert_int_equal(inl, 0);
	free(v);
	/* Only the lower-case prefixes are references. */
	v = conf_resolve_value("ENV:X", &inl, err, sizeof(err));
	assert_string_equal(v, "ENV:X");
	assert_int_equal(inl, 1);
	free(v);
	unsetenv("BATON_TEST_COUNT");
	unsetenv("BATON_TEST_EMPTY");
}

static void
test_resolve_file(void **state)
{
	char raw[512], err[512], expect[600], *v, *big;
	int inl;

	(void)state;
	/* One trailing newline goes, a second one stays. */
	snprintf(raw, sizeof(raw), "file:%s", write_tmp("secret",
	    "s3cr3t\n", 7));
	v = conf_resolve_value(raw, &inl, err, sizeof(err));
	assert_non_null(v);
	assert_string_equal(v, "s3cr3t");
	assert_int_equal(inl, 0);
	free(v);
	snprintf(raw, sizeof(raw), "file:%s", write_tmp("nl2", "a\n\n", 3));
	v = conf_resolve_value(raw, &inl, err, sizeof(err));
	assert_string_equal(v, "a\n");
	free(v);
	snprintf(raw, sizeof(raw), "file:%s", write_tmp("empty", "", 0));
	v = conf_resolve_value(raw, &inl, err, sizeof(err));
	assert_string_equal(v, "");
	free(v);

	/* 64 KiB is the limit: exactly that passes, one byte more does not. */
	big = malloc(65537);
	assert_non_null(big);
	memset(big, 'x', 65537);
	snprintf(raw, sizeof(raw), "file:%s", write_tmp("big", big, 65536));
	v = conf_resolve_value(raw, &inl, err, sizeof(err));
	assert_non_null(v);
	assert_int_equal(strlen(v), 65536);
	free(v);
	snprintf(raw, sizeof(raw), "file:%s", write_tmp("big", big, 65537));
	assert_null(conf_resolve_value(raw, &inl, err, sizeof(err)));
	snprintf(expect, sizeof(expect), "file: '%s/big': file too large "
	    "(65537 bytes; the limit is 64 KiB)", tmpdir);
	assert_string_equal(err, expect);
	free(big);

	snprintf(raw, sizeof(raw), "file:%s/nope", tmpdir);
	assert_null(conf_resolve_value(raw, &inl, err, sizeof(err)));
	snprintf(expect, sizeof(expect), "file: '%s/nope': cannot open: No "
	    "such file or directory", tmpdir);
	assert_string_equal(err, expect);

	snprintf(raw, sizeof(raw), "file:%s", tmpdir);
	assert_null(conf_resolve_value(raw, &inl, err, sizeof(err)));
	snprintf(expect, sizeof(expect), "file: '%s': not a regular file",
	    tmpdir);
	assert_string_equal(err, expect);

	assert_null(conf_resolve_value("file:relative/x", &inl, err,
	    sizeof(err)));
	assert_string_equal(err, "file: needs an absolute path, got "
	    "'relative/x'");

	snprintf(raw, sizeof(raw), "file:%s", write_tmp("secret", "a\0b",
	    3));
	assert_null(conf_resolve_value(raw, &inl, err, sizeof(err)));
	snprintf(expect, sizeof(expect), "file: '%s/secret' contains a NUL "
	    "byte", tmpdir);
	assert_string_equal(err, expect);
}

static void
test_resolve_credential(void **state)
{
	char err[512], expect[600], *v;
	struct diag d = { 0 };
	struct ini_doc *doc;
	struct tctx c;
	int inl;

	(void)state;
	write_tmp("cred", "tok\n", 4);
	unsetenv("CREDENTIALS_DIRECTORY");
	assert_null(conf_resolve_value("credential:cred", &inl, err,
	    sizeof(err)));
	assert_string_equal(err, "credential:cred needs "
	    "$CREDENTIALS_DIRECTORY (set by systemd for LoadCredential=), "
	    "which is not set");

	setenv("CREDENTIALS_DIRECTORY", tmpdir, 1);
	v = conf_resolve_value("credential:cred", &inl, err, sizeof(err));
	assert_non_null(v);
	assert_string_equal(v, "tok");
	assert_int_equal(inl, 0);
	free(v);

	assert_null(conf_resolve_value("credential:../cred", &inl, err,
	    sizeof(err)));
	assert_string_equal(err, "credential: needs a name without '/', got "
	    "'../cred'");
	assert_null(conf_resolve_value("credential:", &inl, err,
	    sizeof(err)));
	assert_string_equal(err, "credential: needs a name without '/', got "
	    "''");
	assert_null(conf_resolve_value("credential:..", &inl, err,
	    sizeof(err)));
	assert_null(conf_resolve_value("credential:gone", &inl, err,
	    sizeof(err)));
	snprintf(expect, sizeof(expect), "credential: '%s/gone': cannot "
	    "open: No such file or directory", tmpdir);
	assert_string_equal(err, expect);

	/* Through conf_apply, into a secret in a world-readable file. */
	assert_int_equal(apply("[s]\nsecret = credential:cred\n"
	    "size = credential:cred\n", 0644, &c, &d, &doc), -1);
	expect_diag(&d, 1, "t.conf:3: invalid size 'tok' for 'size' "
	    "(expected e.g. 512, 64KiB, 1MiB, 1GiB)");
	assert_string_equal(c.secret, "tok");
	conf_release(tkeys, &c);
	ini_free(doc);
	diag_clear(&d);
	unsetenv("CREDENTIALS_DIRECTORY");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_parse_bool),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_type),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_bad_value_keeps_default),
		cmocka_unit_test(test_min_only_and_required),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_repeats),
		cmocka_unit_test(test_skip),
		cmocka_unit_test(test_inline_secret_by_mode),
		cmocka_unit_test_setup_teardown(test_inline_secret_real_file,
		    setup_dir, teardown_dir),
		cmocka_unit_test(test_resolve_env),
		cmocka_unit_test_setup_teardown(test_resolve_file,
		    setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_resolve_credential,
		    setup_dir, teardown_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
