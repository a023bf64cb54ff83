/*
 * test_http_client.c - daemon/http_client.c against real servers on
 * 127.0.0.1: an evhttp server in this process on the same loop (answers,
 * echoes, statuses with Retry-After, slow answers, dropped connections,
 * oversized bodies, a count of accepted connections) and, for TLS,
 * `openssl s_server` with a self-signed certificate made for the test.
 * Also cancel and free with requests in flight, the proxy taken from the
 * environment, Retry-After parsing and the retry classification.
 *
 * Nothing is mocked; every wait on the loop is bounded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include <baton/log.h>

#include <baton/http_client.h>
#include "metrics.h"

#include "loop_wait.h"

/* ---- the in-process server ----------------------------------------- */

struct slow {
	struct slow *next;
	struct srv *srv;
	struct evhttp_request *req;
	struct event *timer;
};

struct srv {
	struct event_base *base;
	struct evhttp *http;
	int port;
	int conns;                      /* connections accepted */
	int requests;                   /* requests received */
	int slow_waiting;               /* slow requests not yet answered */
	struct slow *slow;              /* their timers */
};

struct fixture {
	struct srv srv;
	struct http_client *client;
};

static struct bufferevent *
count_conn(struct event_base *base, void *arg)
{
	struct srv *s = arg;

	s->conns++;
	return NULL;                    /* evhttp makes its own */
}

static const char *
method_name(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_PATCH: return "PATCH";
	default: return "OTHER";
	}
}

/* A query parameter as a number, or def. */
static long
query_num(struct evhttp_request *req, const char *name, long def)
{
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	struct evkeyvalq q;
	const char *v;
	long n = def;

	if (u == NULL || evhttp_uri_get_query(u) == NULL)
		return def;
	if (evhttp_parse_query_str(evhttp_uri_get_query(u), &q) != 0)
		return def;
	if ((v = evhttp_find_header(&q, name)) != NULL)
		n = strtol(v, NULL, 10);
	evhttp_clear_headers(&q);
	return n;
}

static void
reply_text(struct evhttp_request *req, int code, const char *text)
{
	struct evbuffer *b = evbuffer_new();

	evbuffer_add(b, text, strlen(text));
	evhttp_send_reply(req, code, "x", b);
	evbuffer_free(b);
}

static void
h_ok(struct evhttp_request *req, void *arg)
{
	((struct srv *)arg)->requests++;
	reply_text(req, 200, "hello");
}

/* "METHOD uri\n", the request headers, a blank line, the body. */
static void
h_echo(struct evhttp_request *req, void *arg)
{
	struct evbuffer *b = evbuffer_new();
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	struct evkeyval *kv;

	((struct srv *)arg)->requests++;
	evbuffer_add_printf(b, "%s %s\n",
	    method_name(evhttp_request_get_command(req)),
	    evhttp_request_get_uri(req));
	TAILQ_FOREACH(kv, in, next)
		evbuffer_add_printf(b, "%s: %s\n", kv->key, kv->value);
	evbuffer_add(b, "\n", 1);
	evbuffer_add_buffer(b, evhttp_request_get_input_buffer(req));
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Sforce-Limit-Info", "api-usage=25/15000");
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "X-Twice", "first");
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "X-Twice", "second");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

/* /status?code=N[&retry_after=S][&location=1] */
static void
h_status(struct evhttp_request *req, void *arg)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	long code = query_num(req, "code", 200);
	long ra = query_num(req, "retry_after", -1);
	char v[32];

	((struct srv *)arg)->requests++;
	if (ra >= 0) {
		snprintf(v, sizeof(v), "%ld", ra);
		evhttp_add_header(out, "Retry-After", v);
	}
	if (query_num(req, "location", 0))
		evhttp_add_header(out, "Location", "/ok");
	reply_text(req, (int)code, "{\"error\":\"status\"}");
}

static void
slow_fire(evutil_socket_t fd, short what, void *arg)
{
	struct slow *sl = arg, **pp;

	for (pp = &sl->srv->slow; *pp != sl; pp = &(*pp)->next)
		;
	*pp = sl->next;
	sl->srv->slow_waiting--;
	reply_text(sl->req, 200, "slow");
	event_free(sl->timer);
	free(sl);
}

/* /slow?ms=N: answers after N ms. */
static void
h_slow(struct evhttp_request *req, void *arg)
{
	struct srv *s = arg;
	struct slow *sl = calloc(1, sizeof(*sl));
	long ms = query_num(req, "ms", 1000);
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	s->requests++;
	sl->srv = s;
	sl->req = req;
	sl->timer = evtimer_new(s->base, slow_fire, sl);
	sl->next = s->slow;
	s->slow = sl;
	s->slow_waiting++;
	evtimer_add(sl->timer, &tv);
}

static void
close_conn(evutil_socket_t fd, short what, void *arg)
{
	evhttp_connection_free(arg);
}

/* /close: drops the connection without answering (from the loop, not
 * inside evhttp's own callback). */
static void
h_close(struct evhttp_request *req, void *arg)
{
	struct srv *s = arg;
	struct timeval zero = { 0, 0 };

	s->requests++;
	event_base_once(s->base, -1, EV_TIMEOUT, close_conn,
	    evhttp_request_get_connection(req), &zero);
}

