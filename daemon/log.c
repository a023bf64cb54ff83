/*
 * log.c - the logging vocabulary of log.h: one line per call on stderr.
 *
 * Under systemd (JOURNAL_STREAM set and matching stderr) each line starts
 * with "<N>" so journald records the priority; on a terminal the level is
 * spelled out instead.  A line is written with a single write(2) so lines
 * from concurrent processes do not interleave.
 */
#include <baton/log.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static int log_level = LOG_LEVEL_INFO;
static int log_plain = -1;              /* -1: decide on first use */
static const char *log_ident = "batond";

static const char *const level_names[] = {
	[LOG_LEVEL_ERR] = "err", [LOG_LEVEL_WARNING] = "warning",
	[LOG_LEVEL_NOTICE] = "notice", [LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

void
log_set_level(int level)
{
	log_level = level;
}

int
log_get_level(void)
{
	return log_level;
}

int
log_level_parse(const char *name)
{
	for (int i = LOG_LEVEL_ERR; i <= LOG_LEVEL_DEBUG; i++)
		if (strcasecmp(name, level_names[i]) == 0)
			return i;
	if (strcasecmp(name, "error") == 0)
		return LOG_LEVEL_ERR;
	if (strcasecmp(name, "warn") == 0)
		return LOG_LEVEL_WARNING;
	return -1;
}

void
log_set_ident(const char *ident)
{
	log_ident = ident;
}

void
log_set_plain(int plain)
{
	log_plain = plain;
}

/* True when stderr is the journal stream systemd handed us. */
static int
stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long dev, ino;
	struct stat st;

	if (js == NULL || sscanf(js, "%lu:%lu", &dev, &ino) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) == -1)
		return 0;
	return st.st_dev == (dev_t)dev && st.st_ino == (ino_t)ino;
}

void
log_vmsg(int level, const char *fmt, va_list ap)
{
	char line[2048];
	int n, m;

	if (level > log_level)
		return;
	if (log_plain == -1)
		log_plain = !stderr_is_journal();
	if (level < LOG_LEVEL_ERR)
		level = LOG_LEVEL_ERR;
	if (level > LOG_LEVEL_DEBUG)
		level = LOG_LEVEL_DEBUG;
	if (log_plain)
		n = snprintf(line, sizeof(line), "%s[%d]: %s: ",
		    log_ident, (int)getpid(), level_names[level]);
	else
		n = snprintf(line, sizeof(line), "<%d>", level);
	m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	n += m;
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* Nothing useful can be done when stderr is gone. */
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

void
log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

/* Appends ": strerror(errno)" to a message. */
static void log_with_errno(int level, int saved, const char *fmt, va_list ap)
    BATON_PRINTF(3, 0);

static void
log_with_errno(int level, int saved, const char *fmt, va_list ap)
{
	char buf[1536];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	log_msg(level, "%s: %s", buf, strerror(saved));
}

#define LOG_FN(fn, level)                                              \
	void fn(const char *fmt, ...)                                  \
	{                                                              \
		va_list ap;                                            \
		va_start(ap, fmt);                                     \
		log_vmsg(level, fmt, ap);                              \
		va_end(ap);                                            \
	}
#define LOG_FN_ERRNO(fn, level)                                        \
	void fn(const char *fmt, ...)                                  \
	{                                                              \
		int saved = errno;                                     \
		va_list ap;                                            \
		va_start(ap, fmt);                                     \
		log_with_errno(level, saved, fmt, ap);                 \
		va_end(ap);                                            \
	}

LOG_FN_ERRNO(log_err, LOG_LEVEL_ERR)
LOG_FN(log_errx, LOG_LEVEL_ERR)
LOG_FN_ERRNO(log_warn, LOG_LEVEL_WARNING)
LOG_FN(log_warnx, LOG_LEVEL_WARNING)
LOG_FN(log_notice, LOG_LEVEL_NOTICE)
LOG_FN(log_info, LOG_LEVEL_INFO)
LOG_FN(log_debug, LOG_LEVEL_DEBUG)

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_with_errno(LOG_LEVEL_ERR, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}
