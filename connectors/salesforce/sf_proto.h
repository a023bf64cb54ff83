/*
 * sf_proto.h - the Salesforce connector's pure side, private to
 * connectors/salesforce/: building the requests it sends (the OAuth2 token
 * form, sObject Collections bodies, SOQL) and parsing what Salesforce
 * answers (token responses, error bodies, query pages, collection results,
 * Sforce-Limit-Info) plus the connector's own poll cursor and its record
 * of the Leads the poll has seen.  Nothing here does I/O or knows about
 * the core, so unit tests and fuzz targets call it directly.  Every
 * parser takes a length (bodies are not trusted to be NUL-terminated) and
 * fails with a message naming what is wrong.
 */
#ifndef BATON_SF_PROTO_H
#define BATON_SF_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <baton/conf.h>

#define SF_COLLECTION_MAX 200   /* records in one sObject Collections call */
#define SF_ID_MAX         18    /* characters of a record id */
#define SF_MSG_MAX        512   /* a per-record error message */

/* ---- OAuth2 ------------------------------------------------------------ */

/* What a token response gives the connector (all owned strings). */
struct sf_token {
	char *access_token;
	char *instance_url;             /* without a trailing '/' */
	char *user_id;                  /* last path segment of `id` */
};

/*
 * The application/x-www-form-urlencoded body of a token request: the
 * refresh_token grant when refresh_token is non-NULL, else
 * client_credentials.  Returns a malloc'd string (it holds secrets: the
 * caller never logs it) or NULL when out of memory.
 */
char *sf_token_form(const char *client_id, const char *client_secret,
    const char *refresh_token);

/*
 * Parses a 200 token response.  access_token, instance_url (http or
 * https) and id (a URL whose last segment is the user id) are required.
 * On success fills *t (release with sf_token_clear) and returns 0; else
 * -1 with a message naming the missing or bad field in err.
 */
int sf_token_parse(const char *body, size_t len, struct sf_token *t,
    char *err, size_t errlen);

/* Frees what *t holds and zeroes it; NULL is a no-op. */
void sf_token_clear(struct sf_token *t);

/* ---- Errors and limits ------------------------------------------------- */

/*
 * Reads a Salesforce error body: the REST form, an array of {errorCode,
 * message, fields}, or the OAuth form {error, error_description}.  Writes
 * the first error's code into code and "message (field, ...)" into msg.
 * Returns 0, or -1 when the body is not one of these forms (code and msg
 * are then "" and a short description of the body).
 */
int sf_error_parse(const char *body, size_t len, char *code, size_t codelen,
    char *msg, size_t msglen);

/*
 * Parses a Sforce-Limit-Info header value ("api-usage=51/100000", possibly
 * followed or preceded by other comma-separated entries such as
 * "per-app-api-usage=2/250(appName=x)").  Returns 0 with *used and *max
 * set (max > 0), or -1.
 */
int sf_limit_info_parse(const char *value, long long *used, long long *max);

/*
 * Parses an api_budget value: "80%" or "80", a whole number of percent in
 * 1..100.  Returns 0 or -1 with a message.
 */
int sf_budget_parse(const char *s, int *pct, char *err, size_t errlen);

/* ---- Pushing leads ----------------------------------------------------- */

/* How a handoff snapshot becomes a Lead record (strings borrowed). */
struct sf_lead_opts {
	const char *lead_source;        /* LeadSource on create; NULL: none */
	const char *description_field;  /* e.g. "Description" */
	const char *score_field;        /* e.g. "Baton_Score__c"; NULL: none */
	const char *owner;              /* OwnerId on create; NULL: none */
	const char *placeholder_last_name;
	const char *placeholder_company;
	const char *match;              /* "Email" or an external id field */
};

/*
 * The text of the description field: the score with its parts and the
 * reasons the lead qualified, one per line.  data is the handoff.mql
 * event's data.  Returns a malloc'd string or NULL when out of memory.
 */
char *sf_description(const json_t *data);

/*
 * Maps a handoff.mql snapshot (data: attrs, score, fit, engagement,
 * reasons, ...) to the fields of one Lead record, without `attributes`.
 * key is the lead key (the email): it fills Email and, when o->match is
 * an external id field, that field.  With create, missing required fields
 * get the placeholders and LeadSource/OwnerId are set; without it (an
 * update of an existing Lead) absent values are simply not sent.  Text is
 * cut to each standard field's length.  Returns a new object, or NULL
 * with a message in err.
 */
json_t *sf_lead_fields(const json_t *data, const char *key,
    const struct sf_lead_opts *o, bool create, char *err, size_t errlen);

/*
 * A sObject Collections request body {"allOrNone": false, "records": [...]}
 * from n Lead field objects (borrowed; each gets attributes.type Lead, and
 * "Id" ids[i] when ids is non-NULL).  Returns a malloc'd JSON string, or
 * NULL with a message when n is 0 or over SF_COLLECTION_MAX or out of
 * memory.
 */
