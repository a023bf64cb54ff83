/*
 * hubspot.c - the HubSpot connector (`type = hubspot`, role marketing, or
 * sales when HubSpot is the CRM): contact webhooks and a CRM search
 * safety net become canonical events; feedback (marketing) and handoffs
 * (sales) become contact updates, and handoffs deals.
 *
 * The work is split by concern: hs_api.c (every REST call, the token,
 * 429 pauses, daily_limit), hs_hook.c (webhook: signatures, coalesced
 * batch reads, events), hs_poll.c (poll: search on lastmodifieddate with
 * window splitting), hs_push.c (deliver: batch upsert), hs_deals.c (a
 * handoff's deal), hs_proto.c (request bodies and response parsers, no
 * I/O).  This file holds the
 * key table, init, stop, destroy and the descriptor.
 *
 * Keys (SPEC's are base_url token app_secret public_url app_id map.*
 * poll_interval; the rest are this connector's):
 *   base_url        API host (default https://api.hubapi.com)
 *   token           private app token, sent as Bearer (required; secret)
 *   app_secret      client secret the webhook signatures use (secret;
 *                   without it every webhook is refused with 401)
 *   public_url      the URL HubSpot calls, which the v2/v3 signatures
 *                   cover (default: http://<Host header><path> as
 *                   received)
 *   app_id          this integration's app id: changes whose sourceId is
 *                   it (changeSource INTEGRATION or API) are its own
 *                   writes and are not ingested again
 *   signature_version  v3 (default), v2 or v1: which signature to demand
 *   map.<canonical> = <property>  adds or overrides a mapping; defaults
 *                   email firstname lastname jobtitle company numemployees
 *                   industry country phone -> email first_name last_name
 *                   title company company_size industry country phone
 *                   company_size: HubSpot's numemployees is an option
 *                   list of ranges (1-5 5-25 25-50 50-100 100-500
 *                   500-1000 1000+); a range arrives as its lower bound,
 *                   a number ("100-500" -> 100, "1000+" -> 1000, "250"
 *                   -> 250), so rules can say company_size >= 200; a
 *                   handoff's size pushed to numemployees becomes the
 *                   option whose lower bound it reaches (500 ->
 *                   "500-1000")
 *   status.<VALUE>  = open|working|qualified|unqualified|converted: maps
 *                   an hs_lead_status value (role sales) before the
 *                   defaults NEW OPEN -> open, IN_PROGRESS
 *                   ATTEMPTED_TO_CONTACT CONNECTED -> working, OPEN_DEAL
 *                   -> qualified, UNQUALIFIED BAD_TIMING -> unqualified
 *   lead_status.<feedback> = <hs_lead_status value>: what a feedback
 *                   type (accepted sql opportunity won lost rejected
 *                   recycled) sets, overriding the defaults accepted ->
 *                   IN_PROGRESS, opportunity -> OPEN_DEAL, rejected ->
 *                   UNQUALIFIED (others leave it alone); "-" sets nothing
 *   lookback        each poll round re-reads this much before its
 *                   watermark, since HubSpot writes timestamps late
 *                   (default 2m)
 *   backfill        how far back the very first round reads (default 0)
 *   poll_pages      search pages per round before poll_again (default 25)
 *   page_size       results per search page, 1..200 (default 200)
 *   search_gap      pause between two searches of a round (default 250ms:
 *                   HubSpot allows about 4 searches a second)
 *   read_linger     how long webhook requests gather contact ids before
 *                   one batch read (default 50ms)
 *   read_timeout    limit of the reads a webhook answer waits for
 *                   (default 3s, inside HubSpot's 5 s)
 *   daily_limit     calls per UTC day, counted in memory (default 0: none)
 *   echo_ttl        how long a property this connector wrote is
 *                   recognised when it comes back (default 10m)
 *   echo_size       writes remembered at most (default 20000)
 *   deals           role sales: a handoff also gives the contact a deal
 *                   (its newest associated deal if open, else a new one
 *                   associated to it; see hs_deals.c) (default true)
 *   deal_pipeline   pipeline id of new deals (default "default")
 *   deal_stage      stage id of new deals, an open one (default
 *                   "appointmentscheduled")
 *   create_settle   after a deal create got no answer, wait this long
 *                   before the retry looks for it (default 30s)
 * Core keys apply as usual; the descriptor's defaults: batches of 100,
 * 190 requests per rolling 10 s (every API call takes a token, see
 * hs_api.c, and pushes and poll rounds none of their own), poll_interval
 * 5m.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <baton/conf.h>
#include <baton/connector.h>

#include "hs_int.h"

static const struct conf_key hs_keys[] = {
	{ "base_url", CONF_STRING, "https://api.hubapi.com",
	    offsetof(struct hs_ctx, base_url), 0, 0, 0, "API host" },
	{ "token", CONF_SECRET, NULL, offsetof(struct hs_ctx, token),
	    CONF_REQUIRED, 0, 0, "private app token (Bearer)" },
	{ "app_secret", CONF_SECRET, NULL, offsetof(struct hs_ctx, app_secret),
	    0, 0, 0, "client secret of the webhook signatures" },
	{ "public_url", CONF_STRING, NULL, offsetof(struct hs_ctx, public_url),
	    0, 0, 0, "the URL HubSpot calls (signed)" },
	{ "app_id", CONF_STRING, NULL, offsetof(struct hs_ctx, app_id), 0, 0, 0,
	    "this integration's app id (echo suppression)" },
	{ "signature_version", CONF_STRING, "v3",
	    offsetof(struct hs_ctx, signature_version), 0, 0, 0,
	    "v3, v2 or v1" },
	{ "lookback", CONF_DURATION, "2m", offsetof(struct hs_ctx, lookback_ms),
	    0, 0, 0, "re-read this much before the poll watermark" },
	{ "backfill", CONF_DURATION, "0s", offsetof(struct hs_ctx, backfill_ms),
	    0, 0, 0, "how far back the first poll round reads" },
	{ "poll_pages", CONF_INT, "25", offsetof(struct hs_ctx, poll_pages),
	    0, 1, 10000, "search pages per poll round" },
	{ "page_size", CONF_INT, "200", offsetof(struct hs_ctx, page_size),
	    0, 1, HS_PAGE_MAX, "results per search page" },
	{ "search_gap", CONF_DURATION, "250ms",
	    offsetof(struct hs_ctx, search_gap_ms), 0, 0, 0,
	    "pause between two searches" },
	{ "read_linger", CONF_DURATION, "50ms",
	    offsetof(struct hs_ctx, read_linger_ms), 0, 0, 0,
	    "coalescing window of webhook reads" },
	{ "read_timeout", CONF_DURATION, "3s",
	    offsetof(struct hs_ctx, read_timeout_ms), 0, 0, 0,
	    "limit of the reads a webhook answer waits for" },
	{ "daily_limit", CONF_INT, "0", offsetof(struct hs_ctx, daily_limit),
	    0, 0, 1000000000, "calls per UTC day (0: none)" },
	{ "echo_ttl", CONF_DURATION, "10m", offsetof(struct hs_ctx, echo_ttl_ms),
	    0, 0, 0, "how long own writes are recognised" },
	{ "echo_size", CONF_INT, "20000", offsetof(struct hs_ctx, echo_size),
	    0, 16, 10000000, "own writes remembered at most" },
	{ "deals", CONF_BOOL, "true", offsetof(struct hs_ctx, deals), 0, 0, 0,
	    "role sales: a handoff creates or updates a deal" },
	{ "deal_pipeline", CONF_STRING, "default",
	    offsetof(struct hs_ctx, deal_pipeline), 0, 0, 0,
	    "pipeline of the deals handoffs create" },
	{ "deal_stage", CONF_STRING, "appointmentscheduled",
	    offsetof(struct hs_ctx, deal_stage), 0, 0, 0,
	    "stage of the deals handoffs create" },
	{ "create_settle", CONF_DURATION, "30s",
	    offsetof(struct hs_ctx, create_settle_ms), 0, 0, 0,
	    "wait before retrying an unanswered deal create" },
	{ "map", CONF_MAP, NULL, offsetof(struct hs_ctx, map), 0, 0, 0,
	    "map.<canonical> = property" },
	{ "status", CONF_MAP, NULL, offsetof(struct hs_ctx, status), 0, 0, 0,
	    "status.<hs_lead_status> = canonical status" },
	{ "lead_status", CONF_MAP, NULL, offsetof(struct hs_ctx, lead_status),
	    0, 0, 0, "lead_status.<feedback> = hs_lead_status value" },
	{ 0 },
};

/* ---- Checks ------------------------------------------------------------ */

