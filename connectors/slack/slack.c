/*
 * slack.c - the Slack connector (`type = slack`, role notify): each
 * handoff.mql and each sla.breached read from PREFIX:handoffs is posted
 * to a Slack incoming webhook as one readable message (slack_message.c
 * builds it: who, title, company, score, why, owner, the CRM record).
 *
 * Keys:
 *   webhook_url    the incoming webhook, https://hooks.slack.com/services/
 *                  T.../B.../<secret>; a secret (credential:NAME), never
 *                  logged; required
 *   base_url       optional: post to this scheme://host[:port] instead,
 *                  keeping webhook_url's path (tests, the demo: the
 *                  simulator)
 *   record_url     optional link to the CRM record, {id} replaced by the
 *                  lead's id, e.g.
 *                  https://acme.lightning.force.com/lightning/r/Lead/{id}/view
 *   record_source  which ids.<name> of the handoff fills {id} (the CRM
 *                  connector's NAME); default the first present in name
 *                  order, so set it when leads carry several ids
 * There is no `channel`, `username` or icon key: Slack's app incoming
 * webhooks post as the app to the channel chosen when the hook was made
 * and ignore those fields, so a key for them would promise nothing.
 *
 * One POST per message (batch_max 1) and at most one a second by default
 * (Slack's incoming-webhook limit).  Slack's answers: 200 "ok" is done;
 * 429 is retried after its Retry-After; other statuses as http_classify()
 * sorts them, the body ("invalid_payload", "no_service",
 * "channel_is_archived") in the DLQ message.  Other entry types on the
 * stream have no message and are acknowledged without a post.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <baton/conf.h>
#include <baton/connector.h>
#include <baton/http_client.h>
#include <baton/timestamp.h>

#include "slack_message.h"

#define SLACK_CONTENT_TYPE "Content-Type: application/json; charset=utf-8"

struct slack_post;

struct slack_ctx {
	char *webhook_url;              /* the hook (a secret) */
	char *base_url;                 /* replaces its origin, or NULL */
	char *record_url;               /* link template, or NULL */
	char *record_source;            /* ids entry for {id}, or NULL */
	char *post_url;                 /* what is posted to (init; owned) */
	struct slack_message_opts opts; /* record_url, record_source */
	LIST_HEAD(, slack_post) posts;  /* in flight */
	bool stopped;                   /* stop() ran: no new posts */
};

/* One deliver() call: completed when its last post has answered. */
struct slack_batch {
	struct connector_instance *ci;
	struct delivery_batch *b;
	size_t pending;                 /* posts not answered yet */
};

/* One message on its way. */
struct slack_post {
	LIST_ENTRY(slack_post) link;    /* in ctx->posts */
	struct slack_batch *sb;
	size_t i;                       /* the item in sb->b */
	struct http_call *call;         /* valid until slack_done starts */
	char *body;                     /* lent to the request (owned) */
};

static const struct conf_key slack_keys[] = {
	{ "webhook_url", CONF_SECRET, NULL,
	    offsetof(struct slack_ctx, webhook_url), CONF_REQUIRED, 0, 0,
	    "the Slack incoming webhook URL (a secret)" },
	{ "base_url", CONF_STRING, NULL,
	    offsetof(struct slack_ctx, base_url), 0, 0, 0,
	    "post to this origin instead, keeping the hook's path" },
	{ "record_url", CONF_STRING, NULL,
	    offsetof(struct slack_ctx, record_url), 0, 0, 0,
	    "link to the CRM record, {id} replaced by the lead's id" },
	{ "record_source", CONF_STRING, NULL,
	    offsetof(struct slack_ctx, record_source), 0, 0, 0,
	    "which ids.<name> fills {id} (default: the first present)" },
	{ 0 },
};

/* ---- Posting ----------------------------------------------------------- */