char *sf_collection_body(json_t *const *fields, const char *const *ids,
    size_t n, char *err, size_t errlen);

/* One record's outcome in a collections answer. */
enum sf_item_rc {
	SF_ITEM_OK = 0,
	SF_ITEM_RETRY,                  /* a transient statusCode */
	SF_ITEM_DROP,
};

struct sf_item_result {
	enum sf_item_rc rc;
	char id[SF_ID_MAX + 1];         /* the record's id, "" when none */
	bool created;                   /* upsert: a new record */
	char message[SF_MSG_MAX];       /* "STATUSCODE: message (fields)" */
};

/*
 * Parses a 200 collections answer: an array of exactly n results {id,
 * success, errors: [{statusCode, message, fields}], created}.  Fills
 * out[0..n-1].  Returns 0, or -1 with a message when the body is not such
 * an array (then nothing in out is meaningful).
 */
int sf_collection_parse(const char *body, size_t len, size_t n,
    struct sf_item_result *out, char *err, size_t errlen);

/* Whether a per-record statusCode is worth retrying (UNABLE_TO_LOCK_ROW,
 * ...). */
bool sf_status_code_transient(const char *code);

/* ---- SOQL and query pages ---------------------------------------------- */

/*
 * Formats ms as a SOQL dateTime literal in UTC: "2024-05-01T12:00:00Z",
 * with ".SSS" only when ms is not a whole second.  out has >= 32 bytes.
 */
void sf_soql_datetime(int64_t ms, char *out, size_t outlen);

/*
 * Parses a Salesforce dateTime as returned ("2024-05-01T12:00:00.000+0000")
 * or as RFC 3339.  Returns 0 or -1.
 */
int sf_datetime_parse(const char *s, int64_t *ms);

/*
 * Appends s as a SOQL string literal ('...' with \ and ' escaped, control
 * characters as \n \r \t or refused) to buf.  Returns 0, or -1 for a byte
 * SOQL cannot quote or when out of memory.
 */
