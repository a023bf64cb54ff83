/*
 * intake.c - POST /hooks/<connector>: the raw request goes to the
 * connector, the events it yields go to PREFIX:events in one atomic append,
 * and only then does the client hear 200.
 *
 * The order of checks is the HTTP contract's: unknown connector 404, wrong
 * method 405, a Content-Type other than application/json 415, body over
 * max_body 413 (the listener's guard usually said so already), the
 * connector's own refusal (400 malformed, 401 signature), and 503 with
 * Retry-After whenever the events cannot be acknowledged by Redis now
 * (Redis down, too many requests waiting, shutting down).  A request in
 * flight holds a reference to the config it started with, so a reload
 * never pulls its connector away.
 */
#include "intake.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include <baton/timestamp.h>

#include "config.h"
#include "connectors.h"
#include "http.h"
#include "event_count.h"
#include "metrics.h"
#include "redis.h"
#include "runtime.h"
#include "stream.h"

#define WEBHOOK_DEFAULT_MAX_EVENTS 1000
#define INTAKE_RETRY_AFTER 5            /* seconds, on 503 */

struct call_header {
	char *name;
	char *value;
};

struct webhook_call {
	struct connector_instance *ci;
	struct runtime *rt;             /* NULL outside the daemon */
	struct config *conf;            /* held while in flight (daemon) */
	struct evhttp_request *req;     /* NULL outside the daemon */
	char *method;
	char *uri;
	const unsigned char *body;      /* borrowed from req, or body_owned */
	size_t body_len;
	unsigned char *body_owned;
	struct evkeyvalq *http_headers; /* borrowed from req */
	struct call_header *headers;    /* added with webhook_call_add_header */
	size_t nheaders;
	int64_t received_ms;
	struct timespec started;        /* for the acknowledgement latency */
	struct baton_event **events;
	size_t nevents, cap, max_events;
	bool overflow;                  /* webhook_emit went past max_events */
	bool pending;                   /* the connector answered PENDING */
	int status;                     /* refusal status, 0 when none */
	char error[512];
};

/* ---- Metrics --------------------------------------------------------- */

static struct metric *
requests_metric(void)
{
	static struct metric *m;

	if (m == NULL)
		m = metric_counter("baton_webhook_requests_total",
		    "Webhook requests answered, by connector and HTTP status.",
		    "connector,status");
	return m;
}

static void
count_request(const char *connector, int status)
{
	char code[8];

	snprintf(code, sizeof(code), "%d", status);
	metric_inc(metric_series(requests_metric(), connector, code));
}

static void
count_events(const char *connector, size_t written, size_t duplicates)
{
	static struct metric *mw, *md;

	if (mw == NULL) {
		mw = metric_counter("baton_events_written_total",
		    "Events appended to the events stream, by connector.",
		    "connector");
		md = metric_counter("baton_events_duplicate_total",
		    "Redelivered events recognised and not written again.",
		    "connector");
	}
	metric_add(metric_series(mw, connector), (double)written);
	metric_add(metric_series(md, connector), (double)duplicates);
}

static void
observe_ack(const struct timespec *started)
{
	static struct metric *m;
	struct timespec now;

	if (m == NULL)
		m = metric_histogram("baton_intake_ack_seconds",
		    "From a webhook request parsed to its events acknowledged "
		    "by Redis.", NULL, NULL, 0);
	clock_gettime(CLOCK_MONOTONIC, &now);
	metric_observe(metric_series(m),
	    (double)(now.tv_sec - started->tv_sec) +
	    (double)(now.tv_nsec - started->tv_nsec) / 1e9);
}

/* ---- The call object --------------------------------------------------- */

static struct webhook_call *
call_alloc(struct connector_instance *ci, const char *method, const char *uri,
    int64_t received_ms)
{
	struct webhook_call *call;

	if ((call = calloc(1, sizeof(*call))) == NULL)
		return NULL;
	call->ci = ci;
	call->max_events = WEBHOOK_DEFAULT_MAX_EVENTS;
	call->received_ms = received_ms;
	clock_gettime(CLOCK_MONOTONIC, &call->started);
	call->method = strdup(method);
	call->uri = strdup(uri);
	if (call->method == NULL || call->uri == NULL) {
		webhook_call_free(call);
		return NULL;
	}
	return call;
}

static void
call_drop_events(struct webhook_call *call)
{
	for (size_t i = 0; i < call->nevents; i++)
		baton_event_free(call->events[i]);
	call->nevents = 0;
}

void
webhook_call_free(struct webhook_call *call)
{
	if (call == NULL)
		return;
	call_drop_events(call);
	free(call->events);
	for (size_t i = 0; i < call->nheaders; i++) {
		free(call->headers[i].name);
		free(call->headers[i].value);
	}
	free(call->headers);
	free(call->body_owned);
	free(call->method);
	free(call->uri);
	if (call->conf != NULL)
		config_unref(call->conf);
	free(call);
}