static bool
url_ok(const char *s)
{
	return ((strncmp(s, "https://", 8) == 0 && s[8] != '\0') ||
	    (strncmp(s, "http://", 7) == 0 && s[7] != '\0')) &&
	    strpbrk(s, " \t\r\n#") == NULL;
}

static bool
status_canonical(const char *s)
{
	static const char *const v[] = { "open", "working", "qualified",
	    "unqualified", "converted" };

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		if (strcmp(s, v[i]) == 0)
			return true;
	return false;
}

/* Whether s is a token of printable characters without spaces. */
static bool
token_ok(const char *s)
{
	if (s == NULL || s[0] == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!isgraph((unsigned char)*s))
			return false;
	return true;
}

/* The contact properties every read asks for: the mapped ones and the
 * ones the connector itself looks at. */
static int
build_props(struct hs_ctx *ctx)
{
	static const char *const own[] = { "email", "lastmodifieddate",
	    "hs_lead_status", "lifecyclestage", "hubspot_owner_id",
	    "recent_conversion_event_name", "recent_conversion_date",
	    "hs_email_last_email_name", "hs_email_last_open_date",
	    "hs_email_last_click_date" };
	size_t n = sizeof(own) / sizeof(own[0]) + ctx->fields.n;

	if ((ctx->props = calloc(n, sizeof(*ctx->props))) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *p = i < sizeof(own) / sizeof(own[0]) ? own[i] :
		    ctx->fields.v[i - sizeof(own) / sizeof(own[0])].prop;
		bool dup = false;

		for (size_t k = 0; k < ctx->nprops; k++)
			dup = dup || strcmp(ctx->props[k], p) == 0;
		if (!dup)
			ctx->props[ctx->nprops++] = p;
	}
	return 0;
}

