/*
 * lead.h - one lead's state and what an event does to it, as pure
 * functions: no Redis, no clock, no I/O.
 *
 * The rules worker (rules_worker.c) reads the lead's hash, turns it into a
 * struct lead with lead_from_fields(), calls lead_apply_event() (or
 * lead_apply_breach() for an SLA that ran out), and commits the resulting
 * struct lead_effects to Redis in one atomic script.  Tests drive the same
 * functions with hand-made events and times.
 *
 * Redis layout this state maps to (PREFIX is [redis] prefix):
 *   PREFIX:lead:<key>           hash, the fields listed for struct lead
 *   PREFIX:lead:<key>:history   list, newest first, capped at
 *                               LEAD_HISTORY_MAX JSON entries: every score
 *                               change, stage change, handoff, feedback and
 *                               SLA breach with why (rule file:line, event)
 *   PREFIX:sla                  sorted set, member "<sla>|<key>|<episode>",
 *                               score the deadline in ms
 *   PREFIX:decisions            lead.scored, lead.stage, sla.breached
 *   PREFIX:handoffs             handoff.mql, sla.breached (on_breach notify)
 *   PREFIX:feedback             feedback.accepted rejected sql opportunity
 *                               won lost recycled
 * Derived stream entries use the flat schema of the events stream with
 * source "rules" and an id made from the causing event's stream entry id
 * ("<entry id>/<n>"), so a replayed commit would repeat the same ids.
 * Their data (the contract batonctl lead and stats read):
 *   lead.stage       {"from": "lead"|null for a new lead, "to": "mql",
 *                     "why": "score >= 60 and fit >= 15 (rules.conf:10)"
 *                     or "sales.status working" ..., "reason": sales
 *                     reason or "sla"/"lost" when recycled, "event": the
 *                     causing entry id, "episode": n}
 *   lead.scored      {"old": 35, "new": 75, "fit": 35, "engagement": 40,
 *                     "contributions": [{"rule": "+40 on form_submit ...",
 *                     "file": "rules.conf", "line": 5, "points": 40,
 *                     "kind": "engagement"}], "event": entry id}
 *   handoff.mql      {"episode": n, "score", "fit", "engagement",
 *                     "attrs": {...}, "ids": {...}, "owner": ...,
 *                     "reasons": ["+20 if title ~ ... (rules.conf:2)"]}
 *   feedback.*       {"episode": n, "status": sales status, "reason",
 *                     "owner", "stage": deal stage, "amount", "currency",
 *                     "score": the lead's score now in whole points,
 *                     "mql_at": ms of the
 *                     episode's handoff, "event"}
 *   sla.breached     {"sla": "accept", "episode": n, "after": "mql",
 *                     "within_ms": ..., "deadline": ms, "on_breach":
 *                     ["notify", "recycle"]}
 * A history line is the same entry as one JSON object {"stream",
 * "type", "id", "at", "data"}.
 *
 * Lifecycle (SPEC): subscriber < lead < mql < sal < sql < opportunity <
 * customer, forward only; besides them `recycled` (back to nurture with
 * the sales reason; engagement restarts from 0 and the lead may qualify
 * again, a new MQL episode) and `disqualified` (final).  How each stage is
 * reached:
 *   subscriber   a new lead's first stage
 *   lead         [stage lead] when it is defined, else as soon as the lead
 *                has any fit or engagement (fit != 0 or engagement > 0)
 *   mql          [stage mql]
 *   sal          sales accepted: a lead.status other than open (working,
 *                qualified, converted), unless [stage sal] says otherwise
 *   sql          [stage sql]
 *   opportunity  a deal.stage event whose outcome is open or absent, unless
 *                [stage opportunity] says otherwise
 *   customer     a deal.stage event with outcome won, unless [stage
 *                customer] says otherwise
 *   recycled     lead.status unqualified (feedback.rejected and
 *                feedback.recycled, reason = the sales reason), a deal lost
 *                (feedback.lost, then recycled with reason "lost"), or an
 *                SLA breach with on_breach recycle (reason "sla")
 *   disqualified [stage disqualified] when it holds (for instance
 *                sales.reason ~ "spam|competitor")
 *
 * Decisions the list above leaves open (lead.c and lead_apply.c):
 *   - The hash also gets `score` (fit + engagement as of engagement_at),
 *     derived and ignored by lead_from_fields(), for readers of the hash.
 *   - Acceptance is a lead.status of working, qualified or converted on a
 *     lead at mql or beyond in its current episode whose accepted_at is
 *     unset; it writes feedback.accepted and removes the timers of every
 *     [sla] whose `after` is mql.  unqualified is a rejection, not an
 *     acceptance: feedback.rejected, then recycled (or disqualified when
 *     that holds); it is not applied to a customer or a lead already
 *     recycled or disqualified.  Without [stage sal], sal is reached by an
 *     accepted lead only, so sales working a lead never handed off moves
 *     nothing (qualified still reaches sql by [stage sql]).
 *   - converted counts as acceptance only: the opportunity comes with its
 *     deal.stage event, so no opportunity is counted twice.
 *   - feedback.opportunity / won / lost are written when a deal.stage
 *     event changes the deal's stage or outcome (absent = open), not for
 *     an amount-only update.  A lost deal recycles the lead and ends the
 *     episode's sales state: deal.* and sales.status/reason are removed,
 *     so `deal.stage != ""` or `sales.status == "qualified"` cannot move
 *     the recycled lead straight back to sql.  customer is never recycled.
 *   - feedback.sql is written whenever a move reaches sql or beyond from
 *     below sql (a deal that jumps mql -> opportunity is also an SQL).
 *   - Forward moves: the highest stage above the current one that is
 *     reached, in one lead.stage entry (a lead may skip stages; one
 *     skipping mql gets no handoff).  A recycled lead moves forward as if
 *     it were at `lead` but keeps `recycled` until it moves; the event that
 *     recycles moves nothing further.  Leaving a stage removes the timers
 *     of the SLAs that run after it; entering one adds them.
 *   - Scoring: lead.scored is written when this event changes the score
 *     beyond what decay alone did: old is the previous score decayed to
 *     the evaluation time.  Contributions of the current score: fit ones
 *     replaced on every event (a rule that keeps holding keeps its event
 *     and time), engagement ones appended, only the last
 *     LEAD_CONTRIBS_ENGAGEMENT_MAX kept (the score itself is fit +
 *     engagement, whatever the list holds).  A recycle resets engagement
 *     to 0, clears caps and engagement contributions.
 *   - Decay and order: engagement is stored as a value at engagement_at.
 *     An event at t >= engagement_at decays it to t and adds its points;
 *     a late event (t < engagement_at) adds its points decayed from t to
 *     engagement_at.  Either way engagement at any time T is the sum of
 *     points_i * keep^((T - t_i) / period), so arrival order does not
 *     change the total (caps aside, which look at earlier awards only).
 *   - Attributes: company_size is a JSON number when its text is a number
 *     ([+-]digits[.digits]), every other attribute a string; null, object
 *     and array values of an upsert are ignored (never clear a field);
 *     email defaults to the lead key.
 *   - Calls: fx must be zeroed before its first use (every call clears
 *     it first).  A -1 for a malformed event or argument leaves l as it
 *     was; a -1 for lack of memory may leave l partly updated (re-read the
 *     hash).
 *   - Range: fit and engagement beyond +-LEAD_POINTS_MAX, times outside
 *     [0, year 10000) and episodes beyond LEAD_POINTS_MAX are refused by
 *     lead_from_fields() and clamped or refused by the apply functions, so
 *     every value written reads back.
 */