struct webhook_call *
webhook_call_new(struct connector_instance *ci, const char *method,
    const char *uri, const void *body, size_t len, int64_t received_ms)
{
	struct webhook_call *call;

	if ((call = call_alloc(ci, method, uri, received_ms)) == NULL)
		return NULL;
	/* One spare byte keeps the body NUL-terminated for text parsers. */
	if ((call->body_owned = malloc(len + 1)) == NULL) {
		webhook_call_free(call);
		return NULL;
	}
	if (len > 0)
		memcpy(call->body_owned, body, len);
	call->body_owned[len] = '\0';
	call->body = call->body_owned;
	call->body_len = len;
	return call;
}

int
webhook_call_add_header(struct webhook_call *call, const char *name,
    const char *value)
{
	struct call_header *h;

	h = realloc(call->headers, (call->nheaders + 1) * sizeof(*h));
	if (h == NULL)
		return -1;
	call->headers = h;
	h = &call->headers[call->nheaders];
	h->name = strdup(name);
	h->value = strdup(value);
	if (h->name == NULL || h->value == NULL) {
		free(h->name);
		free(h->value);
		return -1;
	}
	call->nheaders++;
	return 0;
}

/*
 * What the connector's answer rc means for the request: 0 when its events
 * are ready to be written, else the refusal's status (call->status and
 * call->error set, events dropped): the connector's own refusal, 400 for
 * a failure it did not explain, or 400 past the per-request event limit.
 */
static int
call_verdict(struct webhook_call *call, int rc)
{
	if (rc != 0 && call->status == 0) {
		call->status = 400;
		snprintf(call->error, sizeof(call->error),
		    "the request was refused");
	} else if (call->status == 0 && call->overflow) {
		call_drop_events(call);
		call->status = 400;
		snprintf(call->error, sizeof(call->error),
		    "too many events in one request (at most %zu)",
		    call->max_events);
	}
	return call->status;
}

int
webhook_call_parse(struct webhook_call *call)
{
	const struct connector *desc = connector_descriptor(call->ci);
	int rc;

	if (desc->webhook == NULL) {
		call->status = 404;
		snprintf(call->error, sizeof(call->error),
		    "connector type '%s' takes no webhooks", desc->name);
		return call->status;
	}
	rc = desc->webhook(call->ci, call);
	if (rc == CONNECTOR_PENDING) {
		/* Asynchronous connectors need the daemon's loop. */
		call->status = 500;
		snprintf(call->error, sizeof(call->error),
		    "connector answered later; not supported without the loop");
		return call->status;
	}
	return call_verdict(call, rc) != 0 ? call->status : 200;
}

size_t
webhook_call_nevents(const struct webhook_call *call)
{
	return call->nevents;
}

const struct baton_event *
webhook_call_event(const struct webhook_call *call, size_t i)
{
	return i < call->nevents ? call->events[i] : NULL;
}

const char *
webhook_call_error(const struct webhook_call *call)
{
	return call->status != 0 ? call->error : NULL;
}

/* ---- What connectors see (include/baton/connector.h) -------------------- */

const char *
webhook_method(const struct webhook_call *call)
{
	return call->method;
}

const char *
webhook_uri(const struct webhook_call *call)
{
	return call->uri;
}

const char *
webhook_header(const struct webhook_call *call, const char *name)
{
	if (call->http_headers != NULL)
		return evhttp_find_header(call->http_headers, name);
	for (size_t i = 0; i < call->nheaders; i++)
		if (strcasecmp(call->headers[i].name, name) == 0)
			return call->headers[i].value;
	return NULL;
}

const unsigned char *
webhook_body(const struct webhook_call *call, size_t *len)
{
	*len = call->body_len;
	return call->body;
}

int64_t
webhook_received_ms(const struct webhook_call *call)
{
	return call->received_ms;
}

int
webhook_emit(struct webhook_call *call, struct baton_event *ev)
{
	if (ev == NULL)
		return -1;
	if (call->status != 0) {
		baton_event_free(ev);
		return -1;
	}
	if (call->nevents >= call->max_events) {
		call->overflow = true;
		baton_event_free(ev);
		return -1;
	}
	if (call->nevents == call->cap) {
		size_t cap = call->cap ? call->cap * 2 : 4;
		struct baton_event **v;

		if (cap > call->max_events)
			cap = call->max_events;
		v = realloc(call->events, cap * sizeof(*v));
		if (v == NULL) {
			baton_event_free(ev);
			return -1;
		}
		call->events = v;
		call->cap = cap;
	}
	call->events[call->nevents++] = ev;
	return 0;
}

