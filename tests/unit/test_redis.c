/*
 * test_redis.c - daemon/redis.c against a real redis-server: URL parsing,
 * connecting over a unix socket and TCP, AUTH, SELECT, the connect and
 * command timeouts, a killed and restarted server, freeing with commands
 * in flight.
 *
 * Each test that needs Redis starts its own redis-server (found on PATH
 * or in $REDIS_SERVER) on a free TCP port and a unix socket in a fresh
 * directory, and stops it afterwards; nothing is mocked.  The libevent
 * loop is driven with bounded waits only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include <baton/log.h>

#include "config.h"
#include "metrics.h"
#include "redis.h"

#include "loop_wait.h"
#include "redis_server.h"

/* ---- a real redis-server ------------------------------------------- */


/* A TCP port that was free a moment ago. */
static int
free_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd, port;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* ---- the loop, with bounded waits ------------------------------------ */

struct fixture {
	struct test_redis srv;
	struct event_base *base;
};


static void
run_for(struct event_base *base, int ms)
{
	int never = 0;

	run_until(base, &never, 1, ms);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->srv.dir, sizeof(f->srv.dir), "/tmp/baton-redis-XXXXXX");
	assert_non_null(mkdtemp(f->srv.dir));
	snprintf(f->srv.sock, sizeof(f->srv.sock), "%s/redis.sock",
	    f->srv.dir);
	f->srv.port = free_port();
	test_redis_start(&f->srv);
	f->base = event_base_new();
	assert_non_null(f->base);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char path[256];

	test_redis_stop(&f->srv, SIGTERM);
	event_base_free(f->base);
	snprintf(path, sizeof(path), "%s/redis.sock", f->srv.dir);
	unlink(path);
	rmdir(f->srv.dir);
	free(f);
	return 0;
}

/* ---- callbacks that record -------------------------------------------- */

struct watch {
	int ups, downs;
};

static void
watch_cb(bool up, void *arg)
{
	struct watch *w = arg;

	if (up)
		w->ups++;
	else
		w->downs++;
}

struct result {
	int calls, nulls;
	int type;
	long long integer;
	char str[256];
};

static void
result_cb(struct redisReply *reply, void *arg)
{
	struct result *res = arg;

	res->calls++;
	if (reply == NULL) {
		res->nulls++;
		return;
	}
	res->type = reply->type;
	res->integer = reply->integer;
	if (reply->str != NULL) {
		size_t n = reply->len < sizeof(res->str) - 1 ? reply->len :
		    sizeof(res->str) - 1;

		memcpy(res->str, reply->str, n);
		res->str[n] = '\0';
	}
}

/* Options for the fixture's server: unix socket, short timeouts. */
static void
unix_opts(struct fixture *f, struct redis_opts *o)
{
	char url[256], err[256];

	snprintf(url, sizeof(url), "unix://%s", f->srv.sock);
	assert_int_equal(redis_opts_parse_url(url, o, err, sizeof(err)), 0);
	o->connect_timeout_ms = 1000;
	o->command_timeout_ms = 1000;
	o->reconnect_max_ms = 200;
}

static double
metric_of(const char *family, const char *labels, const char *a,
    const char *b)
{
	struct metric *m;

	if (strcmp(family, "baton_redis_up") == 0)
		m = metric_gauge(family, NULL, labels);
	else
		m = metric_counter(family, NULL, labels);
	return metric_value(metric_series(m, a, b));
}

/* ---- stderr capture, for log assertions ------------------------------ */

static int saved_stderr = -1;
static char capture_path[] = "/tmp/baton-redis-log-XXXXXX";

static void
capture_start(void)
{
	int fd = mkstemp(capture_path);

	assert_true(fd >= 0);
	saved_stderr = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
}

