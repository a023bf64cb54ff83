/*
 * http_client.c - libcurl's multi interface on the libevent loop, for the
 * connectors' outbound calls (http_client.h), with the Retry-After parser
 * and the retry classification they share.
 *
 * One CURLM per client and one timer event.  curl tells us which sockets
 * to watch through on_curl_socket(), which keeps one persistent struct
 * event per socket (stored with curl_multi_assign(), freed on
 * CURL_POLL_REMOVE; curl owns the fd), and when to call it back through
 * on_curl_timer(), which only re-arms the timer.  Both libevent callbacks
 * call curl_multi_socket_action() and then drain curl_multi_info_read():
 * each finished transfer's easy handle is removed and cleaned up and its
 * done callback runs once.  User callbacks never run inside a curl call, so
 * they may start, cancel and free freely.
 *
 * A cancelled call leaves curl at once and waits in a queue that a
 * zero-delay event reports from the loop.  http_client_free() reports
 * everything synchronously; when it is called from inside one of our
 * callbacks (`busy`), the memory goes when that callback unwinds.
 */
#include <baton/http_client.h>

#include <baton/log.h>

#include "metrics.h"

#include <curl/curl.h>
#include <event2/event.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>

#ifndef BATON_VERSION
#define BATON_VERSION "0"
#endif

#define RETRY_AFTER_CAP_S       (365LL * 24 * 3600)

enum call_state {
	CALL_ACTIVE,            /* in the multi handle */
	CALL_QUEUED,            /* finished or cancelled, awaiting report */
};

struct buf {
	unsigned char *data;    /* NUL-terminated when not NULL */
	size_t len;
	size_t cap;
};

struct http_call {
	TAILQ_ENTRY(http_call) entry;   /* c->active or c->queued */
	struct http_client *client;
	enum call_state state;
	CURL *easy;                     /* NULL once out of the multi */
	struct curl_slist *req_headers; /* owned, until the easy is gone */
	http_done_cb done;
	void *arg;
	char method[16];                /* for log lines */
	char *host;                     /* lower-case URL host: metric label */
	double start;                   /* monotonic seconds */
	size_t max_body;
	bool too_large;                 /* the write callback refused */
	struct buf body;                /* response body */
	struct buf hdrs;                /* response headers: name\0value\0... */
	enum http_outcome outcome;      /* once QUEUED */
	int curl_code;
	int status;
	double seconds;
	const char *label;              /* metric status label, if not status */
	char errbuf[CURL_ERROR_SIZE];   /* curl's detail */
	char message[CURL_ERROR_SIZE + 96];
};

TAILQ_HEAD(call_list, http_call);

struct http_client {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;            /* curl's one timeout */
	struct event *deferred;         /* reports the queued calls */
	struct call_list active;        /* in curl */
	struct call_list queued;        /* awaiting their callback, FIFO */
	size_t pending;                 /* active + queued */
	int busy;                       /* depth of our libevent callbacks */
	bool closing;                   /* http_client_free() has begun */
	int64_t connect_timeout_ms;
	int64_t timeout_ms;
	char *ca_file;                  /* NULL: system default */
	size_t max_body;
	char *user_agent;
	long max_host_connections;
};

static bool curl_ready;

/* ---- small helpers ------------------------------------------------- */

static double
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
ms_to_tv(int64_t ms, struct timeval *tv)
{
	tv->tv_sec = (time_t)(ms / 1000);
	tv->tv_usec = (suseconds_t)((ms % 1000) * 1000);
}