#ifndef BATON_LEAD_H
#define BATON_LEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <baton/event.h>

#include "rules.h"

#define LEAD_HISTORY_MAX 500
/* Engagement contributions kept in [contribs] (the newest). */
#define LEAD_CONTRIBS_ENGAGEMENT_MAX 50
/* Largest magnitude of fit, engagement and mql_episode. */
#define LEAD_POINTS_MAX 1e15
/* Times are ms in [0, LEAD_TIME_END): 10000-01-01T00:00:00Z. */
#define LEAD_TIME_END INT64_C(253402300800000)

/* Stages beyond the forward ladder of enum rules_stage. */
#define LEAD_STAGE_RECYCLED     (RULES_NSTAGES + 0)
#define LEAD_STAGE_DISQUALIFIED (RULES_NSTAGES + 1)
#define LEAD_NSTAGES            (RULES_NSTAGES + 2)

/* "subscriber" … "customer", "recycled", "disqualified"; NULL otherwise. */
const char *lead_stage_name(int stage);
/* The stage of that name, or -1. */
int lead_stage_parse(const char *name);

/*
 * A lead's state.  Hash field names are given in brackets; every field is
 * optional in the hash (a new lead has none).
 */
struct lead {
	char key[EVENT_LEAD_MAX + 1];   /* the lead key (not in the hash) */
	long long seq;                  /* [seq] last applied event sequence */
	long long ver;                  /* [ver] bumped by every commit */
	json_t *attrs;                  /* [email first_name ... custom.*]
	                                   canonical attributes, strings or
	                                   numbers (owned object) */
	json_t *ids;                    /* [ids.<source>] system ids (owned) */
	double fit;                     /* [fit] */
	double engagement;              /* [engagement] as of engagement_at */
	int64_t engagement_at;          /* [engagement_at] ms */
	int stage;                      /* [stage] a LEAD_STAGE / rules_stage,
	                                   -1 for a lead not seen before */
	int64_t stage_at;               /* [stage_at] */
	char *stage_reason;             /* [stage_reason] owned, may be NULL */
	json_t *sales;                  /* [sales.status sales.reason
	                                   sales.owner] (owned object) */
	json_t *deal;                   /* [deal.stage deal.amount
	                                   deal.currency deal.outcome] */
	long long mql_episode;          /* [mql_episode] MQLs so far */
	int64_t created_at;             /* [created_at] */
	int64_t upserted_at;            /* [upserted_at] latest upsert's at */
	int64_t handoff_at;             /* [handoff_at] last handoff.mql */
	int64_t accepted_at;            /* [accepted_at] */
	json_t *caps;                   /* [caps] {"<rule index>": [[at_ms,
	                                   points], ...]} awards inside their
	                                   rule's window (owned) */
	json_t *contribs;               /* [contribs] the current score's
	                                   contributions: [{"rule": "...",
	                                   "file": "rules.conf", "line": 2,
	                                   "points": 20, "event": "...",
	                                   "at": ms, "kind": "fit"|
	                                   "engagement"}] (owned) */
};

