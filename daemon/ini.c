/*
 * ini.c - the INI reader behind batond.conf and rules.conf (syntax in
 * ini.h, SPEC "Configuration").
 *
 * A file is read whole (bounded by INI_MAX_FILE), cut into lines (each
 * bounded by INI_MAX_LINE) and turned into sections and entries that keep
 * their FILE:LINE.  Every problem is reported to a struct diag and parsing
 * goes on, so that `batond --check` lists all of them at once.  After a
 * file is parsed, the `include =` entries of its [daemon] section are
 * expanded with glob(3) and the matching files are read the same way, their
 * sections appended after those of the including file.
 */
#include "ini.h"
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define INI_MAX_LINE    (64 * 1024)             /* bytes in one line */
#define INI_MAX_FILE    (8 * 1024 * 1024)       /* bytes in one file */
#define INI_MAX_DEPTH   8                       /* nested includes */

/* One file being read, on the include stack (for cycle detection). */
struct ini_open {
	dev_t dev;
	ino_t ino;
};

/* State of one ini_load() or ini_parse_buffer() call. */
struct ini_loader {
	struct ini_doc *doc;
	struct ini_section *tail;       /* last section, for appending */
	struct ini_section *cur;        /* this file's current section */
	struct ini_entry *etail;        /* last entry of cur */
	const struct ini_entry *including; /* the include being expanded */
	int skipping;                   /* after a bad header: drop entries */
	struct diag *d;
	struct ini_open stack[INI_MAX_DEPTH + 1];
	int depth;                      /* entries used in stack */
	struct ini_open *seen;          /* every file read so far */
	size_t nseen;
	int oom;                        /* an allocation failed */
};

static int ini_load_file(struct ini_loader *, const char *, int);

/* ---- Small helpers ---------------------------------------------------- */

