/*
 * test_config.c - batond.conf as a whole: the fixture in
 * tests/data/conf/full (every [daemon]/[redis] key, connectors in an
 * included directory), defaults, section rules, listen/log_level/prefix/
 * url checks, the Redis URL password check by file mode, and connector
 * instances (type, role, init errors at their key's line, lifecycle order)
 * against small fake descriptors installed with the test-only hook
 * connectors_set_types_for_test(), so that these tests do not depend on
 * the real connectors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "config.h"
#include "rules.h"
#include "connectors.h"

/* connectors.c, test only. */
void connectors_set_types_for_test(const struct connector *const *types);

#define FULL BATON_TEST_DATA "/conf/full"

/* ---- Fake connector types --------------------------------------------- */

static char calls[512];         /* "init:website stop:website ..." */

static void
record(const char *what, struct connector_instance *ci)
{
	size_t n = strlen(calls);

	snprintf(calls + n, sizeof(calls) - n, "%s%s:%s", n ? " " : "",
	    what, connector_name(ci));
}

struct fake_hook {
	char *secret;
	bool insecure;
	char *items;
	char *event;
	struct conf_map map;
	char *added;            /* allocated by init, freed by destroy */
};

static const struct conf_key fake_hook_keys[] = {
	{ "secret", CONF_SECRET, NULL, offsetof(struct fake_hook, secret), 0,
	    0, 0, "HMAC key" },
	{ "insecure", CONF_BOOL, "no", offsetof(struct fake_hook, insecure),
	    0, 0, 0, "allow no secret" },
	{ "items", CONF_STRING, NULL, offsetof(struct fake_hook, items), 0,
	    0, 0, "array path" },
	{ "event", CONF_STRING, "lead.activity",
	    offsetof(struct fake_hook, event), 0, 0, 0, "event type" },
	{ "map", CONF_MAP, NULL, offsetof(struct fake_hook, map), 0, 0, 0,
	    "field paths" },
	{ 0 },
};

static int
fake_hook_init(struct connector_instance *ci)
{
	struct fake_hook *h = connector_ctx(ci);
	char key[128];
	int rc = 0;

	record("init", ci);
	if ((h->added = strdup("x")) == NULL)
		return -1;
	if (h->secret == NULL && !h->insecure) {
		connector_conf_error(ci, "secret", "a secret is required "
		    "unless insecure = yes");
		rc = -1;
	}
	for (size_t i = 0; i < h->map.n; i++)
		if (strchr(h->map.v[i].value, ' ') != NULL) {
			snprintf(key, sizeof(key), "map.%s", h->map.v[i].key);
			connector_conf_error(ci, key, "path '%s' has a space",
			    h->map.v[i].value);
			rc = -1;
		}
	if (h->items != NULL && strcmp(h->items, "fail-quietly") == 0)
		rc = -1;
	return rc;
}

static void
fake_stop(struct connector_instance *ci)
{
	record("stop", ci);
}

static void
fake_hook_destroy(struct connector_instance *ci)
{
	struct fake_hook *h = connector_ctx(ci);

	record("destroy", ci);
	free(h->added);
}

static int
fake_init(struct connector_instance *ci)
{
	record("init", ci);
	return 0;
}

static void
fake_destroy(struct connector_instance *ci)
{
	record("destroy", ci);
}

static const struct connector fake_webhook = {
	.name = "webhook",
	.roles = CONNECTOR_ROLE_MARKETING,
	.keys = fake_hook_keys,
	.ctx_size = sizeof(struct fake_hook),
	.init = fake_hook_init,
	.stop = fake_stop,
	.destroy = fake_hook_destroy,
};

static const struct connector fake_crm = {
	.name = "crm",
	.roles = CONNECTOR_ROLE_MARKETING | CONNECTOR_ROLE_SALES,
	.init = fake_init,
	.stop = fake_stop,
	.destroy = fake_destroy,
};

static const struct connector fake_noinit = {
	.name = "noinit",
	.roles = CONNECTOR_ROLE_NOTIFY,
};

static const struct connector *const fake_types[] = {
	&fake_webhook, &fake_crm, &fake_noinit, NULL,
};

