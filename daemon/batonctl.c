/*
 * batonctl.c - the operator CLI's entry point: global options, the verb
 * table, `check`, and reading the [redis] section for verbs that talk to
 * Redis.
 *
 *   batonctl [-c FILE] VERB [ARGS...]
 *
 * batonctl reads Redis directly with the same configuration file as
 * batond (default /etc/baton/batond.conf).  Exit status: 0 success, 1 a
 * runtime failure, 2 a usage error.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <baton/log.h>

#include "conf.h"
#include "config.h"
#include "ctl.h"
#include "diag.h"
#include "ini.h"
#include "metrics.h"

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: batonctl [-c FILE] VERB [ARGS...]\n"
	    "\n"
	    "verbs:\n"
	    "  tail [STREAM...] [-f] [--lead EMAIL] [--type GLOB]\n"
	    "       [--since DUR|ID] [-n N] [--json]\n"
	    "                     print stream entries, merged in ID order;\n"
	    "                     STREAM: events decisions handoffs feedback "
	    "dlq\n"
	    "                     (default: all five)\n"
	    "  lead EMAIL [--json]\n"
	    "                     one lead: stage, score and why, ids, "
	    "history\n"
	    "  stats [--since DUR] [--json]\n"
	    "                     the funnel since DUR (default 30d): "
	    "counts,\n"
	    "                     conversion rates, MQL to acceptance, "
	    "SLA breaches\n"
	    "  dlq list [--connector NAME] [-n N] [--json]\n"
	    "  dlq replay [--connector NAME] [ID...]\n"
	    "  dlq drop ID...\n"
	    "                     the entries deliveries gave up on: list "
	    "them,\n"
	    "                     send them again to the connector that "
	    "failed,\n"
	    "                     or delete them\n"
	    "  refs               write PREFIX:ref:* for every lead's ids "
	    "(once, after\n"
	    "                     upgrading from a version without them)\n"
	    "  check              check the configuration; print each problem "
	    "as\n"
	    "                     FILE:LINE: message and exit 1\n"
	    "\n"
	    "options:\n"
	    "  -c, --config FILE  configuration file (default %s)\n"
	    "  -V, --version      print the version\n"
	    "  -h, --help         print this help\n", CTL_DEFAULT_CONFIG);
}

/* ---- the [redis] section alone --------------------------------------- */

int
ctl_redis_conf(const char *path, struct redis_conf *rc)
{
	const struct conf_key *tables[] = { redis_conf_keys, NULL };
	struct ini_section empty, *sec;
	struct diag d = { 0 };
	struct ini_doc *doc;
	int ret = 0;

	memset(rc, 0, sizeof(*rc));
	if ((doc = ini_load(path, &d)) == NULL || diag_count(&d) > 0) {
		diag_print(&d, stderr);
		if (diag_count(&d) == 0)
			fprintf(stderr, "%s: cannot be read\n", path);
		diag_clear(&d);
		ini_free(doc);
		return -1;
	}
	if ((sec = ini_find(doc, "redis", NULL)) == NULL) {
		memset(&empty, 0, sizeof(empty));
		empty.kind = "redis";
		empty.file = path;
		sec = &empty;
	}
	if (conf_apply(sec, tables, rc, NULL, &d) == -1 ||
	    diag_count(&d) > 0) {
		diag_print(&d, stderr);
		ctl_redis_conf_release(rc);
		ret = -1;
	}
	diag_clear(&d);
	ini_free(doc);
	return ret;
}

void
ctl_redis_conf_release(struct redis_conf *rc)
{
	conf_release(redis_conf_keys, rc);
}

/* ---- check ------------------------------------------------------------ */

/* batonctl check [-c FILE]: loads everything batond would, without a
 * loop; prints every problem and exits 1, or exits 0 silently. */
static int
ctl_check(const char *path, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct diag d = { 0 };
	struct config *conf;
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'h':
			printf("usage: batonctl check [-c FILE]\n");
			return 0;
		default:
			fprintf(stderr, "usage: batonctl check [-c FILE]\n");
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "batonctl check: unexpected argument '%s'\n"
		    "usage: batonctl check [-c FILE]\n", argv[optind]);
		return 2;
	}
	conf = config_load(path, NULL, &d);
	if (conf == NULL || diag_count(&d) > 0) {
		diag_print(&d, stderr);
		if (diag_count(&d) == 0)
			fprintf(stderr, "%s: cannot be loaded\n", path);
		diag_clear(&d);
		config_unref(conf);
		return 1;
	}
	config_unref(conf);
	diag_clear(&d);
	return 0;
}

/* ---- main ------------------------------------------------------------- */

static const struct {
	const char *name;
	int (*fn)(const char *path, int argc, char **argv);
} verbs[] = {
	{ "tail", ctl_tail },
	{ "lead", ctl_lead },
	{ "stats", ctl_stats },
	{ "dlq", ctl_dlq },
	{ "refs", ctl_refs },
	{ "check", ctl_check },
	{ NULL, NULL },
};

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = CTL_DEFAULT_CONFIG;
	int ch, rc;

	log_set_ident("batonctl");
	log_set_plain(1);
	log_set_level(LOG_LEVEL_WARNING);
	/* A closed pipe is seen as a write error, not a signal. */
	signal(SIGPIPE, SIG_IGN);

	/* '+': stop at the verb; its options are its own. */
	while ((ch = getopt_long(argc, argv, "+c:hV", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'V':
			printf("batonctl %s\n", BATON_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind == argc) {
		fprintf(stderr, "batonctl: missing verb\n");
		usage(stderr);
		return 2;
	}
	for (size_t i = 0; verbs[i].name != NULL; i++) {
		if (strcmp(argv[optind], verbs[i].name) != 0)
			continue;
		rc = verbs[i].fn(path, argc - optind, argv + optind);
		metrics_free_all();
		return rc;
	}
	fprintf(stderr, "batonctl: unknown verb '%s'\n", argv[optind]);
	usage(stderr);
	return 2;
}