/* ---- Callbacks --------------------------------------------------------- */

static int
hubspot_init(struct connector_instance *ci)
{
	static const char *const feedback[] = { "accepted", "sql",
	    "opportunity", "won", "lost", "rejected", "recycled" };
	struct hs_ctx *ctx = connector_ctx(ci);
	char err[256], name[160];
	size_t bl;
	int bad = 0;

	ctx->ci = ci;
	if (!url_ok(ctx->base_url) || strchr(ctx->base_url, '?') != NULL) {
		connector_conf_error(ci, "base_url", "expected an http(s) URL "
		    "such as https://api.hubapi.com, not '%s'", ctx->base_url);
		bad = 1;
	}
	if (!token_ok(ctx->token)) {
		connector_conf_error(ci, "token", "the token is empty or holds "
		    "spaces or control characters");
		bad = 1;
	}
	if (ctx->app_secret != NULL && ctx->app_secret[0] == '\0') {
		connector_conf_error(ci, "app_secret", "empty app_secret");
		bad = 1;
	}
	if (ctx->public_url != NULL && !url_ok(ctx->public_url)) {
		connector_conf_error(ci, "public_url", "expected the http(s) "
		    "URL HubSpot calls, not '%s'", ctx->public_url);
		bad = 1;
	}
	if (ctx->app_id != NULL && (ctx->app_id[0] == '\0' ||
	    strspn(ctx->app_id, "0123456789") != strlen(ctx->app_id))) {
		connector_conf_error(ci, "app_id", "expected the app's numeric "
		    "id, not '%s'", ctx->app_id);
		bad = 1;
	}
	if (strcasecmp(ctx->signature_version, "v3") == 0)
		ctx->sig_version = 3;
	else if (strcasecmp(ctx->signature_version, "v2") == 0)
		ctx->sig_version = 2;
	else if (strcasecmp(ctx->signature_version, "v1") == 0)
		ctx->sig_version = 1;
	else {
		connector_conf_error(ci, "signature_version", "expected v3, v2 "
		    "or v1, not '%s'", ctx->signature_version);
		bad = 1;
	}
	if (ctx->read_timeout_ms <= 0 || ctx->read_timeout_ms > 4500) {
		connector_conf_error(ci, "read_timeout", "must be above 0 and "
		    "at most 4500ms: HubSpot waits 5 s for an answer");
		bad = 1;
	}
	if (ctx->read_linger_ms > 1000) {
		connector_conf_error(ci, "read_linger", "at most 1s");
		bad = 1;
	}
	if (!token_ok(ctx->deal_pipeline)) {
		connector_conf_error(ci, "deal_pipeline", "expected a pipeline "
		    "id such as default, not '%s'", ctx->deal_pipeline);
		bad = 1;
	}
	if (!token_ok(ctx->deal_stage) || strcmp(hs_deal_outcome(
	    ctx->deal_stage), "open") != 0) {
		connector_conf_error(ci, "deal_stage", "expected the id of an "
		    "open deal stage such as appointmentscheduled, not '%s'",
		    ctx->deal_stage);
		bad = 1;
	}
	if (hs_map_build(&ctx->fields, &ctx->map, err, sizeof(err)) == -1) {
		const char *k = strchr(err, ':');

		snprintf(name, sizeof(name), "%.*s", k != NULL ?
		    (int)(k - err) : 0, err);
		connector_conf_error(ci, name[0] != '\0' ? name : NULL, "%s",
		    k != NULL ? k + 2 : err);
		bad = 1;
	}
	for (size_t i = 0; i < ctx->status.n; i++) {
		const struct conf_map_entry *e = &ctx->status.v[i];

		if (!status_canonical(e->value)) {
			snprintf(name, sizeof(name), "status.%s", e->key);
			connector_conf_error(ci, name, "'%s' is not a lead "
			    "status: expected open, working, qualified, "
			    "unqualified or converted", e->value);
			bad = 1;
		}
	}
	for (size_t i = 0; i < ctx->lead_status.n; i++) {
		const struct conf_map_entry *e = &ctx->lead_status.v[i];
		bool known = false;

		for (size_t k = 0; k < sizeof(feedback) / sizeof(feedback[0]);
		    k++)
			known = known || strcmp(e->key, feedback[k]) == 0;
		snprintf(name, sizeof(name), "lead_status.%s", e->key);
		if (!known) {
			connector_conf_error(ci, name, "'%s' is not a feedback "
			    "type: expected accepted, sql, opportunity, won, "
			    "lost, rejected or recycled", e->key);
			bad = 1;
		} else if (strcmp(e->value, "-") != 0 &&
		    !token_ok(e->value)) {
			connector_conf_error(ci, name, "expected an "
			    "hs_lead_status value or -, not '%s'", e->value);
			bad = 1;
		}
	}
	if (bad)
		return -1;
	bl = strlen(ctx->base_url);
	while (bl > 0 && ctx->base_url[bl - 1] == '/')
		bl--;
	if (asprintf(&ctx->url, "%.*s", (int)bl, ctx->base_url) == -1)
		ctx->url = NULL;
	if (asprintf(&ctx->auth, "Authorization: Bearer %s", ctx->token) == -1)
		ctx->auth = NULL;
	if (ctx->url == NULL || ctx->auth == NULL || build_props(ctx) == -1 ||
	    hs_echo_init(&ctx->echo, (size_t)ctx->echo_size,
	    ctx->echo_ttl_ms) == -1 || hs_echo_init(&ctx->emails,
	    (size_t)ctx->echo_size, INT64_MAX / 4) == -1) {
		connector_conf_error(ci, NULL, "out of memory");
		return -1;
	}
	return 0;
}