/* Appends n bytes, keeping a NUL after them.  0 or -1 (no memory). */
static int
buf_append(struct buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		unsigned char *d;

		while (cap < b->len + n + 1)
			cap *= 2;
		if ((d = realloc(b->data, cap)) == NULL)
			return -1;
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

static void
buf_clear(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* ---- metrics ------------------------------------------------------- */

static void
call_metrics(const struct http_call *call)
{
	static struct metric *requests, *seconds;
	char code[16];
	const char *status = call->label;

	if (requests == NULL) {
		requests = metric_counter("baton_http_client_requests_total",
		    "Outbound HTTP requests by target host and HTTP status "
		    "(or transport error class).", "host,status");
		seconds = metric_histogram("baton_http_client_seconds",
		    "Outbound HTTP request duration, queueing included.",
		    "host", NULL, 0);
	}
	if (status == NULL) {
		snprintf(code, sizeof(code), "%d", call->status);
		status = code;
	}
	metric_inc(metric_series(requests, call->host, status));
	if (call->outcome != HTTP_CANCELLED)
		metric_observe(metric_series(seconds, call->host),
		    call->seconds);
}

/* ---- finishing and reporting calls --------------------------------- */

/* Takes the easy handle out of curl and frees it and the header list. */
static void
call_release_easy(struct http_call *call)
{
	if (call->easy != NULL) {
		curl_multi_remove_handle(call->client->multi, call->easy);
		curl_easy_cleanup(call->easy);
		call->easy = NULL;
	}
	curl_slist_free_all(call->req_headers);
	call->req_headers = NULL;
}

static void
call_free(struct http_call *call)
{
	if (call == NULL)
		return;
	call_release_easy(call);
	buf_clear(&call->body);
	buf_clear(&call->hdrs);
	free(call->host);
	free(call);
}

/* Moves an active call to the report queue with its outcome set. */
static void
call_enqueue(struct http_call *call)
{
	struct http_client *c = call->client;

	call->seconds = mono_now() - call->start;
	TAILQ_REMOVE(&c->active, call, entry);
	TAILQ_INSERT_TAIL(&c->queued, call, entry);
	call->state = CALL_QUEUED;
}

/*
 * Runs a queued call's done callback once, then frees the call.  The
 * call leaves every list first, so the callback may do anything.
 */
static void
call_report(struct http_call *call)
{
	struct http_client *c = call->client;
	struct http_result res;
	static const unsigned char empty[1] = "";

	TAILQ_REMOVE(&c->queued, call, entry);
	c->pending--;
	call_metrics(call);
	if (call->outcome == HTTP_DONE)
		log_debug("http client: %s %s: status %d in %.3f s",
		    call->method, call->host, call->status, call->seconds);
	else
		log_debug("http client: %s %s: %s after %.3f s", call->method,
		    call->host, call->message, call->seconds);

	memset(&res, 0, sizeof(res));
	res.outcome = call->outcome;
	res.curl_code = call->curl_code;
	res.error = call->outcome == HTTP_DONE ? NULL : call->message;
	res.status = call->status;
	res.body = call->body.data != NULL ? call->body.data : empty;
	res.body_len = call->body.len;
	res.seconds = call->seconds;
	res.call = call;
	call->done(&res, call->arg);
	call_free(call);
}

/* A phrase for a transport error and its metric label. */
static const char *
transport_phrase(CURLcode rc, long request_size, const char **label)
{
	*label = "error";
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		*label = "timeout";
		return request_size == 0 ? "connect timed out" : "timed out";
	case CURLE_COULDNT_CONNECT:
		*label = "connect";
		return "connect failed";
	case CURLE_COULDNT_RESOLVE_HOST:
		*label = "connect";
		return "could not resolve host";
	case CURLE_COULDNT_RESOLVE_PROXY:
		*label = "connect";
		return "could not resolve proxy";
	case CURLE_PEER_FAILED_VERIFICATION:
		*label = "tls";
		return "TLS verification failed";
	case CURLE_SSL_CONNECT_ERROR:
		*label = "tls";
		return "TLS handshake failed";
	case CURLE_SSL_CACERT_BADFILE:
		*label = "tls";
		return "cannot use the CA file";
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
		*label = "tls";
		return "TLS error";
	case CURLE_GOT_NOTHING:
		return "connection closed without a response";
	case CURLE_RECV_ERROR:
		return "receive failed";
	case CURLE_SEND_ERROR:
		return "send failed";
	case CURLE_PARTIAL_FILE:
		return "response cut short";
	default:
		return "transfer failed";
	}
}

/* Reads a transfer's outcome from curl, then queues the call. */
static void
call_finish(struct http_call *call, CURLcode rc)
{
	long status = 0, request_size = 0;
	const char *detail;

	curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(call->easy, CURLINFO_REQUEST_SIZE, &request_size);
	call->status = (int)status;
	call->curl_code = (int)rc;
	detail = call->errbuf[0] != '\0' ? call->errbuf :
	    curl_easy_strerror(rc);
	if (rc == CURLE_OK) {
		call->outcome = HTTP_DONE;
		call->curl_code = 0;
	} else if (call->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
		call->outcome = HTTP_TOO_LARGE;
		call->label = "too_large";
		snprintf(call->message, sizeof(call->message),
		    "response body larger than %zu bytes", call->max_body);
		buf_clear(&call->body);
	} else {
		const char *phrase = transport_phrase(rc, request_size,
		    &call->label);

		call->outcome = HTTP_TRANSPORT;
		snprintf(call->message, sizeof(call->message), "%s: %s",
		    phrase, detail);
		buf_clear(&call->body);
	}
	call_release_easy(call);
	call_enqueue(call);
}

/* Takes an active call out of curl with a cancelled outcome. */
static void
call_cancel_now(struct http_call *call)
{
	call_release_easy(call);
	call->outcome = HTTP_CANCELLED;
	call->label = "cancelled";
	call->curl_code = 0;
	call->status = 0;
	snprintf(call->message, sizeof(call->message), "cancelled");
	buf_clear(&call->body);
	buf_clear(&call->hdrs);
	call_enqueue(call);
}

/* ---- the client's life --------------------------------------------- */

static void
client_destroy(struct http_client *c)
{
	struct http_call *call;

	/* Normally empty: http_client_free() reported everything. */
	while ((call = TAILQ_FIRST(&c->active)) != NULL) {
		TAILQ_REMOVE(&c->active, call, entry);
		call_free(call);
	}
	while ((call = TAILQ_FIRST(&c->queued)) != NULL) {
		TAILQ_REMOVE(&c->queued, call, entry);
		call_free(call);
	}
	/* Closing cached connections calls on_curl_socket(REMOVE), which
	 * frees their events: the base must still be there. */
	if (c->multi != NULL)
		curl_multi_cleanup(c->multi);
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->deferred != NULL)
		event_free(c->deferred);
	free(c->ca_file);
	free(c->user_agent);
	free(c);
}

