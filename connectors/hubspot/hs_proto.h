/*
 * hs_proto.h - the HubSpot connector's pure side, private to
 * connectors/hubspot/: webhook signatures (v1, v2, v3), webhook bodies,
 * the CRM v3 request bodies it sends (batch read, search, batch upsert,
 * property creation) and the answers it parses (batch results with their
 * per-item errors, search pages, error bodies), the poll cursor and its
 * window splitting, lifecycle ordering, property mapping and the echo
 * record.  Nothing here does I/O or knows about the core, so unit tests
 * and fuzz targets call it directly.  Parsers take a length (bodies are
 * not NUL-terminated) and fail with a message naming what is wrong.
 */
#ifndef BATON_HS_PROTO_H
#define BATON_HS_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <baton/conf.h>

#define HS_EVENTS_MAX   100             /* events in one webhook request */
#define HS_BODY_MAX     (1024 * 1024)   /* webhook body bytes */
#define HS_BATCH_MAX    100             /* ids in one batch call */
#define HS_SEARCH_CAP   10000           /* results one search can reach */
#define HS_PAGE_MAX     200             /* results of one search page */
#define HS_ID_MAX       20              /* digits of an object id */
#define HS_NAME_MAX     100             /* a property's internal name */
#define HS_MSG_MAX      512

#define HS_SIG_WINDOW_MS 300000         /* v3: timestamps older are refused */
#define HS_SIG_SKEW_MS   60000          /* v3: future timestamps allowed */

/* ---- Signatures -------------------------------------------------------- */

/* What a signature check looks at (all borrowed). */
struct hs_sig_input {
	int version;                    /* 1, 2 or 3 */
	const char *secret;             /* the app's client secret */
	const char *method;             /* "POST" */
	const char *uri;                /* full URL as HubSpot called it */
	const unsigned char *body;
	size_t len;
	const char *signature;          /* the header's value, or NULL */
	const char *timestamp;          /* X-HubSpot-Request-Timestamp (v3) */
	int64_t now_ms;
};

/*
 * The v3 signature: base64 of HMAC-SHA256(secret, method + uri + body +
 * timestamp), where uri has HubSpot's decoded characters (%3A : %2F /
 * %3F ? %40 @ %21 ! %24 $ %27 ' %28 ( %29 ) %2A * %2C , %3B ;) decoded
 * first.  Returns a malloc'd string or NULL when out of memory.
 */
char *hs_signature_v3(const char *secret, const char *method,
    const char *uri, const void *body, size_t len, const char *timestamp);

/*
 * The v1 (sha256 of secret + body) or v2 (sha256 of secret + method + uri
 * + body) signature as lower-case hex into hex (65 bytes).  Returns 0 or
 * -1 (bad version, out of memory).
 */
int hs_signature_v12(int version, const char *secret, const char *method,
    const char *uri, const void *body, size_t len, char hex[65]);

/*
 * Checks a request's signature in constant time; for v3 also that the
 * timestamp is a whole number of ms no older than HS_SIG_WINDOW_MS and
 * no more than HS_SIG_SKEW_MS in the future.  Returns 0, or -1 with the
 * reason in err ("missing X-HubSpot-Signature-v3", "request timestamp
 * 1693657560000 is 412 s old (more than 300)", "signature mismatch", ...).
 */
int hs_signature_check(const struct hs_sig_input *in, char *err,
    size_t errlen);

/*
 * The URI to verify: public_url (without a trailing '/') followed by the
 * received URI's query string when public_url has none, or, without
 * public_url, "http://" + host + received uri.  Returns a malloc'd string,
 * or NULL (no public_url and no host, or out of memory).
 */
char *hs_signed_uri(const char *public_url, const char *host,
    const char *received_uri);

/* ---- Webhook bodies ---------------------------------------------------- */

/* One webhook event (subscriptionType's object and action split). */
struct hs_event {
	long long event_id;             /* eventId */
	char object[16];                /* "contact", "deal", ... */
	char action[32];                /* "creation", "propertyChange", ... */
	long long object_id;            /* objectId */
	int64_t occurred_at;            /* occurredAt, ms */
	char property[HS_NAME_MAX + 1]; /* propertyName, "" when none */
	char *value;                    /* propertyValue (owned) or NULL */
	char change_source[48];         /* changeSource, "" when none */
	char source_id[96];             /* sourceId, "" when none */
	long long app_id;               /* appId, 0 when none */
	long long primary_id;           /* merge: primaryObjectId */
	long long *merged;              /* merge: mergedObjectIds (owned) */
	size_t nmerged;
	int attempt;                    /* attemptNumber */
};

