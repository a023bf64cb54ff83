/*
 * webhook_proto.h - the generic webhook's payload side, private to
 * connectors/webhook/: the signature check and the mapping of a JSON body
 * to canonical events.  Nothing here knows about the intake, the HTTP
 * request or the configuration files, so unit tests and fuzz targets call
 * it directly.
 */
#ifndef BATON_WEBHOOK_PROTO_H
#define BATON_WEBHOOK_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <baton/event.h>

#define WEBHOOK_SIGNATURE_HEADER "X-Baton-Signature"

/* Results of webhook_map_body() and webhook_map_json(). */
#define WEBHOOK_MAP_OK    0
#define WEBHOOK_MAP_BAD   (-1)  /* malformed body or event: err, for a 400 */
#define WEBHOOK_MAP_EMIT  (-2)  /* the emit callback refused an event */

struct webhook_map;

/* Receives each mapped event and owns it from then on, on every path.
 * Returns 0, or -1 to stop the mapping (WEBHOOK_MAP_EMIT). */
typedef int (*webhook_emit_fn)(void *arg, struct baton_event *ev);

/*
 * Checks an X-Baton-Signature header value ("sha256=" then 64 hex digits
 * of either case; the scheme name is case-insensitive) against the
 * HMAC-SHA256 of body under the prepared key, comparing in constant
 * time.  header
 * NULL means the header is absent.  Returns 0, or -1 with the reason in
 * err (meant for the log; the client only learns that it failed).
 */
struct digest_hmac;

int webhook_signature_check(const struct digest_hmac *key,
    const unsigned char *body, size_t len, const char *header, char *err,
    size_t errlen);

/* ---- Building a mapping (at configuration load) ------------------------ */

/* An empty mapping, or NULL when out of memory. */
struct webhook_map *webhook_map_new(void);

/* Frees m and its compiled paths; NULL is a no-op. */
void webhook_map_free(struct webhook_map *m);

/* The fixed type of every event (`event =`).  Returns 0, or -1 with a
 * message in err when the type is not one of the intake types. */
int webhook_map_set_event(struct webhook_map *m, const char *type,
    char *err, size_t errlen);

/* The path of the array of events (`items =`); "." means the body is
 * that array.  Returns 0, or -1 with the path's error in err. */
int webhook_map_set_items(struct webhook_map *m, const char *path,
    char *err, size_t errlen);

/*
 * Adds `map.<field> = path`: field is type, email, id, at, a canonical
 * attribute (first_name last_name title company company_size industry
 * country phone activity form url status reason owner stage amount
 * currency outcome) or custom.<name> (name: letters, digits, '_', '-').
 * Returns 0, or -1 with a message in err (unknown field, listing the
 * known ones; a path that does not compile; a field mapped twice).
 */
int webhook_map_add(struct webhook_map *m, const char *field,
    const char *path, char *err, size_t errlen);

/*
 * Checks the mapping as a whole: exactly one of `event` and map.type;
 * map.email present; a fixed type's required attribute mapped
 * (lead.activity: activity, lead.status: status, deal.stage: stage).
 * Returns 0, or -1 with a message in err and in *key the configuration
 * key it concerns ("event", "map.type"), or NULL for the section.
 */
int webhook_map_check(const struct webhook_map *m, const char **key,
    char *err, size_t errlen);

/* ---- Mapping a body (per request) -------------------------------------- */

/*
 * Parses body as JSON and maps it (webhook_map_json).  Duplicate keys,
 * bad UTF-8, NUL characters and nesting deeper than jansson's limit are
 * refused as malformed.
 */
int webhook_map_body(const struct webhook_map *m, const unsigned char *body,
    size_t len, int64_t received_ms, webhook_emit_fn emit, void *arg,
    char *err, size_t errlen);

/*
 * Maps a parsed body: without items the body is one event object; with
 * items the path must yield an array of event objects.  Each event is
 * built, validated and handed to emit in order.  Stops at the first bad
 * event with WEBHOOK_MAP_BAD and "event N: what" in err (N counts from 0
 * in the items array), or at the first refusal of emit with
 * WEBHOOK_MAP_EMIT; events already emitted are the caller's to discard.
 * Returns WEBHOOK_MAP_OK when every event was emitted.
 */
int webhook_map_json(const struct webhook_map *m, json_t *root,
    int64_t received_ms, webhook_emit_fn emit, void *arg, char *err,
    size_t errlen);

/*
 * Builds one event from one event object (index only labels messages).
 * Returns the validated event (caller owns it), or NULL with
 * "event N: what" in err.
 */
struct baton_event *webhook_map_event(const struct webhook_map *m,
    json_t *item, size_t index, int64_t received_ms, char *err,
    size_t errlen);

#endif
