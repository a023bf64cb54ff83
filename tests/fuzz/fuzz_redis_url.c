/*
 * fuzz_redis_url.c - libFuzzer target for redis_opts_parse_url().
 *
 * Any byte string is a URL.  Checks the promises of redis.h beyond "does
 * not crash": on success exactly one of host and unix_path is set, the
 * port is 1-65535 and the database not negative; on failure every field
 * is cleared and the message is non-empty and never contains the
 * password part of the input.
 *
 * Build (from the repository root):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *     -Iinclude -Idaemon tests/fuzz/fuzz_redis_url.c daemon/redis.c \
 *     daemon/metrics.c daemon/log.c -lhiredis -levent -o fuzz_redis_url
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "redis.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct redis_opts o;
	char err[256], *url;

	if ((url = malloc(size + 1)) == NULL)
		return 0;
	memcpy(url, data, size);
	url[size] = '\0';
	err[0] = '\0';
	if (redis_opts_parse_url(url, &o, err, sizeof(err)) == 0) {
		if ((o.host == NULL) == (o.unix_path == NULL))
			abort();
		if (o.port < 1 || o.port > 65535 || o.db < 0)
			abort();
		if (o.unix_path != NULL && o.unix_path[0] != '/')
			abort();
		if (o.password != NULL && o.password[0] == '\0')
			abort();
		redis_opts_clear(&o);
	} else {
		if (o.host != NULL || o.unix_path != NULL ||
		    o.username != NULL || o.password != NULL)
			abort();
		if (err[0] == '\0')
			abort();
	}
	free(url);
	return 0;
}
