/*
 * hs_api.c - the HubSpot connector's REST call layer: every call to the
 * CRM API goes through hs_api().
 *
 * A private app token is sent as a Bearer header on every call (never
 * logged).  Before a call is sent, two limits are checked in memory: a
 * pause HubSpot asked for (a 429: TEN_SECONDLY_ROLLING waits 10 s, the
 * search API's secondly limit 1 s, the daily limit an hour) and the
 * section's daily_limit, counted per UTC day.  A held call fails at once
 * (from the loop) with CONNECTOR_RETRY and the wait.  Every call also
 * takes a token of the section's rate budget (rate_limit per rate_window,
 * 190 per 10 s by default: HubSpot counts requests, and one push is
 * several); without one it waits for it.  Answers are sorted
 * by http_classify(); an error body's category and message make the
 * failure message "HTTP 400 VALIDATION_ERROR: Property values were not
 * valid: ...".
 */
#include <sys/queue.h>

#include <event2/event.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <baton/http_client.h>
#include <baton/timestamp.h>

#include "hs_int.h"

/* One call from hs_api() until its callback has run. */
struct hs_op {
	TAILQ_ENTRY(hs_op) link;
	struct hs_ctx *ctx;
	const char *method;             /* a literal */
	char *url;
	char *body;                     /* sent (borrowed by the client) */
	int64_t timeout_ms;
	char what[96];                  /* "POST /crm/v3/..." for messages */
	struct event *defer;            /* a refusal reported from the loop,
	                                 * or a send waiting for a token */
	bool refused;
	bool in_loop;                   /* op_send() runs from defer_cb */
	struct hs_reply fail;
	hs_reply_cb cb;
	void *arg;
};

static int op_send(struct hs_op *op);

static TAILQ_HEAD(, hs_op) no_ops = TAILQ_HEAD_INITIALIZER(no_ops);

static void
op_free(struct hs_op *op)
{
	if (op == NULL)
		return;
	if (op->defer != NULL)
		event_free(op->defer);
	free(op->url);
	free(op->body);
	free(op);
}

static void
defer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hs_op *op = arg;

	(void)fd;
	(void)what;
	TAILQ_REMOVE(&no_ops, op, link);
	if (op->refused) {
		op->cb(op->ctx, &op->fail, op->arg);
		op_free(op);
		return;
	}
	/* From the loop, a refusal is reported at once (op_refuse). */
	op->in_loop = true;
	(void)op_send(op);
}

/* Runs op_send() again in ms, from the loop.  0, or -1 (op not freed). */
static int
op_later(struct hs_op *op, int64_t ms)
{
	struct event_base *base = connector_base(op->ctx->ci);
	struct timeval tv = { (time_t)(ms / 1000),
	    (suseconds_t)(ms % 1000) * 1000 };

	if (base == NULL || (op->defer == NULL && (op->defer = evtimer_new(
	    base, defer_cb, op)) == NULL) || evtimer_add(op->defer, &tv) == -1)
		return -1;
	TAILQ_INSERT_TAIL(&no_ops, op, link);
	return 0;
}

/* Reports a refusal from the loop (at once when already there).  Returns
 * 0, or -1 (op freed) when no timer can be made. */