/* ---- Helpers ---------------------------------------------------------- */

static char tmpdir[64];
static char conf_path[128];

static int
setup(void **state)
{
	(void)state;
	connectors_set_types_for_test(fake_types);
	calls[0] = '\0';
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/baton-test-config-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(conf_path, sizeof(conf_path), "%s/batond.conf", tmpdir);
	return 0;
}

static int
teardown(void **state)
{
	const char *names[] = { "batond.conf", "c.d/1.conf", "c.d/2.conf",
	    "c.d", NULL };
	char path[256];

	(void)state;
	connectors_set_types_for_test(NULL);
	for (size_t i = 0; names[i] != NULL; i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
		remove(path);
	}
	return rmdir(tmpdir);
}

static void
write_conf(const char *path, mode_t mode, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, mode), 0);
}

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

/* Loads text (written to conf_path with mode 0600) expecting success. */
static struct config *
load_ok(const char *text)
{
	struct diag d = { 0 };
	struct config *c;

	write_conf(conf_path, 0600, text);
	c = config_load(conf_path, NULL, &d);
	if (c == NULL)
		diag_print(&d, stderr);
	assert_non_null(c);
	expect_diag(&d, 0);
	return c;
}

/* Loads text (mode 0600) expecting exactly one problem: conf_path, ':',
 * then msg. */
static void
load_fails(const char *text, const char *msg)
{
	struct diag d = { 0 };
	char full[1024];

	write_conf(conf_path, 0600, text);
	assert_null(config_load(conf_path, NULL, &d));
	snprintf(full, sizeof(full), "%s:%s", conf_path, msg);
	expect_diag(&d, 1, full);
	diag_clear(&d);
}

/* ---- The full example ------------------------------------------------- */

static void
test_full_fixture(void **state)
{
	struct diag d = { 0 };
	struct connector_instance *ci;
	struct fake_hook *h;
	struct config *c;

	(void)state;
	setenv("WEBSITE_HOOK_SECRET", "hook-secret", 1);
	setenv("BATON_TEST_REDIS_PASSWORD", "pw", 1);
	c = config_load(FULL "/batond.conf", NULL, &d);
	if (c == NULL)
		diag_print(&d, stderr);
	assert_non_null(c);
	assert_int_equal(c->refs, 1);
	assert_string_equal(c->path, FULL "/batond.conf");

	assert_string_equal(c->daemon.listen, "127.0.0.1:18787");
	assert_string_equal(c->daemon.log_level_name, "debug");
	assert_int_equal(c->daemon.log_level, LOG_LEVEL_DEBUG);
	assert_true(c->daemon.max_body == 2 * 1024 * 1024);
	assert_string_equal(c->daemon.rules, FULL "/rules.conf");
	assert_non_null(c->rules);
	assert_int_equal(c->rules->nrules, 6);
	assert_int_equal(c->daemon.include.n, 1);
	assert_string_equal(c->daemon.include.v[0], "connectors.d/*.conf");
	assert_int_equal(c->daemon.dedupe_ttl_ms, 86400000);
	assert_int_equal(c->daemon.max_events, 500);
	assert_int_equal(c->daemon.max_inflight, 200);
	assert_int_equal(c->daemon.shutdown_timeout_ms, 10000);
	assert_int_equal(c->daemon.request_timeout_ms, 15000);

	assert_string_equal(c->redis.url, "redis://127.0.0.1:6390/2");
	assert_string_equal(c->redis.username, "baton");
	assert_string_equal(c->redis.password, "pw");
	assert_string_equal(c->redis.prefix, "baton-test");
	assert_int_equal(c->redis.stream_maxlen, 5000);
	assert_int_equal(c->redis.connect_timeout_ms, 500);
	assert_int_equal(c->redis.command_timeout_ms, 1000);
	assert_int_equal(c->redis.reconnect_max_ms, 30000);

	assert_int_equal(c->nconnectors, 2);
	ci = config_connector(c, "website");
	assert_ptr_equal(ci, c->connectors[0]);
	assert_string_equal(connector_name(ci), "website");
	assert_ptr_equal(connector_descriptor(ci), &fake_webhook);
	assert_int_equal(connector_role(ci), CONNECTOR_ROLE_MARKETING);
	assert_null(connector_base(ci));
	h = connector_ctx(ci);
	assert_string_equal(h->secret, "hook-secret");
	assert_false(h->insecure);
	assert_string_equal(h->items, "events");
	assert_string_equal(h->event, "lead.activity");
	assert_int_equal(h->map.n, 5);
	assert_string_equal(conf_map_get(&h->map, "at")->value, "ts");
	assert_int_equal(conf_map_get(&h->map, "at")->where.line, 13);
	assert_string_equal(conf_map_get(&h->map, "at")->where.file,
	    FULL "/connectors.d/10-website.conf");
	ci = config_connector(c, "crm");
	assert_non_null(ci);
	assert_int_equal(connector_role(ci), CONNECTOR_ROLE_SALES);
	assert_null(config_connector(c, "nope"));
	assert_null(config_connector(c, NULL));
	assert_string_equal(calls, "init:website init:crm");

	/* References: the last unref stops all, then destroys all. */
	assert_ptr_equal(config_ref(c), c);
	assert_int_equal(c->refs, 2);
	config_unref(c);
	assert_string_equal(calls, "init:website init:crm");
	config_unref(c);
	assert_string_equal(calls, "init:website init:crm stop:website "
	    "stop:crm destroy:website destroy:crm");
	config_unref(NULL);
	assert_null(config_ref(NULL));

	/* The secret is required from the environment. */
	unsetenv("WEBSITE_HOOK_SECRET");
	calls[0] = '\0';
	assert_null(config_load(FULL "/batond.conf", NULL, &d));
	expect_diag(&d, 1, FULL "/connectors.d/10-website.conf:5: secret: "
	    "environment variable 'WEBSITE_HOOK_SECRET' is not set");
	/* website failed before init; crm was built and then freed. */
	assert_string_equal(calls, "init:crm stop:crm destroy:crm");
	diag_clear(&d);
	unsetenv("BATON_TEST_REDIS_PASSWORD");
}