/* A lead that does not exist yet (stage -1); key copied.  0 or -1. */
int lead_init(struct lead *l, const char *key);

/*
 * Fills l from a hash's field/value pairs (as HGETALL returns them;
 * n pairs).  Unknown fields are ignored; a malformed number or JSON is
 * reported in err and the call fails (-1) rather than guessing.
 */
int lead_from_fields(struct lead *l, const char *key,
    const char *const *fields, const char *const *values, size_t n,
    char *err, size_t errlen);

void lead_clear(struct lead *l);

/* The values of every slot of r for this lead (and, for `where`, the
 * activity's attributes in `activity`, may be NULL), into vals (r->nslots
 * entries).  Strings are borrowed from l and activity. */
void lead_slot_values(const struct rules *r, const struct lead *l,
    const json_t *activity, struct rules_value *vals);

/* One derived stream entry. */
struct lead_entry {
	const char *stream;             /* "decisions", "handoffs", "feedback" */
	char *type;                     /* "lead.scored" ... (owned) */
	char *id;                       /* "<entry id>/<n>" (owned) */
	int64_t at_ms;
	json_t *data;                   /* (owned) */
	char *lead;                     /* the entry's lead field when it is
	                                   not the lead's key (owned; NULL:
	                                   the key) */
	char *data_text;                /* data as compact JSON with sorted
	                                   keys, the text the history line
	                                   holds (owned) */
};

/* What applying an event or a breach does, for the worker to commit. */
struct lead_effects {
	/* The new hash: every field that changed (HSET), and fields to
	 * remove (HDEL).  Values are strings. */
	char **set_fields, **set_values;        /* owned, nset each */
	size_t nset;
	char **del_fields;
	size_t ndel;
	struct lead_entry *entries;             /* owned, nentries */
	size_t nentries;
	char **history;                         /* JSON texts, oldest first */
	size_t nhistory;
	/* SLA timers: members to add with their deadlines, and to remove. */
	char **sla_add;
	int64_t *sla_add_at;
	size_t nsla_add;
	char **sla_del;
	size_t nsla_del;
	bool changed;                           /* anything at all to write */
	/* Identity changes (lead.merged, lead.forget). */
	char *alias_from;                       /* PREFIX:alias:<it> = this
	                                           lead; its hash gets
	                                           merged_into (owned) */
	bool erase;                             /* the hash, its history and
	                                           its SLA timers go, after
	                                           the entries are written */
};

void lead_effects_clear(struct lead_effects *fx);

