/*
 * file.c - file_read(): one careful way to read a small file whole, shared
 * by the INI reader, the rules loader and secret values.
 */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* "8 MiB", "64 KiB" or "100 bytes". */
static void
format_limit(size_t max, char *buf, size_t len)
{
	if (max >= 1024 * 1024 && max % (1024 * 1024) == 0)
		snprintf(buf, len, "%zu MiB", max / (1024 * 1024));
	else if (max >= 1024 && max % 1024 == 0)
		snprintf(buf, len, "%zu KiB", max / 1024);
	else
		snprintf(buf, len, "%zu bytes", max);
}

char *
file_read(const char *path, size_t max, size_t *len, struct stat *st,
    char *err, size_t errlen)
{
	struct stat sb;
	char *buf = NULL, lim[32];
	size_t got = 0;
	ssize_t n;
	int fd;

	if (st == NULL)
		st = &sb;
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd == -1) {
		snprintf(err, errlen, "cannot open: %s", strerror(errno));
		return NULL;
	}
	if (fstat(fd, st) == -1) {
		snprintf(err, errlen, "cannot stat: %s", strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "not a regular file");
		goto fail;
	}
	if (st->st_size < 0 || (unsigned long long)st->st_size > max) {
		format_limit(max, lim, sizeof(lim));
		snprintf(err, errlen, "file too large (%lld bytes; the limit "
		    "is %s)", (long long)st->st_size, lim);
		goto fail;
	}
	if ((buf = malloc((size_t)st->st_size + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	while (got < (size_t)st->st_size) {
		n = read(fd, buf + got, (size_t)st->st_size - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "cannot read: %s",
			    strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;  /* shrank while reading: take what is there */
		got += (size_t)n;
	}
	buf[got] = '\0';
	*len = got;
	close(fd);
	return buf;
fail:
	free(buf);
	close(fd);
	return NULL;
}
