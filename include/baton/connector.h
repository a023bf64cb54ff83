/*
 * connector.h - the one interface between batond's core and its connectors.
 *
 * A connector type (webhook, hubspot, salesforce, slack, ...) lives in
 * connectors/<name>/ and exports exactly one `const struct connector`
 * descriptor, listed in the core's NULL-terminated array.  For every
 * [connector NAME] section whose `type =` names it, the core:
 *
 *   1. allocates ctx_size zeroed bytes and applies `keys` to the section
 *      (the shared keys `type` and `role` are the core's own);
 *   2. calls init(), which checks what a table cannot (one key needing
 *      another, a path that does not compile) and reports problems with
 *      connector_conf_error();
 *   3. routes work to the optional callbacks:
 *        webhook  POST /hooks/NAME, the raw request in, canonical events out;
 *        poll     every poll_interval, in exactly one batond process at a
 *                 time, resuming from a cursor the core keeps in Redis;
 *        deliver  a batch read by the connector's own consumer group from
 *                 PREFIX:handoffs (role sales or notify) or PREFIX:feedback
 *                 (role marketing), completed asynchronously;
 *   4. on shutdown or reload calls stop(), then destroy() once nothing of
 *      the instance is in flight, then frees what the key table stored.
 *
 * Callbacks run on the daemon's single libevent loop and must never block:
 * network work goes through the core's asynchronous facilities.  Events
 * handed to the core become its property.  A webhook body is not
 * necessarily NUL-terminated: use its length.  Pointers the core passes to a
 * callback (the call objects, header values, bodies) are valid until the
 * call is completed, and no longer.
 */
#ifndef BATON_CONNECTOR_H
#define BATON_CONNECTOR_H

#include <stddef.h>
#include <stdint.h>

#include <baton/conf.h>
#include <baton/event.h>
#include <baton/log.h>

struct event_base;
struct http_client;

/* Roles a connector plays (a set in struct connector, one per instance). */
#define CONNECTOR_ROLE_MARKETING 0x1u
#define CONNECTOR_ROLE_SALES     0x2u
#define CONNECTOR_ROLE_NOTIFY    0x4u

/* Returned by a callback that will complete its call later, from the loop. */
#define CONNECTOR_PENDING 1

struct connector_instance;      /* the core's record of one [connector NAME] */
struct webhook_call;            /* one POST /hooks/NAME being answered */
struct poll_call;               /* one poll round */
struct delivery_batch;          /* entries to push, from one consumer group */

/* ---- The descriptor ---------------------------------------------------- */

struct connector {
	const char *name;               /* the `type =` value */
	unsigned roles;                 /* CONNECTOR_ROLE_* it may play */
	const struct conf_key *keys;    /* {0}-terminated; ctx fields */
	size_t ctx_size;                /* bytes of the ctx struct */

	/* After the key table is applied.  0, or -1 having reported every
	 * problem with connector_conf_error().  Required. */
	int (*init)(struct connector_instance *ci);

	/*
	 * Parses one webhook request.  Emits its events with webhook_emit()
	 * and returns 0 (the core then writes them all, or none, and
	 * answers), returns -1 having called webhook_reject(), or returns
	 * CONNECTOR_PENDING and later calls webhook_complete().
	 * Optional: without it the connector has no webhook endpoint (404).
	 */
	int (*webhook)(struct connector_instance *ci, struct webhook_call *call);

	/*
	 * One poll round: reads the source from poll_cursor() on, emits
	 * events, and ends with poll_complete().  Returns 0 when completed
	 * before returning, or CONNECTOR_PENDING.  Optional.
	 */
	int (*poll)(struct connector_instance *ci, struct poll_call *call);

	/*
	 * Pushes a batch: sets each item's result with delivery_set_result()
	 * and ends with delivery_complete().  Returns 0 when completed
	 * before returning, or CONNECTOR_PENDING.  Optional; required for
	 * the roles that consume a stream.  The core hands a lead's entries
	 * over in stream order and holds a later one back while an earlier
	 * one waits for a retry; within one batch, the items of one lead
	 * should get one result (a connector that writes a lead once per
	 * batch, latest entry winning, does this naturally).
	 */
	int (*deliver)(struct connector_instance *ci, struct delivery_batch *b);