int
webhook_reject(struct webhook_call *call, int status, const char *fmt, ...)
{
	va_list ap;

	if (status != 400 && status != 401 && status != 403 && status != 503)
		status = 400;
	call->status = status;
	if (call->overflow)     /* the limit is the core's, so is the message */
		snprintf(call->error, sizeof(call->error),
		    "too many events in one request (at most %zu)",
		    call->max_events);
	else {
		va_start(ap, fmt);
		vsnprintf(call->error, sizeof(call->error), fmt, ap);
		va_end(ap);
	}
	call_drop_events(call);
	return -1;
}

/* ---- The HTTP path ------------------------------------------------------ */

/* Answers, counts, and frees the call; the request is gone afterwards. */
static void
intake_finish(struct webhook_call *call, int status, const char *json)
{
	const char *name = connector_name(call->ci);

	if (status >= 400)
		http_reply_error(call->req, status,
		    status == 503 ? INTAKE_RETRY_AFTER : 0, call->error);
	else
		http_reply_json(call->req, status, json);
	count_request(name, status);
	webhook_call_free(call);
}

/* Refuses with a message of our own (not the connector's). */
static void
intake_refuse(struct webhook_call *call, int status, const char *fmt, ...)
    BATON_PRINTF(3, 4);

static void
intake_refuse(struct webhook_call *call, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(call->error, sizeof(call->error), fmt, ap);
	va_end(ap);
	intake_finish(call, status, NULL);
}

static void
intake_written(int rc, size_t written, size_t duplicates, void *arg)
{
	struct webhook_call *call = arg;
	struct runtime *rt = call->rt;
	char body[96];

	observe_ack(&call->started);
	if (rc != 0) {
		intake_refuse(call, 503,
		    "the events could not be stored; retry later");
	} else {
		count_events(connector_name(call->ci), written, duplicates);
		event_count_received(connector_name(call->ci), call->events,
		    call->nevents);
		snprintf(body, sizeof(body),
		    "{\"events\":%zu,\"duplicates\":%zu}", written + duplicates,
		    duplicates);
		intake_finish(call, 200, body);
	}
	runtime_request_done(rt);
}

/*
 * Logs why a request was refused, at most REFUSAL_LOG_BURST lines per
 * second: a flood of bad requests (an attacker, a misconfigured sender)
 * must not flood the journal.  The first line after a quiet spell says
 * how many were left out.  The metrics count every refusal regardless.
 */
#define REFUSAL_LOG_BURST 10

static void
log_refusal(const struct webhook_call *call)
{
	static int64_t window;          /* the second being counted */
	static unsigned logged, dropped;
	int64_t now = call->received_ms / 1000;
	const char *type = connector_descriptor(call->ci)->name;
	const char *name = connector_name(call->ci);
	char more[64] = "";

	if (now != window) {
		window = now;
		logged = 0;
	}
	if (logged >= REFUSAL_LOG_BURST) {
		dropped++;
		return;
	}
	logged++;
	if (dropped > 0)
		snprintf(more, sizeof(more), " (%u more refusals not logged)",
		    dropped);
	dropped = 0;
	if (call->status == 401)
		log_notice("[%s:%s] %s %s: %s%s", type, name, call->method,
		    call->uri, call->error, more);
	else
		log_info("[%s:%s] refused (%d): %s%s", type, name,
		    call->status, call->error, more);
}

/* After the connector has parsed the request (now or later). */
static void
intake_parsed(struct webhook_call *call, int rc)
{
	struct runtime *rt = call->rt;
	const char *name = connector_name(call->ci);
	struct stream_target t;

	if (call_verdict(call, rc) != 0) {
		log_refusal(call);
		/* Signature details stay in the log, not the reply. */
		if (call->status == 401)
			snprintf(call->error, sizeof(call->error),
			    "signature check failed");
		intake_finish(call, call->status, NULL);
		return;
	}
	if (call->nevents == 0) {
		intake_finish(call, 204, NULL);
		return;
	}
	if (rt->stopping) {
		intake_refuse(call, 503, "shutting down; retry later");
		return;
	}
	if (rt->redis == NULL || !redis_is_up(rt->redis)) {
		intake_refuse(call, 503, "Redis is unreachable; retry later");
		return;
	}
	if ((long long)rt->inflight >= call->conf->daemon.max_inflight) {
		intake_refuse(call, 503, "too many requests in flight; retry "
		    "later");
		return;
	}
	for (size_t i = 0; i < call->nevents; i++) {
		if (baton_event_set_source(call->events[i], name) == -1) {
			intake_refuse(call, 503, "out of memory");
			return;
		}
	}
	runtime_events_target(rt, &t);
	if (stream_batcher_append(rt->batcher, rt->redis, &t, call->events,
	    call->nevents, intake_written, call) == -1) {
		intake_refuse(call, 503, "Redis is unreachable; retry later");
		return;
	}
	rt->inflight++;
}

