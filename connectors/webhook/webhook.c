/*
 * webhook.c - the generic JSON webhook connector (`type = webhook`): any
 * source that can POST JSON to /hooks/NAME and sign it.
 *
 * A request must carry `X-Baton-Signature: sha256=<hex>`, the HMAC-SHA256
 * of the raw body under `secret`; the signature is checked before the
 * body is parsed at all.  Without a secret the connector refuses to load
 * unless `insecure = yes` (local testing): then nothing is checked.  A
 * secret, once set, is always checked, insecure or not.  The
 * body is then mapped to canonical events by webhook_proto.c following
 * `items`, `event` and the `map.*` keys; any bad event refuses the whole
 * request with a 400 naming the event and the key at fault, so a sender
 * never sees half of a batch accepted.
 *
 * Keys:
 *   secret    HMAC key (env:VAR, file:/path or credential:NAME)
 *   insecure  yes: without a secret, accept unsigned requests (default
 *             no; for local testing)
 *   items     path of the array of events in the body ("." when the body
 *             is that array); without it the body is one event
 *   event     the type of every event; or map.type = <path>
 *   map.type map.email map.id map.at map.<attribute> map.custom.<name>
 *             paths into one event (see webhook_proto.h for the list)
 * The generic source may be a marketing tool or a CRM, so it plays the
 * marketing and sales roles.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <baton/conf.h>
#include <baton/connector.h>
#include <baton/digest.h>

#include "webhook_proto.h"

struct webhook_ctx {
	char *secret;                   /* HMAC key; NULL when unset */
	bool insecure;                  /* accept unsigned requests */
	char *items;                    /* path of the events array, or NULL */
	char *event;                    /* fixed event type, or NULL */
	struct conf_map map;            /* map.* entries */
	struct webhook_map *mapping;    /* compiled by init, freed by destroy */
	struct digest_hmac *hmac;       /* secret prepared by init, or NULL */
};

static const struct conf_key webhook_keys[] = {
	{ "secret", CONF_SECRET, NULL, offsetof(struct webhook_ctx, secret),
	    0, 0, 0, "HMAC-SHA256 key of X-Baton-Signature" },
	{ "insecure", CONF_BOOL, "no", offsetof(struct webhook_ctx, insecure),
	    0, 0, 0, "accept unsigned requests (local testing only)" },
	{ "items", CONF_STRING, NULL, offsetof(struct webhook_ctx, items),
	    0, 0, 0, "path of the array of events (\".\": the body)" },
	{ "event", CONF_STRING, NULL, offsetof(struct webhook_ctx, event),
	    0, 0, 0, "type of every event, unless map.type is set" },
	{ "map", CONF_MAP, NULL, offsetof(struct webhook_ctx, map),
	    0, 0, 0, "map.<field> = path in one event" },
	{ 0 },
};

/* ---- Callbacks --------------------------------------------------------- */

static int
emit_to_call(void *arg, struct baton_event *ev)
{
	return webhook_emit(arg, ev);
}

/*
 * One request: signature first (401 with the reason logged), then the
 * mapping (400 naming the event and key), all events or none.
 */
static int
webhook_parse(struct connector_instance *ci, struct webhook_call *call)
{
	struct webhook_ctx *ctx = connector_ctx(ci);
	const unsigned char *body;
	char err[512];
	size_t len;
	int rc;

	body = webhook_body(call, &len);
	if (ctx->hmac != NULL && webhook_signature_check(ctx->hmac, body, len,
	    webhook_header(call, WEBHOOK_SIGNATURE_HEADER), err,
	    sizeof(err)) == -1)
		return webhook_reject(call, 401, "%s", err);
	rc = webhook_map_body(ctx->mapping, body, len,
	    webhook_received_ms(call), emit_to_call, call, err, sizeof(err));
	if (rc == WEBHOOK_MAP_BAD)
		return webhook_reject(call, 400, "%s", err);
	if (rc == WEBHOOK_MAP_EMIT)
		return webhook_reject(call, 400, "too many events in one "
		    "request");
	return 0;
}

/* ---- Configuration ----------------------------------------------------- */

/*
 * Checks what the key table cannot and compiles the mapping.  Every
 * problem is reported (not only the first), each at its key's line.
 */
static int
webhook_init(struct connector_instance *ci)
{
	struct webhook_ctx *ctx = connector_ctx(ci);
	struct webhook_map *m;
	const char *key;
	char err[512], name[160];
	int bad = 0, mapbad = 0;

	if ((m = ctx->mapping = webhook_map_new()) == NULL) {
		connector_conf_error(ci, NULL, "out of memory");
		return -1;
	}
	if (ctx->secret != NULL && ctx->secret[0] == '\0') {
		connector_conf_error(ci, "secret", "empty secret");
		bad = 1;
	} else if (ctx->secret == NULL && !ctx->insecure) {
		connector_conf_error(ci, "secret", "no secret: set secret = "
		    "env:VAR (or insecure = yes for local testing only)");
		bad = 1;
	}
	if (ctx->event != NULL &&
	    webhook_map_set_event(m, ctx->event, err, sizeof(err)) == -1) {
		connector_conf_error(ci, "event", "%s", err);
		mapbad = 1;
	}
	if (ctx->items != NULL &&
	    webhook_map_set_items(m, ctx->items, err, sizeof(err)) == -1) {
		connector_conf_error(ci, "items", "%s", err);
		mapbad = 1;
	}
	for (size_t i = 0; i < ctx->map.n; i++) {
		const struct conf_map_entry *e = &ctx->map.v[i];

		if (webhook_map_add(m, e->key, e->value, err,
		    sizeof(err)) == -1) {
			snprintf(name, sizeof(name), "map.%s", e->key);
			connector_conf_error(ci, name, "%s", err);
			mapbad = 1;
		}
	}
	/* A missing piece is reported once the parts that exist are known
	 * to be well formed, so one mistake is not reported twice. */
	if (!mapbad && webhook_map_check(m, &key, err, sizeof(err)) == -1) {
		connector_conf_error(ci, key, "%s", err);
		mapbad = 1;
	}
	if (bad || mapbad)
		return -1;
	if (ctx->secret != NULL && (ctx->hmac = digest_hmac_new(ctx->secret,
	    strlen(ctx->secret))) == NULL) {
		connector_conf_error(ci, "secret", "cannot prepare the HMAC key "
		    "(libcrypto)");
		return -1;
	}
	if (ctx->secret == NULL && connector_base(ci) != NULL)
		connector_log(ci, LOG_LEVEL_WARNING, "insecure = yes: "
		    "requests are not authenticated (local testing only)");
	return 0;
}

static void
webhook_destroy(struct connector_instance *ci)
{
	struct webhook_ctx *ctx = connector_ctx(ci);

	webhook_map_free(ctx->mapping);
	ctx->mapping = NULL;
	digest_hmac_free(ctx->hmac);
	ctx->hmac = NULL;
}

/* ---- The descriptor ---------------------------------------------------- */

const struct connector connector_webhook = {
	.name = "webhook",
	.roles = CONNECTOR_ROLE_MARKETING | CONNECTOR_ROLE_SALES,
	.keys = webhook_keys,
	.ctx_size = sizeof(struct webhook_ctx),
	.init = webhook_init,
	.webhook = webhook_parse,
	.destroy = webhook_destroy,
};
