/*
 * fuzz_hubspot_batch.c - libFuzzer target for HubSpot batch answers
 * (hs_result_parse without search: batch read, upsert and update, with
 * their 207 per-item errors) and the per-item error lookup.
 *
 * Every parsed object has an id of 1..20 digits.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../connectors/hubspot/hs_proto.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hs_result r;
	char err[256];

	if (hs_result_parse((const char *)data, size, false, &r, err,
	    sizeof(err)) == -1) {
		if (r.root != NULL || r.v != NULL || r.errors != NULL)
			abort();
		return 0;
	}
	for (size_t i = 0; i < r.n; i++) {
		size_t n = strlen(r.v[i].id);

		if (n == 0 || n > HS_ID_MAX ||
		    strspn(r.v[i].id, "0123456789") != n)
			abort();
		(void)json_string_value(json_object_get(r.v[i].props,
		    "email"));
	}
	for (size_t i = 0; i < r.nerrors; i++)
		(void)hs_item_error_has(&r.errors[i], "a@example.com");
	hs_result_clear(&r);
	return 0;
}