static void
test_defaults(void **state)
{
	struct config *c;

	(void)state;
	c = load_ok("# nothing but a comment\n");
	assert_string_equal(c->daemon.listen, "127.0.0.1:8787");
	assert_string_equal(c->daemon.log_level_name, "info");
	assert_int_equal(c->daemon.log_level, LOG_LEVEL_INFO);
	assert_true(c->daemon.max_body == 1024 * 1024);
	assert_null(c->daemon.rules);
	assert_int_equal(c->daemon.include.n, 0);
	assert_int_equal(c->daemon.dedupe_ttl_ms, 7 * 86400000LL);
	assert_int_equal(c->daemon.max_events, 1000);
	assert_int_equal(c->daemon.max_inflight, 10000);
	assert_int_equal(c->daemon.shutdown_timeout_ms, 5000);
	assert_int_equal(c->daemon.request_timeout_ms, 30000);
	assert_int_equal(c->daemon.max_connections, 1024);
	assert_int_equal(c->daemon.header_timeout_ms, 10000);
	assert_int_equal(c->daemon.body_timeout_ms, 30000);
	assert_true(c->daemon.max_header_size == 16 * 1024);
	assert_int_equal(c->daemon.max_headers, 100);
	assert_string_equal(c->redis.url, "redis://127.0.0.1:6379/0");
	assert_null(c->redis.username);
	assert_null(c->redis.password);
	assert_string_equal(c->redis.prefix, "baton");
	assert_int_equal(c->redis.stream_maxlen, 1000000);
	assert_int_equal(c->redis.connect_timeout_ms, 2000);
	assert_int_equal(c->redis.command_timeout_ms, 5000);
	assert_int_equal(c->redis.reconnect_max_ms, 5000);
	assert_int_equal(c->nconnectors, 0);
	config_unref(c);

	/* An absolute rules path is kept as written. */
	c = load_ok("[daemon]\nrules = " FULL "/rules.conf\n");
	assert_string_equal(c->daemon.rules, FULL "/rules.conf");
	assert_non_null(c->rules);      /* compiled with the rest */
	config_unref(c);
}

