/*
 * redis_server.h - a private, real redis-server for unit tests that need
 * Redis (nothing is mocked): started on a unix socket in the caller's
 * directory (and on a TCP port when port is set), with a synchronous
 * client for setup and assertions.  The binary is $REDIS_SERVER or
 * redis-server on PATH.
 */
#ifndef BATON_TEST_REDIS_SERVER_H
#define BATON_TEST_REDIS_SERVER_H

#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

struct test_redis {
	char dir[64];           /* the caller's directory */
	char sock[128];         /* unix socket path */
	int port;               /* 0: no TCP */
	pid_t pid;
};

/* A command on a fresh synchronous connection; NULL when unreachable.
 * The caller frees the reply. */
static redisReply *
test_redis_cmd(struct test_redis *s, const char *fmt, ...)
{
	struct timeval tv = { 5, 0 };
	redisContext *c;
	redisReply *reply;
	va_list ap;

	c = redisConnectUnixWithTimeout(s->sock, tv);
	if (c == NULL || c->err) {
		if (c != NULL)
			redisFree(c);
		return NULL;
	}
	va_start(ap, fmt);
	reply = redisvCommand(c, fmt, ap);
	va_end(ap);
	redisFree(c);
	return reply;
}

static int
test_redis_ping(struct test_redis *s)
{
	redisReply *r = test_redis_cmd(s, "PING");
	int ok = r != NULL && r->type == REDIS_REPLY_STATUS &&
	    strcmp(r->str, "PONG") == 0;

	if (r != NULL)
		freeReplyObject(r);
	return ok;
}

/* Starts redis-server (no persistence) and waits until it answers. */
static void
test_redis_start(struct test_redis *s)
{
	const char *bin = getenv("REDIS_SERVER");
	char port[16];
	int status;

	if (bin == NULL || *bin == '\0')
		bin = "redis-server";
	snprintf(port, sizeof(port), "%d", s->port);
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid == 0) {
		int fd = open("/dev/null", O_RDWR);

		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execlp(bin, bin, "--port", port, "--bind", "127.0.0.1",
		    "--unixsocket", s->sock, "--save", "", "--appendonly",
		    "no", "--dir", s->dir, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		if (test_redis_ping(s))
			return;
		if (waitpid(s->pid, &status, WNOHANG) == s->pid)
			fail_msg("redis-server exited (status %d); is it "
			    "installed or $REDIS_SERVER set?", status);
		usleep(10000);
	}
	fail_msg("redis-server did not answer within 5 s");
}

/* Stops it with sig and reaps it; a no-op when not running. */
static void
test_redis_stop(struct test_redis *s, int sig)
{
	if (s->pid <= 0)
		return;
	kill(s->pid, sig);
	waitpid(s->pid, NULL, 0);
	s->pid = 0;
}

#endif