static int
is_blank(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Characters allowed in keys and in section kinds and names. */
static int
is_word(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

/* Prints a byte for a message: itself when printable, else \xNN. */
static const char *
show_char(int c, char buf[8])
{
	if (c > 0x20 && c < 0x7f)
		snprintf(buf, 8, "%c", c);
	else if (c == ' ')
		snprintf(buf, 8, "space");
	else if (c == '\t')
		snprintf(buf, 8, "tab");
	else
		snprintf(buf, 8, "\\x%02x", (unsigned char)c);
	return buf;
}

/* Copies [s, s+n) into a new string. */
static char *
dup_range(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p == NULL)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* Adds a copy of path to doc->files; returns the copy (owned by doc). */
static const char *
doc_add_file(struct ini_doc *doc, const char *path)
{
	char **files, *copy;

	if ((copy = strdup(path)) == NULL)
		return NULL;
	files = realloc(doc->files, (doc->nfiles + 1) * sizeof(*files));
	if (files == NULL) {
		free(copy);
		return NULL;
	}
	doc->files = files;
	doc->files[doc->nfiles++] = copy;
	return copy;
}

/* ---- One line --------------------------------------------------------- */

/*
 * Parses "[kind]" or "[kind name]" in line (trimmed, starting with '[').
 * Returns the new section appended to the document, or NULL (problem
 * reported, or out of memory).
 */
static struct ini_section *
parse_section(struct ini_loader *l, const char *file, int lineno,
    mode_t mode, const char *line, size_t len)
{
	const char *p, *end, *w[2] = { NULL, NULL };
	size_t wl[2] = { 0, 0 };
	struct ini_section *sec;
	int nw = 0;
	char cb[8];

	end = memchr(line, ']', len);
	if (end == NULL) {
		diag_add(l->d, file, lineno,
		    "section header '%.*s' lacks its closing ']'",
		    (int)(len > 80 ? 80 : len), line);
		return NULL;
	}
	if (end + 1 != line + len) {
		diag_add(l->d, file, lineno,
		    "text after the section header: '%.*s'",
		    (int)(line + len - end - 1 > 80 ? 80 :
		    line + len - end - 1), end + 1);
		return NULL;
	}
	for (p = line + 1; p < end;) {
		if (is_blank(*p)) {
			p++;
			continue;
		}
		if (!is_word(*p)) {
			diag_add(l->d, file, lineno,
			    "invalid character '%s' in section header "
			    "(expected [kind] or [kind name] of letters, "
			    "digits, '_', '-', '.')", show_char(*p, cb));
			return NULL;
		}
		if (nw == 2) {
			diag_add(l->d, file, lineno,
			    "section header has more than a kind and a name: "
			    "'%.*s'", (int)(end - line + 1), line);
			return NULL;
		}
		w[nw] = p;
		while (p < end && is_word(*p))
			p++;
		wl[nw] = p - w[nw];
		nw++;
	}
	if (nw == 0) {
		diag_add(l->d, file, lineno, "empty section header '[]'");
		return NULL;
	}
	if ((sec = calloc(1, sizeof(*sec))) == NULL)
		goto oom;
	if ((sec->kind = dup_range(w[0], wl[0])) == NULL)
		goto oom;
	if (nw == 2 && (sec->name = dup_range(w[1], wl[1])) == NULL)
		goto oom;
	sec->file = file;
	sec->line = lineno;
	sec->file_mode = mode;
	if (l->tail != NULL)
		l->tail->next = sec;
	else
		l->doc->sections = sec;
	l->tail = sec;
	l->cur = sec;
	l->etail = NULL;
	return sec;
oom:
	if (sec != NULL) {
		free(sec->kind);
		free(sec->name);
		free(sec);
	}
	l->oom = 1;
	return NULL;
}

/*
 * Reads a value that starts with '"'.  When its closing quote (\" and \\
 * skipped) ends the value, the value is one quoted string: it is unquoted,
 * \" and \\ being the only escapes, and *quoted is set.  When text
 * follows the closing quote, the quotes are part of the value (a rule
 * such as `when = "mql" <= stage`) and it is kept as written.  Returns
 * the new string, or NULL (problem reported, or out of memory).
 */
static char *
unquote(struct ini_loader *l, const char *file, int lineno, const char *v,
    size_t len, bool *quoted)
{
	char *out, *o;
	size_t i, close;
	char cb[8];

	*quoted = false;
	for (close = 1; close < len && v[close] != '"'; close++)
		if (v[close] == '\\' && close + 1 < len)
			close++;
	if (close >= len) {
		diag_add(l->d, file, lineno,
		    "unterminated quoted value (no closing '\"')");
		return NULL;
	}
	if (close + 1 != len) {
		if ((out = dup_range(v, len)) == NULL)
			l->oom = 1;
		return out;
	}
	if ((out = malloc(len)) == NULL) {
		l->oom = 1;
		return NULL;
	}
	o = out;
	for (i = 1; i < close; i++) {
		if (v[i] == '\\') {
			if (v[i + 1] == '"' || v[i + 1] == '\\') {
				*o++ = v[++i];
				continue;
			}
			diag_add(l->d, file, lineno,
			    "invalid escape '\\%s' in quoted value (only \\\" "
			    "and \\\\ are escapes)", show_char(v[i + 1], cb));
			free(out);
			return NULL;
		}
		*o++ = v[i];
	}
	*o = '\0';
	*quoted = true;
	return out;
}

/* Parses "key = value" (line trimmed, not a section or comment). */
static void
parse_entry(struct ini_loader *l, const char *file, int lineno,
    const char *line, size_t len)
{
	const char *eq, *k, *v;
	size_t kl, vl, i;
	struct ini_entry *e = NULL;
	char cb[8];

	eq = memchr(line, '=', len);
	if (eq == NULL) {
		diag_add(l->d, file, lineno,
		    "expected 'key = value', '[section]' or a '#' comment, "
		    "got '%.*s'", (int)(len > 80 ? 80 : len), line);
		return;
	}
	k = line;
	kl = eq - line;
	while (kl > 0 && is_blank(k[kl - 1]))
		kl--;
	if (kl == 0) {
		diag_add(l->d, file, lineno, "empty key before '='");
		return;
	}
	for (i = 0; i < kl; i++)
		if (!is_word(k[i])) {
			diag_add(l->d, file, lineno,
			    "invalid character '%s' in key '%.*s' (keys are "
			    "letters, digits, '_', '-', '.')",
			    show_char(k[i], cb), (int)(kl > 80 ? 80 : kl), k);
			return;
		}
	v = eq + 1;
	vl = line + len - v;
	while (vl > 0 && is_blank(*v)) {
		v++;
		vl--;
	}
	if (l->skipping)
		return;         /* its section header was already reported */
	if (l->cur == NULL) {
		diag_add(l->d, file, lineno,
		    "key '%.*s' outside any section (put a [section] header "
		    "before it)", (int)(kl > 80 ? 80 : kl), k);
		return;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL)
		goto oom;
	if ((e->key = dup_range(k, kl)) == NULL)
		goto oom;
	if (vl > 0 && v[0] == '"') {
		if ((e->value = unquote(l, file, lineno, v, vl,
		    &e->quoted)) == NULL) {
			free(e->key);
			free(e);
			return;
		}
	} else if ((e->value = dup_range(v, vl)) == NULL)
		goto oom;
	e->file = file;
	e->line = lineno;
	if (l->etail != NULL)
		l->etail->next = e;
	else
		l->cur->entries = e;
	l->etail = e;
	return;
oom:
	if (e != NULL) {
		free(e->key);
		free(e);
	}
	l->oom = 1;
}

/*
 * Parses a whole buffer as file `file` (a name owned by the document).
 * Sections get `mode` as their file_mode.
 */
static void
parse_text(struct ini_loader *l, const char *file, mode_t mode,
    const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len, *nl, *s, *e;
	int lineno = 0;

	l->skipping = 0;
	l->cur = NULL;
	l->etail = NULL;
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		p += 3;         /* a UTF-8 byte order mark */
	while (p < end && !l->oom) {
		lineno++;
		nl = memchr(p, '\n', end - p);
		e = nl != NULL ? nl : end;
		s = p;
		p = nl != NULL ? nl + 1 : end;
		if (memchr(s, '\0', e - s) != NULL) {
			diag_add(l->d, file, lineno,
			    "NUL byte in the file (not a text file?); "
			    "the rest of the file is ignored");
			return;
		}
		if (e - s > INI_MAX_LINE) {
			diag_add(l->d, file, lineno,
			    "line longer than %d bytes", INI_MAX_LINE);
			continue;
		}
		while (s < e && is_blank(*s))
			s++;
		while (e > s && is_blank(e[-1]))
			e--;
		if (s == e || *s == '#' || *s == ';')
			continue;
		if (*s == '[')
			l->skipping = parse_section(l, file, lineno, mode, s,
			    e - s) == NULL;
		else
			parse_entry(l, file, lineno, s, e - s);
	}
}

/* ---- Files and includes ----------------------------------------------- */

static int
has_wildcard(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

/*
 * Expands one `include = GLOB` entry of a file read at depth `depth`.
 */
static void
do_include(struct ini_loader *l, const struct ini_entry *e, int depth)
{
	char *pattern = NULL, err[256];
	const char *slash;
	glob_t g;
	int rc;

	if (e->value[0] == '\0') {
		diag_add(l->d, e->file, e->line,
		    "include needs a file name or a glob pattern");
		return;
	}
	if (depth + 1 > INI_MAX_DEPTH) {
		diag_add(l->d, e->file, e->line,
		    "includes nested deeper than %d levels", INI_MAX_DEPTH);
		return;
	}
	slash = strrchr(e->file, '/');
	if (e->value[0] == '/' || slash == NULL)
		pattern = strdup(e->value);
	else if (asprintf(&pattern, "%.*s/%s", (int)(slash - e->file),
	    e->file, e->value) < 0)
		pattern = NULL;
	if (pattern == NULL) {
		l->oom = 1;
		return;
	}
	if (!has_wildcard(pattern)) {
		/* One named file: it must exist (ini_load_file says so). */
		ini_load_file(l, pattern, depth + 1);
		free(pattern);
		return;
	}
	memset(&g, 0, sizeof(g));
	rc = glob(pattern, GLOB_ERR, NULL, &g);
	if (rc == GLOB_NOMATCH) {
		/* An empty conf.d directory is fine. */
	} else if (rc != 0) {
		snprintf(err, sizeof(err), rc == GLOB_NOSPACE ?
		    "out of memory" : "cannot read a directory");
		diag_add(l->d, e->file, e->line, "include '%s': %s",
		    e->value, err);
	} else {
		for (size_t i = 0; i < g.gl_pathc && !l->oom; i++)
			ini_load_file(l, g.gl_pathv[i], depth + 1);
	}
	globfree(&g);
	free(pattern);
}

/*
 * Reads and parses path at include depth `depth` (0: the main file), then
 * its includes.  Problems opening an included file are reported at the
 * include line, the entry being expanded (l->including).  Returns 0, or -1
 * when the file could not be read.
 */
static int
ini_load_file(struct ini_loader *l, const char *path, int depth)
{
	const struct ini_entry *inc = l->including;
	struct ini_section *first, *sec;
	struct ini_open *seen;
	const struct ini_entry *e;
	const char *file;
	struct stat st;
	size_t len;
	char err[256], *buf;

	buf = file_read(path, INI_MAX_FILE, &len, &st, err, sizeof(err));
	if (buf == NULL) {
		if (inc != NULL)
			diag_add(l->d, inc->file, inc->line,
			    "include '%s': %s", path, err);
		else
			diag_add(l->d, path, 0, "%s", err);
		return -1;
	}
	for (int i = 0; i < l->depth; i++)
		if (l->stack[i].dev == st.st_dev &&
		    l->stack[i].ino == st.st_ino) {
			diag_add(l->d, inc->file, inc->line,
			    "include cycle: '%s' is already being read", path);
			free(buf);
			return 0;
		}
	for (size_t i = 0; i < l->nseen; i++)
		if (l->seen[i].dev == st.st_dev && l->seen[i].ino == st.st_ino) {
			diag_add(l->d, inc->file, inc->line, "include '%s': "
			    "already read (a file is read only once)", path);
			free(buf);
			return 0;
		}
	if ((file = doc_add_file(l->doc, path)) == NULL ||
	    (seen = realloc(l->seen, (l->nseen + 1) * sizeof(*seen))) ==
	    NULL) {
		l->oom = 1;
		free(buf);
		return 0;
	}
	l->seen = seen;
	l->seen[l->nseen].dev = st.st_dev;
	l->seen[l->nseen].ino = st.st_ino;
	l->nseen++;
	l->stack[l->depth].dev = st.st_dev;
	l->stack[l->depth].ino = st.st_ino;
	l->depth++;
	first = l->tail;
	parse_text(l, file, st.st_mode, buf, len);
	free(buf);
	/* Expand the includes of this file's [daemon] sections only (the
	 * ones appended by this parse, before any include adds more). */
	sec = first != NULL ? first->next : l->doc->sections;
	for (struct ini_section *stop = l->tail; sec != NULL && !l->oom;
	    sec = sec->next) {
		if (sec->file == file && strcmp(sec->kind, "daemon") == 0 &&
		    sec->name == NULL)
			for (e = sec->entries; e != NULL && !l->oom;
			    e = e->next)
				if (strcmp(e->key, "include") == 0) {
					l->including = e;
					do_include(l, e, depth);
					l->including = inc;
				}
		if (sec == stop)
			break;
	}
	l->depth--;
	return 0;
}

/* ---- The document ----------------------------------------------------- */

/*
 * Loads path and its includes.  Returns the document (the caller frees it
 * with ini_free) even when problems were reported, or NULL when path
 * itself cannot be read or memory ran out (reported to d).
 */
struct ini_doc *
ini_load(const char *path, struct diag *d)
{
	struct ini_loader l;

	memset(&l, 0, sizeof(l));
	l.d = d;
	if ((l.doc = calloc(1, sizeof(*l.doc))) == NULL) {
		diag_add(d, path, 0, "out of memory");
		return NULL;
	}
	if (ini_load_file(&l, path, 0) == -1) {
		free(l.seen);
		ini_free(l.doc);
		return NULL;
	}
	free(l.seen);
	if (l.oom) {
		diag_add(d, path, 0, "out of memory while reading");
		ini_free(l.doc);
		return NULL;
	}
	return l.doc;
}

/*
 * Parses buf (len bytes, need not be NUL-terminated) as a file called
 * name; includes are kept as entries, not followed.  Sections get mode 0600.
 * Returns the document, or NULL only when out of memory.
 */
struct ini_doc *
ini_parse_buffer(const char *name, const char *buf, size_t len,
    struct diag *d)
{
	struct ini_loader l;
	const char *file;

	memset(&l, 0, sizeof(l));
	l.d = d;
	if ((l.doc = calloc(1, sizeof(*l.doc))) == NULL)
		return NULL;
	if ((file = doc_add_file(l.doc, name)) == NULL) {
		ini_free(l.doc);
		return NULL;
	}
	if (len > INI_MAX_FILE)
		diag_add(d, file, 0, "file too large (%zu bytes; the limit is "
		    "%d MiB)", len, INI_MAX_FILE / (1024 * 1024));
	else
		parse_text(&l, file, S_IFREG | 0600, buf, len);
	if (l.oom) {
		ini_free(l.doc);
		return NULL;
	}
	return l.doc;
}

/* The first section of that kind and name (NULL name: an unnamed one). */
struct ini_section *
ini_find(const struct ini_doc *doc, const char *kind, const char *name)
{
	struct ini_section *s;

	if (doc == NULL)
		return NULL;
	for (s = doc->sections; s != NULL; s = s->next) {
		if (strcmp(s->kind, kind) != 0)
			continue;
		if (name == NULL ? s->name == NULL :
		    s->name != NULL && strcmp(s->name, name) == 0)
			return s;
	}
	return NULL;
}

/* Frees the document, its sections, entries and file names.  NULL is a
 * no-op. */
void
ini_free(struct ini_doc *doc)
{
	struct ini_section *s, *sn;
	struct ini_entry *e, *en;

	if (doc == NULL)
		return;
	for (s = doc->sections; s != NULL; s = sn) {
		sn = s->next;
		for (e = s->entries; e != NULL; e = en) {
			en = e->next;
			free(e->key);
			free(e->value);
			free(e);
		}
		free(s->kind);
		free(s->name);
		free(s);
	}
	for (size_t i = 0; i < doc->nfiles; i++)
		free(doc->files[i]);
	free(doc->files);
	free(doc);
}
