/*
 * event.h - the canonical lead event, as every connector produces it and as
 * it is written, flat, to the PREFIX:events stream (SPEC "Canonical events
 * and streams", a contract).
 *
 * A stream entry has the fields v (schema version "1"), type, lead, source,
 * id, at and data.  struct baton_event is that entry before it is written:
 * the intake fills `source` from the connector's name; a connector fills the
 * rest.  data is one JSON object whose top-level keys are the canonical
 * attributes of the type (custom attributes under data.custom).
 *
 * Functions are prefixed baton_event_ because libevent already owns
 * event_new() and event_free().
 */
#ifndef BATON_EVENT_H
#define BATON_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define EVENT_SCHEMA_VERSION "1"

/* Types written by intake. */
#define EVENT_LEAD_UPSERTED "lead.upserted"
#define EVENT_LEAD_ACTIVITY "lead.activity"
#define EVENT_LEAD_STATUS   "lead.status"
#define EVENT_DEAL_STAGE    "deal.stage"
/*
 * Identity changes a source reports.  lead.merged: the source merged the
 * record of data.from (another lead key) into this lead's; what arrives
 * for data.from from now on belongs to this lead.  lead.forget: the
 * person asked to be forgotten (a privacy deletion): the lead's state is
 * erased, and only the fact that it happened is kept, without personal
 * data; data.reason says why ("privacy").
 */
#define EVENT_LEAD_MERGED   "lead.merged"
#define EVENT_LEAD_FORGET   "lead.forget"

#define EVENT_LEAD_MAX 254      /* longest lead key (an email address) */

/*
 * A source that knows a lead only by its own record id (a deleted record
 * whose email it can no longer read) names it "ref:<id>" in the event's
 * lead: the intake writes the event for the lead whose ids.<source> is
 * <id> (the key PREFIX:ref:<source>:<id>, kept wherever ids.* are set)
 * and drops it, as a duplicate is dropped, when no lead has that id.
 * <id> is 1..EVENT_REF_MAX bytes of [A-Za-z0-9._-].
 */
#define EVENT_LEAD_REF "ref:"
#define EVENT_REF_MAX 64
#define EVENT_ID_MAX   256      /* longest source event id */

struct baton_event {
	char *type;             /* one of EVENT_* above (owned) */
	char *lead;             /* lead key: trimmed, lower-cased email (owned) */
	char *source;           /* connector name; set by the intake (owned) */
	char *id;               /* the source's event id, the dedupe key (owned) */
	int64_t at_ms;          /* when it happened, ms since the epoch */
	json_t *data;           /* a JSON object (one reference owned) */
};

/*
 * Builds an event.  Strings are copied; `data` is stolen (its reference
 * passes to the event, even on failure; NULL means an empty object).
 * source may be NULL (the intake sets it).  Returns NULL only when out of
 * memory.
 */
struct baton_event *baton_event_new(const char *type, const char *lead,
    const char *id, int64_t at_ms, json_t *data);

/* Frees an event and everything it owns; NULL is a no-op. */
void baton_event_free(struct baton_event *ev);

/* Sets ev->source to a copy of source.  Returns 0 or -1 (out of memory). */
int baton_event_set_source(struct baton_event *ev, const char *source);

/*
 * Turns an email address into the lead key: surrounding white space
 * trimmed, lower-cased.  Writes a NUL-terminated key into out (at least
 * EVENT_LEAD_MAX + 1 bytes).  Returns 0, or -1 with a reason in err when
 * the address is empty, too long, has no single '@' between a non-empty
 * local part and a domain with a dot, or holds spaces or control bytes.
 */
int baton_event_lead_key(const char *email, char *out, size_t outlen, char *err,
    size_t errlen);

/* The <id> of a lead given as "ref:<id>" (see EVENT_LEAD_REF), or NULL
 * when lead is not one (an email lead key, or a malformed ref). */
const char *baton_event_lead_ref(const char *lead);

/* Returns 1 when type is one of the intake types above, else 0. */
int baton_event_type_known(const char *type);

/*
 * Checks that an event is complete and its data matches its type
 * (lead.activity has a token `activity`; lead.status a `status` among
 * open working qualified unqualified converted; deal.stage a `stage` and,
 * when present, an `outcome` among open won lost and a numeric `amount`).
 * Returns 0, or -1 with a message naming the offending field in err.
 */
int baton_event_validate(const struct baton_event *ev, char *err, size_t errlen);

/*
 * Serializes data as compact JSON with sorted keys, the form written to
 * the stream.  Returns a malloc'd string (caller frees) or NULL.
 */
char *baton_event_data_json(const struct baton_event *ev);

#endif