void
webhook_complete(struct webhook_call *call, int rc)
{
	struct runtime *rt = call->rt;

	if (rt == NULL || !call->pending)
		return;         /* a synchronous call ends in its caller */
	call->pending = false;
	intake_parsed(call, rc);
	runtime_parse_done(rt);
}

/*
 * Checks a webhook's Content-Type: application/json, any case, with
 * parameters allowed but a charset only if it is UTF-8 (RFC 8259).
 * Returns 0, or -1 with the reply's message in msg.
 */
static int
json_content_type(const char *ct, char *msg, size_t msglen)
{
	static const char want[] = "application/json";
	char shown[64];
	const char *p, *end;
	size_t i, n;

	if (ct == NULL) {
		snprintf(msg, msglen, "Content-Type must be %s (none given)",
		    want);
		return -1;
	}
	/* What the message repeats: printable ASCII, at most 60 bytes. */
	for (i = 0; ct[i] != '\0' && i < 60; i++)
		shown[i] = ct[i] >= 0x20 && ct[i] < 0x7f ? ct[i] : '?';
	shown[i] = '\0';
	p = ct + strspn(ct, " \t");
	n = strcspn(p, ";");
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	if (n != sizeof(want) - 1 || strncasecmp(p, want, n) != 0) {
		snprintf(msg, msglen, "Content-Type must be %s, not '%s'",
		    want, shown);
		return -1;
	}
	/* Parameters: ";" name "=" value, a quoted value allowed. */
	for (p = strchr(p, ';'); p != NULL; p = strchr(end, ';')) {
		p++;
		p += strspn(p, " \t");
		end = p + strcspn(p, ";");
		if (end - p >= 8 && strncasecmp(p, "charset=", 8) == 0) {
			const char *v = p + 8;
			size_t vn = (size_t)(end - v);

			while (vn > 0 && (v[vn - 1] == ' ' ||
			    v[vn - 1] == '\t'))
				vn--;
			if (vn >= 2 && v[0] == '"' && v[vn - 1] == '"') {
				v++;
				vn -= 2;
			}
			if (!((vn == 5 && strncasecmp(v, "utf-8", 5) == 0) ||
			    (vn == 4 && strncasecmp(v, "utf8", 4) == 0))) {
				snprintf(msg, msglen, "JSON must be UTF-8, "
				    "not '%s'", shown);
				return -1;
			}
		}
	}
	return 0;
}

void
intake_handle(struct evhttp_request *req, struct runtime *rt,
    const char *connector)
{
	struct connector_instance *ci;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct webhook_call *call;
	size_t len = evbuffer_get_length(in);
	char msg[160];
	int rc;

	ci = config_connector(rt->conf, connector);
	if (ci == NULL || connector_descriptor(ci)->webhook == NULL) {
		snprintf(msg, sizeof(msg), "no connector '%.64s' takes "
		    "webhooks here", connector);
		http_reply_error(req, 404, 0, msg);
		/* Unknown names share one label: no unbounded series. */
		count_request("-", 404);
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "POST");
		http_reply_error(req, 405, 0, "use POST");
		count_request(connector_name(ci), 405);
		return;
	}
	if (json_content_type(evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Content-Type"), msg,
	    sizeof(msg)) == -1) {
		http_reply_error(req, 415, 0, msg);
		count_request(connector_name(ci), 415);
		return;
	}
	if (len > rt->conf->daemon.max_body) {
		snprintf(msg, sizeof(msg), "body over max_body (%llu bytes)",
		    (unsigned long long)rt->conf->daemon.max_body);
		http_reply_error(req, 413, 0, msg);
		count_request(connector_name(ci), 413);
		return;
	}
	call = call_alloc(ci, "POST", evhttp_request_get_uri(req),
	    timestamp_now_ms());
	if (call == NULL) {
		http_reply_error(req, 503, INTAKE_RETRY_AFTER, "out of memory");
		count_request(connector_name(ci), 503);
		return;
	}
	call->rt = rt;
	call->req = req;
	call->conf = config_ref(rt->conf);
	call->max_events = (size_t)rt->conf->daemon.max_events;
	call->http_headers = evhttp_request_get_input_headers(req);
	call->body_len = len;
	call->body = len > 0 ? evbuffer_pullup(in, -1) :
	    (const unsigned char *)"";
	if (call->body == NULL) {
		intake_refuse(call, 503, "out of memory");
		return;
	}
	rc = connector_descriptor(ci)->webhook(ci, call);
	if (rc == CONNECTOR_PENDING) {
		call->pending = true;
		runtime_parse_started(rt);
		return;
	}
	intake_parsed(call, rc);
}
