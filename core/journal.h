/* journal.h - what apply deleted, written before each DELETE so that `regsweep undo` can
 * put it back (until the registry's garbage collector has run).  JSON lines, one manifest
 * a line: registry, repository, digest, media type, the tags that named it and its exact
 * bytes. */
#ifndef RS_JOURNAL_H
#define RS_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define JOURNAL_VERSION 1 /* each line's "version"; lines without one are version 1 */

/* One manifest about to be deleted; everything borrowed from the caller. */
struct journal_entry {
	const char *registry; /* base URL */
	const char *repo;
	const char *digest;
	const char *media_type; /* NULL when unknown */
	const char *const *tags; /* tag_count tags (0: an untagged manifest, such as an index child) */
	size_t tag_count;
	const char *body; /* the manifest's exact bytes */
	size_t body_len;
};

struct journal;

/* Opens path for appending (created 0600 when missing).  Returns a journal owned by the
 * caller (journal_close), or NULL with "path: why" in e. */
struct journal *journal_open(const char *path, struct rs_err *e);

/* Appends one entry (buffered).  0, or -1 with e set, also for what undo could not put
 * back: a digest that is not sha256, or a body that does not hash to it. */
int journal_append(struct journal *j, const struct journal_entry *en, struct rs_err *e);

/* Writes out and fsyncs what was appended: call it before sending the batch of DELETEs the
 * entries describe.  0, or -1 with e set (then send nothing). */
int journal_sync(struct journal *j, struct rs_err *e);

/* Syncs and closes; 0, or -1 with e set.  NULL is a no-op. */
int journal_close(struct journal *j, struct rs_err *e);

/* The path a journal gets when --journal is not given, caller-owned:
 * $XDG_STATE_HOME/regsweep/journal-<UTC time>-<pid>.jsonl (XDG_STATE_HOME defaulting to
 * ~/.local/state), the directories created 0700.  NULL with e set when neither variable
 * names a usable directory. */
char *journal_default_path(struct rs_err *e);

/* One entry read back; every string owned by the journal_log that holds it. */
struct journal_record {
	size_t line; /* in the file, from 1 */
	char *registry;
	char *repo;
	char *digest;
	char *media_type; /* as recorded, else the body's mediaType; NULL when neither */
	char **tags;
	size_t tag_count;
	char *body; /* NUL-terminated; its sha256 is digest */
	size_t body_len;
	int64_t time; /* when it was journaled, Unix seconds */
};

struct journal_log {
	char *path;
	struct journal_record *records; /* in file order */
	size_t count;
	size_t skipped; /* lenient: lines that are not valid entries, each warned about */
};

/* Reads the journal at path into *out (caller-owned: journal_log_free it, also after a
 * failure).  Every line must be a valid entry whose manifest bytes hash to its digest, or
 * the whole journal is refused: -1 with "path: why" or "path:LINE: what" in e; unless
 * lenient, when such a line is skipped with a warning naming it and counted (an entry's
 * bytes prove themselves, so the others are still good to restore).  An unterminated last
 * line that does not parse is always skipped, with a warning: it was being written when
 * regsweep stopped, so its deletions were never sent. */
int journal_read(const char *path, int lenient, struct journal_log *out, struct rs_err *e);
void journal_log_free(struct journal_log *log);

/* The registry every entry names (borrowed from log), or NULL when they name several or
 * there are no entries. */
const char *journal_registry(const struct journal_log *log);

struct registry;

struct journal_undo_result {
	size_t manifests; /* restored: each of its PUTs succeeded */
	size_t tags;      /* tags pointing at them again */
	size_t failed;    /* manifests with a failed PUT, each logged with repo@digest */
	size_t other;     /* entries of another registry, left alone */
	size_t moved;     /* tags pushed again since the deletion, left as they are */
};

/* Puts back what log's entries for registry_url (trailing '/' aside) describe, through
 * reg: each manifest once per tag it had (which re-points the tag and recreates the
 * manifest), by its digest when it had none; an index only after the children the journal
 * holds; a tag the journal names more than once goes back to its latest entry's manifest;
 * a tag that names another manifest now (pushed since) is left alone.  Returns 0 with *res
 * filled in (failures are counted there), or an exit code with e set and nothing sent: 2
 * when no entry is for registry_url, 1 when a repository's tags cannot be read first. */
int journal_undo(struct registry *reg, const struct journal_log *log, const char *registry_url,
		 struct journal_undo_result *res, struct rs_err *e);

#endif