/* /big?n=N: N bytes with a Content-Length. */
static void
h_big(struct evhttp_request *req, void *arg)
{
	struct evbuffer *b = evbuffer_new();
	long n = query_num(req, "n", 0);

	((struct srv *)arg)->requests++;
	for (long i = 0; i < n; i++)
		evbuffer_add(b, "x", 1);
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

/* /bigchunk?n=N: N bytes, chunked, so only the body itself tells. */
static void
h_bigchunk(struct evhttp_request *req, void *arg)
{
	struct evbuffer *b = evbuffer_new();
	long n = query_num(req, "n", 0);
	char chunk[100];

	((struct srv *)arg)->requests++;
	memset(chunk, 'y', sizeof(chunk));
	evhttp_send_reply_start(req, 200, "OK");
	for (long i = 0; i < n; i += (long)sizeof(chunk)) {
		evbuffer_add(b, chunk, (size_t)(n - i < 100 ? n - i : 100));
		evhttp_send_reply_chunk(req, b);
	}
	evhttp_send_reply_end(req);
	evbuffer_free(b);
}

static void
srv_start(struct srv *s, struct event_base *base)
{
	struct evhttp_bound_socket *h;
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);

	memset(s, 0, sizeof(*s));
	s->base = base;
	s->http = evhttp_new(base);
	assert_non_null(s->http);
	evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_PATCH);
	evhttp_set_bevcb(s->http, count_conn, s);
	evhttp_set_cb(s->http, "/ok", h_ok, s);
	evhttp_set_cb(s->http, "/echo", h_echo, s);
	evhttp_set_cb(s->http, "/status", h_status, s);
	evhttp_set_cb(s->http, "/slow", h_slow, s);
	evhttp_set_cb(s->http, "/close", h_close, s);
	evhttp_set_cb(s->http, "/big", h_big, s);
	evhttp_set_cb(s->http, "/bigchunk", h_bigchunk, s);
	h = evhttp_bind_socket_with_handle(s->http, "127.0.0.1", 0);
	assert_non_null(h);
	assert_int_equal(getsockname(evhttp_bound_socket_get_fd(h),
	    (struct sockaddr *)&sa, &len), 0);
	s->port = ntohs(sa.sin_port);
}

static void
srv_stop(struct srv *s)
{
	/* Answer what still waits (a reply to a dropped connection just
	 * frees the request), then close everything. */
	while (s->slow != NULL) {
		struct slow *sl = s->slow;

		event_del(sl->timer);
		slow_fire(-1, 0, sl);
	}
	evhttp_free(s->http);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct event_base *base = event_base_new();

	assert_non_null(f);
	assert_non_null(base);
	srv_start(&f->srv, base);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	struct event_base *base = f->srv.base;

	http_client_free(f->client);
	srv_stop(&f->srv);
	/* Let libevent finish closing what evhttp_free left. */
	event_base_loop(base, EVLOOP_NONBLOCK);
	event_base_free(base);
	free(f);
	return 0;
}

/* ---- driving the loop ---------------------------------------------- */

/* Runs the loop for ms, whatever happens. */
static void
run_for(struct event_base *base, int ms)
{
	int never = 0;

	run_until(base, &never, 1, ms);
}

/* ---- recording results --------------------------------------------- */

static bool inside_request;             /* around http_client_request() */

struct rec {
	int calls;
	bool sync;                      /* a call came from inside request */
	enum http_outcome outcome;
	int status;
	int curl_code;
	char error[512];
	char body[8192];
	size_t body_len;
	char retry_after[64];
	char limit_info[64];
	char limit_info_upper[64];
	char twice[64];
	bool missing_absent;
	double seconds;
	enum connector_result cls;
	/* optional action inside the callback */
	struct http_client *free_client;
	struct http_client *try_client;
	char try_err[256];
	bool try_refused;
};

static void
copy_header(const struct http_result *res, const char *name, char *out,
    size_t outlen)
{
	const char *v = http_result_header(res, name);

	snprintf(out, outlen, "%s", v != NULL ? v : "(none)");
}

static void
on_done(const struct http_result *res, void *arg)
{
	struct rec *r = arg;

	r->calls++;
	r->sync = r->sync || inside_request;
	r->outcome = res->outcome;
	r->status = res->status;
	r->curl_code = res->curl_code;
	snprintf(r->error, sizeof(r->error), "%s",
	    res->error != NULL ? res->error : "(null)");
	r->body_len = res->body_len;
	memcpy(r->body, res->body, res->body_len < sizeof(r->body) - 1 ?
	    res->body_len : sizeof(r->body) - 1);
	r->body[res->body_len < sizeof(r->body) - 1 ? res->body_len :
	    sizeof(r->body) - 1] = '\0';
	copy_header(res, "Retry-After", r->retry_after,
	    sizeof(r->retry_after));
	copy_header(res, "sforce-limit-info", r->limit_info,
	    sizeof(r->limit_info));
	copy_header(res, "SFORCE-LIMIT-INFO", r->limit_info_upper,
	    sizeof(r->limit_info_upper));
	copy_header(res, "x-twice", r->twice, sizeof(r->twice));
	r->missing_absent = http_result_header(res, "X-Missing") == NULL;
	r->seconds = res->seconds;
	r->cls = http_classify(res);
	if (r->try_client != NULL) {
		struct http_request req = {
			.url = "http://127.0.0.1:1/", .done = on_done,
			.arg = r,
		};
		r->try_refused = http_client_request(r->try_client, &req,
		    r->try_err, sizeof(r->try_err)) == NULL;
	}
	if (r->free_client != NULL)
		http_client_free(r->free_client);
}