struct hs_events {
	struct hs_event *v;
	size_t n;
};

/*
 * Parses a webhook body: a JSON array of 1..HS_EVENTS_MAX event objects,
 * each with an integer eventId, a subscriptionType "object.action", a
 * positive integer objectId and occurredAt.  Returns 0 (release with
 * hs_events_clear), or -1 with a message naming the event and field
 * ("event 2: objectId: expected a positive integer").
 */
int hs_events_parse(const char *body, size_t len, struct hs_events *out,
    char *err, size_t errlen);
void hs_events_clear(struct hs_events *e);

/* ---- Errors ------------------------------------------------------------ */

/* An error body {status, message, category, correlationId, policyName}. */
struct hs_error {
	char category[64];
	char message[HS_MSG_MAX];
	char policy[48];                /* policyName of a 429, or "" */
};

/*
 * Parses an error body.  Returns 0, or -1 when it is not an object with a
 * message or category (e then holds a short description of the body).
 */
int hs_error_parse(const char *body, size_t len, struct hs_error *e);

/*
 * How long a 429 asks to wait: 10 s for TEN_SECONDLY_ROLLING, 1 s for the
 * search API's secondly limit ("You have reached your secondly limit."),
 * 0 for anything else (the daily limit: DAILY).
 */
int64_t hs_429_wait_ms(const struct hs_error *e);

/* ---- Requests ---------------------------------------------------------- */

/*
 * A batch read body: {"inputs": [{"id": ids[i]}...], "properties": [...],
 * "propertiesWithHistory": []} plus "idProperty" when id_property is not
 * NULL.  n is 1..HS_BATCH_MAX.  Returns a malloc'd string or NULL.
 */
char *hs_batch_read_body(const char *const *ids, size_t n,
    const char *id_property, const char *const *props, size_t nprops);

/*
 * A batch upsert body {"inputs": [{"idProperty": "email", "id": keys[i],
 * "properties": props[i]}...]} (props borrowed, 1..HS_BATCH_MAX), or with
 * by_id a batch update body {"inputs": [{"id": keys[i], "properties"}]}.
 * Returns a malloc'd string or NULL.
 */
char *hs_batch_write_body(const char *const *keys, json_t *const *props,
    size_t n, bool by_id);

/* The body creating baton_* contact property i (POST
 * /crm/v3/properties/contacts); NULL past the last one. */
char *hs_property_body(size_t i);

/* Names of the baton_* properties, NULL-terminated. */
extern const char *const hs_baton_properties[];

/* One search window, as the cursor keeps it. */
struct hs_window {
	int64_t lo, hi;                 /* lastmodifieddate, both inclusive */
	char after[32];                 /* paging.next.after, "" at start */
	bool by_id;                     /* one ms beyond the cap: keyset on
	                                 * hs_object_id */
	char last_id[HS_ID_MAX + 1];    /* by_id: last id read, "" at start */
	long long total;                /* total of the first page; -1:
	                                 * not probed yet */
	int64_t seen;                   /* latest lastmodifieddate read in
	                                 * it (a restart point), 0: none */
};

/*
 * The search body of a window: lastmodifieddate GTE lo and LTE hi sorted
 * ascending with `after`, or (by_id) lastmodifieddate EQ lo and
 * hs_object_id GT last_id sorted by hs_object_id.  limit 1..HS_PAGE_MAX.
 * Returns a malloc'd string or NULL.
 */
char *hs_search_body(const struct hs_window *w, const char *const *props,
    size_t nprops, int limit);

/* ---- Answers ----------------------------------------------------------- */

/* One CRM object of a batch or search answer. */
struct hs_object {
	char id[HS_ID_MAX + 1];
	json_t *props;                  /* properties (borrowed from root) */
	int64_t modified;               /* lastmodifieddate or
	                                 * hs_lastmodifieddate or updatedAt,
	                                 * ms; 0 when none */
	bool archived;
};

/* A per-item error of a 207 answer. */
struct hs_item_error {
	char category[64];
	char message[HS_MSG_MAX];
	json_t *context;                /* context (borrowed), or NULL */
};