/* Leaves one of our libevent callbacks; frees a client freed meanwhile. */
static void
client_leave(struct http_client *c)
{
	if (--c->busy == 0 && c->closing)
		client_destroy(c);
}

/* Reports every finished transfer curl has for us. */
static void
drain_messages(struct http_client *c)
{
	CURLMsg *msg;
	int left;

	while (!c->closing &&
	    (msg = curl_multi_info_read(c->multi, &left)) != NULL) {
		struct http_call *call = NULL;
		CURL *easy = msg->easy_handle;
		CURLcode rc = msg->data.result;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&call);
		if (call == NULL || call->easy != easy) {
			log_warnx("http client: finished transfer without "
			    "its call");
			curl_multi_remove_handle(c->multi, easy);
			continue;
		}
		call_finish(call, rc);
	}
	while (!c->closing && !TAILQ_EMPTY(&c->queued))
		call_report(TAILQ_FIRST(&c->queued));
}

/* libevent: the timer curl asked for. */
static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct http_client *c = arg;
	int running;

	c->busy++;
	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	drain_messages(c);
	client_leave(c);
}

/* libevent: a socket curl watches is ready. */
static void
on_socket_event(evutil_socket_t fd, short what, void *arg)
{
	struct http_client *c = arg;
	int running, mask = 0;

	if (what & EV_READ)
		mask |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		mask |= CURL_CSELECT_OUT;
	c->busy++;
	curl_multi_socket_action(c->multi, fd, mask, &running);
	drain_messages(c);
	client_leave(c);
}

/* libevent: report cancelled calls. */
static void
on_deferred(evutil_socket_t fd, short what, void *arg)
{
	struct http_client *c = arg;

	c->busy++;
	drain_messages(c);
	client_leave(c);
}

