/*
 * sf_auth.c - the Salesforce connector's REST call layer: the OAuth2
 * access token (refresh_token grant, or client_credentials without a
 * refresh token) and sf_api(), which every other file uses to talk to the
 * instance.
 *
 * The token lives in memory only.  Calls made while there is none wait in
 * ctx->ops until the one token request in flight answers; a 401 on a call
 * drops the token it was sent with (unless a newer one already replaced
 * it), fetches another and sends the call once more; a second 401 fails
 * the call.  Each answer's Sforce-Limit-Info updates the API usage that
 * sf_poll.c compares with api_budget.  Secrets (client secret, refresh
 * and access tokens) are never logged: messages quote only Salesforce's
 * error codes and descriptions.
 */
#include <event2/event.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <baton/http_client.h>
#include <baton/timestamp.h>

#include "sf_int.h"

enum op_state {
	OP_WAITING,             /* for a token */
	OP_SENT,                /* HTTP call in flight */
	OP_FAILED,              /* failure posted to the loop (defer) */
};

/* One REST call, from sf_api() until its callback has run. */
struct sf_op {
	TAILQ_ENTRY(sf_op) link;
	struct sf_ctx *ctx;
	enum op_state state;
	char *method;
	char *path;
	char *body;                     /* NULL: none */
	char *header;                   /* extra header line or NULL */
	bool reauthed;                  /* already resent after a 401 */
	uint64_t gen;                   /* token_gen it was sent with */
	struct http_call *call;         /* OP_SENT */
	struct event *defer;            /* OP_FAILED */
	struct sf_reply fail;           /* OP_FAILED: what cb gets */
	sf_reply_cb cb;
	void *arg;
};

static void op_send(struct sf_op *op);
static void auth_start(struct sf_ctx *ctx);

/* ---- Ops --------------------------------------------------------------- */

static void
op_free(struct sf_op *op)
{
	if (op == NULL)
		return;
	if (op->defer != NULL)
		event_free(op->defer);
	free(op->method);
	free(op->path);
	free(op->body);
	free(op->header);
	free(op);
}

/* Removes op, runs its callback with r, frees it. */
static void
op_finish(struct sf_op *op, const struct sf_reply *r)
{
	struct sf_ctx *ctx = op->ctx;

	TAILQ_REMOVE(&ctx->ops, op, link);
	op->cb(ctx, r, op->arg);
	op_free(op);
}

static void
op_defer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sf_op *op = arg;

	(void)fd;
	(void)what;
	op_finish(op, &op->fail);
}

/*
 * Fails op from the loop, soon: rc with message.  Without a loop (or if
 * the timer cannot be made) the failure still has to be reported, so it is
 * then reported at once; callers only fail ops from loop callbacks.
 */
static void
op_fail(struct sf_op *op, enum connector_result rc, int64_t retry_after_ms,
    const char *code, const char *message)
{
	struct timeval now = { 0, 0 };
	struct event_base *base = connector_base(op->ctx->ci);

	memset(&op->fail, 0, sizeof(op->fail));
	op->fail.rc = rc;
	op->fail.body = "";
	op->fail.retry_after_ms = retry_after_ms;
	snprintf(op->fail.code, sizeof(op->fail.code), "%s", code);
	snprintf(op->fail.message, sizeof(op->fail.message), "%s", message);
	op->state = OP_FAILED;
	op->call = NULL;
	if (base != NULL && op->defer == NULL)
		op->defer = evtimer_new(base, op_defer_cb, op);
	if (op->defer == NULL || evtimer_add(op->defer, &now) == -1)
		op_finish(op, &op->fail);
}

/* ---- Answers ----------------------------------------------------------- */

/* Records Sforce-Limit-Info, logging once when the budget is crossed. */
static void
note_usage(struct sf_ctx *ctx, const struct http_result *res)
{
	long long used, max;
	bool over;

	if (sf_limit_info_parse(http_result_header(res, "Sforce-Limit-Info"),
	    &used, &max) == -1)
		return;
	ctx->usage_used = used;
	ctx->usage_max = max;
	over = used * 100 >= max * (long long)ctx->budget_pct;
	if (over && !ctx->over_budget)
		connector_log(ctx->ci, LOG_LEVEL_NOTICE, "API usage %lld/%lld "
		    "reached api_budget %d%%: polling pauses, pushes go on",
		    used, max, ctx->budget_pct);
	else if (!over && ctx->over_budget)
		connector_log(ctx->ci, LOG_LEVEL_INFO, "API usage %lld/%lld "
		    "is back under api_budget %d%%: polling resumes", used,
		    max, ctx->budget_pct);
	ctx->over_budget = over;
}

/*
 * Fills r from an HTTP result: the retry class, Retry-After, and for a
 * failure "HTTP <status> <errorCode>: <message>" (or the transport error).
 * Salesforce's daily limit (403 REQUEST_LIMIT_EXCEEDED) and an
 * authentication that still fails are retried, with a pause.
 */