/* Starts a GET (or the method given) and checks it was accepted. */
static struct http_call *
start(struct http_client *c, const char *method, const char *url,
    struct rec *r)
{
	struct http_request req = {
		.method = method, .url = url, .done = on_done, .arg = r,
	};
	char err[256] = "";
	struct http_call *call;

	inside_request = true;
	call = http_client_request(c, &req, err, sizeof(err));
	inside_request = false;
	if (call == NULL)
		fail_msg("request %s refused: %s", url, err);
	return call;
}

static char *
url(const struct fixture *f, const char *path)
{
	static char buf[4][256];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "http://127.0.0.1:%d%s",
	    f->srv.port, path);
	return buf[i];
}

static double
counter(const char *host, const char *status)
{
	struct metric *m = metric_counter("baton_http_client_requests_total",
	    "Outbound HTTP requests by target host and HTTP status "
	    "(or transport error class).", "host,status");

	return metric_value(metric_series(m, host, status));
}

/* ---- responses ----------------------------------------------------- */

static void
test_get_ok(void **state)
{
	struct fixture *f = *state;
	struct rec r = { 0 };
	double before = counter("127.0.0.1", "200");

	f->client = http_client_new(f->srv.base, NULL);
	assert_non_null(f->client);
	start(f->client, NULL, url(f, "/ok"), &r);
	assert_int_equal(r.calls, 0);
	assert_int_equal(http_client_pending(f->client), 1);
	assert_true(run_until(f->srv.base, &r.calls, 1, 5000));
	assert_false(r.sync);
	assert_int_equal(r.outcome, HTTP_DONE);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.curl_code, 0);
	assert_string_equal(r.error, "(null)");
	assert_int_equal(r.body_len, 5);
	assert_string_equal(r.body, "hello");
	assert_string_equal(r.retry_after, "(none)");
	assert_true(r.seconds > 0 && r.seconds < 5);
	assert_int_equal(r.cls, CONNECTOR_OK);
	assert_int_equal(http_client_pending(f->client), 0);
	assert_true(counter("127.0.0.1", "200") == before + 1);
	run_for(f->srv.base, 50);
	assert_int_equal(r.calls, 1);
}

/* Method, headers and body reach the server; response headers are found
 * whatever their case. */
static void
test_echo_headers_and_body(void **state)
{
	struct fixture *f = *state;
	struct rec r = { 0 };
	static const char body[] = "{\"a\":\0\"b\"}";
	char copied[] = "copied body";
	const char *headers[] = {
		"Content-Type: application/json", "X-Test:  one ", NULL,
	};
	struct http_request req = {
		.url = url(f, "/echo?x=1"), .headers = headers, .body = body,
		.body_len = sizeof(body) - 1, .done = on_done, .arg = &r,
	};
	char err[256];
	const char *tail;

	f->client = http_client_new(f->srv.base, NULL);
	assert_non_null(http_client_request(f->client, &req, err,
	    sizeof(err)));
	assert_true(run_until(f->srv.base, &r.calls, 1, 5000));
	assert_int_equal(r.outcome, HTTP_DONE);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "POST /echo?x=1\n"));
	assert_non_null(strstr(r.body, "\nContent-Type: application/json\n"));
	assert_non_null(strstr(r.body, "\nX-Test: one\n"));
	assert_non_null(strstr(r.body, "\nUser-Agent: batond/" BATON_VERSION
	    "\n"));
	assert_non_null(strstr(r.body, "\nContent-Length: 10\n"));
	assert_null(strstr(r.body, "Expect"));
	tail = strstr(r.body, "\n\n");
	assert_non_null(tail);
	assert_int_equal(r.body_len - (size_t)(tail + 2 - r.body), 10);
	assert_memory_equal(tail + 2, body, 10);
	assert_string_equal(r.limit_info, "api-usage=25/15000");
	assert_string_equal(r.limit_info_upper, "api-usage=25/15000");
	assert_string_equal(r.twice, "first");
	assert_true(r.missing_absent);

	/* A copied body may change as soon as the request is started. */
	memset(&r, 0, sizeof(r));
	req.method = "PUT";
	req.headers = NULL;
	req.body = copied;
	req.body_len = strlen(copied);
	assert_non_null(http_client_request(f->client, &req, err,
	    sizeof(err)));
	memset(copied, 'Z', strlen(copied));
	assert_true(run_until(f->srv.base, &r.calls, 1, 5000));
	assert_non_null(strstr(r.body, "PUT /echo?x=1\n"));
	assert_non_null(strstr(r.body, "\n\ncopied body"));

	/* A borrowed body is read in place. */
	memset(&r, 0, sizeof(r));
	req.method = "PATCH";
	req.body = "borrowed";
	req.body_len = 8;
	req.body_borrowed = true;
	assert_non_null(http_client_request(f->client, &req, err,
	    sizeof(err)));
	assert_true(run_until(f->srv.base, &r.calls, 1, 5000));
	assert_non_null(strstr(r.body, "PATCH /echo?x=1\n"));
	assert_non_null(strstr(r.body, "\n\nborrowed"));

	/* DELETE without a body; GET by default. */
	memset(&r, 0, sizeof(r));
	start(f->client, "DELETE", url(f, "/echo"), &r);
	assert_true(run_until(f->srv.base, &r.calls, 1, 5000));
	assert_non_null(strstr(r.body, "DELETE /echo\n"));
	assert_null(strstr(r.body, "Content-Length"));
	memset(&r, 0, sizeof(r));
	start(f->client, NULL, url(f, "/echo"), &r);
	assert_true(run_until(f->srv.base, &r.calls, 1, 5000));
	assert_true(strncmp(r.body, "GET /echo\n", 10) == 0);
}