static void
test_missing_file(void **state)
{
	struct diag d = { 0 };
	char msg[256];

	(void)state;
	assert_null(config_load(conf_path, NULL, &d));
	snprintf(msg, sizeof(msg), "%s: cannot open: No such file or "
	    "directory", conf_path);
	expect_diag(&d, 1, msg);
	diag_clear(&d);
}

/* ---- Sections --------------------------------------------------------- */

static void
test_sections(void **state)
{
	struct diag d = { 0 };
	char m[8][512];

	(void)state;
	write_conf(conf_path, 0600,
	    "[daemon]\n"                /* 1 */
	    "[daemon]\n"                /* 2 */
	    "[redis x]\n"               /* 3 */
	    "[score]\n"                 /* 4 */
	    "rule = +1 if x\n"          /* 5 */
	    "[stage mql]\n"             /* 6 */
	    "[foo]\n"                   /* 7 */
	    "[connector]\n"             /* 8 */
	    "[connector bad.name]\n"    /* 9 */
	    "[connector a]\n"           /* 10 */
	    "type = crm\n"              /* 11 */
	    "role = sales\n"            /* 12 */
	    "[connector a]\n"           /* 13 */
	    "[connector "
	    "x2345678901234567890123456789012345678901234567890123456789012345"
	    "]\n"                       /* 14 */
	    "[daemon]\n"                /* 15 */
	    "bogus = 1\n");             /* 16 */
	assert_null(config_load(conf_path, NULL, &d));
	/* Line 2: a further [daemon] holding only includes is fine. */
	snprintf(m[0], 512, "%s:3: section [redis] takes no name, got "
	    "[redis x]", conf_path);
	snprintf(m[1], 512, "%s:4: unknown section [score]; rule sections "
	    "belong in the file named by 'rules =' in [daemon]", conf_path);
	snprintf(m[2], 512, "%s:6: unknown section [stage mql]; rule sections "
	    "belong in the file named by 'rules =' in [daemon]", conf_path);
	snprintf(m[3], 512, "%s:7: unknown section [foo] (expected [daemon], "
	    "[redis] or [connector NAME])", conf_path);
	snprintf(m[4], 512, "%s:8: section [connector] needs a name: "
	    "[connector NAME]", conf_path);
	snprintf(m[5], 512, "%s:9: invalid connector name 'bad.name' (1 to "
	    "64 letters, digits, '_' or '-')", conf_path);
	snprintf(m[6], 512, "%s:13: duplicate connector 'a' (first defined at "
	    "%s:10)", conf_path, conf_path);
	snprintf(m[7], 512, "%s:14: invalid connector name '%s' (1 to 64 "
	    "letters, digits, '_' or '-')", conf_path,
	    "x2345678901234567890123456789012345678901234567890123456789012345");
	{
		char m9[512];

		snprintf(m9, 512, "%s:15: duplicate section [daemon] (first "
		    "at %s:1); a further [daemon] may hold only 'include ='",
		    conf_path, conf_path);
		expect_diag(&d, 9, m[0], m[1], m[2], m[3], m[4], m[5],
		    m[6], m[7], m9);
	}
	/* The one good connector was built, then freed with the config. */
	assert_string_equal(calls, "init:a stop:a destroy:a");
	diag_clear(&d);
}

static void
test_duplicate_connector_across_files(void **state)
{
	struct diag d = { 0 };
	char dir[128], p1[160], p2[160], msg[512];

	(void)state;
	snprintf(dir, sizeof(dir), "%s/c.d", tmpdir);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(p1, sizeof(p1), "%s/1.conf", dir);
	snprintf(p2, sizeof(p2), "%s/2.conf", dir);
	write_conf(p1, 0644, "[connector web]\ntype = crm\nrole = sales\n");
	write_conf(p2, 0644, "\n\n[connector web]\ntype = crm\n");
	write_conf(conf_path, 0644, "[daemon]\ninclude = c.d/*.conf\n");
	assert_null(config_load(conf_path, NULL, &d));
	snprintf(msg, sizeof(msg), "%s:3: duplicate connector 'web' (first "
	    "defined at %s:1)", p2, p1);
	expect_diag(&d, 1, msg);
	diag_clear(&d);
}

