/*
 * fuzz_hubspot_error.c - libFuzzer target for HubSpot error bodies
 * (hs_error_parse) and the 429 wait they imply (hs_429_wait_ms).
 *
 * The message never holds control characters (it goes to log lines and
 * the DLQ), and the wait is 0, 1 s or 10 s.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../connectors/hubspot/hs_proto.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hs_error e;
	int64_t w;

	(void)hs_error_parse((const char *)data, size, &e);
	for (const char *p = e.message; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20)
			abort();
	w = hs_429_wait_ms(&e);
	if (w != 0 && w != 1000 && w != 10000)
		abort();
	return 0;
}
