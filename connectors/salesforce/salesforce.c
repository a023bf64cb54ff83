/*
 * salesforce.c - the Salesforce connector (`type = salesforce`, role
 * sales): handoffs become Leads, and what sales does to Leads and
 * Opportunities comes back as lead.status and deal.stage events.
 *
 * The work is split by concern: sf_auth.c (OAuth2 and every REST call),
 * sf_push.c (deliver: sObject Collections), sf_poll.c (poll: SOQL on
 * SystemModstamp), sf_proto.c (request bodies and response parsers, no
 * I/O).  This file holds the key table, init, stop, destroy and the
 * descriptor.
 *
 * Keys (SPEC's are base_url client_id client_secret refresh_token
 * api_version match; the rest are this connector's):
 *   base_url        login host; the token endpoint is
 *                   base_url/services/oauth2/token (default
 *                   https://login.salesforce.com)
 *   client_id       connected app consumer key (required)
 *   client_secret   consumer secret (required for client_credentials)
 *   refresh_token   refresh_token grant; without it client_credentials
 *   api_version     REST version "NN.N" (default 60.0; 46.0 or later, for
 *                   the collections upsert)
 *   match           Email (default): existing Leads are found by email
 *                   and updated by Id, others created; or an external id
 *                   field of Lead (e.g. Baton_Key__c) holding the lead
 *                   key: collections upsert on it
 *   lead_source     LeadSource of created Leads (default baton)
 *   description_field  field for the score and the reasons (default
 *                   Description)
 *   score_field     numeric field for the score (e.g. Baton_Score__c;
 *                   default: not sent)
 *   reason_field    a Lead text field where reps say why they rejected
 *                   it (Salesforce has no standard one; e.g.
 *                   Unqualified_Reason__c): polled with the Status and
 *                   sent as the lead.status reason, which feedback
 *                   carries back to marketing (default: none)
 *   owner           OwnerId of created Leads (default: the org's
 *                   assignment rules decide)
 *   placeholder_last_name, placeholder_company  values for Lead's required
 *                   LastName and Company when the lead has none (default
 *                   "[not provided]"); only on create
 *   create_settle   with match = Email, a create whose answer was lost
 *                   (timeout, reset) may still commit at Salesforce; the
 *                   retry, which looks the email up first, waits this long
 *                   (default 2m) so it finds that Lead instead of making a
 *                   second one.  An external id match needs no wait: its
 *                   upsert is idempotent.
 *   poll_lag        changes younger than this are left to the next round
 *                   (default 5s)
 *   poll_overlap    each round re-reads this much before its watermark
 *                   (default 10s)
 *   poll_backfill   how far back the very first round reads (default 0)
 *   poll_pages      query pages per round before poll_again (default 10)
 *   api_budget      share of the daily API limit (Sforce-Limit-Info)
 *                   after which polling pauses; pushes go on (default 80%)
 *   budget_pause    while over it, a round checks usage (GET limits) this
 *                   often (default 10m)
 *   multi_currency  yes: read Opportunity.CurrencyIsoCode (default no: a
 *                   single-currency org has no such field)
 *   status.<Value>  = open|working|qualified|unqualified|converted: maps a
 *                   Lead Status (spaces written '_', any case), before the
 *                   defaults: Open - Not Contacted, New -> open; Working -
 *                   Contacted, Working, Nurturing -> working; Qualified ->
 *                   qualified; Unqualified, Closed - Not Converted ->
 *                   unqualified; Closed - Converted (or IsConverted) ->
 *                   converted
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <baton/conf.h>
#include <baton/connector.h>

#include "sf_int.h"

static const struct conf_key sf_keys[] = {
	{ "base_url", CONF_STRING, "https://login.salesforce.com",
	    offsetof(struct sf_ctx, base_url), 0, 0, 0,
	    "login host (token endpoint)" },
	{ "client_id", CONF_SECRET, NULL, offsetof(struct sf_ctx, client_id),
	    CONF_REQUIRED, 0, 0, "connected app consumer key" },
	{ "client_secret", CONF_SECRET, NULL,
	    offsetof(struct sf_ctx, client_secret), 0, 0, 0,
	    "connected app consumer secret" },
	{ "refresh_token", CONF_SECRET, NULL,
	    offsetof(struct sf_ctx, refresh_token), 0, 0, 0,
	    "refresh token; without it the client credentials flow" },
	{ "api_version", CONF_STRING, "60.0",
	    offsetof(struct sf_ctx, api_version), 0, 0, 0,
	    "REST API version" },
	{ "match", CONF_STRING, "Email", offsetof(struct sf_ctx, match),
	    0, 0, 0, "Email, or the Lead external id field to upsert on" },
	{ "lead_source", CONF_STRING, "baton",
	    offsetof(struct sf_ctx, lead_source), 0, 0, 0,
	    "LeadSource of created Leads" },
	{ "description_field", CONF_STRING, "Description",
	    offsetof(struct sf_ctx, description_field), 0, 0, 0,
	    "field holding the score and the reasons" },
	{ "score_field", CONF_STRING, NULL,
	    offsetof(struct sf_ctx, score_field), 0, 0, 0,
	    "numeric field for the score" },
	{ "reason_field", CONF_STRING, NULL,
	    offsetof(struct sf_ctx, reason_field), 0, 0, 0,
	    "Lead field holding why a rep rejected it" },
	{ "owner", CONF_STRING, NULL, offsetof(struct sf_ctx, owner), 0, 0, 0,
	    "OwnerId of created Leads (default: assignment rules)" },
	{ "placeholder_last_name", CONF_STRING, "[not provided]",
	    offsetof(struct sf_ctx, placeholder_last_name), 0, 0, 0,
	    "LastName when the lead has none" },
	{ "placeholder_company", CONF_STRING, "[not provided]",
	    offsetof(struct sf_ctx, placeholder_company), 0, 0, 0,
	    "Company when the lead has none" },
	{ "create_settle", CONF_DURATION, "2m",
	    offsetof(struct sf_ctx, create_settle_ms), 0, 0, 0,
	    "wait after a create whose answer was lost (match = Email)" },
	{ "poll_lag", CONF_DURATION, "5s",
	    offsetof(struct sf_ctx, poll_lag_ms), 0, 0, 0,
	    "leave changes younger than this to the next round" },
	{ "poll_overlap", CONF_DURATION, "10s",
	    offsetof(struct sf_ctx, poll_overlap_ms), 0, 0, 0,
	    "re-read this much before the watermark" },
	{ "poll_backfill", CONF_DURATION, "0s",
	    offsetof(struct sf_ctx, poll_backfill_ms), 0, 0, 0,
	    "how far back the first round reads" },
	{ "poll_pages", CONF_INT, "10", offsetof(struct sf_ctx, poll_pages),
	    0, 1, 1000, "query pages per round" },
	{ "api_budget", CONF_STRING, "80%",
	    offsetof(struct sf_ctx, api_budget), 0, 0, 0,
	    "share of the daily API limit after which polling pauses" },
	{ "budget_pause", CONF_DURATION, "10m",
	    offsetof(struct sf_ctx, budget_pause_ms), 0, 0, 0,
	    "while over api_budget, check usage again after this long" },
	{ "multi_currency", CONF_BOOL, "no",
	    offsetof(struct sf_ctx, multi_currency), 0, 0, 0,
	    "read Opportunity.CurrencyIsoCode" },
	{ "status", CONF_MAP, NULL, offsetof(struct sf_ctx, status), 0, 0, 0,
	    "status.<Lead Status> = canonical status" },
	{ 0 },
};

/* ---- Checks ------------------------------------------------------------ */