static void
test_nested_include(void **state)
{
	char dir[128], p1[160], p2[160];
	struct config *c;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/c.d", tmpdir);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(p1, sizeof(p1), "%s/1.conf", dir);
	snprintf(p2, sizeof(p2), "%s/2.conf", dir);
	/* 1.conf includes 2.conf (not matched by the outer glob). */
	write_conf(p1, 0600, "[daemon]\ninclude = 2.con?\n"
	    "[connector one]\ntype = crm\nrole = sales\n");
	write_conf(p2, 0600, "[connector two]\ntype = crm\n"
	    "role = marketing\n");
	c = load_ok("[daemon]\nmax_events = 7\ninclude = c.d/1.conf\n");
	assert_int_equal(c->daemon.max_events, 7);
	assert_int_equal(c->nconnectors, 2);
	assert_non_null(config_connector(c, "one"));
	assert_non_null(config_connector(c, "two"));
	config_unref(c);
}

/* ---- [daemon] and [redis] checks -------------------------------------- */

static void
test_listen(void **state)
{
	static const char *const ok[] = {
		"127.0.0.1:8787", "0.0.0.0:1", "localhost:65535",
		"[::1]:8787", "[::]:80", "unix:/run/baton/batond.sock",
		"baton-1.example.com:443",
	};
	static const struct { const char *v, *msg; } bad[] = {
		{ "8787", "invalid listen address '8787': expected host:port, "
		    "[v6]:port or unix:/path" },
		{ ":8787", "invalid listen address ':8787': expected "
		    "host:port, [v6]:port or unix:/path" },
		{ "host:0", "invalid listen address 'host:0': port must be 1 "
		    "to 65535, got '0'" },
		{ "host:65536", "invalid listen address 'host:65536': port "
		    "must be 1 to 65535, got '65536'" },
		{ "host:", "invalid listen address 'host:': port must be 1 to "
		    "65535, got ''" },
		{ "host:http", "invalid listen address 'host:http': port must "
		    "be 1 to 65535, got 'http'" },
		{ "::1:8787", "invalid listen address '::1:8787': write an "
		    "IPv6 address in brackets, as in [::1]:8787" },
		{ "[::1]8787", "invalid listen address '[::1]8787': expected "
		    "[v6]:port" },
		{ "[nope]:80", "invalid listen address '[nope]:80': 'nope' is "
		    "not an IPv6 address" },
		{ "unix:run/x.sock", "invalid listen address 'unix:run/x.sock':"
		    " a unix socket needs an absolute path, as in "
		    "unix:/run/baton/batond.sock" },
		{ "ho_st:80", "invalid listen address 'ho_st:80': bad "
		    "character in host 'ho_st'" },
	};
	char text[256], msg[512];
	struct config *c;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(text, sizeof(text), "[daemon]\nlisten = %s\n", ok[i]);
		c = load_ok(text);
		assert_string_equal(c->daemon.listen, ok[i]);
		config_unref(c);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "[daemon]\n\nlisten = %s\n",
		    bad[i].v);
		snprintf(msg, sizeof(msg), "3: %s", bad[i].msg);
		load_fails(text, msg);
	}
	/* sun_path holds 107 bytes and a NUL. */
	c = load_ok("[daemon]\nlisten = unix:/"
	    "2345678901234567890123456789012345678901234567890"
	    "12345678901234567890123456789012345678901234567890"
	    "1234567\n");
	assert_int_equal(strlen(c->daemon.listen), 5 + 107);
	config_unref(c);
	load_fails("[daemon]\nlisten = unix:/"
	    "2345678901234567890123456789012345678901234567890"
	    "12345678901234567890123456789012345678901234567890"
	    "12345678\n", "2: invalid listen address 'unix:/"
	    "2345678901234567890123456789012345678901234567890"
	    "12345678901234567890123456789012345678901234567890"
	    "12345678': the socket path is longer than 107 bytes");
}

