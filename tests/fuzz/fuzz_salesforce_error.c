/*
 * fuzz_salesforce_error.c - libFuzzer target for the parsers of what a
 * failed call and every answer's headers carry: the error body
 * (sf_error_parse, REST array or OAuth object) and Sforce-Limit-Info
 * (sf_limit_info_parse, on the input as a C string).
 *
 * Messages must be one line (they go to logs and DLQ entries): no control
 * characters.  A parsed limit has max > 0 and used >= 0.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../connectors/salesforce/sf_proto.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char code[64], msg[512], *s;
	long long used, max;

	(void)sf_error_parse((const char *)data, size, code, sizeof(code), msg,
	    sizeof(msg));
	for (const char *p = msg; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20)
			abort();
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (sf_limit_info_parse(s, &used, &max) == 0 && (max <= 0 || used < 0))
		abort();
	free(s);
	return 0;
}
