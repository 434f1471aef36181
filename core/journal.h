/* journal.h - what apply deleted, written before each DELETE so that `regsweep undo` can
 * put it back (until the registry's garbage collector has run).  JSON lines, one manifest
 * a line: registry, repository, digest, media type, the tags that named it and its exact
 * bytes. */
#ifndef RS_JOURNAL_H
#define RS_JOURNAL_H

#include <stddef.h>

#include "util.h"

/* One manifest about to be deleted; everything borrowed from the caller. */
struct journal_entry {
	const char *registry; /* base URL */
	const char *repo;
	const char *digest;
	const char *media_type; /* NULL when unknown */
	const char *const *tags; /* tag_count tags (0: an untagged index child) */
	size_t tag_count;
	const char *body; /* the manifest's exact bytes */
	size_t body_len;
};

struct journal;

/* Opens path for appending (created 0600 when missing).  Returns a journal owned by the
 * caller (journal_close), or NULL with "path: why" in e. */
struct journal *journal_open(const char *path, struct rs_err *e);

/* Appends one entry (buffered).  0, or -1 with e set. */
int journal_append(struct journal *j, const struct journal_entry *en, struct rs_err *e);

/* Writes out and fsyncs what was appended: call it before sending the batch of DELETEs the
 * entries describe.  0, or -1 with e set (then send nothing). */
int journal_sync(struct journal *j, struct rs_err *e);

/* Syncs and closes; 0, or -1 with e set.  NULL is a no-op. */
int journal_close(struct journal *j, struct rs_err *e);

/* The path a journal gets when --journal is not given, caller-owned:
 * $XDG_STATE_HOME/regsweep/journal-<UTC time>.jsonl (XDG_STATE_HOME defaulting to
 * ~/.local/state), the directories created 0700.  NULL with e set when neither variable
 * names a usable directory. */
char *journal_default_path(struct rs_err *e);

#endif