static void
test_daemon_values(void **state)
{
	(void)state;
	load_fails("[daemon]\nlog_level = loud\n", "2: invalid log_level "
	    "'loud' (expected debug, info, notice, warning or err)");
	load_fails("[daemon]\nmax_events = 0\n", "2: 'max_events' must be "
	    "between 1 and 100000, got 0");
	load_fails("[daemon]\nmax_events = 100001\n", "2: 'max_events' must "
	    "be between 1 and 100000, got 100001");
	load_fails("[daemon]\nmax_body = 0\n", "2: 'max_body' must be "
	    "between 1 and 1GiB");
	load_fails("[daemon]\nmax_body = 2GiB\n", "2: 'max_body' must be "
	    "between 1 and 1GiB");
	load_fails("[daemon]\ndedupe_ttl = 0s\n", "2: 'dedupe_ttl' must be "
	    "more than 0");
	load_fails("[daemon]\nrequest_timeout = soon\n", "2: invalid "
	    "duration 'soon' for 'request_timeout' (expected e.g. 500ms, "
	    "30s, 5m, 24h, 7d)");
	load_fails("[daemon]\nlisten_on = x\n", "2: unknown key 'listen_on' "
	    "in [daemon]; did you mean 'listen'?");
}

/* The limits that protect the listener from hostile clients. */
static void
test_daemon_limits(void **state)
{
	struct config *c;

	(void)state;
	c = load_ok("[daemon]\nmax_connections = 50\nheader_timeout = 1500ms\n"
	    "body_timeout = 1m\nmax_header_size = 1KiB\nmax_headers = 10000\n");
	assert_int_equal(c->daemon.max_connections, 50);
	assert_int_equal(c->daemon.header_timeout_ms, 1500);
	assert_int_equal(c->daemon.body_timeout_ms, 60000);
	assert_true(c->daemon.max_header_size == 1024);
	assert_int_equal(c->daemon.max_headers, 10000);
	config_unref(c);
	load_fails("[daemon]\nmax_connections = 0\n", "2: 'max_connections' "
	    "must be between 1 and 1000000, got 0");
	load_fails("[daemon]\n\nmax_connections = lots\n", "3: invalid "
	    "integer 'lots' for 'max_connections'");
	load_fails("[daemon]\nmax_connections = 1000001\n", "2: "
	    "'max_connections' must be between 1 and 1000000, got 1000001");
	load_fails("[daemon]\nheader_timeout = 0s\n", "2: 'header_timeout' "
	    "must be more than 0");
	load_fails("[daemon]\nheader_timeout = 10 secs\n", "2: invalid "
	    "duration '10 secs' for 'header_timeout' (expected e.g. 500ms, "
	    "30s, 5m, 24h, 7d)");
	load_fails("[daemon]\nbody_timeout = 0ms\n", "2: 'body_timeout' must "
	    "be more than 0");
	load_fails("[daemon]\nbody_timeout = forever\n", "2: invalid duration "
	    "'forever' for 'body_timeout' (expected e.g. 500ms, 30s, 5m, 24h, "
	    "7d)");
	load_fails("[daemon]\nmax_header_size = 1000\n", "2: "
	    "'max_header_size' must be between 1KiB and 1MiB");
	load_fails("[daemon]\nmax_header_size = 2MiB\n", "2: "
	    "'max_header_size' must be between 1KiB and 1MiB");
	load_fails("[daemon]\nmax_header_size = big\n", "2: invalid size "
	    "'big' for 'max_header_size' (expected e.g. 512, 64KiB, 1MiB, "
	    "1GiB)");
	load_fails("[daemon]\nmax_headers = 0\n", "2: 'max_headers' must be "
	    "between 1 and 10000, got 0");
	load_fails("[daemon]\nmax_headers = 10001\n", "2: 'max_headers' must "
	    "be between 1 and 10000, got 10001");
	load_fails("[daemon]\nrules =\n", "2: 'rules' needs a file name");
	load_fails("[redis]\ninclude = x.conf\n", "2: unknown key 'include' "
	    "in [redis]");
}