	/* Cancels in-flight work: every pending call is completed (with a
	 * retry result) before stop returns or soon after.  Optional. */
	void (*stop)(struct connector_instance *ci);

	/* Frees what the connector added to its ctx.  Optional. */
	void (*destroy)(struct connector_instance *ci);

	/*
	 * The vendor's limits, used when the section does not set its own:
	 * most items one deliver() call may carry (the batch API's limit;
	 * 0 means 1), requests allowed per rate window (0: unlimited) and
	 * the window in ms, and the poll interval in ms (0: no polling
	 * unless the section sets poll_interval).
	 */
	size_t batch_max;
	long long rate_limit;
	int64_t rate_window_ms;
	int64_t poll_interval_ms;

	/*
	 * The connector takes a token for each vendor request itself
	 * (connector_rate_take), so a deliver() call or a poll round takes
	 * none of its own; both still wait out a vendor's pause.
	 */
	bool rate_per_call;
};

/*
 * Keys the core reads in every [connector NAME] section besides `type` and
 * `role` (a connector's table must not reuse these names):
 *   ca_file          PEM bundle trusted for HTTPS instead of the system's
 *   connect_timeout  TCP + TLS handshake limit (default 10s)
 *   timeout          whole HTTP request limit (default 30s)
 *   batch_size       items per deliver() call (default and maximum:
 *                    batch_max)
 *   batch_linger     wait this long for a batch to fill (default 20ms)
 *   rate_limit       requests per rate_window (default: the descriptor's)
 *   rate_window      (default: the descriptor's, else 1s)
 *   retry_max        attempts before an item goes to the DLQ (default 8)
 *   retry_base       first backoff (default 1s), doubled per attempt with
 *                    full jitter, capped at retry_cap (default 5m)
 *   poll_interval    time between poll rounds; 0 turns polling off
 * A deliver() call and a poll() round each take one token of the rate
 * limit, unless the descriptor's rate_per_call says the connector counts
 * each of its requests with connector_rate_take(); a retry_after_ms given
 * with
 * CONNECTOR_RETRY pauses the whole connector (every vendor so far
 * throttles per app, not per record).
 */

/* ---- The instance ------------------------------------------------------ */

/* The ctx struct the key table filled (ctx_size bytes, owned by the core). */
void *connector_ctx(const struct connector_instance *ci);

/* The section's NAME, its descriptor, and its `role =`. */
const char *connector_name(const struct connector_instance *ci);
const struct connector *connector_descriptor(const struct connector_instance *ci);
unsigned connector_role(const struct connector_instance *ci);

/*
 * Takes one token of the section's rate budget (rate_limit per
 * rate_window, shared with the core's deliveries and polls) for one more
 * vendor request.  Returns 0, or how many ms to wait before a token is
 * free (nothing taken then); always 0 without a limit.
 */
int64_t connector_rate_take(struct connector_instance *ci);

/* The daemon's loop, for timers; NULL under `--check`. */
struct event_base *connector_base(const struct connector_instance *ci);

/*
 * Reports a configuration problem as "FILE:LINE: [type:NAME] key: message",
 * at the line of `key` in the section (a map entry is "map.email"), or at
 * the section header when key is NULL or absent.  Only during init().
 */
void connector_conf_error(struct connector_instance *ci, const char *key,
    const char *fmt, ...) BATON_PRINTF(3, 4);

/*
 * The instance's HTTP client (include/baton/http_client.h), made on first
 * use with the section's ca_file and timeouts; NULL under `--check` or
 * when out of memory.  Owned by the core: its pending calls are
 * cancelled (their callbacks run) after stop() and before destroy().
 */
struct http_client *connector_http(struct connector_instance *ci);

/* Logs a line starting "[type:NAME] ". */
void connector_log(const struct connector_instance *ci, int level,
    const char *fmt, ...) BATON_PRINTF(3, 4);

/* ---- Webhooks ---------------------------------------------------------- */

/* The request as received.  Header lookup is case-insensitive; NULL when
 * absent.  The URI is the path and query string as the client sent them. */
const char *webhook_method(const struct webhook_call *call);
const char *webhook_uri(const struct webhook_call *call);
const char *webhook_header(const struct webhook_call *call, const char *name);
const unsigned char *webhook_body(const struct webhook_call *call,
    size_t *len);