/* A batch answer, or a search page. */
struct hs_result {
	json_t *root;                   /* one reference: owns the rest */
	struct hs_object *v;
	size_t n;
	struct hs_item_error *errors;
	size_t nerrors;
	long long total;                /* search: total; batch: -1 */
	char after[32];                 /* search: paging.next.after or "" */
};

/*
 * Parses a batch answer {status, results: [{id, properties, updatedAt,
 * archived}], errors: [{category, message, context}]} (200 or 207), or,
 * with search, a search page {total, results, paging.next.after}.  Ids
 * are strings or numbers of digits.  Returns 0 (release with
 * hs_result_clear), or -1 with a message.
 */
int hs_result_parse(const char *body, size_t len, bool search,
    struct hs_result *r, char *err, size_t errlen);
void hs_result_clear(struct hs_result *r);

/* A deal as GET /crm/v3/objects/deals/{id}?associations=contacts answers. */
struct hs_deal {
	char id[HS_ID_MAX + 1];
	char stage[HS_NAME_MAX + 1];    /* dealstage, "" when none */
	char currency[8];               /* deal_currency_code or "" */
	bool has_amount;
	double amount;
	int64_t modified;               /* hs_lastmodifieddate, ms */
	char contact[HS_ID_MAX + 1];    /* first associated contact, "" */
};

/*
 * Parses one deal object {id, properties: {dealstage, amount,
 * deal_currency_code, hs_lastmodifieddate}, associations: {contacts:
 * {results: [{id}]}}}.  Returns 0, or -1 with a message.
 */
int hs_deal_parse(const char *body, size_t len, struct hs_deal *d,
    char *err, size_t errlen);

/* HubSpot's association type id of a deal to its contact. */
#define HS_ASSOC_DEAL_TO_CONTACT 3
#define HS_ASSOC_MAX 10000              /* pairs one answer may hold */

/* The body of POST /crm/v4/associations/{from}/{to}/batch/read:
 * {"inputs": [{"id": ids[i]}...]}, 1..HS_BATCH_MAX ids.  Malloc'd or
 * NULL. */
char *hs_assoc_read_body(const char *const *ids, size_t n);

/* What a v4 batch association read answered: (from, to) pairs. */
struct hs_assoc_pair {
	char from[HS_ID_MAX + 1];
	char to[HS_ID_MAX + 1];
};
struct hs_assoc {
	struct hs_assoc_pair *v;
	size_t n;
};

/*
 * Parses {results: [{from: {id}, to: [{toObjectId, associationTypes}]}],
 * errors?} (200 or 207; an id without associations is one of the
 * errors, and so simply has no pair).  A `paging` of more than one page
 * per record is not followed: the first page is what HubSpot answers.
 * Returns 0 (release with hs_assoc_clear), or -1 with a message.
 */
int hs_assoc_parse(const char *body, size_t len, struct hs_assoc *a,
    char *err, size_t errlen);
void hs_assoc_clear(struct hs_assoc *a);

/*
 * A batch create body of deals: {"inputs": [{"properties": props[i],
 * "associations": [{"to": {"id": contacts[i]}, "types":
 * [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}]}]}
 * ...]} (props borrowed), 1..HS_BATCH_MAX.  Malloc'd or NULL.
 */
char *hs_deal_create_body(const char *const *contacts, json_t *const *props,
    size_t n);

/* "won" for closedwon, "lost" for closedlost, else "open". */
const char *hs_deal_outcome(const char *stage);

/*
 * Whether item error e concerns key (an id or an email): one of the
 * string values of its context's arrays equals key, case-insensitively.
 */
bool hs_item_error_has(const struct hs_item_error *e, const char *key);

/* ---- The poll cursor --------------------------------------------------- */

#define HS_WINDOWS_MAX 64               /* splits pending at once */

struct hs_cursor {
	int64_t wm;                     /* everything modified up to here,
	                                 * less lookback, has been read */
	int64_t round_hi;               /* the windows' overall end; 0 when
	                                 * no round is under way */
	struct hs_window win[HS_WINDOWS_MAX];  /* pending, earliest first */
	size_t nwin;
};

/* {"v":1,"wm":MS,"hi":MS,"win":[{"lo","hi","after","by_id","last_id",
 * "total","seen"}]}.  Returns a malloc'd string or NULL. */