static void
test_redis_values(void **state)
{
	struct config *c;

	(void)state;
	load_fails("[redis]\nprefix = baton:x\n", "2: invalid prefix "
	    "'baton:x' (expected letters, digits, '_', '.', '-')");
	load_fails("[redis]\nprefix =\n", "2: invalid prefix '' (expected "
	    "letters, digits, '_', '.', '-')");
	load_fails("[redis]\nstream_maxlen = 999\n", "2: 'stream_maxlen' "
	    "must be at least 1000, got 999");
	load_fails("[redis]\nurl = http://localhost\n", "2: redis URL: "
	    "unsupported scheme (expected redis://host[:port][/db] or "
	    "unix:///path)");
	load_fails("[redis]\ncommand_timeout = 0\n", "2: 'command_timeout' "
	    "must be more than 0");
	c = load_ok("[redis]\nurl = unix:///run/redis/redis.sock?db=1\n"
	    "prefix = a_b.c-D9\nstream_maxlen = 1000\n");
	assert_string_equal(c->redis.url, "unix:///run/redis/redis.sock?db=1");
	assert_string_equal(c->redis.prefix, "a_b.c-D9");
	assert_int_equal(c->redis.stream_maxlen, 1000);
	config_unref(c);
}

static void
test_redis_url_password(void **state)
{
	static const char *const with_pw[] = {
		"redis://user:pw@127.0.0.1:6379/0", "redis://:pw@localhost",
		"redis://u:p%40ss@host/1",
	};
	static const char *const without_pw[] = {
		"redis://127.0.0.1:6379/0", "redis://:@host",
		"unix:///run/redis/redis.sock?db=2",
	};
	struct diag d = { 0 };
	char text[256], msg[1024];
	struct config *c;

	(void)state;
	for (size_t i = 0; i < sizeof(with_pw) / sizeof(with_pw[0]); i++) {
		snprintf(text, sizeof(text), "[redis]\nurl = %s\n", with_pw[i]);
		write_conf(conf_path, 0644, text);
		assert_null(config_load(conf_path, NULL, &d));
		snprintf(msg, sizeof(msg), "%s:2: inline secret for 'url' (a "
		    "password in the URL) in a file readable by group or "
		    "others (mode 0644); use env:, file: or credential:, or "
		    "chmod 600 %s", conf_path, conf_path);
		expect_diag(&d, 1, msg);
		diag_clear(&d);
		/* The same file readable by its owner only is fine. */
		c = load_ok(text);
		assert_string_equal(c->redis.url, with_pw[i]);
		config_unref(c);
	}
	for (size_t i = 0; i < sizeof(without_pw) / sizeof(without_pw[0]);
	    i++) {
		snprintf(text, sizeof(text), "[redis]\nurl = %s\n",
		    without_pw[i]);
		write_conf(conf_path, 0644, text);
		c = config_load(conf_path, NULL, &d);
		if (c == NULL)
			diag_print(&d, stderr);
		assert_non_null(c);
		config_unref(c);
	}
	/* From the environment, the URL may hold a password anywhere. */
	setenv("BATON_TEST_URL", "redis://u:pw@h/0", 1);
	write_conf(conf_path, 0644, "[redis]\nurl = env:BATON_TEST_URL\n");
	c = config_load(conf_path, NULL, &d);
	assert_non_null(c);
	assert_string_equal(c->redis.url, "redis://u:pw@h/0");
	config_unref(c);
	unsetenv("BATON_TEST_URL");

	/* password is a CONF_SECRET. */
	write_conf(conf_path, 0640, "[redis]\npassword = pw\n");
	assert_null(config_load(conf_path, NULL, &d));
	snprintf(msg, sizeof(msg), "%s:2: inline secret for 'password' in a "
	    "file readable by group or others (mode 0640); use env:, file: "
	    "or credential:, or chmod 600 %s", conf_path, conf_path);
	expect_diag(&d, 1, msg);
	diag_clear(&d);
}

/* ---- Connectors ------------------------------------------------------- */