/* Winds down: waiting webhooks answer 503, a poll round retries; HTTP
 * calls are cancelled by the core after this. */
static void
hubspot_stop(struct connector_instance *ci)
{
	struct hs_ctx *ctx = connector_ctx(ci);

	ctx->stopping = true;
	hs_api_stop(ctx);
	hs_hook_stop(ctx);
	hs_poll_stop(ctx);
}

static void
hubspot_destroy(struct connector_instance *ci)
{
	struct hs_ctx *ctx = connector_ctx(ci);

	if (ctx->ci != NULL) {
		hs_api_free(ctx);
		hs_hook_free(ctx);
	}
	hs_map_clear(&ctx->fields);
	hs_echo_clear(&ctx->echo);
	hs_echo_clear(&ctx->emails);
	free(ctx->props);
	free(ctx->url);
	if (ctx->auth != NULL)
		explicit_bzero(ctx->auth, strlen(ctx->auth));
	free(ctx->auth);
	ctx->props = NULL;
	ctx->url = ctx->auth = NULL;
}

/* ---- The descriptor ---------------------------------------------------- */

const struct connector connector_hubspot = {
	.name = "hubspot",
	.roles = CONNECTOR_ROLE_MARKETING | CONNECTOR_ROLE_SALES,
	.keys = hs_keys,
	.ctx_size = sizeof(struct hs_ctx),
	.init = hubspot_init,
	.webhook = hs_webhook,
	.poll = hs_poll,
	.deliver = hs_deliver,
	.stop = hubspot_stop,
	.destroy = hubspot_destroy,
	/* Batch APIs take 100 inputs; private apps get 190 requests per
	 * rolling 10 s (Professional/Enterprise: more, set rate_limit). */
	.batch_max = HS_BATCH_MAX,
	.rate_limit = 190,
	.rate_window_ms = 10000,
	.rate_per_call = true,          /* hs_api.c takes one per call */
	.poll_interval_ms = 300000,
};
