/*
 * fuzz_salesforce_cursor.c - libFuzzer target for the Salesforce poll
 * cursor (sf_cursor_decode, sf_cursor_encode), the record of Leads seen
 * it carries (sf_seen_decode, sf_cursor_encode_seen) and the SOQL built
 * from it (sf_soql_window).
 *
 * The cursor comes from Redis, where anyone with access may have written
 * it: a decoded cursor must hold only valid ids (they are quoted into
 * SOQL) and must encode back to a string that decodes to the same
 * cursor.  A decoded record of Leads seen must encode back, within its
 * bound, to one that decodes again and agrees on every Lead kept.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../connectors/salesforce/sf_proto.h"

static void
check_seen(const char *s, const struct sf_cursor *c)
{
	struct sf_seen seen, back;
	char err[256], *enc;
	const char *id;
	json_t *v;

	if (sf_seen_decode(s, &seen, err, sizeof(err)) == -1) {
		if (seen.leads != NULL || err[0] == '\0')
			abort();
		return;
	}
	if ((enc = sf_cursor_encode_seen(c, &seen, 8)) == NULL)
		abort();
	if (sf_seen_decode(enc, &back, err, sizeof(err)) != 0 ||
	    back.since != seen.since || json_object_size(back.leads) > 8)
		abort();
	json_object_foreach(back.leads, id, v) {
		uint32_t a, b;

		if (!sf_id_valid(id) || !sf_seen_get(&seen, id, &a) ||
		    !sf_seen_get(&back, id, &b) || a != b)
			abort();
	}
	sf_seen_clear(&back);
	sf_seen_clear(&seen);
	free(enc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sf_cursor c, back;
	char err[256], *s, *enc, *q;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (sf_cursor_decode(s, &c, err, sizeof(err)) == 0) {
		if ((c.lead.id[0] != '\0' && !sf_id_valid(c.lead.id)) ||
		    (c.opp.id[0] != '\0' && !sf_id_valid(c.opp.id)))
			abort();
		if ((enc = sf_cursor_encode(&c)) == NULL)
			abort();
		if (sf_cursor_decode(enc, &back, err, sizeof(err)) != 0 ||
		    memcmp(&back, &c, sizeof(c)) != 0)
			abort();
		check_seen(s, &c);
		q = sf_soql_window("Id", "Lead", c.lead.ts, c.lead.id,
		    c.lead.ts + 1000);
		if (q == NULL)
			abort();
		free(q);
		free(enc);
	}
	free(s);
	return 0;
}