static void
reply_from(struct sf_reply *r, const struct http_result *res,
    const char *what)
{
	char msg[SF_MESSAGE_MAX - 128];

	memset(r, 0, sizeof(*r));
	r->status = res->status;
	r->body = (const char *)res->body;
	r->len = res->body_len;
	r->rc = http_result_sort(res, what, timestamp_now_ms(),
	    &r->retry_after_ms, r->message, sizeof(r->message));
	if (res->outcome != HTTP_DONE || r->rc == CONNECTOR_OK)
		return;
	sf_error_parse(r->body, r->len, r->code, sizeof(r->code), msg,
	    sizeof(msg));
	snprintf(r->message, sizeof(r->message), "%s: HTTP %d%s%s: %s", what,
	    res->status, r->code[0] != '\0' ? " " : "", r->code, msg);
	if (res->status == 403 &&
	    strcmp(r->code, "REQUEST_LIMIT_EXCEEDED") == 0) {
		r->rc = CONNECTOR_RETRY;
		if (r->retry_after_ms < SF_LIMIT_PAUSE_MS)
			r->retry_after_ms = SF_LIMIT_PAUSE_MS;
	} else if (res->status == 401) {
		r->rc = CONNECTOR_RETRY;
		if (r->retry_after_ms < SF_AUTH_PAUSE_MS)
			r->retry_after_ms = SF_AUTH_PAUSE_MS;
	}
}

static void
op_done(const struct http_result *res, void *arg)
{
	struct sf_op *op = arg;
	struct sf_ctx *ctx = op->ctx;
	struct sf_reply r;
	char what[96];

	op->call = NULL;
	if (res->outcome == HTTP_DONE)
		note_usage(ctx, res);
	if (res->outcome == HTTP_DONE && res->status == 401 && !op->reauthed &&
	    !ctx->stopping) {
		/* Session expired or revoked: one new token, one more try. */
		op->reauthed = true;
		if (op->gen == ctx->token_gen && ctx->token.access_token) {
			connector_log(ctx->ci, LOG_LEVEL_INFO, "session "
			    "expired: requesting a new access token");
			sf_token_clear(&ctx->token);
		}
		if (ctx->token.access_token != NULL) {
			op_send(op);
		} else {
			op->state = OP_WAITING;
			auth_start(ctx);
		}
		return;
	}
	snprintf(what, sizeof(what), "%s %.60s", op->method, op->path);
	reply_from(&r, res, what);
	op_finish(op, &r);
}

/* Sends op with the current token. */
static void
op_send(struct sf_op *op)
{
	struct sf_ctx *ctx = op->ctx;
	struct http_client *hc = connector_http(ctx->ci);
	struct http_request req = { 0 };
	const char *headers[6];
	char *auth = NULL, *url = NULL, err[256];
	size_t h = 0;

	if (hc == NULL) {
		op_fail(op, CONNECTOR_RETRY, 0, "", "no HTTP client");
		return;
	}
	if (asprintf(&auth, "Authorization: Bearer %s",
	    ctx->token.access_token) == -1)
		auth = NULL;
	if (asprintf(&url, "%s%s", ctx->token.instance_url, op->path) == -1)
		url = NULL;
	if (auth == NULL || url == NULL) {
		free(auth);
		free(url);
		op_fail(op, CONNECTOR_RETRY, 0, "", "out of memory");
		return;
	}
	headers[h++] = auth;
	headers[h++] = "Accept: application/json";
	if (op->body != NULL)
		headers[h++] = "Content-Type: application/json";
	if (op->header != NULL)
		headers[h++] = op->header;
	headers[h] = NULL;
	req.method = op->method;
	req.url = url;
	req.headers = headers;
	req.body = op->body;
	req.body_len = op->body != NULL ? strlen(op->body) : 0;
	req.body_borrowed = true;
	req.done = op_done;
	req.arg = op;
	op->gen = ctx->token_gen;
	op->state = OP_SENT;
	op->call = http_client_request(hc, &req, err, sizeof(err));
	free(auth);
	free(url);
	if (op->call == NULL)
		op_fail(op, CONNECTOR_RETRY, 0, "", err);
}

/* ---- The token --------------------------------------------------------- */

/* Sends every waiting op, or fails them all with r. */
static void
release_waiters(struct sf_ctx *ctx, const struct sf_reply *r)
{
	struct sf_op *op, *next;

	for (op = TAILQ_FIRST(&ctx->ops); op != NULL; op = next) {
		next = TAILQ_NEXT(op, link);
		if (op->state != OP_WAITING)
			continue;
		if (r == NULL)
			op_send(op);
		else
			op_fail(op, r->rc, r->retry_after_ms, r->code,
			    r->message);
	}
}