char *hs_cursor_encode(const struct hs_cursor *c);

/* Reads a cursor; 0, or -1 with a message (*c then zeroed). */
int hs_cursor_decode(const char *s, size_t len, struct hs_cursor *c,
    char *err, size_t errlen);

/*
 * Splits the first window, whose total is over HS_SEARCH_CAP: in halves
 * by time ([lo, mid] and [mid + 1, hi]) while lo < hi, else into the
 * hs_object_id keyset of that one millisecond.  Returns 0, or -1 when
 * HS_WINDOWS_MAX windows are already pending.
 */
int hs_cursor_split(struct hs_cursor *c);

/*
 * Splits the first window as hs_cursor_split() does, using what its probe
 * page showed (sorted ascending, n results of a page of limit): nothing
 * lies before first, the earliest lastmodifieddate on it, so the window
 * starts there; and when the page is full and its last result shares
 * first's millisecond, that millisecond becomes a window of its own
 * ([first, first] and [first + 1, hi]) at once, where halving would take
 * a probe per level (about 20 for a 5-minute window) to isolate a bulk
 * import.  first/last 0 (unknown) just halve.  Returns 0, or -1 when
 * HS_WINDOWS_MAX windows are already pending (nothing changed then).
 */
int hs_cursor_split_probe(struct hs_cursor *c, int64_t first, int64_t last,
    bool full);

/* Removes the first window (read to its end) and moves wm up to its hi. */
void hs_cursor_pop(struct hs_cursor *c);

/* ---- Lifecycle and statuses -------------------------------------------- */

/*
 * Rank of a HubSpot lifecyclestage value: subscriber 1, lead 2,
 * marketingqualifiedlead 3, salesqualifiedlead 4, opportunity 5, customer
 * 6, evangelist 7; 0 for "" or NULL; -1 for others ("other", custom
 * stage ids), which are never overwritten.
 */
int hs_lifecycle_rank(const char *stage);

/*
 * The value to send so a contact at `current` moves to `want`, or NULL
 * when that would not be a forward move (never send a backward value).
 */
const char *hs_lifecycle_forward(const char *current, const char *want);

/* What one feedback.* type sets on a contact (strings static). */
struct hs_feedback_map {
	const char *lifecycle;          /* forward-only target, or NULL */
	const char *lead_status;        /* hs_lead_status default, or NULL */
	const char *stage;              /* baton_stage */
};

/*
 * Rank of a baton_stage value for forward-only writes: mql 1, sal 2, sql
 * 3, opportunity 4, customer 5; 0 for the explicit moves back (rejected,
 * recycled, lost), for "" and NULL and for anything else.
 */
int hs_baton_stage_rank(const char *stage);

/* The mapping of a feedback type ("feedback.sql"); NULL when unknown. */
const struct hs_feedback_map *hs_feedback_map(const char *type);

/*
 * The canonical lead status of an hs_lead_status value: `status.<VALUE>`
 * of map when present (compared case-insensitively), else NEW OPEN ->
 * open; IN_PROGRESS ATTEMPTED_TO_CONTACT CONNECTED -> working; OPEN_DEAL
 * -> qualified; UNQUALIFIED BAD_TIMING -> unqualified.  NULL when unknown.
 */
const char *hs_status_map(const struct conf_map *map, const char *value);

/* ---- Property mapping -------------------------------------------------- */

/* canonical field -> HubSpot property, defaults then map.* entries. */
struct hs_map {
	struct {
		char *field;            /* "first_name", "custom.plan" */
		char *prop;             /* "firstname" */
	} *v;
	size_t n;
};

/*
 * Builds the mapping from the defaults and map entries (map.<canonical> =
 * <property>: replaces a default's property or adds a field).  Returns 0,
 * or -1 with a message naming the bad entry (a field that is not
 * canonical or custom.*, a property name that is not [a-z0-9_]).
 */
int hs_map_build(struct hs_map *m, const struct conf_map *entries,
    char *err, size_t errlen);
void hs_map_clear(struct hs_map *m);

/* Whether s is a property internal name (a letter, then [a-z0-9_]). */
bool hs_prop_name_ok(const char *s);

