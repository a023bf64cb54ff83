/*
 * fuzz_salesforce_cursor.c - libFuzzer target for the Salesforce poll
 * cursor (sf_cursor_decode, sf_cursor_encode) and the SOQL built from it
 * (sf_soql_window).
 *
 * The cursor comes from Redis, where anyone with access may have written
 * it: a decoded cursor must hold only valid ids (they are quoted into
 * SOQL) and must encode back to a string that decodes to the same
 * cursor.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../connectors/salesforce/sf_proto.h"

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