/* Ends the deliver() call once nothing of it is in flight. */
static void
batch_release(struct slack_batch *sb)
{
	struct delivery_batch *b;

	if (--sb->pending > 0)
		return;
	b = sb->b;
	free(sb);
	delivery_complete(b);
}

/* Slack answered (or the post failed, or was cancelled). */
static void
slack_done(const struct http_result *res, void *arg)
{
	struct slack_post *p = arg;
	struct slack_batch *sb = p->sb;
	struct delivery_batch *b = sb->b;
	enum connector_result rc;
	const char *entry = delivery_entry_id(b, p->i);
	int64_t ra;
	char msg[512];

	LIST_REMOVE(p, link);
	rc = slack_result(res, http_result_header(res, "Retry-After"),
	    timestamp_now_ms(), &ra, msg, sizeof(msg));
	if (rc == CONNECTOR_OK)
		connector_log(sb->ci, LOG_LEVEL_DEBUG, "entry %s posted", entry);
	else if (rc == CONNECTOR_RETRY)
		connector_log(sb->ci, LOG_LEVEL_INFO, "entry %s: %s; will "
		    "retry", entry, msg);
	else
		connector_log(sb->ci, LOG_LEVEL_WARNING, "entry %s refused: "
		    "%s", entry, msg);
	delivery_set_result(b, p->i, rc, ra, "%s", msg);
	free(p->body);
	free(p);
	batch_release(sb);
}

/* Starts the post of item i; takes body.  The item's result is set here
 * when the post cannot start. */
static void
post_start(struct slack_batch *sb, struct http_client *http, size_t i,
    char *body)
{
	struct slack_ctx *ctx = connector_ctx(sb->ci);
	static const char *const headers[] = { SLACK_CONTENT_TYPE, NULL };
	struct http_request req;
	struct slack_post *p;
	char err[256];

	if ((p = calloc(1, sizeof(*p))) == NULL) {
		free(body);
		delivery_set_result(sb->b, i, CONNECTOR_RETRY, 0,
		    "out of memory");
		return;
	}
	p->sb = sb;
	p->i = i;
	p->body = body;
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = ctx->post_url;
	req.headers = headers;
	req.body = body;
	req.body_len = strlen(body);
	req.body_borrowed = true;
	req.done = slack_done;
	req.arg = p;
	if ((p->call = http_client_request(http, &req, err, sizeof(err))) ==
	    NULL) {
		connector_log(sb->ci, LOG_LEVEL_WARNING, "entry %s: %s",
		    delivery_entry_id(sb->b, i), err);
		delivery_set_result(sb->b, i, CONNECTOR_RETRY, 0, "%s", err);
		free(body);
		free(p);
		return;
	}
	LIST_INSERT_HEAD(&ctx->posts, p, link);
	sb->pending++;
}

/*
 * Posts one message per item.  Items whose type has no message are OK at
 * once, data that cannot make one is dropped; the batch completes when
 * the last post has answered (or at once when none was started).
 */