/*
 * Applies one event to l (which becomes the new state) and records what
 * to write in fx (cleared first).  entry_id is the event's stream entry
 * id (ids of derived entries are made from it); now_ms is the time the
 * worker applies it (decay runs to max(ev->at_ms, engagement_at)).
 * What it does, by type:
 *   lead.upserted  attributes merged (an older upsert than upserted_at
 *                  only fills absent fields), ids.<source> kept when the
 *                  data has "id"; fit recomputed
 *   lead.activity  engagement rules matched, caps applied, points added
 *                  (decayed to the event's time: a late event adds its
 *                  points decayed to engagement_at, so order does not
 *                  change the total)
 *   lead.status    sales.* updated; acceptance (status not open) writes
 *                  feedback.accepted once per episode and clears the
 *                  episode's SLA timers; qualified -> feedback.sql when
 *                  [stage sql] holds; unqualified -> feedback.rejected,
 *                  feedback.recycled and stage recycled
 *   deal.stage     deal.* updated; feedback.opportunity, won ->
 *                  feedback.won (customer), lost -> feedback.lost and
 *                  recycled
 *   lead.merged    lead.merged {from, source, event} to decisions; the
 *                  commit makes data.from an alias of this lead (what
 *                  the intake writes for it from then on is this lead's)
 *                  and marks its hash merged_into; nothing else changes
 *                  (its score and history stay with it)
 *   lead.forget    only lead.forgotten {reason, source, event} to
 *                  decisions, whose lead field is "sha256:<hex of the
 *                  key>" (no personal data), and fx->erase: the commit
 *                  deletes the hash, the history and the SLA timers
 * then score = fit + engagement; a changed score writes lead.scored
 * {old, new, fit, engagement, contributions: [...this event's]}; stages
 * are re-evaluated (forward only) and each change writes lead.stage
 * {from, to, why}; entering mql starts a new episode, writes handoff.mql
 * {lead snapshot: attrs, ids, score, fit, engagement, stage, episode,
 * reasons: ["+20 title ~ \"vp\" (rules.conf:2)", ...]} and adds the SLA
 * timers of every [sla] whose `after` is mql.  Every entry is mirrored as
 * a history line.  seq and ver are not touched (the worker owns them).
 * Returns 0, or -1 with a message in err (the event is malformed for its
 * type; the worker then acknowledges it with a decision entry saying so).
 */
int lead_apply_event(const struct rules *r, struct rules_eval *ev,
    struct lead *l, const struct baton_event *event, const char *entry_id,
    int64_t now_ms, struct lead_effects *fx, char *err, size_t errlen);

/*
 * An SLA timer ran out: writes sla.breached to decisions (and to handoffs
 * when on_breach has notify), and with recycle moves the lead to recycled
 * with reason "sla".  A timer whose episode is not the lead's current one,
 * or whose stage was left already in the way the SLA asks (accepted), does
 * nothing (fx->changed false).  timer_id names the timer for entry ids.
 */
int lead_apply_breach(const struct rules *r, struct rules_eval *ev,
    struct lead *l, const struct rules_sla *sla, long long episode,
    const char *timer_id, int64_t now_ms, struct lead_effects *fx,
    char *err, size_t errlen);

/* ---- The hash as a whole ------------------------------------------------- */

/* A lead's hash fields, sorted by name (owned strings). */
struct lead_fields {
	char **fields, **values;
	size_t n;
};

/*
 * Every hash field of l (except seq and ver, which the worker owns),
 * sorted by name: what lead_from_fields() reads back into an equal lead.
 * Returns 0, or -1 when out of memory (out cleared).  Free with
 * lead_fields_clear(), which accepts a zeroed or half-built struct.
 */
int lead_to_fields(const struct lead *l, struct lead_fields *out);
void lead_fields_clear(struct lead_fields *f);


/* ---- Internal: shared by lead.c and lead_apply.c ---------------------- */

/* x as a JSON integer when it is whole and within 2^53, else a real
 * (-0 becomes 0).  New reference, NULL when out of memory. */
json_t *lead_json_number(double x);
/* The text a JSON string, number or boolean is stored as in the hash
 * (malloc'd), or NULL for other values (or out of memory). */
char *lead_scalar_text(const json_t *v);
/* Whether name is an attribute field: a canonical attribute or
 * custom.NAME with a non-empty NAME. */
bool lead_attr_field(const char *name);
/* The value attribute field takes for text, as lead_from_fields() reads
 * it (company_size numeric: a number; else a string).  New reference, NULL
 * when text is not UTF-8 or out of memory. */
json_t *lead_attr_value(const char *field, const char *text);
/* lead_to_fields(), leaving out caps and contribs unless with_json (the
 * apply functions compare those as JSON and print them only when they
 * changed). */
int lead_fields_build(const struct lead *l, struct lead_fields *out,
    bool with_json);

#endif
