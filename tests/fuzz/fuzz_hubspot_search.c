/*
 * fuzz_hubspot_search.c - libFuzzer target for CRM search pages
 * (hs_result_parse with search) and the one-deal answer (hs_deal_parse).
 *
 * A parsed page has a non-negative total and an `after` that fits the
 * cursor; a deal an id.
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
	struct hs_deal d;
	char err[256];

	if (hs_result_parse((const char *)data, size, true, &r, err,
	    sizeof(err)) == 0) {
		if (r.total < 0 || strlen(r.after) >= sizeof(r.after))
			abort();
		hs_result_clear(&r);
	}
	if (hs_deal_parse((const char *)data, size, &d, err,
	    sizeof(err)) == 0 && d.id[0] == '\0')
		abort();
	return 0;
}