static void
test_status_classes(void **state)
{
	struct fixture *f = *state;
	struct rec r = { 0 };
	int64_t ms = -1;

	f->client = http_client_new(f->srv.base, NULL);
	start(f->client, NULL, url(f, "/status?code=429&retry_after=7"), &r);
	assert_true(run_until(f->srv.base, &r.calls, 1, 5000));
	assert_int_equal(r.outcome, HTTP_DONE);
	assert_int_equal(r.status, 429);
	assert_string_equal(r.body, "{\"error\":\"status\"}");
	assert_string_equal(r.retry_after, "7");
	assert_int_equal(http_retry_after_ms(r.retry_after, 0, &ms), 0);
	assert_int_equal(ms, 7000);
	assert_int_equal(r.cls, CONNECTOR_RETRY);

	memset(&r, 0, sizeof(r));
	start(f->client, NULL, url(f, "/status?code=503"), &r);
	assert_true(run_until(f->srv.base, &r.calls, 1, 5000));
	assert_int_equal(r.status, 503);
	assert_int_equal(r.cls, CONNECTOR_RETRY);

	memset(&r, 0, sizeof(r));
	start(f->client, NULL, url(f, "/status?code=400"), &r);
	assert_true(run_until(f->srv.base, &r.calls, 1, 5000));
	assert_int_equal(r.status, 400);
	assert_int_equal(r.cls, CONNECTOR_DROP);

	/* Redirects are returned, not followed. */
	memset(&r, 0, sizeof(r));
	start(f->client, NULL, url(f, "/status?code=301&location=1"), &r);
	assert_true(run_until(f->srv.base, &r.calls, 1, 5000));
	assert_int_equal(r.outcome, HTTP_DONE);
	assert_int_equal(r.status, 301);
	assert_int_equal(r.cls, CONNECTOR_DROP);
	assert_int_equal(f->srv.requests, 4);
}

/* ---- failures ------------------------------------------------------ */

static void
test_total_timeout(void **state)
{
	struct fixture *f = *state;
	struct http_client_opts o = { .timeout_ms = 200 };
	struct rec r = { 0 };
	double before = counter("127.0.0.1", "timeout");

	f->client = http_client_new(f->srv.base, &o);
	start(f->client, NULL, url(f, "/slow?ms=3000"), &r);
	assert_true(run_until(f->srv.base, &r.calls, 1, 5000));
	assert_int_equal(r.outcome, HTTP_TRANSPORT);
	assert_int_equal(r.curl_code, 28);      /* CURLE_OPERATION_TIMEDOUT */
	assert_int_equal(r.status, 0);
	assert_true(strncmp(r.error, "timed out: ", 11) == 0);
	assert_true(r.seconds >= 0.15 && r.seconds < 2.0);
	assert_int_equal(r.body_len, 0);
	assert_int_equal(r.cls, CONNECTOR_RETRY);
	assert_true(counter("127.0.0.1", "timeout") == before + 1);
}

/* The request's own timeout overrides the client's. */
static void
test_request_timeout_override(void **state)
{
	struct fixture *f = *state;
	struct rec r = { 0 };
	struct http_request req = {
		.url = url(f, "/slow?ms=3000"), .timeout_ms = 150,
		.done = on_done, .arg = &r,
	};
	char err[256];

	f->client = http_client_new(f->srv.base, NULL);
	assert_non_null(http_client_request(f->client, &req, err,
	    sizeof(err)));
	assert_true(run_until(f->srv.base, &r.calls, 1, 5000));
	assert_int_equal(r.curl_code, 28);
	assert_true(r.seconds >= 0.1 && r.seconds < 2.0);
}

static void
test_connection_dropped(void **state)
{
	struct fixture *f = *state;
	struct rec r = { 0 };

	f->client = http_client_new(f->srv.base, NULL);
	start(f->client, NULL, url(f, "/close"), &r);
	assert_true(run_until(f->srv.base, &r.calls, 1, 5000));
	assert_int_equal(r.outcome, HTTP_TRANSPORT);
	assert_int_equal(r.curl_code, 52);      /* CURLE_GOT_NOTHING */
	assert_string_equal(r.error, "connection closed without a response: "
	    "Empty reply from server");
	assert_int_equal(r.cls, CONNECTOR_RETRY);
}

static void
test_connect_refused(void **state)
{
	struct fixture *f = *state;
	struct rec r = { 0 };
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	char u[64], want[128];
	int fd, port;
	double before = counter("127.0.0.1", "connect");

	/* A port that was free a moment ago, and is closed now. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	snprintf(u, sizeof(u), "http://127.0.0.1:%d/x", port);

	f->client = http_client_new(f->srv.base, NULL);
	start(f->client, "POST", u, &r);
	assert_int_equal(r.calls, 0);
	assert_true(run_until(f->srv.base, &r.calls, 1, 5000));
	assert_false(r.sync);
	assert_int_equal(r.outcome, HTTP_TRANSPORT);
	assert_int_equal(r.curl_code, 7);       /* CURLE_COULDNT_CONNECT */
	snprintf(want, sizeof(want), "connect failed: Failed to connect to "
	    "127.0.0.1 port %d", port);
	assert_true(strncmp(r.error, want, strlen(want)) == 0);
	assert_int_equal(r.cls, CONNECTOR_RETRY);
	assert_true(counter("127.0.0.1", "connect") == before + 1);
}

