/*
 * hs_int.h - what the HubSpot connector's files share, private to
 * connectors/hubspot/: the instance context (keys and runtime state) and
 * the REST call layer of hs_api.c that hs_hook.c, hs_poll.c and hs_push.c
 * use.
 *
 * Every call goes through hs_api(): it counts the call against
 * daily_limit, refuses it while HubSpot asked the connector to wait (a
 * 429), sends it with the private app token, and sorts the answer (429
 * policies, 5xx, per-item errors are the caller's).  Its callback runs
 * exactly once, always from the loop, never from inside hs_api().
 */
#ifndef BATON_HS_INT_H
#define BATON_HS_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <baton/conf.h>
#include <baton/connector.h>

#include "hs_proto.h"

#define HS_MESSAGE_MAX 768
#define HS_DAILY_PAUSE_MS (60 * 60 * 1000)      /* daily limit: retry hourly */
#define HS_ANSWER_MAX_MS 4800   /* a webhook is answered by then (HubSpot
                                 * waits 5 s) */
/* A form submission or email engagement is reported by the contact
 * change that shows it, within this of its time (hs_contact_activities). */
#define HS_ACTIVITY_WINDOW_MS (10 * 60 * 1000)

struct hs_hook;
struct hs_readq;
struct hs_round;

/* The instance: fields the key table fills first, then runtime state. */
struct hs_ctx {
	/* Keys (owned by the core). */
	char *base_url;
	char *token;
	char *app_secret;
	char *public_url;
	char *app_id;
	char *signature_version;        /* "v3", "v2", "v1" */
	int64_t lookback_ms;
	int64_t backfill_ms;
	long long poll_pages;
	long long page_size;
	int64_t search_gap_ms;          /* between two searches of a round */
	int64_t read_linger_ms;         /* coalescing window of reads */
	int64_t read_timeout_ms;        /* vendor reads of a webhook */
	long long daily_limit;          /* 0: none */
	int64_t echo_ttl_ms;
	long long echo_size;
	struct conf_map map;            /* map.<canonical> = property */
	struct conf_map status;         /* status.<hs_lead_status> */
	struct conf_map lead_status;    /* lead_status.<feedback> = value */
	bool deals;                     /* role sales: handoffs make deals */
	char *deal_pipeline;
	char *deal_stage;
	int64_t create_settle_ms;       /* wait after an unanswered create */

	/* Runtime (init, destroy). */
	struct connector_instance *ci;
	int sig_version;                /* 1, 2, 3 */
	char *url;                      /* base_url without a trailing '/' */
	char *auth;                     /* "Authorization: Bearer ..." */
	struct hs_map fields;
	const char **props;             /* contact properties to read */
	size_t nprops;
	struct hs_echo echo;            /* what this connector wrote */
	struct hs_echo emails;          /* contact id -> email seen */
	int64_t paused_until;           /* wall clock: HubSpot said wait */
	long long day;                  /* UTC day of daily_used */
	long long daily_used;
	bool props_ready;               /* baton_* properties exist */
	struct hs_readq *readq;         /* webhook reads being coalesced */
	struct hs_round *round;         /* the poll round under way */
	bool stopping;
};

/* What a call's callback gets; valid only during the callback. */
struct hs_reply {
	enum connector_result rc;       /* OK for 2xx; else how to retry */
	int status;                     /* HTTP status, 0 without one */
	const char *body;               /* "" when none */
	size_t len;
	int64_t retry_after_ms;         /* 0, or how long to wait */
	char category[64];              /* HubSpot's error category or "" */
	char message[HS_MESSAGE_MAX];   /* for a failure: what happened */
	char detail[HS_MSG_MAX];        /* HubSpot's own message or "" */
};

typedef void (*hs_reply_cb)(struct hs_ctx *ctx, const struct hs_reply *r,
    void *arg);

/*
 * Starts a call: method on base_url + path, body (JSON, copied) or NULL,
 * timeout_ms (0: the section's).  Returns 0 (cb runs once, later), or -1
 * only when out of memory (cb never runs).
 */
int hs_api(struct hs_ctx *ctx, const char *method, const char *path,
    const char *body, int64_t timeout_ms, hs_reply_cb cb, void *arg);

/* Calls waiting for a rate token go now, to be refused (stop). */
void hs_api_stop(struct hs_ctx *ctx);

/* Frees refusals never reported (destroy). */
void hs_api_free(struct hs_ctx *ctx);

/* Whether calls are held back now (a 429 pause or the daily limit); the
 * wait in *ms. */
bool hs_api_paused(struct hs_ctx *ctx, int64_t *ms);

/* Notes that id's email is email (for deletions HubSpot no longer
 * answers). */
void hs_note_email(struct hs_ctx *ctx, const char *id, const char *email);

/* The callbacks of the descriptor (hs_hook.c, hs_poll.c, hs_push.c). */
int hs_webhook(struct connector_instance *ci, struct webhook_call *call);
int hs_poll(struct connector_instance *ci, struct poll_call *call);
int hs_deliver(struct connector_instance *ci, struct delivery_batch *b);
void hs_hook_stop(struct hs_ctx *ctx);
void hs_hook_free(struct hs_ctx *ctx);  /* the read queue (destroy) */
void hs_poll_stop(struct hs_ctx *ctx);

#endif