/* curl: replace the one timer (-1 deletes it; 0 fires on the next loop
 * turn, never calling curl from here). */
static int
on_curl_timer(CURLM *multi, long timeout_ms, void *arg)
{
	struct http_client *c = arg;
	struct timeval tv;

	if (timeout_ms < 0) {
		evtimer_del(c->timer);
		return 0;
	}
	ms_to_tv(timeout_ms, &tv);
	return evtimer_add(c->timer, &tv) == 0 ? 0 : -1;
}

/* curl: watch, re-watch or forget a socket. */
static int
on_curl_socket(CURL *easy, curl_socket_t s, int what, void *arg,
    void *sockp)
{
	struct http_client *c = arg;
	struct event *ev = sockp;
	short kind = EV_PERSIST;

	if (what == CURL_POLL_REMOVE) {
		if (ev != NULL)
			event_free(ev);
		return 0;
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (ev == NULL) {
		ev = event_new(c->base, s, kind, on_socket_event, c);
		if (ev == NULL) {
			log_warnx("http client: cannot watch socket %d", s);
			return -1;
		}
		if (curl_multi_assign(c->multi, s, ev) != CURLM_OK) {
			event_free(ev);
			return -1;
		}
	} else {
		event_del(ev);
		event_assign(ev, c->base, s, kind, on_socket_event, c);
	}
	return event_add(ev, NULL) == 0 ? 0 : -1;
}

struct http_client *
http_client_new(struct event_base *base, const struct http_client_opts *o)
{
	static const struct http_client_opts defaults;
	struct http_client *c;
	CURLcode rc;

	if (!curl_ready) {
		if ((rc = curl_global_init(CURL_GLOBAL_DEFAULT)) != CURLE_OK) {
			log_warnx("http client: cannot initialise libcurl: %s",
			    curl_easy_strerror(rc));
			return NULL;
		}
		atexit(curl_global_cleanup);
		curl_ready = true;
	}
	if (o == NULL)
		o = &defaults;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto nomem;
	c->base = base;
	TAILQ_INIT(&c->active);
	TAILQ_INIT(&c->queued);
	c->connect_timeout_ms = o->connect_timeout_ms > 0 ?
	    o->connect_timeout_ms : HTTP_CLIENT_CONNECT_TIMEOUT_MS;
	c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms :
	    HTTP_CLIENT_TIMEOUT_MS;
	c->max_body = o->max_body > 0 ? o->max_body : HTTP_CLIENT_MAX_BODY;
	c->max_host_connections = o->max_host_connections > 0 ?
	    o->max_host_connections : HTTP_CLIENT_MAX_HOST_CONNS;
	if (o->ca_file != NULL && (c->ca_file = strdup(o->ca_file)) == NULL)
		goto nomem;
	c->user_agent = strdup(o->user_agent != NULL ? o->user_agent :
	    "batond/" BATON_VERSION);
	if (c->user_agent == NULL)
		goto nomem;
	if ((c->timer = evtimer_new(base, on_timer, c)) == NULL ||
	    (c->deferred = evtimer_new(base, on_deferred, c)) == NULL ||
	    (c->multi = curl_multi_init()) == NULL)
		goto nomem;
	if (curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION,
	    on_curl_socket) != CURLM_OK ||
	    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c) != CURLM_OK ||
	    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION,
	    on_curl_timer) != CURLM_OK ||
	    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c) != CURLM_OK ||
	    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
	    c->max_host_connections) != CURLM_OK) {
		log_warnx("http client: cannot configure the multi handle");
		http_client_free(c);
		return NULL;
	}
	return c;
nomem:
	log_warnx("http client: out of memory");
	http_client_free(c);
	return NULL;
}

void
http_client_free(struct http_client *c)
{
	struct http_call *call;

	if (c == NULL || c->closing)
		return;
	c->closing = true;
	while ((call = TAILQ_FIRST(&c->active)) != NULL)
		call_cancel_now(call);
	while ((call = TAILQ_FIRST(&c->queued)) != NULL)
		call_report(call);
	if (c->busy == 0)
		client_destroy(c);
}