/*
 * A company size as a number: "250" is 250, and a range of an option list
 * such as numemployees' is its lower bound ("100-500" is 100, "1000+" is
 * 1000), so rules can compare company_size >= 200.  Returns true with
 * *out set, or false for anything else ("", "lots", "500-100", "-5").
 */
bool hs_company_size(const char *s, long long *out);

/*
 * The numemployees option (HubSpot's enumeration 1-5 5-25 25-50 50-100
 * 100-500 500-1000 1000+) a size of n falls in: the one with the highest
 * lower bound at most n (500 is "500-1000"), so hs_company_size() of the
 * option gives back a bound <= n.  NULL for n < 1.
 */
const char *hs_numemployees_option(long long n);

/*
 * The lead.upserted data of a contact's properties: each mapped field
 * that has a non-empty value (company_size as a number when
 * hs_company_size() reads one; custom.* under "custom"), plus "id" = the
 * contact id.  Returns a new object or NULL when out of memory.
 */
json_t *hs_contact_data(const struct hs_map *m, const json_t *props,
    const char *id);

/* A form submission or marketing email engagement a contact shows. */
#define HS_ACTIVITIES_MAX 3
struct hs_activity {
	const char *activity;           /* form_submit, email_open,
	                                 * email_click (static) */
	int64_t at;                     /* when, ms */
	json_t *data;                   /* lead.activity data (a new
	                                 * reference, the caller's) */
};

/*
 * The activities HubSpot rolled up on a contact's properties:
 * recent_conversion_date/_event_name as form_submit {form: the form's
 * name (before ": "), conversion: the whole name}, and
 * hs_email_last_open_date / _click_date with hs_email_last_email_name as
 * email_open / email_click {email_name}.  Only those that happened within
 * window_ms of modified_ms (the contact's lastmodifieddate; 0: any) are
 * returned, so a later unrelated change does not repeat an old one.
 * Fills out[0..HS_ACTIVITIES_MAX-1]; returns how many.
 */
size_t hs_contact_activities(const json_t *props, int64_t modified_ms,
    int64_t window_ms, struct hs_activity *out);

/*
 * The contact properties of a handoff snapshot's attributes (data.attrs):
 * each mapped field present, email excluded (it is the key); a size sent
 * to numemployees becomes its option (hs_numemployees_option).  Returns a
 * new object or NULL.
 */
json_t *hs_contact_props(const struct hs_map *m, const json_t *attrs);

/* ---- The echo record --------------------------------------------------- */

/*
 * A bounded, in-memory record of (object id, property, value) the
 * connector wrote, each kept for ttl_ms.  A change that matches one is
 * this connector's own write coming back.  Oldest entries are evicted
 * first when full.
 */
struct hs_echo_entry {
	char id[HS_ID_MAX + 1];
	char prop[HS_NAME_MAX + 1];
	char *value;                    /* owned */
	int64_t at;
};

struct hs_echo {
	struct hs_echo_entry *v;        /* ring of cap entries */
	size_t cap, head, n;            /* head: the oldest */
	int64_t ttl_ms;
};

/* Returns 0 or -1 (out of memory). */
int hs_echo_init(struct hs_echo *e, size_t cap, int64_t ttl_ms);
void hs_echo_clear(struct hs_echo *e);

/* Records a write.  Returns 0 or -1 (out of memory: not recorded). */
int hs_echo_add(struct hs_echo *e, const char *id, const char *prop,
    const char *value, int64_t now_ms);

/* Whether (id, prop, value) was written within ttl of now_ms (a NULL
 * value matches a written ""). */
bool hs_echo_match(const struct hs_echo *e, const char *id,
    const char *prop, const char *value, int64_t now_ms);

/* The latest value recorded for (id, prop) within ttl, or NULL (the
 * connector's id -> email memory uses a record with a long ttl). */
const char *hs_echo_value(const struct hs_echo *e, const char *id,
    const char *prop, int64_t now_ms);

/*
 * For a poll, which sees a whole contact and not one change: whether the
 * contact id, last modified at modified_ms, was last modified by this
 * connector.  True when a write to id was recorded within slack_ms of
 * modified_ms and, for every property written to id, the latest value
 * written equals the contact's current one in props.
 */
bool hs_echo_poll_match(const struct hs_echo *e, const char *id,
    const json_t *props, int64_t modified_ms, int64_t slack_ms,
    int64_t now_ms);

#endif
