/*
 * ini.h - reads batond's INI files (SPEC "Configuration", a contract) into a
 * document of sections and entries that remember their FILE:LINE.
 *
 * Syntax: `[kind]` or `[kind name]`; `key = value`; whole-line `#` or `;`
 * comments; blank lines; an optional pair of double quotes around a value
 * (inside them \" and \\ are the only escapes).  A key may repeat; whether
 * that is allowed is the key table's business (conf_apply), not this
 * parser's.  `include = GLOB` inside [daemon] of any loaded file pulls in
 * the matching files (sorted; a relative glob is relative to the including
 * file's directory; a glob without wildcards must match a file; cycles and
 * depth beyond 8 are errors) as if their sections followed.
 */
#ifndef BATON_INI_H
#define BATON_INI_H

#include <stdbool.h>
#include <sys/types.h>

#include "diag.h"

struct ini_entry {
	char *key;
	char *value;                    /* unquoted */
	const char *file;               /* owned by the document */
	int line;
	bool quoted;                    /* the value had double quotes */
	struct ini_entry *next;
};

struct ini_section {
	char *kind;                     /* "daemon", "connector", "score" */
	char *name;                     /* "website"; NULL for [kind] */
	const char *file;
	int line;
	mode_t file_mode;               /* st_mode of the file it came from */
	struct ini_entry *entries;      /* in file order */
	struct ini_section *next;
};

struct ini_doc {
	struct ini_section *sections;   /* in load order */
	char **files;                   /* every file read, owned */
	size_t nfiles;
};

/*
 * Loads path and its includes.  Every syntax problem goes to d as
 * "FILE:LINE: message".  Returns a document (even with problems, so that
 * more of them can be found) or NULL when path itself cannot be read
 * (reported to d).  The caller frees it with ini_free().
 */
struct ini_doc *ini_load(const char *path, struct diag *d);

/* Parses a document from memory (no includes are followed); name is used
 * in messages.  For tests and fuzzing.  Returns NULL only when out of
 * memory. */
struct ini_doc *ini_parse_buffer(const char *name, const char *buf,
    size_t len, struct diag *d);

/* The first section of that kind and name (name NULL: an unnamed one). */
struct ini_section *ini_find(const struct ini_doc *doc, const char *kind,
    const char *name);

void ini_free(struct ini_doc *doc);

#endif