static void
test_connector_type_and_role(void **state)
{
	struct config *c;

	(void)state;
	load_fails("[connector web]\ntype = webhok\n", "2: unknown connector "
	    "type 'webhok' (known: webhook, crm, noinit)");
	load_fails("\n[connector web]\nrole = sales\n", "2: missing required "
	    "key 'type' in [connector web] (one of: webhook, crm, noinit)");
	load_fails("[connector n]\ntype = noinit\n", "2: connector type "
	    "'noinit' has no init callback (a bug in its descriptor)");
	load_fails("[connector website]\ntype = webhook\ninsecure = yes\n"
	    "role = sales\n", "4: role 'sales' is not one connector type "
	    "'webhook' plays (marketing)");
	load_fails("[connector crm]\ntype = crm\n", "1: missing required key "
	    "'role' in [connector crm] (connector type 'crm' plays marketing "
	    "or sales)");
	load_fails("[connector crm]\ntype = crm\nrole = boss\n", "3: invalid "
	    "role 'boss' (expected marketing, sales or notify)");
	load_fails("[connector crm]\ntype = crm\nrole = sales\ntype = crm\n",
	    "4: duplicate key 'type' (first set on line 2)");
	load_fails("[connector crm]\ntype = crm\nrole = sales\nrol = x\n",
	    "4: unknown key 'rol' in [connector crm]; did you mean 'role'?");
	load_fails("[connector website]\ntype = webhook\ninsecure = yes\n"
	    "secrt = x\n", "4: unknown key 'secrt' in [connector website]; "
	    "did you mean 'secret'?");
	assert_string_equal(calls, "");

	/* The only role a type plays is its default. */
	c = load_ok("[connector website]\ntype = webhook\ninsecure = yes\n");
	assert_int_equal(connector_role(config_connector(c, "website")),
	    CONNECTOR_ROLE_MARKETING);
	config_unref(c);
	c = load_ok("[connector m]\ntype = crm\nrole = marketing\n");
	assert_int_equal(connector_role(config_connector(c, "m")),
	    CONNECTOR_ROLE_MARKETING);
	config_unref(c);
}

static void
test_connector_init_errors(void **state)
{
	struct diag d = { 0 };
	char m1[512], m2[512];

	(void)state;
	/* Absent key: at the section header. */
	load_fails("\n[connector website]\ntype = webhook\n",
	    "2: [webhook:website] secret: a secret is required unless "
	    "insecure = yes");
	assert_string_equal(calls, "init:website destroy:website");

	/* A map entry: at its own line. */
	calls[0] = '\0';
	write_conf(conf_path, 0600, "[connector website]\ntype = webhook\n"
	    "secret = s\nmap.email = contact.email\nmap.at = time stamp\n"
	    "map.id = the id\n");
	assert_null(config_load(conf_path, NULL, &d));
	snprintf(m1, sizeof(m1), "%s:5: [webhook:website] map.at: path "
	    "'time stamp' has a space", conf_path);
	snprintf(m2, sizeof(m2), "%s:6: [webhook:website] map.id: path "
	    "'the id' has a space", conf_path);
	expect_diag(&d, 2, m1, m2);
	diag_clear(&d);
	assert_string_equal(calls, "init:website destroy:website");

	/* init() failing without a word still fails with one. */
	load_fails("[connector w]\ntype = webhook\ninsecure = yes\n"
	    "items = fail-quietly\n", "1: [webhook:w] initialization failed");
}

static void
test_connector_log(void **state)
{
	char path[160], buf[512];
	struct config *c;
	int fd, saved;
	ssize_t n;

	(void)state;
	c = load_ok("[connector website]\ntype = webhook\ninsecure = yes\n");
	snprintf(path, sizeof(path), "%s/c.d", tmpdir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fd, STDERR_FILENO) >= 0);
	log_set_plain(0);
	connector_log(config_connector(c, "website"), LOG_LEVEL_NOTICE,
	    "hello %d", 42);
	/* Outside init() a conf error cannot reach a diag: it is logged. */
	connector_conf_error(config_connector(c, "website"), "secret",
	    "late");
	dup2(saved, STDERR_FILENO);
	close(saved);
	log_set_plain(1);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "<5>[webhook:website] hello 42\n"
	    "<4>[webhook:website] secret: late (reported outside init)\n");
	config_unref(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_full_fixture, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_defaults, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_missing_file, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_sections, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_duplicate_connector_across_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nested_include, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_listen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_daemon_values, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_daemon_limits, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_redis_values, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_redis_url_password,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_connector_type_and_role,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_connector_init_errors,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_connector_log, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