struct sf_buf {
	char *p;
	size_t len, cap;
};
int sf_buf_add(struct sf_buf *b, const char *s, size_t n);
int sf_buf_printf(struct sf_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int sf_soql_quote(struct sf_buf *b, const char *s);

/*
 * The keyset query of one poll window: fields FROM sobject whose
 * (SystemModstamp, Id) is after (lo_ms, lo_id) -- with lo_id "" every
 * record at lo_ms or later -- and whose SystemModstamp is at most hi_ms,
 * in (SystemModstamp, Id) order.  Returns a malloc'd string or NULL.
 */
char *sf_soql_window(const char *fields, const char *sobject, int64_t lo_ms,
    const char *lo_id, int64_t hi_ms);

/*
 * "SELECT <select> FROM <sobject> WHERE <field> IN ('v1', ...)<tail>" for
 * values[from..] as many as fit in max_len characters of SOQL (at least
 * one).  *used gets how many were taken.  Returns a malloc'd string, or
 * NULL (a value that cannot be quoted, or out of memory).
 */
char *sf_soql_in(const char *select, const char *sobject, const char *field,
    const char *const *values, size_t n, const char *tail, size_t max_len,
    size_t *used);

/*
 * Percent-encodes s for a query string (RFC 3986 unreserved kept).
 * Returns a malloc'd string or NULL.
 */
char *sf_url_encode(const char *s);

/* One page of a query answer. */
struct sf_page {
	json_t *records;                /* the records array (one reference) */
	char *next_url;                 /* nextRecordsUrl, or NULL when done */
	bool done;
	long long total;                /* totalSize */
};

/*
 * Parses a query answer {totalSize, done, records, nextRecordsUrl}.  A
 * page with done false must have a nextRecordsUrl path starting with
 * "/services/data/".  Returns 0 (release with sf_page_clear), or -1 with
 * a message.
 */
int sf_page_parse(const char *body, size_t len, struct sf_page *pg,
    char *err, size_t errlen);
void sf_page_clear(struct sf_page *pg);

/* ---- Statuses and stages ----------------------------------------------- */

/*
 * The canonical status (open working qualified unqualified converted) of
 * a Lead: converted when is_converted, else the `status.<value>` entry of
 * map (its key's '_' standing for spaces, compared case-insensitively)
 * when one matches, else the default table (see salesforce.c).  NULL when
 * the value is unknown.
 */
const char *sf_status_map(const struct conf_map *map, const char *status,
    bool is_converted);

/* Whether s is a canonical lead status. */
bool sf_status_canonical(const char *s);

/* "won", "lost" or "open" from an Opportunity's IsWon and IsClosed. */
const char *sf_deal_outcome(bool is_won, bool is_closed);

/* ---- The poll cursor --------------------------------------------------- */

/* How far one object's changes are read. */
struct sf_mark {
	int64_t ts;                     /* SystemModstamp ms; 0: never */
	char id[SF_ID_MAX + 1];         /* last Id read at ts ("": all of ts) */
	bool more;                      /* a round stopped at its page cap:
	                                 * resume exactly after (ts, id) */
};

struct sf_cursor {
	struct sf_mark lead, opp;
};

/*
 * The cursor as a JSON string:
 * {"v":1,"Lead":{"ts":MS,"id":"...","more":false},"Opportunity":{...}}.
 * Returns a malloc'd string or NULL.
 */
char *sf_cursor_encode(const struct sf_cursor *c);

/*
 * Reads a cursor made by sf_cursor_encode.  Returns 0, or -1 with a
 * message naming the bad part (*c is then zeroed).
 */
int sf_cursor_decode(const char *s, struct sf_cursor *c, char *err,
    size_t errlen);

/* Whether s is a 15- or 18-character record id (letters and digits). */
bool sf_id_valid(const char *s);

/* ---- What the poll has seen of each Lead ------------------------------- */

/*
 * A poll sees only a record's last modifier, so when the integration user
 * updates a Lead after a rep changed it and before a poll read that
 * change, the rep's change looks like our own echo.  The poll therefore
 * keeps, for the Leads it has read, a fingerprint of what a lead.status
 * carries (Status, IsConverted, OwnerId, reason) as last read, and
 * reports a version we modified last only when that differs.  The record
 * travels in the cursor, written with the events of the round that
 * updated it, so it survives restarts and moves with the poll lease.
 *
 * It holds at most SF_SEEN_MAX Leads, the ones read most recently; since
 * says what it covers: every Lead read at a SystemModstamp >= since is in
 * it (dropping the oldest raises since past them).  So a Lead created at
 * or after since and not in it was never read at all.
 */
#define SF_SEEN_MAX 4096

struct sf_seen {
	json_t *leads;                  /* Id -> [fingerprint, ms] */
	int64_t since;                  /* ms; see above */
};

/* An empty record covering Leads read from since on.  0, or -1 when out of
 * memory. */
int sf_seen_init(struct sf_seen *s, int64_t since);

/* Frees what *s holds and zeroes it. */
void sf_seen_clear(struct sf_seen *s);

/* The fingerprint of what a lead.status would carry (NULL is ""). */
uint32_t sf_seen_fingerprint(const char *status, bool is_converted,
    const char *owner, const char *reason);

/* Whether id is in the record; then *fp is its fingerprint. */
bool sf_seen_get(const struct sf_seen *s, const char *id, uint32_t *fp);

/*
 * Records that id was read with fingerprint fp at SystemModstamp ms (an
 * older ms than the one recorded keeps the recorded one).  0, or -1 when
 * out of memory (the record is then left as it was).
 */
int sf_seen_put(struct sf_seen *s, const char *id, uint32_t fp, int64_t ms);

/*
 * Reads the record held by a cursor string made by sf_cursor_encode_seen.
 * Returns 0, or -1 with a message (*s is then empty, since 0) when the
 * cursor holds none ("cursor has no seen object") or a bad one.
 */
int sf_seen_decode(const char *cursor, struct sf_seen *s, char *err,
    size_t errlen);

/*
 * The cursor as sf_cursor_encode makes it, plus
 * "seen":{"since":MS,"Lead":[["<Id>",FINGERPRINT,MS],...]} (oldest
 * first), after dropping the oldest Leads beyond max (raising s->since).
 * Returns a malloc'd string or NULL when out of memory.
 */
char *sf_cursor_encode_seen(const struct sf_cursor *c, struct sf_seen *s,
    size_t max);

/* A Lead version whose LastModifiedById is the integration user. */
struct sf_own_version {
	bool seen;                      /* its Id is in the record */
	uint32_t seen_fp;               /* then: the fingerprint read last */
	uint32_t fp;                    /* this version's fingerprint */
	int64_t created_ms;             /* CreatedDate; -1 when unknown */
	int64_t modified_ms;            /* LastModifiedDate; -1 when unknown */
	bool created_by_us;             /* CreatedById: the integration user */
	const char *status;             /* the canonical status, or NULL */
	bool has_reason;                /* the reason field is not empty */
};

/*
 * Whether such a version carries a change by someone else that the poll
 * never read (our own write came after it) and so must be reported.  For
 * a Lead in the record: when its fingerprint differs.  For one created at
 * or after since and never read: when a rep created it, or when it is not
 * what our own create leaves (an open status, no reason) and was modified
 * after the create.  Else false: the record cannot tell (a Lead read
 * before since) and our own write is not reported.
 */
bool sf_own_version_report(const struct sf_own_version *v, int64_t since);

#endif