size_t
http_client_pending(const struct http_client *c)
{
	return c->pending;
}

/* ---- starting requests --------------------------------------------- */

/* curl: response body bytes. */
static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct http_call *call = arg;
	size_t len = size * n;

	if (len > call->max_body - call->body.len) {
		call->too_large = true;
		return 0;
	}
	if (buf_append(&call->body, p, len) == -1)
		return 0;
	return len;
}

/* curl: one response header line (or a status line, or the blank end). */
static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
	struct http_call *call = arg;
	size_t len = size * n, nlen, vlen;
	const char *colon, *v, *end = p + len;

	if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		call->hdrs.len = 0;     /* a new (final or interim) response */
		return len;
	}
	while (end > p && (end[-1] == '\r' || end[-1] == '\n' ||
	    end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (end == p || *p == ' ' || *p == '\t')
		return len;             /* the blank end, or obsolete folding */
	if ((colon = memchr(p, ':', (size_t)(end - p))) == NULL)
		return len;
	nlen = (size_t)(colon - p);
	while (nlen > 0 && (p[nlen - 1] == ' ' || p[nlen - 1] == '\t'))
		nlen--;
	for (v = colon + 1; v < end && (*v == ' ' || *v == '\t'); v++)
		;
	vlen = (size_t)(end - v);
	if (nlen == 0 || memchr(p, '\0', (size_t)(end - p)) != NULL)
		return len;
	if (buf_append(&call->hdrs, p, nlen) == -1 ||
	    buf_append(&call->hdrs, "", 1) == -1 ||
	    buf_append(&call->hdrs, v, vlen) == -1 ||
	    buf_append(&call->hdrs, "", 1) == -1)
		return 0;
	return len;
}

/* A method is 1 to 15 upper-case letters. */
static bool
valid_method(const char *m)
{
	size_t n = strlen(m);

	if (n == 0 || n >= 16)
		return false;
	for (size_t i = 0; i < n; i++)
		if (m[i] < 'A' || m[i] > 'Z')
			return false;
	return true;
}

/* "Name: value" with a token name, no CR, LF or NUL. */
static bool
valid_header_line(const char *h)
{
	const char *colon = strchr(h, ':');

	if (colon == NULL || colon == h || strpbrk(h, "\r\n") != NULL)
		return false;
	for (const char *p = h; p < colon; p++)
		if (!isgraph((unsigned char)*p))
			return false;
	return true;
}

static bool
header_is(const char *line, const char *name)
{
	size_t n = strlen(name);

	return strncasecmp(line, name, n) == 0 && line[n] == ':';
}

/* Checks the URL: http or https, with a host.  Fills call->host. */
static int
check_url(struct http_call *call, const char *url, char *err, size_t errlen)
{
	CURLU *u;
	CURLUcode uc;
	char *scheme = NULL, *host = NULL;
	int rc = -1;

	if ((u = curl_url()) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((uc = curl_url_set(u, CURLUPART_URL, url, 0)) != CURLUE_OK) {
		snprintf(err, errlen, "invalid URL \"%s\": %s", url,
		    curl_url_strerror(uc));
		goto out;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcasecmp(scheme, "http") != 0 &&
	    strcasecmp(scheme, "https") != 0)) {
		snprintf(err, errlen, "unsupported URL scheme \"%s\" in \"%s\" "
		    "(http and https only)", scheme ? scheme : "", url);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    *host == '\0') {
		snprintf(err, errlen, "invalid URL \"%s\": no host", url);
		goto out;
	}
	if ((call->host = strdup(host)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (char *p = call->host; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	rc = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

/* Sets up the easy handle.  0, or -1 with a message in err. */
static int
call_setup(struct http_client *c, struct http_call *call,
    const struct http_request *req, const char *method, char *err,
    size_t errlen)
{
	CURL *e = call->easy;
	bool expect = false, has_body;
	int r = 0;

	for (const char *const *h = req->headers; h != NULL && *h != NULL;
	    h++) {
		struct curl_slist *l;

		if (!valid_header_line(*h)) {
			snprintf(err, errlen, "invalid header line \"%s\" "
			    "(want \"Name: value\")", *h);
			return -1;
		}
		if (header_is(*h, "Expect"))
			expect = true;
		if ((l = curl_slist_append(call->req_headers, *h)) == NULL)
			goto nomem;
		call->req_headers = l;
	}
	if (!expect) {
		/* No 100-continue round trip before large bodies. */
		struct curl_slist *l = curl_slist_append(call->req_headers,
		    "Expect:");
		if (l == NULL)
			goto nomem;
		call->req_headers = l;
	}

	r |= (int)curl_easy_setopt(e, CURLOPT_URL, req->url);
	r |= (int)curl_easy_setopt(e, CURLOPT_PRIVATE, call);
	r |= (int)curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	r |= (int)curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	r |= (int)curl_easy_setopt(e, CURLOPT_PROTOCOLS,
	    (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	r |= (int)curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	r |= (int)curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	r |= (int)curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
	r |= (int)curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)c->connect_timeout_ms);
	r |= (int)curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
	    (long)(req->timeout_ms > 0 ? req->timeout_ms : c->timeout_ms));
	r |= (int)curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	r |= (int)curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->ca_file != NULL)
		r |= (int)curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
	r |= (int)curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	r |= (int)curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)c->max_body);
	r |= (int)curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	r |= (int)curl_easy_setopt(e, CURLOPT_WRITEDATA, call);
	r |= (int)curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	r |= (int)curl_easy_setopt(e, CURLOPT_HEADERDATA, call);
	r |= (int)curl_easy_setopt(e, CURLOPT_ERRORBUFFER, call->errbuf);
	r |= (int)curl_easy_setopt(e, CURLOPT_HTTPHEADER, call->req_headers);

	/* A body goes as POSTFIELDS (with its length: it may hold NULs);
	 * POST, PUT and PATCH always send one, if only empty. */
	has_body = req->body != NULL || strcmp(method, "POST") == 0 ||
	    strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0;
	if (strcmp(method, "HEAD") == 0) {
		r |= (int)curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else if (has_body) {
		const void *body = req->body != NULL ? req->body : "";

		r |= (int)curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)req->body_len);
		if (req->body_borrowed)
			r |= (int)curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
		else
			r |= (int)curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS,
			    body);
		if (strcmp(method, "POST") != 0)
			r |= (int)curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST,
			    method);
	} else if (strcmp(method, "GET") == 0) {
		r |= (int)curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	} else {
		r |= (int)curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	}
	if (r != 0) {
		snprintf(err, errlen, "cannot set up the request to %s",
		    call->host);
		return -1;
	}
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	return -1;
}