static int
slack_deliver(struct connector_instance *ci, struct delivery_batch *b)
{
	struct slack_ctx *ctx = connector_ctx(ci);
	struct http_client *http = ctx->stopped ? NULL : connector_http(ci);
	size_t n = delivery_count(b);
	struct slack_batch *sb;
	char err[256];

	if ((sb = calloc(1, sizeof(*sb))) == NULL || http == NULL) {
		for (size_t i = 0; i < n; i++)
			delivery_set_result(b, i, CONNECTOR_RETRY, 0, "%s",
			    sb == NULL ? "out of memory" : ctx->stopped ?
			    "stopping" : "no HTTP client");
		free(sb);
		delivery_complete(b);
		return 0;
	}
	sb->ci = ci;
	sb->b = b;
	sb->pending = 1;                /* this function's own hold */
	for (size_t i = 0; i < n; i++) {
		const struct baton_event *ev = delivery_event(b, i);
		char *body;

		switch (slack_message_build(&ctx->opts, ev->type, ev->lead,
		    ev->data, &body, err, sizeof(err))) {
		case SLACK_MESSAGE_OK:
			post_start(sb, http, i, body);
			break;
		case SLACK_MESSAGE_SKIP:
			connector_log(ci, LOG_LEVEL_DEBUG, "entry %s: %s; "
			    "acknowledged", delivery_entry_id(b, i), err);
			delivery_set_result(b, i, CONNECTOR_OK, 0, "%s", err);
			break;
		case SLACK_MESSAGE_BAD:
			connector_log(ci, LOG_LEVEL_WARNING, "entry %s: %s",
			    delivery_entry_id(b, i), err);
			delivery_set_result(b, i, CONNECTOR_DROP, 0, "%s", err);
			break;
		case SLACK_MESSAGE_NOMEM:
			delivery_set_result(b, i, CONNECTOR_RETRY, 0, "%s", err);
			break;
		}
	}
	/* Posts answer from the loop, never from inside the request call:
	 * the batch is still here. */
	if (sb->pending == 1) {
		batch_release(sb);
		return 0;
	}
	sb->pending--;
	return CONNECTOR_PENDING;
}

/* Cancels every post in flight; each then completes as a retry. */
static void
slack_stop(struct connector_instance *ci)
{
	struct slack_ctx *ctx = connector_ctx(ci);
	struct slack_post *p;

	ctx->stopped = true;
	LIST_FOREACH(p, &ctx->posts, link)
		http_call_cancel(p->call);
}

/* ---- Configuration ----------------------------------------------------- */

/*
 * Checks the URLs (the webhook's without quoting it: it is a secret) and
 * works out where to post.  Every problem is reported.
 */
static int
slack_init(struct connector_instance *ci)
{
	struct slack_ctx *ctx = connector_ctx(ci);
	char err[256];
	int bad = 0;

	LIST_INIT(&ctx->posts);
	if (slack_url_check(ctx->webhook_url, err, sizeof(err)) == -1) {
		connector_conf_error(ci, "webhook_url", "%s (expected "
		    "https://hooks.slack.com/services/...)", err);
		bad = 1;
	}
	if (ctx->base_url != NULL &&
	    slack_url_check(ctx->base_url, err, sizeof(err)) == -1) {
		connector_conf_error(ci, "base_url", "%s", err);
		bad = 1;
	}
	if (ctx->record_url != NULL && slack_record_url_check(ctx->record_url,
	    err, sizeof(err)) == -1) {
		connector_conf_error(ci, "record_url", "%s", err);
		bad = 1;
	}
	if (ctx->record_source != NULL && ctx->record_url == NULL) {
		connector_conf_error(ci, "record_source", "record_source "
		    "without record_url: set the link template too");
		bad = 1;
	} else if (ctx->record_source != NULL &&
	    ctx->record_source[0] == '\0') {
		connector_conf_error(ci, "record_source", "empty name");
		bad = 1;
	}
	if (bad)
		return -1;
	if ((ctx->post_url = slack_post_url(ctx->webhook_url, ctx->base_url,
	    err, sizeof(err))) == NULL) {
		connector_conf_error(ci, NULL, "%s", err);
		return -1;
	}
	ctx->opts.record_url = ctx->record_url;
	ctx->opts.record_source = ctx->record_source;
	return 0;
}

static void
slack_destroy(struct connector_instance *ci)
{
	struct slack_ctx *ctx = connector_ctx(ci);

	free(ctx->post_url);
	ctx->post_url = NULL;
}

const struct connector connector_slack = {
	.name = "slack",
	.roles = CONNECTOR_ROLE_NOTIFY,
	.keys = slack_keys,
	.ctx_size = sizeof(struct slack_ctx),
	.init = slack_init,
	.deliver = slack_deliver,
	.stop = slack_stop,
	.destroy = slack_destroy,
	.batch_max = 1,
	.rate_limit = 1,
	.rate_window_ms = 1000,
};