/* A listener whose accept queue is full leaves the SYN unanswered. */
static void
test_connect_timeout(void **state)
{
	struct fixture *f = *state;
	struct http_client_opts o = { .connect_timeout_ms = 200 };
	struct rec r = { 0 };
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	char u[64];
	int lfd, fill[3];

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 0), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	for (int i = 0; i < 3; i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		(void)connect(fill[i], (struct sockaddr *)&sa, sizeof(sa));
	}
	run_for(f->srv.base, 50);
	snprintf(u, sizeof(u), "http://127.0.0.1:%d/", ntohs(sa.sin_port));

	f->client = http_client_new(f->srv.base, &o);
	start(f->client, NULL, u, &r);
	assert_true(run_until(f->srv.base, &r.calls, 1, 5000));
	for (int i = 0; i < 3; i++)
		close(fill[i]);
	close(lfd);
	assert_int_equal(r.outcome, HTTP_TRANSPORT);
	assert_int_equal(r.curl_code, 28);      /* CURLE_OPERATION_TIMEDOUT */
	if (strncmp(r.error, "connect timed out: ", 19) != 0)
		fail_msg("error \"%s\"", r.error);
	assert_true(r.seconds >= 0.15 && r.seconds < 2.0);
	assert_int_equal(r.cls, CONNECTOR_RETRY);
}

static void
test_body_too_large(void **state)
{
	struct fixture *f = *state;
	struct http_client_opts o = { .max_body = 1000 };
	struct rec r = { 0 };

	f->client = http_client_new(f->srv.base, &o);
	start(f->client, NULL, url(f, "/big?n=1000"), &r);
	assert_true(run_until(f->srv.base, &r.calls, 1, 5000));
	assert_int_equal(r.outcome, HTTP_DONE);
	assert_int_equal(r.body_len, 1000);

	/* Refused from its Content-Length. */
	memset(&r, 0, sizeof(r));
	start(f->client, NULL, url(f, "/big?n=1001"), &r);
	assert_true(run_until(f->srv.base, &r.calls, 1, 5000));
	assert_int_equal(r.outcome, HTTP_TOO_LARGE);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.curl_code, 63);      /* CURLE_FILESIZE_EXCEEDED */
	assert_string_equal(r.error, "response body larger than 1000 bytes");
	assert_int_equal(r.body_len, 0);
	assert_int_equal(r.cls, CONNECTOR_DROP);

	/* Refused while it arrives (chunked: no length up front). */
	memset(&r, 0, sizeof(r));
	start(f->client, NULL, url(f, "/bigchunk?n=5000"), &r);
	assert_true(run_until(f->srv.base, &r.calls, 1, 5000));
	assert_int_equal(r.outcome, HTTP_TOO_LARGE);
	assert_int_equal(r.curl_code, 23);      /* CURLE_WRITE_ERROR */
	assert_string_equal(r.error, "response body larger than 1000 bytes");
	assert_int_equal(r.cls, CONNECTOR_DROP);
}

static void
test_refused_requests(void **state)
{
	struct fixture *f = *state;
	struct rec r = { 0 };
	const char *bad_header[] = { "NoColon", NULL };
	const char *crlf_header[] = { "X-A: 1\r\nX-B: 2", NULL };
	struct http_request req = { .done = on_done, .arg = &r };
	char err[256];

	f->client = http_client_new(f->srv.base, NULL);
	req.url = "ftp://127.0.0.1/file";
	assert_null(http_client_request(f->client, &req, err, sizeof(err)));
	assert_string_equal(err, "unsupported URL scheme \"ftp\" in "
	    "\"ftp://127.0.0.1/file\" (http and https only)");
	req.url = "not a url";
	assert_null(http_client_request(f->client, &req, err, sizeof(err)));
	assert_true(strncmp(err, "invalid URL \"not a url\": ", 25) == 0);
	req.url = url(f, "/ok");
	req.method = "get";
	assert_null(http_client_request(f->client, &req, err, sizeof(err)));
	assert_string_equal(err, "invalid method \"get\"");
	req.method = NULL;
	req.headers = bad_header;
	assert_null(http_client_request(f->client, &req, err, sizeof(err)));
	assert_string_equal(err, "invalid header line \"NoColon\" (want "
	    "\"Name: value\")");
	req.headers = crlf_header;
	assert_null(http_client_request(f->client, &req, err, sizeof(err)));
	assert_true(strncmp(err, "invalid header line", 19) == 0);
	req.headers = NULL;
	req.body_len = 3;
	assert_null(http_client_request(f->client, &req, err, sizeof(err)));
	assert_string_equal(err, "body_len 3 without a body");
	req.body_len = 0;
	req.done = NULL;
	assert_null(http_client_request(f->client, &req, err, sizeof(err)));
	assert_string_equal(err, "a request needs a URL and a done callback");
	assert_int_equal(http_client_pending(f->client), 0);
	run_for(f->srv.base, 50);
	assert_int_equal(r.calls, 0);
	assert_int_equal(f->srv.requests, 0);
}

/* ---- connections --------------------------------------------------- */

