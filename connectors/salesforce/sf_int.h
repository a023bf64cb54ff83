/*
 * sf_int.h - what the Salesforce connector's files share, private to
 * connectors/salesforce/: the instance context (keys and runtime state)
 * and the REST call layer of sf_auth.c that sf_push.c and sf_poll.c use.
 *
 * Every REST call goes through sf_api(): it waits for an access token
 * (one token request at a time, however many calls wait for it), sends
 * the call with it, reads Sforce-Limit-Info from the answer, and on a 401
 * refreshes the token once and sends the call again.  Its callback runs
 * exactly once, always from the loop, never from inside sf_api().
 */
#ifndef BATON_SF_INT_H
#define BATON_SF_INT_H

#include <sys/queue.h>

#include <stdbool.h>
#include <stdint.h>

#include <baton/conf.h>
#include <baton/connector.h>

#include "sf_proto.h"

#define SF_MESSAGE_MAX 768
#define SF_LIMIT_PAUSE_MS (10 * 60 * 1000)     /* 403 REQUEST_LIMIT_EXCEEDED */
#define SF_AUTH_PAUSE_MS  (60 * 1000)          /* credentials refused */

struct sf_op;

/* The instance: fields the key table fills first, then runtime state. */
struct sf_ctx {
	/* Keys (owned by the core). */
	char *base_url;                 /* token endpoint host */
	char *client_id;
	char *client_secret;
	char *refresh_token;            /* NULL: client_credentials */
	char *api_version;              /* "60.0" */
	char *match;                    /* "Email" or an external id field */
	char *lead_source;
	char *description_field;
	char *score_field;              /* NULL: not sent */
	char *reason_field;             /* Lead field read as the status
	                                   reason, or NULL */
	char *owner;                    /* OwnerId on create; NULL: rules */
	char *placeholder_last_name;
	char *placeholder_company;
	char *api_budget;               /* "80%" */
	int64_t budget_pause_ms;        /* between checks while over it */
	int64_t create_settle_ms;       /* wait after a create whose answer
	                                   was lost */
	int64_t poll_lag_ms;            /* do not read changes newer */
	int64_t poll_overlap_ms;        /* re-read this much each round */
	int64_t poll_backfill_ms;       /* how far back the first round reads */
	long long poll_pages;           /* query pages per round */
	bool multi_currency;            /* select Opportunity.CurrencyIsoCode */
	struct conf_map status;         /* status.<Salesforce value> */

	/* Runtime (init, destroy). */
	struct connector_instance *ci;
	int budget_pct;                 /* api_budget parsed */
	char *token_url;                /* base_url/services/oauth2/token */
	char *data_path;                /* "/services/data/v60.0" */
	struct sf_lead_opts lead_opts;

	struct sf_token token;          /* access token; empty when none */
	uint64_t token_gen;             /* bumped per new token */
	struct http_call *auth_call;    /* the token request in flight */
	TAILQ_HEAD(, sf_op) ops;        /* every call not yet reported */
	long long usage_used, usage_max;        /* last Sforce-Limit-Info */
	bool over_budget;               /* usage >= budget_pct */
	bool stopping;
};

/* What a call's callback gets; valid only during the callback. */
struct sf_reply {
	enum connector_result rc;       /* OK for 2xx; else how to retry */
	int status;                     /* HTTP status, 0 without one */
	const char *body;               /* "" when none */
	size_t len;
	int64_t retry_after_ms;         /* 0, or how long to wait */
	char code[64];                  /* Salesforce errorCode, or "" */
	char message[SF_MESSAGE_MAX];   /* for a failure: what happened */
};

typedef void (*sf_reply_cb)(struct sf_ctx *ctx, const struct sf_reply *r,
    void *arg);

/*
 * Starts a REST call: method on the instance's path (starting "/", e.g.
 * ctx->data_path + "/query?q=..." or a nextRecordsUrl), body (JSON,
 * copied) or NULL, header one extra "Name: value" line or NULL.  Returns
 * 0 (cb runs once, later), or -1 only when out of memory (cb never runs).
 */
int sf_api(struct sf_ctx *ctx, const char *method, const char *path,
    const char *body, const char *header, sf_reply_cb cb, void *arg);

/* Cancels every call in flight (their callbacks then run with RETRY). */
void sf_api_stop(struct sf_ctx *ctx);

/* Frees what sf_api left (calls never reported, the token). */
void sf_api_free(struct sf_ctx *ctx);

/* The callbacks of the descriptor, in sf_push.c and sf_poll.c. */
int sf_deliver(struct connector_instance *ci, struct delivery_batch *b);
int sf_poll(struct connector_instance *ci, struct poll_call *call);

#endif