int64_t webhook_received_ms(const struct webhook_call *call);

/*
 * Adds an event to the request's batch.  Takes ownership of ev on every
 * path.  Returns 0, or -1 when out of memory or over the per-request
 * event limit (the request then fails as a whole).
 */
int webhook_emit(struct webhook_call *call, struct baton_event *ev);

/*
 * Refuses the request: status 400 (malformed, message sent to the client
 * as {"error": "..."}), 401 (signature; the client is told only that it
 * failed, the detail is logged), 403, or 503 (a vendor call the events
 * depend on failed: the client is told to retry, with Retry-After).  Events already emitted are
 * discarded.  Returns -1, so a callback may `return webhook_reject(...)`.
 */
int webhook_reject(struct webhook_call *call, int status, const char *fmt,
    ...) BATON_PRINTF(3, 4);

/* Ends a call for which webhook() returned CONNECTOR_PENDING: rc 0 writes
 * the emitted events; -1 means webhook_reject() was called. */
void webhook_complete(struct webhook_call *call, int rc);

/* ---- Polling ----------------------------------------------------------- */

/* Results of a poll round and of a delivery item. */
enum connector_result {
	CONNECTOR_OK = 0,       /* done */
	CONNECTOR_RETRY,        /* transient: the core backs off and retries */
	CONNECTOR_DROP,         /* permanent: delivery item to PREFIX:dlq */
};

/* The cursor committed by the last successful round; NULL the first time. */
const char *poll_cursor(const struct poll_call *call);

/* Adds an event to the round; takes ownership.  Returns 0 or -1. */
int poll_emit(struct poll_call *call, struct baton_event *ev);

/*
 * Ends a round.  With CONNECTOR_OK the core writes the emitted events and
 * then commits next_cursor (copied; NULL keeps the old one) in one atomic
 * step; with CONNECTOR_RETRY it discards them and backs off, honouring
 * retry_after_ms when positive.
 */
void poll_complete(struct poll_call *call, enum connector_result rc,
    const char *next_cursor, int64_t retry_after_ms);

/* Asks for the next round right after this one commits instead of after
 * poll_interval (a round that stopped at a page limit with more to read).
 * Call before poll_complete(). */
void poll_again(struct poll_call *call);

/* ---- Delivery ---------------------------------------------------------- */

/* The entries of a batch, in stream order.  An item's event and stream id
 * are valid until delivery_complete(). */
size_t delivery_count(const struct delivery_batch *b);
const struct baton_event *delivery_event(const struct delivery_batch *b,
    size_t i);
const char *delivery_entry_id(const struct delivery_batch *b, size_t i);

/* Records item i's outcome; message (the vendor's error) goes to the DLQ
 * with a dropped item.  Items left unset count as CONNECTOR_RETRY. */
void delivery_set_result(struct delivery_batch *b, size_t i,
    enum connector_result rc, int64_t retry_after_ms, const char *fmt, ...)
    BATON_PRINTF(5, 6);

/*
 * Records the vendor's id of the record an OK item created or updated: it
 * is stored on the lead as ids.<connector NAME> in the same step as the
 * acknowledgement, so later handoffs and `batonctl lead` show it.
 */
void delivery_set_record_id(struct delivery_batch *b, size_t i,
    const char *id);

/*
 * For a connector that writes each lead once per batch: sets every item i
 * with group_of[i] == group (the items of one lead; delivery_count()
 * entries) to rc, retry_after_ms and message msg (NULL: none), and, when
 * rc is CONNECTOR_OK and id is not empty, the record id.
 */
void delivery_set_group_result(struct delivery_batch *b,
    const size_t *group_of, size_t group, enum connector_result rc,
    int64_t retry_after_ms, const char *id, const char *msg);

/* How many times item i was handed to deliver() before, in this process
 * (0 the first time). */
unsigned delivery_attempts(const struct delivery_batch *b, size_t i);

/* Ends the batch: OK items are acknowledged, DROP items go to the DLQ and
 * are acknowledged, RETRY items are retried with backoff. */
void delivery_complete(struct delivery_batch *b);

#endif