/* Restores stderr; returns what was logged (caller frees). */
static char *
capture_end(void)
{
	char *buf = calloc(1, 65536);
	int fd;
	ssize_t n;

	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	fd = open(capture_path, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, 65535);
	assert_true(n >= 0);
	close(fd);
	unlink(capture_path);
	strcpy(capture_path, "/tmp/baton-redis-log-XXXXXX");
	return buf;
}

/* ---- URL parsing ------------------------------------------------------ */

static void
test_url_forms(void **state)
{
	static const struct {
		const char *url;
		const char *host, *path, *user, *pass;
		int port, db;
	} t[] = {
		{ "redis://127.0.0.1:6379/0", "127.0.0.1", NULL, NULL, NULL,
		    6379, 0 },
		{ "redis://localhost", "localhost", NULL, NULL, NULL, 6379,
		    0 },
		{ "redis://localhost/", "localhost", NULL, NULL, NULL, 6379,
		    0 },
		{ "REDIS://db.example.com:7000/5", "db.example.com", NULL,
		    NULL, NULL, 7000, 5 },
		{ "redis://[::1]:6380/2", "::1", NULL, NULL, NULL, 6380, 2 },
		{ "redis://[fe80::1%25eth0]", "fe80::1%25eth0", NULL, NULL,
		    NULL, 6379, 0 },
		{ "redis://:s3cret@h", "h", NULL, NULL, "s3cret", 6379, 0 },
		{ "redis://alice:s3cret@h:1/3", "h", NULL, "alice", "s3cret",
		    1, 3 },
		{ "redis://alice@h", "h", NULL, "alice", NULL, 6379, 0 },
		{ "redis://al%69ce:p%40ss%3Aw%2Fd@h", "h", NULL, "alice",
		    "p@ss:w/d", 6379, 0 },
		{ "redis://u:p@ss@h", "h", NULL, "u", "p@ss", 6379, 0 },
		{ "redis://u:@h", "h", NULL, "u", NULL, 6379, 0 },
		{ "unix:///run/redis/redis.sock", NULL,
		    "/run/redis/redis.sock", NULL, NULL, 6379, 0 },
		{ "unix:///tmp/r.sock?db=12", NULL, "/tmp/r.sock", NULL, NULL,
		    6379, 12 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct redis_opts o;
		char err[256] = "";

		if (redis_opts_parse_url(t[i].url, &o, err, sizeof(err)) != 0)
			fail_msg("%s: %s", t[i].url, err);
#define STR_EQ(a, b) do {                                               \
		if ((a) == NULL || (b) == NULL)                         \
			assert_ptr_equal((a), (b));                     \
		else                                                    \
			assert_string_equal((a), (b));                  \
	} while (0)
		STR_EQ(o.host, t[i].host);
		STR_EQ(o.unix_path, t[i].path);
		STR_EQ(o.username, t[i].user);
		STR_EQ(o.password, t[i].pass);
		assert_int_equal(o.port, t[i].port);
		assert_int_equal(o.db, t[i].db);
		assert_true(o.connect_timeout_ms > 0);
		assert_true(o.command_timeout_ms > 0);
		assert_true(o.reconnect_max_ms > 0);
		redis_opts_clear(&o);
		assert_null(o.host);
	}
}

