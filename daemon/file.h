/*
 * file.h - reading a whole configuration-sized file, safely: batond.conf
 * and its includes, rules.conf, and the file: and credential: values.
 */
#ifndef BATON_FILE_H
#define BATON_FILE_H

#include <stddef.h>
#include <sys/stat.h>

/*
 * Reads the regular file at path whole, refusing one larger than max
 * bytes, without blocking on a FIFO or becoming a terminal's owner.
 * Returns a malloc'd buffer NUL-terminated after its *len bytes (a NUL
 * inside is the caller's to judge), with the file's stat in *st when st
 * is not NULL; or NULL with the reason in err: "cannot open: <errno>",
 * "not a regular file", "file too large (N bytes; the limit is 8 MiB)",
 * "cannot read: <errno>", "out of memory".
 */
char *file_read(const char *path, size_t max, size_t *len, struct stat *st,
    char *err, size_t errlen);

#endif