struct http_call *
http_client_request(struct http_client *c, const struct http_request *req,
    char *err, size_t errlen)
{
	struct http_call *call;
	const char *method;
	CURLMcode mc;

	if (c->closing) {
		snprintf(err, errlen, "the HTTP client is being freed");
		return NULL;
	}
	if (req->done == NULL || req->url == NULL) {
		snprintf(err, errlen, "a request needs a URL and a done "
		    "callback");
		return NULL;
	}
	if (req->body == NULL && req->body_len > 0) {
		snprintf(err, errlen, "body_len %zu without a body",
		    req->body_len);
		return NULL;
	}
	method = req->method != NULL ? req->method :
	    req->body != NULL ? "POST" : "GET";
	if (!valid_method(method)) {
		snprintf(err, errlen, "invalid method \"%s\"", method);
		return NULL;
	}
	if ((call = calloc(1, sizeof(*call))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	call->client = c;
	call->done = req->done;
	call->arg = req->arg;
	call->max_body = c->max_body;
	snprintf(call->method, sizeof(call->method), "%s", method);
	if (check_url(call, req->url, err, errlen) == -1)
		goto fail;
	if ((call->easy = curl_easy_init()) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (call_setup(c, call, req, method, err, errlen) == -1)
		goto fail;
	call->start = mono_now();
	/* Adding only arms the timer (soon): no callback runs from here. */
	if ((mc = curl_multi_add_handle(c->multi, call->easy)) != CURLM_OK) {
		snprintf(err, errlen, "cannot start the request to %s: %s",
		    call->host, curl_multi_strerror(mc));
		goto fail;
	}
	call->state = CALL_ACTIVE;
	TAILQ_INSERT_TAIL(&c->active, call, entry);
	c->pending++;
	return call;
fail:
	/* Not in the multi handle yet: cleanup only. */
	if (call->easy != NULL) {
		curl_easy_cleanup(call->easy);
		call->easy = NULL;
	}
	call_free(call);
	return NULL;
}

void
http_call_cancel(struct http_call *call)
{
	struct http_client *c;
	static const struct timeval now = { 0, 0 };

	if (call == NULL || call->state != CALL_ACTIVE)
		return;
	c = call->client;
	call_cancel_now(call);
	evtimer_add(c->deferred, &now);
}

const char *
http_result_header(const struct http_result *res, const char *name)
{
	const struct http_call *call = res->call;
	const char *p, *end;

	if (call == NULL || call->hdrs.data == NULL)
		return NULL;
	p = (const char *)call->hdrs.data;
	end = p + call->hdrs.len;
	while (p < end) {
		const char *v = p + strlen(p) + 1;

		if (strcasecmp(p, name) == 0)
			return v;
		p = v + strlen(v) + 1;
	}
	return NULL;
}

/* ---- Retry-After --------------------------------------------------- */

static const char *const wkday[] = {
	"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun",
};
static const char *const weekday[] = {
	"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
	"Sunday",
};
static const char *const months[] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
	"Nov", "Dec",
};

/* Days since 1970-01-01 of a proleptic Gregorian date (m 1..12). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	if (m <= 2)
		y--;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int
days_in_month(int64_t y, int m)
{
	static const int dm[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : dm[m - 1];
}

/* Parses exactly n digits at *p. */
static bool
take_digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return true;
}

static bool
take_lit(const char **p, const char *lit)
{
	size_t n = strlen(lit);

	if (strncmp(*p, lit, n) != 0)
		return false;
	*p += n;
	return true;
}

/* One of names (case-sensitive, as RFC 9110 writes them). */
static bool
take_name(const char **p, const char *const *names, int count, int *out)
{
	for (int i = 0; i < count; i++)
		if (take_lit(p, names[i])) {
			*out = i;
			return true;
		}
	return false;
}

/* "HH:MM:SS" */
static bool
take_time(const char **p, int *h, int *mi, int *s)
{
	return take_digits(p, 2, h) && take_lit(p, ":") &&
	    take_digits(p, 2, mi) && take_lit(p, ":") &&
	    take_digits(p, 2, s) && *h <= 23 && *mi <= 59 && *s <= 60;
}

/* An HTTP-date in one of its three forms, to epoch seconds. */
static int
parse_http_date(const char *s, int64_t now_ms, int64_t *out)
{
	const char *p = s;
	int wd, d, mo, y, h, mi, sec;
	int64_t year;

	if (take_name(&p, weekday, 7, &wd)) {
		/* rfc850-date: Sunday, 06-Nov-94 08:49:37 GMT */
		int64_t now_year, days = now_ms / 86400000;

		if (!take_lit(&p, ", ") || !take_digits(&p, 2, &d) ||
		    !take_lit(&p, "-") || !take_name(&p, months, 12, &mo) ||
		    !take_lit(&p, "-") || !take_digits(&p, 2, &y) ||
		    !take_lit(&p, " ") || !take_time(&p, &h, &mi, &sec) ||
		    !take_lit(&p, " GMT") || *p != '\0')
			return -1;
		for (now_year = 1970 + days / 366;
		    days_from_civil(now_year + 1, 1, 1) <= days; now_year++)
			;
		year = now_year - now_year % 100 + y;
		if (year > now_year + 50)
			year -= 100;
	} else if (take_name(&p, wkday, 7, &wd)) {
		if (take_lit(&p, ", ")) {
			/* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
			if (!take_digits(&p, 2, &d) || !take_lit(&p, " ") ||
			    !take_name(&p, months, 12, &mo) ||
			    !take_lit(&p, " ") || !take_digits(&p, 4, &y) ||
			    !take_lit(&p, " ") ||
			    !take_time(&p, &h, &mi, &sec) ||
			    !take_lit(&p, " GMT") || *p != '\0')
				return -1;
		} else {
			/* asctime-date: Sun Nov  6 08:49:37 1994 */
			if (!take_lit(&p, " ") ||
			    !take_name(&p, months, 12, &mo) ||
			    !take_lit(&p, " "))
				return -1;
			if (*p == ' ') {
				p++;
				if (!take_digits(&p, 1, &d))
					return -1;
			} else if (!take_digits(&p, 2, &d))
				return -1;
			if (!take_lit(&p, " ") ||
			    !take_time(&p, &h, &mi, &sec) ||
			    !take_lit(&p, " ") || !take_digits(&p, 4, &y) ||
			    *p != '\0')
				return -1;
		}
		year = y;
	} else
		return -1;
	if (d < 1 || d > days_in_month(year, mo + 1))
		return -1;
	*out = days_from_civil(year, mo + 1, d) * 86400 + h * 3600 +
	    mi * 60 + sec;
	return 0;
}

int
http_retry_after_ms(const char *value, int64_t now_ms, int64_t *out)
{
	char s[64];
	const char *p, *end;
	size_t n;
	int64_t t, delay;

	if (value == NULL)
		return -1;
	for (p = value; *p == ' ' || *p == '\t'; p++)
		;
	for (end = p + strlen(p); end > p && (end[-1] == ' ' ||
	    end[-1] == '\t'); end--)
		;
	if ((n = (size_t)(end - p)) == 0 || n >= sizeof(s))
		return -1;
	memcpy(s, p, n);
	s[n] = '\0';

	if (isdigit((unsigned char)s[0])) {
		int64_t secs = 0;

		for (size_t i = 0; i < n; i++) {
			if (!isdigit((unsigned char)s[i]))
				return -1;
			if (secs < RETRY_AFTER_CAP_S)
				secs = secs * 10 + (s[i] - '0');
		}
		if (secs > RETRY_AFTER_CAP_S)
			secs = RETRY_AFTER_CAP_S;
		*out = secs * 1000;
		return 0;
	}
	if (parse_http_date(s, now_ms, &t) == -1)
		return -1;
	delay = t * 1000 - now_ms;
	if (delay < 0)
		delay = 0;
	if (delay > RETRY_AFTER_CAP_S * 1000)
		delay = RETRY_AFTER_CAP_S * 1000;
	*out = delay;
	return 0;
}

/* ---- classification ------------------------------------------------ */

enum connector_result
http_classify(const struct http_result *res)
{
	switch (res->outcome) {
	case HTTP_DONE:
		if (res->status >= 200 && res->status <= 299)
			return CONNECTOR_OK;
		if (res->status == 408 || res->status == 429 ||
		    (res->status >= 500 && res->status <= 599))
			return CONNECTOR_RETRY;
		return CONNECTOR_DROP;
	case HTTP_TOO_LARGE:
		return CONNECTOR_DROP;
	case HTTP_TRANSPORT:
	case HTTP_CANCELLED:
	default:
		return CONNECTOR_RETRY;
	}
}

enum connector_result
http_result_sort(const struct http_result *res, const char *what,
    int64_t now_ms, int64_t *retry_after_ms, char *msg, size_t msglen)
{
	int64_t ra;

	*retry_after_ms = 0;
	if (msglen > 0)
		msg[0] = '\0';
	if (res->outcome != HTTP_DONE)
		snprintf(msg, msglen, "%s: %s", what, res->outcome ==
		    HTTP_CANCELLED ? "cancelled" : res->error != NULL ?
		    res->error : "failed");
	else if (http_retry_after_ms(http_result_header(res, "Retry-After"),
	    now_ms, &ra) == 0)
		*retry_after_ms = ra;
	return http_classify(res);
}