static void
test_keepalive_reuse(void **state)
{
	struct fixture *f = *state;
	struct rec r[5];

	memset(r, 0, sizeof(r));
	f->client = http_client_new(f->srv.base, NULL);
	for (int i = 0; i < 5; i++) {
		start(f->client, NULL, url(f, "/ok"), &r[i]);
		assert_true(run_until(f->srv.base, &r[i].calls, 1, 5000));
		assert_int_equal(r[i].status, 200);
	}
	assert_int_equal(f->srv.requests, 5);
	assert_int_equal(f->srv.conns, 1);
}

/* Concurrent requests to one host open at most max_host_connections. */
static void
test_max_host_connections(void **state)
{
	struct fixture *f = *state;
	struct http_client_opts o = { .max_host_connections = 2 };
	struct rec r[6];
	int done = 0;

	memset(r, 0, sizeof(r));
	f->client = http_client_new(f->srv.base, &o);
	for (int i = 0; i < 6; i++)
		start(f->client, NULL, url(f, "/slow?ms=30"), &r[i]);
	assert_int_equal(http_client_pending(f->client), 6);
	for (int i = 0; i < 6; i++) {
		assert_true(run_until(f->srv.base, &r[i].calls, 1, 5000));
		assert_int_equal(r[i].status, 200);
		assert_string_equal(r[i].body, "slow");
		done += r[i].calls;
	}
	assert_int_equal(done, 6);
	assert_int_equal(f->srv.requests, 6);
	assert_int_equal(f->srv.conns, 2);
}

/* http_proxy from the environment is used (nothing disables it). */
static void
test_proxy_from_environment(void **state)
{
	struct fixture *f = *state;
	struct rec r = { 0 };
	char proxy[64];

	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", f->srv.port);
	setenv("http_proxy", proxy, 1);
	f->client = http_client_new(f->srv.base, NULL);
	start(f->client, NULL, "http://baton-proxy-test.invalid/echo", &r);
	assert_true(run_until(f->srv.base, &r.calls, 1, 5000));
	unsetenv("http_proxy");
	assert_int_equal(r.outcome, HTTP_DONE);
	assert_int_equal(r.status, 200);
	assert_true(strncmp(r.body,
	    "GET http://baton-proxy-test.invalid/echo\n", 41) == 0);
	assert_non_null(strstr(r.body, "\nHost: baton-proxy-test.invalid\n"));
}

/* ---- cancel and free ----------------------------------------------- */

static void
test_cancel(void **state)
{
	struct fixture *f = *state;
	struct rec a = { 0 }, b = { 0 };
	struct http_call *ca, *cb;
	double before = counter("127.0.0.1", "cancelled");

	f->client = http_client_new(f->srv.base, NULL);

	/* Before it reached curl's loop. */
	ca = start(f->client, NULL, url(f, "/slow?ms=2000"), &a);
	http_call_cancel(ca);
	http_call_cancel(ca);           /* queued: a no-op */
	assert_int_equal(a.calls, 0);
	assert_int_equal(http_client_pending(f->client), 1);
	assert_true(run_until(f->srv.base, &a.calls, 1, 5000));
	assert_int_equal(a.outcome, HTTP_CANCELLED);
	assert_string_equal(a.error, "cancelled");
	assert_int_equal(a.status, 0);
	assert_int_equal(a.body_len, 0);
	assert_int_equal(a.cls, CONNECTOR_RETRY);
	assert_int_equal(http_client_pending(f->client), 0);

	/* In flight: the server has it. */
	cb = start(f->client, NULL, url(f, "/slow?ms=2000"), &b);
	assert_true(run_until(f->srv.base, &f->srv.slow_waiting, 1, 5000));
	http_call_cancel(cb);
	assert_int_equal(b.calls, 0);
	assert_true(run_until(f->srv.base, &b.calls, 1, 5000));
	assert_int_equal(b.outcome, HTTP_CANCELLED);
	run_for(f->srv.base, 100);
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 1);
	assert_false(a.sync || b.sync);
	assert_true(counter("127.0.0.1", "cancelled") == before + 2);
}

static void
test_free_in_flight(void **state)
{
	struct fixture *f = *state;
	struct rec r[3], late = { 0 };

	memset(r, 0, sizeof(r));
	f->client = http_client_new(f->srv.base, NULL);
	for (int i = 0; i < 3; i++)
		start(f->client, NULL, url(f, "/slow?ms=2000"), &r[i]);
	assert_true(run_until(f->srv.base, &f->srv.slow_waiting, 3, 5000));
	/* One more that never reached the loop. */
	start(f->client, NULL, url(f, "/ok"), &late);
	http_client_free(f->client);
	f->client = NULL;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].outcome, HTTP_CANCELLED);
	}
	assert_int_equal(late.calls, 1);
	assert_int_equal(late.outcome, HTTP_CANCELLED);
	run_for(f->srv.base, 100);
	for (int i = 0; i < 3; i++)
		assert_int_equal(r[i].calls, 1);
	assert_int_equal(late.calls, 1);
}

/* A done callback frees the client: the others are cancelled within,
 * requests started by them are refused, memory goes afterwards. */
static void
test_free_from_callback(void **state)
{
	struct fixture *f = *state;
	struct rec a = { 0 }, b = { 0 };

	f->client = http_client_new(f->srv.base, NULL);
	a.free_client = f->client;
	b.try_client = f->client;
	start(f->client, NULL, url(f, "/ok"), &a);
	start(f->client, NULL, url(f, "/slow?ms=2000"), &b);
	f->client = NULL;               /* a's callback frees it */
	assert_true(run_until(f->srv.base, &a.calls, 1, 5000));
	assert_int_equal(a.outcome, HTTP_DONE);
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.outcome, HTTP_CANCELLED);
	assert_true(b.try_refused);
	assert_string_equal(b.try_err, "the HTTP client is being freed");
	run_for(f->srv.base, 100);
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 1);
}

