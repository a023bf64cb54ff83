/*
 * connector_load.h - for connector unit tests: builds one connector
 * instance from configuration text, as batond would, and checks the
 * FILE:LINE messages a bad section produces.  Include after cmocka.h.
 */
#ifndef BATON_TEST_CONNECTOR_LOAD_H
#define BATON_TEST_CONNECTOR_LOAD_H

#include <string.h>

#include "connectors.h"
#include "diag.h"
#include "ini.h"

struct event_base;

struct loaded {
	struct ini_doc *doc;
	struct connector_instance *ci;  /* NULL when the section failed */
	struct diag d;                  /* the problems */
};

/* Loads the first [connector NAME] section of text (file "test.conf")
 * on base (NULL: as under --check). */
static inline void
load_on(struct loaded *l, const char *text, struct event_base *base)
{
	struct ini_section *sec;

	memset(l, 0, sizeof(*l));
	l->doc = ini_parse_buffer("test.conf", text, strlen(text), &l->d);
	assert_non_null(l->doc);
	assert_int_equal(diag_count(&l->d), 0);
	for (sec = l->doc->sections; sec != NULL; sec = sec->next)
		if (strcmp(sec->kind, "connector") == 0)
			break;
	assert_non_null(sec);
	l->ci = connector_instance_new(sec, base, &l->d);
}

static inline void
load(struct loaded *l, const char *text)
{
	load_on(l, text, NULL);
}

static inline void
unload(struct loaded *l)
{
	connector_instance_free(l->ci);
	ini_free(l->doc);
	diag_clear(&l->d);
}

/* Expects text to fail to load with exactly the messages in want
 * (NULL-terminated), in order. */
static inline void
expect_conf_errors(const char *text, const char *const *want)
{
	struct loaded l;
	size_t n = 0;

	load(&l, text);
	assert_null(l.ci);
	for (; want[n] != NULL; n++) {
		if (n >= l.d.n)
			fail_msg("missing message: %s", want[n]);
		assert_string_equal(l.d.msgs[n], want[n]);
	}
	if (l.d.n != n)
		fail_msg("unexpected message: %s", l.d.msgs[n]);
	unload(&l);
}

#endif
