/*
 * ctl.h - what batonctl's verbs share: the default configuration path,
 * reading the [redis] section alone, and the verbs' entry points.
 *
 * Each verb takes its own argv (argv[0] is the verb's name), parses its
 * options, and returns the process exit status: 0 success, 1 a runtime
 * failure (configuration, Redis), 2 a usage error.
 */
#ifndef BATON_CTL_H
#define BATON_CTL_H

#include "config.h"

#define CTL_DEFAULT_CONFIG "/etc/baton/batond.conf"

/*
 * Reads only the [redis] section of the configuration at path (its
 * defaults when the section is absent), so that a verb that needs Redis
 * does not need every connector's secrets.  Prints every problem as
 * FILE:LINE: message to stderr.  Returns 0 with rc filled (release it
 * with ctl_redis_conf_release), or -1.
 */
int ctl_redis_conf(const char *path, struct redis_conf *rc);
void ctl_redis_conf_release(struct redis_conf *rc);

/* batonctl tail [STREAM...] [-f] [--lead EMAIL] [--type GLOB]
 * [--since DUR|ID] [-n N] [--json] */
int ctl_tail(const char *config_path, int argc, char **argv);

#endif