static void
auth_done(const struct http_result *res, void *arg)
{
	struct sf_ctx *ctx = arg;
	struct sf_reply r;
	char err[256];

	ctx->auth_call = NULL;
	reply_from(&r, res, "token request");
	if (r.rc == CONNECTOR_OK) {
		sf_token_clear(&ctx->token);
		if (sf_token_parse(r.body, r.len, &ctx->token, err,
		    sizeof(err)) == 0) {
			ctx->token_gen++;
			connector_log(ctx->ci, LOG_LEVEL_DEBUG, "access token "
			    "obtained: instance %s, integration user %s",
			    ctx->token.instance_url, ctx->token.user_id);
			release_waiters(ctx, NULL);
			return;
		}
		r.rc = CONNECTOR_RETRY;
		r.retry_after_ms = SF_AUTH_PAUSE_MS;
		snprintf(r.message, sizeof(r.message), "token request: %s",
		    err);
	} else if (res->outcome == HTTP_DONE && res->status >= 400 &&
	    res->status < 500) {
		/* Credentials refused: every call waits for an operator, so
		 * retry slowly rather than send items to the DLQ. */
		r.rc = CONNECTOR_RETRY;
		if (r.retry_after_ms < SF_AUTH_PAUSE_MS)
			r.retry_after_ms = SF_AUTH_PAUSE_MS;
	}
	if (res->outcome != HTTP_CANCELLED)
		connector_log(ctx->ci, LOG_LEVEL_WARNING, "%s", r.message);
	release_waiters(ctx, &r);
}

/* Starts the token request unless one is out. */
static void
auth_start(struct sf_ctx *ctx)
{
	struct http_client *hc = connector_http(ctx->ci);
	struct http_request req = { 0 };
	static const char *const headers[] = {
		"Content-Type: application/x-www-form-urlencoded",
		"Accept: application/json",
		NULL,
	};
	struct sf_reply r = { 0 };
	char *form, err[256];

	if (ctx->auth_call != NULL)
		return;
	r.rc = CONNECTOR_RETRY;
	if (hc == NULL || (form = sf_token_form(ctx->client_id,
	    ctx->client_secret, ctx->refresh_token)) == NULL) {
		snprintf(r.message, sizeof(r.message), "token request: %s",
		    hc == NULL ? "no HTTP client" : "out of memory");
		release_waiters(ctx, &r);
		return;
	}
	req.method = "POST";
	req.url = ctx->token_url;
	req.headers = headers;
	req.body = form;
	req.body_len = strlen(form);
	req.done = auth_done;
	req.arg = ctx;
	ctx->auth_call = http_client_request(hc, &req, err, sizeof(err));
	/* The form holds secrets: wipe the copy before freeing it. */
	explicit_bzero(form, strlen(form));
	free(form);
	if (ctx->auth_call == NULL) {
		snprintf(r.message, sizeof(r.message), "token request: %s",
		    err);
		connector_log(ctx->ci, LOG_LEVEL_WARNING, "%s", r.message);
		release_waiters(ctx, &r);
	}
}

/* ---- The call layer ---------------------------------------------------- */

int
sf_api(struct sf_ctx *ctx, const char *method, const char *path,
    const char *body, const char *header, sf_reply_cb cb, void *arg)
{
	struct sf_op *op = calloc(1, sizeof(*op));

	if (op == NULL)
		return -1;
	op->ctx = ctx;
	op->cb = cb;
	op->arg = arg;
	op->method = strdup(method);
	op->path = strdup(path);
	op->body = body != NULL ? strdup(body) : NULL;
	op->header = header != NULL ? strdup(header) : NULL;
	if (op->method == NULL || op->path == NULL ||
	    (body != NULL && op->body == NULL) ||
	    (header != NULL && op->header == NULL)) {
		op_free(op);
		return -1;
	}
	TAILQ_INSERT_TAIL(&ctx->ops, op, link);
	if (ctx->stopping) {
		op_fail(op, CONNECTOR_RETRY, 0, "", "connector stopping");
	} else if (ctx->token.access_token != NULL) {
		op_send(op);
	} else {
		op->state = OP_WAITING;
		auth_start(ctx);
	}
	return 0;
}

void
sf_api_stop(struct sf_ctx *ctx)
{
	struct sf_op *op, *next;
	struct sf_reply r = { 0 };

	ctx->stopping = true;
	if (ctx->auth_call != NULL)
		http_call_cancel(ctx->auth_call);
	r.rc = CONNECTOR_RETRY;
	snprintf(r.message, sizeof(r.message), "connector stopping");
	for (op = TAILQ_FIRST(&ctx->ops); op != NULL; op = next) {
		next = TAILQ_NEXT(op, link);
		if (op->state == OP_SENT && op->call != NULL)
			http_call_cancel(op->call);
		else if (op->state == OP_WAITING && ctx->auth_call == NULL)
			op_fail(op, r.rc, 0, "", r.message);
	}
}

void
sf_api_free(struct sf_ctx *ctx)
{
	struct sf_op *op;

	while ((op = TAILQ_FIRST(&ctx->ops)) != NULL) {
		TAILQ_REMOVE(&ctx->ops, op, link);
		op_free(op);
	}
	sf_token_clear(&ctx->token);
}
