/*
 * fuzz_config.c - libFuzzer target for the configuration reader: the
 * input is parsed as an INI file from memory (ini_parse_buffer, so no
 * include is followed), the [daemon] and [redis] key tables are applied
 * to every section, as config_load would to the right ones, and every
 * [connector NAME] section is built into a real connector instance (its
 * key table, its init: the webhook connector compiles its map paths), so
 * that value parsers, suggestions, duplicate checks and connector
 * configuration all see hostile input.  Everything is freed on every run;
 * problems are collected and dropped.
 *
 * Values written file:/... or credential:... would make conf_apply read a
 * file; CREDENTIALS_DIRECTORY is unset at start so credential: fails
 * early, and file: only ever opens with O_NONBLOCK and reads at most
 * 64 KiB of a regular file.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "config.h"
#include "connectors.h"
#include "diag.h"
#include "ini.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	unsetenv("CREDENTIALS_DIRECTORY");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct conf_key *dtables[] = { daemon_conf_keys, NULL };
	const struct conf_key *rtables[] = { redis_conf_keys, NULL };
	struct diag d = { 0 };
	struct ini_doc *doc;

	doc = ini_parse_buffer("fuzz.conf", (const char *)data, size, &d);
	if (doc == NULL)
		return 0;
	for (struct ini_section *s = doc->sections; s != NULL; s = s->next) {
		struct daemon_conf dc = { 0 };
		struct redis_conf rc = { 0 };

		conf_apply(s, dtables, &dc, NULL, &d);
		conf_release(daemon_conf_keys, &dc);
		conf_apply(s, rtables, &rc, NULL, &d);
		conf_release(redis_conf_keys, &rc);
		if (s->kind != NULL && s->name != NULL &&
		    strcmp(s->kind, "connector") == 0)
			connector_instance_free(connector_instance_new(s, NULL,
			    &d));
	}
	(void)conf_entry(doc->sections, "include");
	(void)ini_find(doc, "daemon", NULL);
	ini_free(doc);
	diag_clear(&d);
	return 0;
}