static int
op_refuse(struct hs_op *op, int64_t retry_after_ms, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
op_refuse(struct hs_op *op, int64_t retry_after_ms, const char *fmt, ...)
{
	struct event_base *base = connector_base(op->ctx->ci);
	struct timeval now = { 0, 0 };
	va_list ap;

	op->refused = true;
	op->fail.rc = CONNECTOR_RETRY;
	op->fail.body = "";
	op->fail.retry_after_ms = retry_after_ms;
	va_start(ap, fmt);
	vsnprintf(op->fail.message, sizeof(op->fail.message), fmt, ap);
	va_end(ap);
	if (op->in_loop) {
		op->cb(op->ctx, &op->fail, op->arg);
		op_free(op);
		return 0;
	}
	if (base == NULL || (op->defer == NULL && (op->defer = evtimer_new(
	    base, defer_cb, op)) == NULL) || evtimer_add(op->defer, &now) ==
	    -1) {
		op_free(op);
		return -1;
	}
	TAILQ_INSERT_TAIL(&no_ops, op, link);
	return 0;
}

static long long
utc_day(int64_t ms)
{
	return ms / 86400000;
}

bool
hs_api_paused(struct hs_ctx *ctx, int64_t *ms)
{
	int64_t now = timestamp_now_ms();

	if (ctx->daily_limit > 0) {
		if (utc_day(now) != ctx->day) {
			ctx->day = utc_day(now);
			ctx->daily_used = 0;
		}
		if (ctx->daily_used >= ctx->daily_limit) {
			*ms = (ctx->day + 1) * 86400000 - now;
			return true;
		}
	}
	if (ctx->paused_until > now) {
		*ms = ctx->paused_until - now;
		return true;
	}
	*ms = 0;
	return false;
}

/* Fills r from an HTTP result (see the top of this file). */
static void
reply_from(struct hs_ctx *ctx, struct hs_reply *r,
    const struct http_result *res, const char *what)
{
	struct hs_error e;
	int64_t wait;

	memset(r, 0, sizeof(*r));
	r->status = res->status;
	r->body = (const char *)res->body;
	r->len = res->body_len;
	r->rc = http_result_sort(res, what, timestamp_now_ms(),
	    &r->retry_after_ms, r->message, sizeof(r->message));
	if (res->outcome != HTTP_DONE || r->rc == CONNECTOR_OK)
		return;
	hs_error_parse(r->body, r->len, &e);
	snprintf(r->category, sizeof(r->category), "%s", e.category);
	snprintf(r->detail, sizeof(r->detail), "%s", e.message);
	snprintf(r->message, sizeof(r->message), "%s: HTTP %d%s%s: %s", what,
	    res->status, e.category[0] != '\0' ? " " : "", e.category,
	    e.message);
	if (res->status == 429) {
		wait = hs_429_wait_ms(&e);
		if (wait == 0)
			wait = strcmp(e.policy, "DAILY") == 0 ?
			    HS_DAILY_PAUSE_MS : 10000;
		if (r->retry_after_ms < wait)
			r->retry_after_ms = wait;
		/* The secondly limit is the search API's own: other calls
		 * go on. */
		if (wait > 1000 && timestamp_now_ms() + wait >
		    ctx->paused_until)
			ctx->paused_until = timestamp_now_ms() + wait;
		if (strcmp(e.policy, "DAILY") == 0)
			connector_log(ctx->ci, LOG_LEVEL_WARNING, "HubSpot's "
			    "daily API limit is reached: calls pause for an "
			    "hour");
	} else if (res->status == 401 || res->status == 403) {
		/* A bad or revoked token needs an operator: retry slowly
		 * rather than drop every item. */
		r->rc = CONNECTOR_RETRY;
		if (r->retry_after_ms < 60000)
			r->retry_after_ms = 60000;
	}
}

static void
op_done(const struct http_result *res, void *arg)
{
	struct hs_op *op = arg;
	struct hs_reply r;

	reply_from(op->ctx, &r, res, op->what);
	op->cb(op->ctx, &r, op->arg);
	op_free(op);
}

/*
 * Sends op now, or when the section's rate budget has a token for it, or
 * refuses it (stopping, a pause, the daily limit).  Returns 0 (op's
 * callback runs once: later, or already when op_send() runs from the
 * loop), or -1 when no timer can be made (op freed, callback not run).
 */
static int
op_send(struct hs_op *op)
{
	struct hs_ctx *ctx = op->ctx;
	struct http_client *hc;
	struct http_request req = { 0 };
	const char *headers[5];
	char err[256];
	int64_t wait;
	size_t h = 0;

	if (ctx->stopping)
		return op_refuse(op, 0, "%s: connector stopping", op->what);
	if (hs_api_paused(ctx, &wait))
		return op_refuse(op, wait, "%s: %s", op->what,
		    ctx->daily_limit > 0 && ctx->daily_used >=
		    ctx->daily_limit ? "daily_limit reached" :
		    "HubSpot asked to wait (429)");
	if ((hc = connector_http(ctx->ci)) == NULL)
		return op_refuse(op, 0, "%s: no HTTP client", op->what);
	if ((wait = connector_rate_take(ctx->ci)) > 0) {
		if (op_later(op, wait) == 0)
			return 0;
		return op_refuse(op, 0, "%s: no timer", op->what);
	}
	headers[h++] = ctx->auth;
	headers[h++] = "Accept: application/json";
	if (op->body != NULL)
		headers[h++] = "Content-Type: application/json";
	headers[h] = NULL;
	req.method = op->method;
	req.url = op->url;
	req.headers = headers;
	req.body = op->body;
	req.body_len = op->body != NULL ? strlen(op->body) : 0;
	req.body_borrowed = true;
	req.timeout_ms = op->timeout_ms;
	req.done = op_done;
	req.arg = op;
	ctx->daily_used++;
	if (http_client_request(hc, &req, err, sizeof(err)) == NULL)
		return op_refuse(op, 0, "%s: %s", op->what, err);
	return 0;
}

int
hs_api(struct hs_ctx *ctx, const char *method, const char *path,
    const char *body, int64_t timeout_ms, hs_reply_cb cb, void *arg)
{
	struct hs_op *op = calloc(1, sizeof(*op));

	if (op == NULL)
		return -1;
	op->ctx = ctx;
	op->cb = cb;
	op->arg = arg;
	op->method = method;
	op->timeout_ms = timeout_ms;
	snprintf(op->what, sizeof(op->what), "%s %.*s", method,
	    (int)strcspn(path, "?"), path);
	if ((body != NULL && (op->body = strdup(body)) == NULL) ||
	    asprintf(&op->url, "%s%s", ctx->url, path) == -1) {
		op->url = NULL;
		op_free(op);
		return -1;
	}
	return op_send(op);
}

void
hs_api_stop(struct hs_ctx *ctx)
{
	struct hs_op *op;
	struct timeval now = { 0, 0 };

	TAILQ_FOREACH(op, &no_ops, link)
		if (op->ctx == ctx && !op->refused && op->defer != NULL)
			evtimer_add(op->defer, &now);
}

void
hs_api_free(struct hs_ctx *ctx)
{
	struct hs_op *op, *next;

	for (op = TAILQ_FIRST(&no_ops); op != NULL; op = next) {
		next = TAILQ_NEXT(op, link);
		if (op->ctx != ctx)
			continue;
		TAILQ_REMOVE(&no_ops, op, link);
		op_free(op);
	}
}

void
hs_note_email(struct hs_ctx *ctx, const char *id, const char *email)
{
	const char *have;
	int64_t now = timestamp_now_ms();

	if (id == NULL || email == NULL || email[0] == '\0')
		return;
	have = hs_echo_value(&ctx->emails, id, "email", now);
	if (have == NULL || strcmp(have, email) != 0)
		(void)hs_echo_add(&ctx->emails, id, "email", email, now);
}
