/*
 * hs_push.h - what hs_push.c (contacts) and hs_deals.c (deals) share of
 * one delivery batch, private to connectors/hubspot/.  A batch's items
 * are folded into one group per lead; a group's items get one result.
 */
#ifndef BATON_HS_PUSH_H
#define BATON_HS_PUSH_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "hs_int.h"

struct hs_group {
	const char *key;                /* the lead key (borrowed from b) */
	json_t *props;                  /* properties to write */
	const char *want;               /* lifecycle target, or NULL */
	char current[64];               /* lifecyclestage read */
	const char *stage;              /* baton_stage folded over the items
	                                 * (static), or NULL */
	bool stage_reset;               /* an explicit move back among them */
	char cur_stage[64];             /* baton_stage read */
	char id[HS_ID_MAX + 1];         /* contact id, "" when unknown */
	bool done;
	/* Deals (role sales with `deals`): */
	bool written;                   /* contact upserted, deal to do */
	json_t *deal_props;             /* a new deal's properties */
	json_t *deal_update;            /* an open deal's, or NULL */
	char latest[HS_ID_MAX + 1];     /* newest associated deal, "" */
	char deal[HS_ID_MAX + 1];       /* that deal if open, else "" */
};

struct hs_push {
	struct hs_ctx *ctx;
	struct delivery_batch *b;
	size_t n;
	size_t *group_of;               /* per item; SIZE_MAX: not pushed */
	struct hs_group *g;
	size_t ng;
	size_t prop_next;               /* baton_* property being created */
	int pending;                    /* calls out */
	bool deals;                     /* handoffs make deals too */
};

/* Sets the result of every item of group gi (id: the contact's, stored
 * as ids.<NAME> when OK) and marks the group done. */
void hs_push_group_result(struct hs_push *p, size_t gi,
    enum connector_result rc, int64_t retry_after_ms, const char *id,
    const char *msg);

/* Completes the batch: groups not done get rc; frees p. */
void hs_push_finish(struct hs_push *p, enum connector_result rc,
    int64_t retry_after_ms, const char *msg);

/* Notes each string property written to object id in the echo record. */
void hs_push_note_written(struct hs_ctx *ctx, const char *id,
    const json_t *props);

/*
 * The deals of the groups whose contact was written (hs_deals.c): each
 * contact's newest associated deal, if open, is updated; otherwise a deal
 * associated to the contact is created.  Sets those groups' results and
 * completes the batch with hs_push_finish().
 */
void hs_deals_push(struct hs_push *p);

#endif