static void
test_free_null_and_idle(void **state)
{
	struct event_base *base = event_base_new();
	struct http_client *c = http_client_new(base, NULL);

	http_client_free(NULL);
	assert_non_null(c);
	assert_int_equal(http_client_pending(c), 0);
	http_client_free(c);
	event_base_free(base);
}

/* ---- TLS, against openssl s_server --------------------------------- */

struct tls_srv {
	char dir[64];
	char cert[128];
	int port;
	pid_t pid;
};

static bool
port_open(int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/* Makes a self-signed certificate for 127.0.0.1 and serves it; false when
 * openssl is not available. */
static bool
tls_start(struct tls_srv *t)
{
	char cmd[1024], key[128], accept[32];
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd;

	snprintf(t->dir, sizeof(t->dir), "/tmp/baton-httpc-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->cert, sizeof(t->cert), "%s/cert.pem", t->dir);
	snprintf(key, sizeof(key), "%s/key.pem", t->dir);
	snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey ec "
	    "-pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
	    "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 "
	    "-keyout %s -out %s >/dev/null 2>&1", key, t->cert);
	if (system(cmd) != 0)
		return false;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	t->port = ntohs(sa.sin_port);
	close(fd);
	snprintf(accept, sizeof(accept), "127.0.0.1:%d", t->port);

	t->pid = fork();
	assert_true(t->pid >= 0);
	if (t->pid == 0) {
		int dn = open("/dev/null", O_RDWR);

		dup2(dn, 0);
		dup2(dn, 1);
		dup2(dn, 2);
		execlp("openssl", "openssl", "s_server", "-quiet", "-www",
		    "-accept", accept, "-cert", t->cert, "-key", key,
		    (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		int status;

		if (port_open(t->port))
			return true;
		if (waitpid(t->pid, &status, WNOHANG) == t->pid) {
			t->pid = 0;
			return false;
		}
		usleep(10000);
	}
	fail_msg("openssl s_server did not listen within 5 s");
	return false;
}

static void
tls_stop(struct tls_srv *t)
{
	char cmd[256];

	if (t->pid > 0) {
		kill(t->pid, SIGTERM);
		waitpid(t->pid, NULL, 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", t->dir);
	(void)system(cmd);
}

static void
test_tls_verification(void **state)
{
	struct fixture *f = *state;
	struct tls_srv t = { 0 };
	struct http_client_opts o = { 0 };
	struct http_client *trusting;
	struct rec a = { 0 }, b = { 0 };
	char u[64];

	if (!tls_start(&t)) {
		tls_stop(&t);
		skip();
	}
	snprintf(u, sizeof(u), "https://127.0.0.1:%d/", t.port);

	/* The system store does not know the test's certificate. */
	f->client = http_client_new(f->srv.base, NULL);
	start(f->client, NULL, u, &a);
	assert_true(run_until(f->srv.base, &a.calls, 1, 5000));
	assert_int_equal(a.outcome, HTTP_TRANSPORT);
	assert_int_equal(a.curl_code, 60);  /* CURLE_PEER_FAILED_VERIFICATION */
	assert_true(strncmp(a.error, "TLS verification failed: ", 25) == 0);
	assert_int_equal(a.cls, CONNECTOR_RETRY);

	/* Trusted through the CA file, verification still on. */
	o.ca_file = t.cert;
	trusting = http_client_new(f->srv.base, &o);
	start(trusting, NULL, u, &b);
	assert_true(run_until(f->srv.base, &b.calls, 1, 5000));
	http_client_free(trusting);
	tls_stop(&t);
	if (b.outcome != HTTP_DONE)
		fail_msg("with the CA file: %s", b.error);
	assert_int_equal(b.status, 200);
	assert_non_null(strstr(b.body, "<HTML>"));
}

/* ---- Retry-After and classification -------------------------------- */

/* 1994-11-06T08:49:37Z, RFC 9110's example date. */
#define EXAMPLE_S       784111777LL

static void
test_retry_after(void **state)
{
	int64_t now = (EXAMPLE_S - 30) * 1000, out;

	assert_int_equal(http_retry_after_ms("120", now, &out), 0);
	assert_int_equal(out, 120000);
	assert_int_equal(http_retry_after_ms(" 5\t", now, &out), 0);
	assert_int_equal(out, 5000);
	assert_int_equal(http_retry_after_ms("0", now, &out), 0);
	assert_int_equal(out, 0);
	assert_int_equal(http_retry_after_ms("99999999999999999999999", now,
	    &out), 0);
	assert_int_equal(out, 365LL * 24 * 3600 * 1000);

	/* The three HTTP-date forms. */
	out = -1;
	assert_int_equal(http_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT",
	    now, &out), 0);
	assert_int_equal(out, 30000);
	out = -1;
	assert_int_equal(http_retry_after_ms("Sunday, 06-Nov-94 08:49:37 GMT",
	    now, &out), 0);
	assert_int_equal(out, 30000);
	out = -1;
	assert_int_equal(http_retry_after_ms("Sun Nov  6 08:49:37 1994", now,
	    &out), 0);
	assert_int_equal(out, 30000);
	assert_int_equal(http_retry_after_ms("Thu, 01 Jan 1970 00:00:00 GMT",
	    0, &out), 0);
	assert_int_equal(out, 0);
	assert_int_equal(http_retry_after_ms("Tue, 29 Feb 2000 00:00:01 GMT",
	    951782400000LL, &out), 0);
	assert_int_equal(out, 1000);
	/* In the past: no wait.  Far away: capped. */
	assert_int_equal(http_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT",
	    now + 60000, &out), 0);
	assert_int_equal(out, 0);
	assert_int_equal(http_retry_after_ms("Fri, 31 Dec 9999 23:59:59 GMT",
	    now, &out), 0);
	assert_int_equal(out, 365LL * 24 * 3600 * 1000);
	/* RFC 850 years: more than 50 years ahead means the past century. */
	assert_int_equal(http_retry_after_ms("Tuesday, 01-Jan-30 00:00:00 GMT",
	    1893369600000LL /* 2029-12-31 */, &out), 0);
	assert_int_equal(out, 86400000);
	assert_int_equal(http_retry_after_ms("Tuesday, 01-Jan-80 00:00:00 GMT",
	    1893369600000LL, &out), 0);
	assert_int_equal(out, 0);               /* 1980 */
	assert_int_equal(http_retry_after_ms("Sunday, 01-Jan-79 00:00:00 GMT",
	    1893369600000LL, &out), 0);
	assert_int_equal(out, 365LL * 24 * 3600 * 1000);   /* 2079, capped */

	/* Anything else is refused and leaves *out alone. */
	static const char *const bad[] = {
		"", "  ", "abc", "12a", "-5", "+5", "1.5", "5 s",
		"Sun, 06 Nov 1994 08:49:37 UTC",
		"Sun, 6 Nov 1994 08:49:37 GMT",
		"sun, 06 Nov 1994 08:49:37 GMT",
		"Sun, 06 nov 1994 08:49:37 GMT",
		"Sun, 31 Feb 1994 08:49:37 GMT",
		"Sun, 29 Feb 1900 08:49:37 GMT",
		"Sun, 06 Nov 1994 24:00:00 GMT",
		"Sun, 06 Nov 1994 08:60:37 GMT",
		"Sun, 06 Nov 1994 08:49:37 GMT x",
		"Sun, 06 Nov 94 08:49:37 GMT",
		"Sunday, 06-Nov-1994 08:49:37 GMT",
		"Sun Nov 6 08:49:37 1994",
		"2026-01-01T00:00:00Z",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		out = 42;
		if (http_retry_after_ms(bad[i], now, &out) != -1 || out != 42)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	out = 42;
	assert_int_equal(http_retry_after_ms(NULL, now, &out), -1);
	assert_int_equal(out, 42);
}

static void
test_classify(void **state)
{
	struct http_result r = { .outcome = HTTP_DONE };
	static const struct { int status; enum connector_result want; } t[] = {
		{ 200, CONNECTOR_OK }, { 201, CONNECTOR_OK },
		{ 204, CONNECTOR_OK }, { 299, CONNECTOR_OK },
		{ 100, CONNECTOR_DROP }, { 304, CONNECTOR_DROP },
		{ 400, CONNECTOR_DROP }, { 401, CONNECTOR_DROP },
		{ 404, CONNECTOR_DROP }, { 407, CONNECTOR_DROP },
		{ 408, CONNECTOR_RETRY }, { 409, CONNECTOR_DROP },
		{ 422, CONNECTOR_DROP }, { 429, CONNECTOR_RETRY },
		{ 500, CONNECTOR_RETRY }, { 502, CONNECTOR_RETRY },
		{ 503, CONNECTOR_RETRY }, { 599, CONNECTOR_RETRY },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		r.status = t[i].status;
		if (http_classify(&r) != t[i].want)
			fail_msg("status %d: got %d, want %d", t[i].status,
			    http_classify(&r), t[i].want);
	}
	r.outcome = HTTP_TRANSPORT;
	r.status = 0;
	assert_int_equal(http_classify(&r), CONNECTOR_RETRY);
	r.status = 200;         /* a 200 cut short */
	assert_int_equal(http_classify(&r), CONNECTOR_RETRY);
	r.outcome = HTTP_CANCELLED;
	assert_int_equal(http_classify(&r), CONNECTOR_RETRY);
	r.outcome = HTTP_TOO_LARGE;
	assert_int_equal(http_classify(&r), CONNECTOR_DROP);
}

int
main(void)
{
	static const char *const proxy_vars[] = {
		"http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY",
		"all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY",
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_get_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_echo_headers_and_body,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_classes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_total_timeout, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_request_timeout_override,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_connection_dropped, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_connect_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_connect_timeout, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_body_too_large, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_refused_requests, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_keepalive_reuse, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_max_host_connections,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_proxy_from_environment,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_in_flight, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_free_from_callback, setup,
		    teardown),
		cmocka_unit_test(test_free_null_and_idle),
		cmocka_unit_test_setup_teardown(test_tls_verification, setup,
		    teardown),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_classify),
	};
	int rc;

	/* Requests go straight to 127.0.0.1 unless a test sets a proxy. */
	for (size_t i = 0; i < sizeof(proxy_vars) / sizeof(proxy_vars[0]); i++)
		unsetenv(proxy_vars[i]);
	signal(SIGPIPE, SIG_IGN);
	log_set_level(getenv("BATON_TEST_DEBUG") ? LOG_LEVEL_DEBUG :
	    LOG_LEVEL_WARNING);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	metrics_free_all();
	return rc;
}
