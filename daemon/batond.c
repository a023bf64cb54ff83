/*
 * batond.c - the daemon's entry point: arguments, `--check`, start-up.
 *
 *   batond [-c FILE] [--check] [--version] [--help]
 *
 * batond runs in the foreground (systemd supervises it) and logs to
 * stderr.  `--check` loads the configuration and its connectors, prints
 * every problem as FILE:LINE: message and exits 1, or exits 0 silently.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <baton/log.h>

#include "config.h"
#include "diag.h"
#include "metrics.h"
#include "notify.h"
#include "runtime.h"

#define DEFAULT_CONFIG "/etc/baton/batond.conf"

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: batond [-c FILE] [--check] [--version] [--help]\n"
	    "\n"
	    "  -c, --config FILE  configuration file (default %s)\n"
	    "      --check        check the configuration, connectors and rules;\n"
	    "                     print each problem as FILE:LINE: message\n"
	    "      --version      print the version\n"
	    "      --help         print this help\n", DEFAULT_CONFIG);
}

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'n' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = DEFAULT_CONFIG;
	struct diag d = { 0 };
	struct notify_watch *watch;
	struct runtime rt;
	char status[256];
	struct config *conf;
	int ch, check = 0, rc;

	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'n':
			check = 1;
			break;
		case 'V':
			printf("batond %s\n", BATON_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "batond: unexpected argument '%s'\n",
		    argv[optind]);
		usage(stderr);
		return 2;
	}

	if (check) {
		conf = config_load(path, NULL, &d);
		if (conf == NULL) {
			diag_print(&d, stderr);
			diag_clear(&d);
			return 1;
		}
		config_unref(conf);
		return 0;
	}
	/* A NOTIFY_SOCKET batond cannot use is logged, and not fatal. */
	notify_open();
	if (runtime_init(&rt, path) == -1) {
		notify_close();
		return 1;
	}
	if ((watch = notify_watch_new(&rt)) == NULL) {
		runtime_free(&rt);
		notify_close();
		return 1;
	}
	/*
	 * Ready: the configuration is loaded and the listener bound.  Redis
	 * may still be connecting (or down): the intake then answers 503
	 * with Retry-After, /healthz says why, and STATUS= shows it, which
	 * serves better than holding up the start until Redis answers.
	 */
	notify_describe(&rt, status, sizeof(status));
	notify_ready(status);
	rc = runtime_run(&rt);
	notify_watch_free(watch);
	runtime_free(&rt);
	notify_close();
	metrics_free_all();
	log_info("stopped");
	return rc;
}