static void
test_url_errors(void **state)
{
	static const struct {
		const char *url, *msg;
	} t[] = {
		{ "", "redis URL is empty" },
		{ "http://localhost", "redis URL: unsupported scheme "
		    "(expected redis://host[:port][/db] or unix:///path)" },
		{ "localhost:6379", "redis URL: unsupported scheme "
		    "(expected redis://host[:port][/db] or unix:///path)" },
		{ "rediss://h", "redis URL: rediss:// (TLS) is not supported; "
		    "use redis:// or unix://" },
		{ "redis://", "redis URL: missing host" },
		{ "redis://:6379", "redis URL: missing host" },
		{ "redis://u:p@", "redis URL: missing host" },
		{ "redis://h:", "redis URL: invalid port '' (expected "
		    "1-65535)" },
		{ "redis://h:0", "redis URL: invalid port '0' (expected "
		    "1-65535)" },
		{ "redis://h:65536", "redis URL: invalid port '65536' "
		    "(expected 1-65535)" },
		{ "redis://h:63x9", "redis URL: invalid port '63x9' "
		    "(expected 1-65535)" },
		{ "redis://h/x", "redis URL: invalid database 'x' (expected "
		    "a number)" },
		{ "redis://h/1/2", "redis URL: invalid database '1/2' "
		    "(expected a number)" },
		{ "redis://h/99999999999", "redis URL: invalid database "
		    "'99999999999' (expected a number)" },
		{ "redis://h?db=1", "redis URL: unexpected '?' (the form is "
		    "redis://[user[:password]@]host[:port][/db])" },
		{ "redis://h#x", "redis URL: unexpected '#' (the form is "
		    "redis://[user[:password]@]host[:port][/db])" },
		{ "redis://[::1", "redis URL: missing ']' after the IPv6 "
		    "address" },
		{ "redis://[]:1", "redis URL: empty IPv6 address" },
		{ "redis://[::1]x", "redis URL: unexpected text after the "
		    "IPv6 address" },
		{ "redis://ho st", "redis URL: invalid character in the host "
		    "name" },
		{ "redis://u:pa/ss@h", "redis URL: '@' after the host; "
		    "percent-encode '/', '?', '#' and '@' in the user name and "
		    "password" },
		{ "redis://u:pa?ss@h", "redis URL: '@' after the host; "
		    "percent-encode '/', '?', '#' and '@' in the user name and "
		    "password" },
		{ "redis://u:p%4@h", "invalid percent-encoding in the redis "
		    "URL's password" },
		{ "redis://u:p%zz@h", "invalid percent-encoding in the redis "
		    "URL's password" },
		{ "redis://u:p%00@h", "invalid percent-encoding in the redis "
		    "URL's password" },
		{ "redis://u%@h", "invalid percent-encoding in the redis "
		    "URL's user name" },
		{ "unix://", "redis URL: the unix socket path must be "
		    "absolute (unix:///path/to/redis.sock)" },
		{ "unix://run/redis.sock", "redis URL: the unix socket path "
		    "must be absolute (unix:///path/to/redis.sock)" },
		{ "unix:///", "redis URL: missing unix socket path" },
		{ "unix:///?db=1", "redis URL: missing unix socket path" },
		{ "unix:///r.sock?database=1", "redis URL: unknown query "
		    "'database=1' (only db=N is understood)" },
		{ "unix:///r.sock?db=", "redis URL: invalid database '' "
		    "(expected a number)" },
		{ "unix:///r.sock?db=-1", "redis URL: invalid database '-1' "
		    "(expected a number)" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct redis_opts o;
		char err[256] = "";

		if (redis_opts_parse_url(t[i].url, &o, err, sizeof(err)) != -1)
			fail_msg("%s: accepted", t[i].url);
		assert_string_equal(err, t[i].msg);
		assert_null(o.host);
		assert_null(o.username);
		assert_null(o.password);
		assert_null(o.unix_path);
	}
	/* A password never appears in a message. */
	{
		struct redis_opts o;
		char err[256];

		assert_int_equal(redis_opts_parse_url("redis://u:hunter2@h:x",
		    &o, err, sizeof(err)), -1);
		assert_null(strstr(err, "hunter2"));
	}
}

static void
test_opts_from_conf(void **state)
{
	struct redis_conf rc;
	struct redis_opts o;
	char err[256];

	(void)state;
	memset(&rc, 0, sizeof(rc));
	assert_int_equal(redis_opts_from_conf(&rc, &o, err, sizeof(err)), 0);
	assert_string_equal(o.host, "127.0.0.1");
	assert_int_equal(o.port, 6379);
	assert_int_equal(o.db, 0);
	assert_null(o.password);
	redis_opts_clear(&o);

	rc.url = "redis://bob:frompass@h:7/4";
	rc.username = "alice";
	rc.password = "fromkey";
	rc.connect_timeout_ms = 1234;
	rc.command_timeout_ms = 567;
	rc.reconnect_max_ms = 8900;
	assert_int_equal(redis_opts_from_conf(&rc, &o, err, sizeof(err)), 0);
	assert_string_equal(o.host, "h");
	assert_int_equal(o.port, 7);
	assert_int_equal(o.db, 4);
	assert_string_equal(o.username, "alice");
	assert_string_equal(o.password, "fromkey");
	assert_int_equal(o.connect_timeout_ms, 1234);
	assert_int_equal(o.command_timeout_ms, 567);
	assert_int_equal(o.reconnect_max_ms, 8900);
	redis_opts_clear(&o);

	memset(&rc, 0, sizeof(rc));
	rc.url = "redis://h";
	rc.username = "alice";
	assert_int_equal(redis_opts_from_conf(&rc, &o, err, sizeof(err)), -1);
	assert_string_equal(err, "redis: a user name needs a password (in "
	    "the URL or the password key)");
	assert_null(o.username);

	rc.url = "redis://h:99999";
	rc.username = NULL;
	assert_int_equal(redis_opts_from_conf(&rc, &o, err, sizeof(err)), -1);
	assert_string_equal(err, "redis URL: invalid port '99999' (expected "
	    "1-65535)");
}

/* ---- connections ------------------------------------------------------ */

static void
test_connect_unix(void **state)
{
	struct fixture *f = *state;
	struct redis_opts o;
	struct watch w = { 0, 0 };
	struct result set = { 0 }, get = { 0 };
	const char *argv[] = { "SET", "k", "v\0w" };
	const size_t argvlen[] = { 3, 1, 3 };
	struct redis *r;

	unix_opts(f, &o);
	r = redis_new(f->base, &o, "t-unix", watch_cb, &w);
	redis_opts_clear(&o);
	assert_non_null(r);
	assert_false(redis_is_up(r));
	/* Not up: refused, and the callback never runs. */
	assert_int_equal(redis_command(r, result_cb, &set, "PING"), -1);
	assert_true(run_until(f->base, &w.ups, 1, 3000));
	assert_true(redis_is_up(r));
	assert_int_equal((int)metric_of("baton_redis_up", "connection",
	    "t-unix", NULL), 1);

	assert_int_equal(redis_command_argv(r, 0, result_cb, &set, 3, argv,
	    argvlen), 0);
	assert_int_equal(redis_command(r, result_cb, &get, "GET %s", "k"), 0);
	assert_int_equal(redis_pending(r), 2);
	assert_true(run_until(f->base, &get.calls, 1, 2000));
	assert_int_equal(set.calls, 1);
	assert_int_equal(set.type, REDIS_REPLY_STATUS);
	assert_string_equal(set.str, "OK");
	assert_int_equal(get.type, REDIS_REPLY_STRING);
	assert_memory_equal(get.str, "v\0w", 3);
	assert_int_equal(redis_pending(r), 0);

	/* An error reply is a reply, not a failure of the connection. */
	memset(&get, 0, sizeof(get));
	assert_int_equal(redis_command(r, result_cb, &get, "NOSUCHCMD"), 0);
	assert_true(run_until(f->base, &get.calls, 1, 2000));
	assert_int_equal(get.type, REDIS_REPLY_ERROR);
	assert_true(redis_is_up(r));
	assert_int_equal((int)metric_of("baton_redis_errors_total",
	    "connection,kind", "t-unix", "reply"), 1);

	/* Idle: the keepalive PING keeps it up and nothing goes down. */
	run_for(f->base, 1500);
	assert_true(redis_is_up(r));
	assert_int_equal(w.downs, 0);

	redis_free(r);
	assert_int_equal(w.downs, 0);   /* no state report from free */
	assert_int_equal(set.calls, 1);
	assert_int_equal(get.calls, 1);
}

static void
test_connect_tcp_select(void **state)
{
	struct fixture *f = *state;
	struct redis_opts o;
	struct watch w = { 0, 0 };
	struct result res = { 0 };
	char url[128], err[256];
	redisReply *reply;
	struct redis *r;

	snprintf(url, sizeof(url), "redis://127.0.0.1:%d/3", f->srv.port);
	assert_int_equal(redis_opts_parse_url(url, &o, err, sizeof(err)), 0);
	r = redis_new(f->base, &o, "t-tcp", watch_cb, &w);
	redis_opts_clear(&o);
	assert_true(run_until(f->base, &w.ups, 1, 3000));
	assert_int_equal(redis_command(r, result_cb, &res, "SET %s %s",
	    "where", "db3"), 0);
	assert_true(run_until(f->base, &res.calls, 1, 2000));
	assert_string_equal(res.str, "OK");
	redis_free(r);

	/* It landed in database 3, not 0. */
	reply = test_redis_cmd(&f->srv, "GET where");
	assert_non_null(reply);
	assert_int_equal(reply->type, REDIS_REPLY_NIL);
	freeReplyObject(reply);
	reply = test_redis_cmd(&f->srv, "EVAL %s 0", "redis.call('SELECT', 3) "
	    "return redis.call('GET', 'where')");
	assert_non_null(reply);
	assert_string_equal(reply->str, "db3");
	freeReplyObject(reply);
}

static void
test_select_bad_db(void **state)
{
	struct fixture *f = *state;
	struct redis_opts o;
	struct watch w = { 0, 0 };
	struct redis *r;
	char *log;

	unix_opts(f, &o);
	o.db = 99;
	log_set_level(LOG_LEVEL_DEBUG);
	capture_start();
	r = redis_new(f->base, &o, "t-baddb", watch_cb, &w);
	redis_opts_clear(&o);
	run_for(f->base, 600);
	log = capture_end();
	log_set_level(LOG_LEVEL_INFO);
	assert_int_equal(w.ups, 0);
	assert_false(redis_is_up(r));
	redis_free(r);
	if (strstr(log, "warning: redis[t-baddb]: SELECT on ") == NULL ||
	    strstr(log, "failed: ERR DB index is out of range; retrying") ==
	    NULL)
		fail_msg("log: %s", log);
	/* Repeated failures are logged at debug, not again at warning. */
	assert_null(strstr(strstr(log, "warning") + 1, "warning"));
	if (strstr(log, "debug: redis[t-baddb]: SELECT on ") == NULL ||
	    strstr(log, "(attempt 2)") == NULL)
		fail_msg("log: %s", log);
	free(log);
}

static void
test_auth_user(void **state)
{
	struct fixture *f = *state;
	struct redis_opts o;
	struct watch w = { 0, 0 };
	struct result res = { 0 };
	redisReply *reply;
	struct redis *r;

	reply = test_redis_cmd(&f->srv, "ACL SETUSER alice on >s3cret ~* &* +@all");
	assert_non_null(reply);
	assert_string_equal(reply->str, "OK");
	freeReplyObject(reply);

	unix_opts(f, &o);
	o.username = strdup("alice");
	o.password = strdup("s3cret");
	r = redis_new(f->base, &o, "t-auth", watch_cb, &w);
	redis_opts_clear(&o);
	assert_true(run_until(f->base, &w.ups, 1, 3000));
	assert_int_equal(redis_command(r, result_cb, &res, "ACL WHOAMI"), 0);
	assert_true(run_until(f->base, &res.calls, 1, 2000));
	assert_string_equal(res.str, "alice");
	redis_free(r);
}

static void
test_auth_password_only(void **state)
{
	struct fixture *f = *state;
	struct redis_opts o;
	struct watch w = { 0, 0 };
	redisReply *reply;
	struct redis *r;

	reply = test_redis_cmd(&f->srv, "CONFIG SET requirepass %s", "pw0rd");
	assert_non_null(reply);
	freeReplyObject(reply);

	unix_opts(f, &o);
	o.password = strdup("pw0rd");
	r = redis_new(f->base, &o, "t-authpw", watch_cb, &w);
	redis_opts_clear(&o);
	assert_true(run_until(f->base, &w.ups, 1, 3000));
	redis_free(r);

	/* Without the password: NOAUTH, never up. */
	unix_opts(f, &o);
	capture_start();
	r = redis_new(f->base, &o, "t-noauth", watch_cb, &w);
	redis_opts_clear(&o);
	run_for(f->base, 500);
	{
		char *log = capture_end();

		assert_int_equal(w.ups, 1);
		assert_false(redis_is_up(r));
		if (strstr(log, "PING on ") == NULL ||
		    strstr(log, "NOAUTH") == NULL)
			fail_msg("log: %s", log);
		free(log);
	}
	redis_free(r);
	/* The server still has the password; stop it so teardown's SIGTERM
	 * path is the same as elsewhere. */
}

static void
test_auth_wrong_password(void **state)
{
	struct fixture *f = *state;
	struct redis_opts o;
	struct watch w = { 0, 0 };
	redisReply *reply;
	struct redis *r;
	char *log;

	reply = test_redis_cmd(&f->srv, "ACL SETUSER bob on >right ~* +@all");
	assert_non_null(reply);
	freeReplyObject(reply);

	unix_opts(f, &o);
	o.username = strdup("bob");
	o.password = strdup("wrong");
	log_set_plain(1);
	capture_start();
	r = redis_new(f->base, &o, "t-wrongpw", watch_cb, &w);
	redis_opts_clear(&o);
	run_for(f->base, 800);
	log = capture_end();
	assert_int_equal(w.ups, 0);
	assert_false(redis_is_up(r));
	if (strstr(log, "warning: redis[t-wrongpw]: AUTH on ") == NULL ||
	    strstr(log, "failed: WRONGPASS invalid username-password pair")
	    == NULL)
		fail_msg("log: %s", log);
	assert_null(strstr(log, "wrong\n"));    /* no password in logs */
	assert_true(metric_of("baton_redis_errors_total", "connection,kind",
	    "t-wrongpw", "connect") >= 2);
	assert_true(metric_of("baton_redis_reconnects_total", "connection",
	    "t-wrongpw", NULL) >= 1);
	redis_free(r);
	free(log);
}

static void
test_connect_timeout(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	struct redis_opts o;
	struct watch w = { 0, 0 };
	char url[128], err[256], *log;
	struct redis *r;
	int fd;

	/* A listener that never accepts: the TCP handshake completes in the
	 * kernel, Redis never answers. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d",
	    ntohs(sa.sin_port));
	assert_int_equal(redis_opts_parse_url(url, &o, err, sizeof(err)), 0);
	o.connect_timeout_ms = 200;
	o.reconnect_max_ms = 100;
	log_set_plain(1);
	capture_start();
	r = redis_new(f->base, &o, "t-conto", watch_cb, &w);
	redis_opts_clear(&o);
	run_for(f->base, 700);
	log = capture_end();
	assert_int_equal(w.ups, 0);
	if (strstr(log, "warning: redis[t-conto]: connecting to 127.0.0.1:")
	    == NULL || strstr(log, " timed out after 200 ms; retrying") ==
	    NULL)
		fail_msg("log: %s", log);
	assert_true(metric_of("baton_redis_errors_total", "connection,kind",
	    "t-conto", "connect") >= 2);
	redis_free(r);
	close(fd);
	free(log);
}

static void
test_command_timeout(void **state)
{
	struct fixture *f = *state;
	struct redis_opts o;
	struct watch w = { 0, 0 };
	struct result res = { 0 }, after = { 0 };
	redisReply *reply;
	struct redis *r;
	int64_t t0;
	struct timespec ts;

	unix_opts(f, &o);
	o.command_timeout_ms = 300;
	o.connect_timeout_ms = 400;
	r = redis_new(f->base, &o, "t-cmdto", watch_cb, &w);
	redis_opts_clear(&o);
	assert_true(run_until(f->base, &w.ups, 1, 3000));

	/* Stall the server for 1.5 s. */
	reply = test_redis_cmd(&f->srv, "CLIENT PAUSE 1500 ALL");
	assert_non_null(reply);
	assert_string_equal(reply->str, "OK");
	freeReplyObject(reply);

	clock_gettime(CLOCK_MONOTONIC, &ts);
	t0 = ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
	capture_start();
	assert_int_equal(redis_command(r, result_cb, &res, "INCR n"), 0);
	assert_true(run_until(f->base, &res.calls, 1, 2000));
	clock_gettime(CLOCK_MONOTONIC, &ts);
	assert_int_equal(res.nulls, 1);
	assert_true(ts.tv_sec * 1000LL + ts.tv_nsec / 1000000 - t0 < 900);
	assert_int_equal(w.downs, 1);
	assert_false(redis_is_up(r));
	assert_int_equal(redis_pending(r), 0);

	/* Back after the pause; the callback never ran a second time. */
	assert_true(run_until(f->base, &w.ups, 2, 5000));
	{
		char *log = capture_end();

		if (strstr(log, "INCR to ") == NULL ||
		    strstr(log, "unanswered after ") == NULL)
			fail_msg("log: %s", log);
		free(log);
	}
	assert_int_equal(res.calls, 1);
	assert_int_equal(redis_command(r, result_cb, &after, "GET n"), 0);
	assert_true(run_until(f->base, &after.calls, 1, 2000));
	assert_int_equal(after.nulls, 0);
	assert_int_equal(res.calls, 1);
	assert_true(metric_of("baton_redis_errors_total", "connection,kind",
	    "t-cmdto", "timeout") == 1);
	redis_free(r);
	assert_int_equal(res.calls, 1);
}

static void
test_kill_and_restart(void **state)
{
	struct fixture *f = *state;
	struct redis_opts o;
	struct watch w = { 0, 0 };
	struct result blpop = { 0 }, get = { 0 };
	const char *argv[] = { "BLPOP", "never", "0" };
	struct redis *r;

	unix_opts(f, &o);
	r = redis_new(f->base, &o, "t-kill", watch_cb, &w);
	redis_opts_clear(&o);
	assert_true(run_until(f->base, &w.ups, 1, 3000));
	assert_int_equal(redis_command_argv(r, 60000, result_cb, &blpop, 3,
	    argv, NULL), 0);
	assert_int_equal(redis_command(r, result_cb, &get, "GET x"), 0);
	run_for(f->base, 100);
	assert_int_equal(redis_pending(r), 2);

	capture_start();
	test_redis_stop(&f->srv, SIGKILL);
	assert_true(run_until(f->base, &w.downs, 1, 2000));
	assert_int_equal(blpop.calls, 1);
	assert_int_equal(blpop.nulls, 1);
	assert_int_equal(get.calls, 1);
	assert_int_equal(get.nulls, 1);
	assert_int_equal(redis_pending(r), 0);
	assert_false(redis_is_up(r));
	assert_int_equal(redis_command(r, result_cb, &get, "GET x"), -1);

	/* Down for a while: retries do not flood the log. */
	run_for(f->base, 1000);
	test_redis_start(&f->srv);
	assert_true(run_until(f->base, &w.ups, 2, 3000));
	{
		char *log = capture_end();
		const char *lost = strstr(log, "connection to ");

		if (lost == NULL || strstr(log, "reconnected to ") == NULL)
			fail_msg("log: %s", log);
		/* Only the loss was a warning: the retries were debug. */
		assert_null(strstr(strstr(log, "warning") + 1, "warning"));
		free(log);
	}
	assert_true(redis_is_up(r));
	assert_true(metric_of("baton_redis_reconnects_total", "connection",
	    "t-kill", NULL) >= 2);
	assert_int_equal((int)metric_of("baton_redis_errors_total",
	    "connection,kind", "t-kill", "disconnect"), 1);
	assert_int_equal(blpop.calls, 1);
	assert_int_equal(get.calls, 1);
	redis_free(r);
}

static void
test_free_with_pending(void **state)
{
	struct fixture *f = *state;
	struct redis_opts o;
	struct watch w = { 0, 0 };
	struct result blpop = { 0 }, ping = { 0 };
	const char *argv[] = { "BLPOP", "never", "0" };
	struct redis *r;

	unix_opts(f, &o);
	r = redis_new(f->base, &o, "t-free", watch_cb, &w);
	redis_opts_clear(&o);
	assert_true(run_until(f->base, &w.ups, 1, 3000));
	assert_int_equal(redis_command_argv(r, 60000, result_cb, &blpop, 3,
	    argv, NULL), 0);
	assert_int_equal(redis_command(r, result_cb, &ping, "PING"), 0);
	run_for(f->base, 50);
	redis_free(r);
	assert_int_equal(blpop.calls, 1);
	assert_int_equal(blpop.nulls, 1);
	assert_int_equal(ping.calls, 1);
	assert_int_equal(ping.nulls, 1);
	assert_int_equal(w.downs, 0);
	run_for(f->base, 50);           /* nothing of r is left on the loop */
	assert_int_equal(blpop.calls, 1);
}

static void
test_free_never_connected(void **state)
{
	struct fixture *f = *state;
	struct redis_opts o;
	struct watch w = { 0, 0 };
	struct result res = { 0 };
	char err[256];
	struct redis *r;

	redis_free(NULL);
	assert_int_equal(redis_opts_parse_url("unix:///nonexistent/r.sock",
	    &o, err, sizeof(err)), 0);
	o.reconnect_max_ms = 100;
	capture_start();
	r = redis_new(f->base, &o, "t-never", watch_cb, &w);
	redis_opts_clear(&o);
	assert_non_null(r);
	assert_int_equal(redis_command(r, result_cb, &res, "PING"), -1);
	run_for(f->base, 300);
	{
		char *log = capture_end();

		if (strstr(log, "cannot connect to /nonexistent/r.sock: No "
		    "such file or directory; retrying") == NULL)
			fail_msg("log: %s", log);
		free(log);
	}
	assert_false(redis_is_up(r));
	assert_int_equal(redis_pending(r), 0);
	redis_free(r);
	assert_int_equal(res.calls, 0);
	assert_int_equal(w.ups + w.downs, 0);

	/* Freed straight after creation, before the loop ran at all. */
	unix_opts(f, &o);
	r = redis_new(f->base, &o, "t-never", watch_cb, &w);
	redis_opts_clear(&o);
	redis_free(r);
	run_for(f->base, 50);
	assert_int_equal(w.ups + w.downs, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_forms),
		cmocka_unit_test(test_url_errors),
		cmocka_unit_test(test_opts_from_conf),
		cmocka_unit_test_setup_teardown(test_connect_unix, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_connect_tcp_select,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_select_bad_db, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_auth_user, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_auth_password_only, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_auth_wrong_password,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_timeout, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_command_timeout, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_kill_and_restart, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_free_with_pending, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_free_never_connected,
		    setup, teardown),
	};
	int rc;

	log_set_ident("test_redis");
	log_set_plain(1);
	signal(SIGPIPE, SIG_IGN);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	metrics_free_all();
	return rc;
}
