/*
 * fuzz_hubspot_webhook.c - libFuzzer target for the HubSpot webhook body
 * parser (hs_events_parse).
 *
 * A parsed body holds 1..100 events, each with an object and an action,
 * a positive objectId, and for a merge 1..100 merged ids; a refused body
 * leaves nothing behind.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../connectors/hubspot/hs_proto.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hs_events e;
	char err[256];

	if (hs_events_parse((const char *)data, size, &e, err,
	    sizeof(err)) == -1) {
		if (e.v != NULL || e.n != 0 || err[0] == '\0')
			abort();
		return 0;
	}
	if (e.n == 0 || e.n > HS_EVENTS_MAX)
		abort();
	for (size_t i = 0; i < e.n; i++) {
		const struct hs_event *v = &e.v[i];

		if (v->object[0] == '\0' || v->action[0] == '\0' ||
		    v->object_id < 1)
			abort();
		if (strcmp(v->action, "merge") == 0 && (v->nmerged == 0 ||
		    v->nmerged > HS_BATCH_MAX || v->primary_id < 1))
			abort();
	}
	hs_events_clear(&e);
	return 0;
}