/* An API name: a letter, then letters, digits and single underscores. */
static bool
field_name_ok(const char *s)
{
	if (s == NULL || !isalpha((unsigned char)s[0]) || strlen(s) > 80)
		return false;
	for (const char *p = s; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			return false;
	return true;
}

/* "NN.N" with 46.0 <= version: the collections upsert needs it. */
static bool
version_ok(const char *s)
{
	int major, minor, n = 0;

	if (sscanf(s, "%d.%d%n", &major, &minor, &n) != 2 ||
	    s[n] != '\0' || !isdigit((unsigned char)s[0]) || minor != 0)
		return false;
	return major >= 46 && major < 1000;
}

static int
url_ok(const char *s)
{
	return (strncmp(s, "https://", 8) == 0 && s[8] != '\0') ||
	    (strncmp(s, "http://", 7) == 0 && s[7] != '\0');
}

/* ---- Callbacks --------------------------------------------------------- */

static int
salesforce_init(struct connector_instance *ci)
{
	struct sf_ctx *ctx = connector_ctx(ci);
	char err[256];
	size_t bl;
	int bad = 0;

	ctx->ci = ci;
	TAILQ_INIT(&ctx->ops);
	if (!url_ok(ctx->base_url) || strpbrk(ctx->base_url, " ?#") != NULL) {
		connector_conf_error(ci, "base_url", "expected an http(s) URL "
		    "such as https://login.salesforce.com, not '%s'",
		    ctx->base_url);
		bad = 1;
	}
	if (ctx->client_id[0] == '\0') {
		connector_conf_error(ci, "client_id", "empty client_id");
		bad = 1;
	}
	if (ctx->refresh_token == NULL && (ctx->client_secret == NULL ||
	    ctx->client_secret[0] == '\0')) {
		connector_conf_error(ci, "client_secret", "the client "
		    "credentials flow (no refresh_token) needs client_secret");
		bad = 1;
	}
	if (ctx->refresh_token != NULL && ctx->refresh_token[0] == '\0') {
		connector_conf_error(ci, "refresh_token",
		    "empty refresh_token");
		bad = 1;
	}
	if (!version_ok(ctx->api_version)) {
		connector_conf_error(ci, "api_version", "expected a version "
		    "like 60.0 (46.0 or later), not '%s'", ctx->api_version);
		bad = 1;
	}
	if (!field_name_ok(ctx->match)) {
		connector_conf_error(ci, "match", "expected Email or a Lead "
		    "field name such as Baton_Key__c, not '%s'", ctx->match);
		bad = 1;
	}
	if (!field_name_ok(ctx->description_field)) {
		connector_conf_error(ci, "description_field", "'%s' is not a "
		    "field name", ctx->description_field);
		bad = 1;
	}
	if (ctx->score_field != NULL && !field_name_ok(ctx->score_field)) {
		connector_conf_error(ci, "score_field", "'%s' is not a field "
		    "name", ctx->score_field);
		bad = 1;
	}
	if (ctx->reason_field != NULL && !field_name_ok(ctx->reason_field)) {
		connector_conf_error(ci, "reason_field", "'%s' is not a field "
		    "name", ctx->reason_field);
		bad = 1;
	}
	if (ctx->owner != NULL && !sf_id_valid(ctx->owner)) {
		connector_conf_error(ci, "owner", "expected a User or Queue "
		    "id (15 or 18 letters and digits), not '%s'", ctx->owner);
		bad = 1;
	}
	if (ctx->placeholder_last_name[0] == '\0') {
		connector_conf_error(ci, "placeholder_last_name", "empty "
		    "placeholder: Salesforce requires LastName");
		bad = 1;
	}
	if (ctx->placeholder_company[0] == '\0') {
		connector_conf_error(ci, "placeholder_company", "empty "
		    "placeholder: Salesforce requires Company");
		bad = 1;
	}
	if (sf_budget_parse(ctx->api_budget, &ctx->budget_pct, err,
	    sizeof(err)) == -1) {
		connector_conf_error(ci, "api_budget", "%s", err);
		bad = 1;
	}
	for (size_t i = 0; i < ctx->status.n; i++) {
		const struct conf_map_entry *e = &ctx->status.v[i];
		char name[160];

		if (!sf_status_canonical(e->value)) {
			snprintf(name, sizeof(name), "status.%s", e->key);
			connector_conf_error(ci, name, "'%s' is not a lead "
			    "status: expected open, working, qualified, "
			    "unqualified or converted", e->value);
			bad = 1;
		}
	}
	if (bad)
		return -1;
	bl = strlen(ctx->base_url);
	while (bl > 0 && ctx->base_url[bl - 1] == '/')
		bl--;
	if (asprintf(&ctx->token_url, "%.*s/services/oauth2/token", (int)bl,
	    ctx->base_url) == -1)
		ctx->token_url = NULL;
	if (asprintf(&ctx->data_path, "/services/data/v%s",
	    ctx->api_version) == -1)
		ctx->data_path = NULL;
	if (ctx->token_url == NULL || ctx->data_path == NULL) {
		connector_conf_error(ci, NULL, "out of memory");
		return -1;
	}
	ctx->lead_opts.lead_source = ctx->lead_source[0] != '\0' ?
	    ctx->lead_source : NULL;
	ctx->lead_opts.description_field = ctx->description_field;
	ctx->lead_opts.score_field = ctx->score_field;
	ctx->lead_opts.owner = ctx->owner;
	ctx->lead_opts.placeholder_last_name = ctx->placeholder_last_name;
	ctx->lead_opts.placeholder_company = ctx->placeholder_company;
	ctx->lead_opts.match = ctx->match;
	return 0;
}

/* Cancels every call: pending deliveries and polls complete with RETRY. */
static void
salesforce_stop(struct connector_instance *ci)
{
	sf_api_stop(connector_ctx(ci));
}

static void
salesforce_destroy(struct connector_instance *ci)
{
	struct sf_ctx *ctx = connector_ctx(ci);

	if (ctx->ci != NULL)
		sf_api_free(ctx);
	free(ctx->token_url);
	free(ctx->data_path);
	ctx->token_url = ctx->data_path = NULL;
}

/* ---- The descriptor ---------------------------------------------------- */

const struct connector connector_salesforce = {
	.name = "salesforce",
	.roles = CONNECTOR_ROLE_SALES,
	.keys = sf_keys,
	.ctx_size = sizeof(struct sf_ctx),
	.init = salesforce_init,
	.poll = sf_poll,
	.deliver = sf_deliver,
	.stop = salesforce_stop,
	.destroy = salesforce_destroy,
	/* sObject Collections take 200 records.  Salesforce meters a daily
	 * request total, not a rate: Sforce-Limit-Info and api_budget pace
	 * the poller, so no token bucket by default. */
	.batch_max = SF_COLLECTION_MAX,
	.rate_limit = 0,
	.rate_window_ms = 1000,
	.poll_interval_ms = 60000,
};
