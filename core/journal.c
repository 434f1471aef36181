/* journal.c - the deletion journal: JSON lines appended and fsynced before each batch of
 * DELETEs, and `regsweep undo`, which reads them back, checks every manifest against its
 * digest and PUTs it back, children before the indexes that list them. */
#define _GNU_SOURCE
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "json.h"
#include "log.h"
#include "registry.h"
#include "state.h"

static const char *const index_types[] = {
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
};

struct journal {
	char *path;
	int fd;
	int broken;        /* a write failed part way: nothing more may follow it */
	struct buf queued; /* appended lines not yet written */
	int unsynced;      /* lines written since the last fsync */
	time_t when;       /* the second when_text spells: a batch mostly shares one */
	char when_text[32];
};

/* Queued lines are written once they pass this; fsync waits for journal_sync. */
#define JOURNAL_QUEUE_MAX (256 * 1024)

/* The new file's name must reach the disk too, or a crash could lose the whole journal.
 * 0, or the errno of the failure. */
static int sync_dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? xstrndup(path, slash == path ? 1 : (size_t)(slash - path))
			  : xstrdup(".");
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = fd < 0 || fsync(fd) != 0 ? errno : 0;

	if (fd >= 0)
		close(fd);
	free(dir);
	return rc;
}

static int ends_in_newline(int fd, off_t size)
{
	char last;

	return pread(fd, &last, 1, size - 1) == 1 && last == '\n';
}

/* Whether the file at path reads as a journal; if not, e says so. */
static int is_journal(const char *path, struct rs_err *e)
{
	struct journal_log log;
	struct rs_err why = {{0}};
	int ok = journal_read(path, 0, &log, &why) == 0;

	journal_log_free(&log);
	if (!ok)
		err_set(e, "%s: not a regsweep journal (%s); give --journal another file", path,
			why.msg);
	return ok;
}

struct journal *journal_open(const char *path, struct rs_err *e)
{
	int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int created = fd >= 0, why;
	struct journal *j;
	struct stat st;

	/* An existing journal is appended to; a symlink planted in its place is not followed. */
	if (fd < 0 && errno == EEXIST)
		fd = open(path, O_RDWR | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		err_set(e, "%s: %s", path,
			errno == ELOOP ? "a symbolic link: give --journal a regular file"
				       : strerror(errno));
		return NULL;
	}
	/* undo reads the journal back: a pipe or a device would not keep it. */
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		err_set(e, "%s: not a regular file", path);
		close(fd);
		return NULL;
	}
	/* A line cut short (a run stopped while writing it) followed by more lines would make
	 * the whole journal unreadable for undo. */
	if (!created && st.st_size > 0 && !ends_in_newline(fd, st.st_size)) {
		err_set(e, "%s: ends in a partial line; give --journal another file", path);
		close(fd);
		return NULL;
	}
	/* Appending to something else would leave a file undo cannot read. */
	if (!created && st.st_size > 0 && !is_journal(path, e)) {
		close(fd);
		return NULL;
	}
	if (created && (why = sync_dir_of(path)) != 0) {
		err_set(e, "%s: cannot sync its directory: %s", path, strerror(why));
		close(fd);
		return NULL;
	}
	j = xcalloc(1, sizeof(*j));
	j->path = xstrdup(path);
	j->fd = fd;
	return j;
}

/* Writes out the queued lines.  A partial line stays the file's last: journal_read skips
 * it, and nothing may follow it, or a line in the middle would not parse. */
static int write_queued(struct journal *j, struct rs_err *e)
{
	if (j->broken) {
		err_set(e, "%s: an earlier write failed", j->path);
		return -1;
	}
	if (util_write_all(j->fd, j->queued.data, j->queued.len) != 0) {
		j->broken = 1;
		err_set(e, "%s: %s", j->path, strerror(errno));
		return -1;
	}
	j->unsynced |= j->queued.len > 0;
	j->queued.len = 0;
	return 0;
}

/* ,"key": */
static void member(struct buf *q, const char *key)
{
	buf_append(q, ",", 1);
	json_string_text(q, key);
	buf_append(q, ":", 1);
}

/* ,"key":"s" (s NULL: null) */
static void member_string(struct buf *q, const char *key, const char *s)
{
	member(q, key);
	if (s)
		json_string_text(q, s);
	else
		buf_append(q, "null", 4);
}

int journal_append(struct journal *j, const struct journal_entry *en, struct rs_err *e)
{
	char got[UTIL_SHA256_LEN];
	struct buf *q = &j->queued;
	time_t now;

	if (!en->registry || !util_valid_repo_name(en->repo) || !util_valid_digest(en->digest) ||
	    !en->body) {
		err_set(e, "%s: an entry without a registry, a valid repository, digest or body",
			j->path);
		return -1;
	}
	/* What undo could not put back must not be deleted: refuse it here, before the DELETE. */
	if (strncmp(en->digest, "sha256:", 7) != 0) {
		err_set(e, "%s: %s@%s: only sha256 manifests can be journaled", j->path, en->repo,
			en->digest);
		return -1;
	}
	if (memchr(en->body, '\0', en->body_len)) {
		err_set(e, "%s: %s@%s: the manifest holds a NUL byte", j->path, en->repo,
			en->digest);
		return -1;
	}
	util_sha256(en->body, en->body_len, got);
	if (strcmp(got, en->digest) != 0) {
		err_set(e, "%s: %s@%s: the manifest's bytes hash to %s", j->path, en->repo,
			en->digest, got);
		return -1;
	}
	now = time(NULL);
	if (now != j->when || !j->when_text[0]) {
		j->when = now;
		util_format_rfc3339((int64_t)now, j->when_text, sizeof(j->when_text));
	}
	/* The compact text cJSON would print, written directly: no tree, no copies of the
	 * manifest. */
	buf_printf(q, "{\"version\":%d", JOURNAL_VERSION);
	member_string(q, "registry", en->registry);
	member_string(q, "repository", en->repo);
	member_string(q, "digest", en->digest);
	member_string(q, "media_type", en->media_type);
	member(q, "tags");
	buf_append(q, "[", 1);
	for (size_t i = 0; i < en->tag_count; i++) {
		if (i)
			buf_append(q, ",", 1);
		json_string_text(q, en->tags[i]);
	}
	buf_append(q, "]", 1);
	member(q, "manifest");
	json_string_text_len(q, en->body, en->body_len);
	member_string(q, "time", j->when_text);
	buf_append(q, "}\n", 2);
	/* Written as it grows, so a batch of 50,000 entries does not sit in memory; nothing is
	 * sent before journal_sync has made it durable. */
	return j->queued.len >= JOURNAL_QUEUE_MAX ? write_queued(j, e) : 0;
}

int journal_sync(struct journal *j, struct rs_err *e)
{
	if (write_queued(j, e))
		return -1;
	if (!j->unsynced)
		return 0;
	j->unsynced = 0;
	if (fsync(j->fd) != 0) {
		j->broken = 1;
		err_set(e, "%s: fsync: %s", j->path, strerror(errno));
		return -1;
	}
	return 0;
}

int journal_close(struct journal *j, struct rs_err *e)
{
	int rc;

	if (!j)
		return 0;
	rc = journal_sync(j, e);
	if (close(j->fd) != 0 && rc == 0) {
		err_set(e, "%s: %s", j->path, strerror(errno));
		rc = -1;
	}
	buf_free(&j->queued);
	free(j->path);
	free(j);
	return rc;
}

/* mkdir -p, each missing directory 0700: the journal holds what was deleted. */
char *journal_default_path(struct rs_err *e)
{
	time_t now = time(NULL);
	char stamp[32];
	struct tm tm;
	struct rs_err why = {{0}};
	char *dir = state_dir(&why), *path;

	if (!dir) {
		err_set(e, "%s: give --journal FILE", why.msg);
		return NULL;
	}
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	path = xasprintf("%s/journal-%s-%ld.jsonl", dir, stamp, (long)getpid());
	free(dir);
	return path;
}

/* --- reading --- */

static int all_tags(const cJSON *tags)
{
	const cJSON *t;

	cJSON_ArrayForEach(t, tags)
		if (!cJSON_IsString(t) || !util_valid_tag(t->valuestring))
			return 0;
	return 1;
}

/* The body's own "mediaType", caller-owned, or NULL. */
static char *body_media_type(const char *body, size_t len)
{
	cJSON *doc = cJSON_ParseWithLength(body, len);
	const char *mt = json_string(doc, "mediaType");
	char *copy = mt && util_printable(mt) ? xstrdup(mt) : NULL;

	cJSON_Delete(doc);
	return copy;
}

static void record_free(struct journal_record *r)
{
	free(r->registry);
	free(r->repo);
	free(r->digest);
	free(r->media_type);
	for (size_t i = 0; i < r->tag_count; i++)
		free(r->tags[i]);
	free(r->tags);
	free(r->body);
}

/* One line into *r (zeroed first; record_free it also after a failure).  0, or -1 with
 * what is wrong in why. */
static int parse_line(const char *text, size_t len, struct journal_record *r, char *why,
		      size_t whylen)
{
	const char *rest = text;
	cJSON *o = cJSON_ParseWithLengthOpts(text, len, &rest, 0);
	const cJSON *tags = cJSON_GetObjectItemCaseSensitive(o, "tags"), *t;
	const cJSON *mt = cJSON_GetObjectItemCaseSensitive(o, "media_type");
	const char *registry = json_string(o, "registry"), *repo = json_string(o, "repository");
	const char *digest = json_string(o, "digest"), *body = json_string(o, "manifest");
	const char *when = json_string(o, "time");
	const cJSON *version = cJSON_GetObjectItemCaseSensitive(o, "version");
	char got[UTIL_SHA256_LEN];
	int rc = -1;

	memset(r, 0, sizeof(*r));
	/* cJSON stops after the value: what follows it on the line must be blank. */
	if (o)
		rest += strspn(rest, " \t\r");
	if (!cJSON_IsObject(o) || rest != text + len)
		snprintf(why, whylen, "not a JSON object");
	else if (version && (!cJSON_IsNumber(version) || version->valuedouble != JOURNAL_VERSION))
		snprintf(why, whylen, "\"version\" is not %d: written by another regsweep",
			 JOURNAL_VERSION);
	else if (!registry || (strncmp(registry, "http://", 7) && strncmp(registry, "https://", 8)))
		snprintf(why, whylen, "\"registry\" is missing or not an http(s) URL");
	else if (!repo || !util_valid_repo_name(repo))
		snprintf(why, whylen, "\"repository\" is missing or not a repository name");
	else if (!digest || !util_valid_digest(digest))
		snprintf(why, whylen, "\"digest\" is missing or not a digest");
	else if (strncmp(digest, "sha256:", 7) != 0)
		snprintf(why, whylen, "%s: only sha256 digests can be checked", digest);
	else if (mt && !cJSON_IsNull(mt) && !(cJSON_IsString(mt) && util_printable(mt->valuestring)))
		snprintf(why, whylen, "\"media_type\" is neither a media type nor null");
	else if (!cJSON_IsArray(tags) || !all_tags(tags))
		snprintf(why, whylen, "\"tags\" is missing or not an array of tags");
	else if (!body)
		snprintf(why, whylen, "\"manifest\" is missing or not a string");
	else if (!when || util_parse_rfc3339(when, &r->time) != 0)
		snprintf(why, whylen, "\"time\" is missing or not an RFC 3339 time");
	else
		rc = 0;
	if (rc == 0) {
		r->body_len = strlen(body);
		util_sha256(body, r->body_len, got);
		if (strcmp(got, digest) != 0) {
			snprintf(why, whylen, "%s@%s: the manifest's bytes hash to %s", repo, digest,
				 got);
			rc = -1;
		}
	}
	if (rc == 0) {
		int n = cJSON_GetArraySize(tags), i = 0;

		r->registry = xstrdup(registry);
		r->repo = xstrdup(repo);
		r->digest = xstrdup(digest);
		r->body = xstrdup(body);
		r->media_type = cJSON_IsString(mt) ? xstrdup(mt->valuestring)
						   : body_media_type(body, r->body_len);
		r->tags = xcalloc((size_t)n + 1, sizeof(*r->tags));
		cJSON_ArrayForEach(t, tags)
			r->tags[i++] = xstrdup(t->valuestring);
		r->tag_count = (size_t)n;
	}
	cJSON_Delete(o);
	return rc;
}

int journal_read(const char *path, int lenient, struct journal_log *out, struct rs_err *e)
{
	struct buf text = {0};
	size_t cap = 0, lineno = 0;
	const char *p, *end;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	out->path = xstrdup(path);
	if (buf_read_file(&text, path) != 0) {
		err_set(e, "%s: %s", path, strerror(errno));
		buf_free(&text);
		return -1;
	}
	buf_append(&text, "", 0); /* an empty file too gets a buffer */
	for (p = text.data, end = p + text.len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct journal_record r;
		char why[256];

		lineno++;
		if (len == 0) {
			p = nl + 1;
			continue;
		}
		if (parse_line(p, len, &r, why, sizeof(why)) != 0) {
			record_free(&r);
			if (!nl) {
				log_msg(RS_LOG_WARN, "%s:%zu: an incomplete last line, skipped: it was "
						     "being written when regsweep stopped, before its "
						     "deletions were sent", path, lineno);
				break;
			}
			if (!lenient) {
				err_set(e, "%s:%zu: %s", path, lineno, why);
				rc = -1;
				break;
			}
			log_msg(RS_LOG_WARN, "%s:%zu: %s: skipped", path, lineno, why);
			out->skipped++;
			p = nl + 1;
			continue;
		}
		r.line = lineno;
		if (out->count == cap) {
			cap = cap ? cap * 2 : 64;
			out->records = xrealloc(out->records, cap * sizeof(*out->records));
		}
		out->records[out->count++] = r;
		p = nl ? nl + 1 : end;
	}
	buf_free(&text);
	return rc;
}

void journal_log_free(struct journal_log *log)
{
	for (size_t i = 0; i < log->count; i++)
		record_free(&log->records[i]);
	free(log->records);
	free(log->path);
	memset(log, 0, sizeof(*log));
}

/* URLs compare without their trailing slashes. */
const char *journal_registry(const struct journal_log *log)
{
	if (!log->count)
		return NULL;
	for (size_t i = 1; i < log->count; i++)
		if (!util_same_url(log->records[i].registry, log->records[0].registry))
			return NULL;
	return log->records[0].registry;
}

/* --- undo --- */

/* One manifest to put back: the entries of one repository and digest, merged. */
struct unit {
	const struct journal_record *rec;
	const char **tags; /* the tags that go back to it */
	size_t tag_count;
	size_t *children; /* indexes into the unit array of the children it lists */
	size_t child_count;
	int sent;
	int failed;
};

/* A tag as one entry names it. */
struct tag_ref {
	const struct journal_record *rec;
	const char *tag;
};

static int by_repo_digest(const void *a, const void *b)
{
	const struct journal_record *x = *(const struct journal_record *const *)a;
	const struct journal_record *y = *(const struct journal_record *const *)b;
	int c = strcmp(x->repo, y->repo);

	return c ? c : strcmp(x->digest, y->digest);
}

/* By repository and tag, the latest entry first. */
static int by_repo_tag(const void *a, const void *b)
{
	const struct tag_ref *x = a, *y = b;
	int c = strcmp(x->rec->repo, y->rec->repo);

	if (!c)
		c = strcmp(x->tag, y->tag);
	return c ? c : (x->rec->line < y->rec->line) - (x->rec->line > y->rec->line);
}

static struct unit *find_unit(struct unit *units, size_t n, const char *repo, const char *digest)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(units[mid].rec->repo, repo);

		if (!c)
			c = strcmp(units[mid].rec->digest, digest);
		if (!c)
			return &units[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int is_index(const struct journal_record *r)
{
	for (size_t i = 0; r->media_type && i < sizeof(index_types) / sizeof(index_types[0]); i++)
		if (strcmp(r->media_type, index_types[i]) == 0)
			return 1;
	return 0;
}

/* An index's children that the journal holds too: those must be back before it. */
static void link_children(struct unit *units, size_t n, struct unit *u)
{
	cJSON *doc;
	const cJSON *m;

	if (!is_index(u->rec))
		return;
	doc = cJSON_ParseWithLength(u->rec->body, u->rec->body_len);
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(doc, "manifests"))
	{
		const char *digest = json_string(m, "digest");
		struct unit *child = digest ? find_unit(units, n, u->rec->repo, digest) : NULL;

		if (!child || child == u)
			continue;
		u->children = xrealloc(u->children, (u->child_count + 1) * sizeof(*u->children));
		u->children[u->child_count++] = (size_t)(child - units);
	}
	cJSON_Delete(doc);
}

/* What tag names in the registry now: its digest, or NULL when it names nothing. */
static const char *tag_now(const struct reg_scan *now, const char *repo, const char *tag)
{
	for (size_t i = 0; i < now->count; i++) {
		const struct reg_repo *r = &now->repos[i];

		for (size_t k = 0; strcmp(r->name, repo) == 0 && k < r->count; k++)
			if (strcmp(r->images[k].tag, tag) == 0)
				return r->images[k].digest;
	}
	return NULL;
}

/* Merges the selected entries into units sorted by repository and digest, and gives every
 * tag to the unit of the latest entry naming it, unless the tag was pushed again since and
 * names another manifest now (the unit then goes back untagged if it has no other tag). */
static size_t build_units(const struct journal_record **sel, size_t n, const struct reg_scan *now,
			  struct journal_undo_result *res, struct unit **out)
{
	struct unit *units = xcalloc(n ? n : 1, sizeof(*units));
	struct tag_ref *refs;
	size_t count = 0, nrefs = 0;

	qsort(sel, n, sizeof(*sel), by_repo_digest);
	for (size_t i = 0; i < n; i++) {
		if (count && by_repo_digest(&units[count - 1].rec, &sel[i]) == 0)
			continue;
		units[count++].rec = sel[i];
	}
	for (size_t i = 0; i < n; i++)
		nrefs += sel[i]->tag_count;
	refs = xcalloc(nrefs ? nrefs : 1, sizeof(*refs));
	nrefs = 0;
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < sel[i]->tag_count; k++)
			refs[nrefs++] = (struct tag_ref){.rec = sel[i], .tag = sel[i]->tags[k]};
	qsort(refs, nrefs, sizeof(*refs), by_repo_tag);
	for (size_t i = 0; i < nrefs; i++) {
		const struct tag_ref *r = &refs[i];
		const char *now_digest;
		struct unit *u;

		if (i && strcmp(refs[i - 1].rec->repo, r->rec->repo) == 0 &&
		    strcmp(refs[i - 1].tag, r->tag) == 0) {
			if (strcmp(refs[i - 1].rec->digest, r->rec->digest) != 0)
				log_msg(RS_LOG_INFO, "%s:%s: deleted more than once; it goes back "
						     "to %s, as line %zu has it",
					r->rec->repo, r->tag, refs[i - 1].rec->digest,
					refs[i - 1].rec->line);
			continue;
		}
		now_digest = tag_now(now, r->rec->repo, r->tag);
		if (now_digest && strcmp(now_digest, r->rec->digest) != 0) {
			log_msg(RS_LOG_WARN, "%s:%s names %s now, pushed since the deletion: left "
					     "as it is",
				r->rec->repo, r->tag, now_digest);
			res->moved++;
			continue;
		}
		u = find_unit(units, count, r->rec->repo, r->rec->digest);
		u->tags = xrealloc(u->tags, (u->tag_count + 1) * sizeof(*u->tags));
		u->tags[u->tag_count++] = r->tag;
	}
	free(refs);
	for (size_t i = 0; i < count; i++)
		link_children(units, count, &units[i]);
	*out = units;
	return count;
}

/* 1 when every child the journal holds is back, 0 while one is still to be sent, -1 when
 * one failed: then the index cannot be put back either. */
static int ready(const struct unit *units, const struct unit *u)
{
	int r = 1;

	for (size_t i = 0; i < u->child_count; i++) {
		if (units[u->children[i]].failed)
			return -1;
		if (!units[u->children[i]].sent)
			r = 0;
	}
	return r;
}

/* Sends one round: every unit not yet sent whose children are (all the rest when none
 * is, which content addressing rules out); a unit one of whose children failed is given
 * up.  Returns how many units it settled. */
static size_t put_round(struct registry *reg, struct unit *units, size_t n,
			struct journal_undo_result *res)
{
	struct reg_put *puts = NULL;
	struct unit **owner = NULL, **round = xcalloc(n, sizeof(*round));
	size_t nround = 0, nputs = 0, k = 0, given_up = 0;

	for (size_t i = 0; i < n; i++) {
		struct unit *u = &units[i];
		int r = u->sent ? 0 : ready(units, u);

		if (r > 0) {
			round[nround++] = u;
		} else if (r < 0) {
			log_msg(RS_LOG_ERROR, "%s@%s: not put back: a child it lists failed",
				u->rec->repo, u->rec->digest);
			u->sent = u->failed = 1;
			res->failed++;
			given_up++;
		}
	}
	for (size_t i = 0; !nround && !given_up && i < n; i++)
		if (!units[i].sent)
			round[nround++] = &units[i];
	for (size_t i = 0; i < nround; i++)
		nputs += round[i]->tag_count ? round[i]->tag_count : 1;
	puts = xcalloc(nputs ? nputs : 1, sizeof(*puts));
	owner = xcalloc(nputs ? nputs : 1, sizeof(*owner));
	for (size_t i = 0; i < nround; i++) {
		struct unit *u = round[i];
		size_t refs = u->tag_count ? u->tag_count : 1;

		for (size_t t = 0; t < refs; t++, k++) {
			puts[k] = (struct reg_put){
				.repo = u->rec->repo,
				.ref = u->tag_count ? u->tags[t] : u->rec->digest,
				.media_type = u->rec->media_type,
				.body = u->rec->body,
				.body_len = u->rec->body_len,
			};
			owner[k] = u;
		}
		u->sent = 1;
	}
	registry_put(reg, puts, nputs);
	for (k = 0; k < nputs; k++) {
		struct unit *u = owner[k];
		const struct reg_put *p = &puts[k];

		if (p->ok) {
			if (u->tag_count)
				res->tags++;
			log_msg(RS_LOG_DEBUG, "%s@%s: put back as %s", u->rec->repo, u->rec->digest,
				p->ref);
			continue;
		}
		u->failed = 1;
		log_msg(RS_LOG_ERROR, "%s@%s: PUT %s: %s%s", u->rec->repo, u->rec->digest, p->ref,
			p->error,
			strstr(p->error, "BLOB_UNKNOWN") ? " (its blobs are gone: the garbage "
							   "collector ran since?)"
							 : "");
	}
	for (size_t i = 0; i < nround; i++) {
		if (round[i]->failed)
			res->failed++;
		else
			res->manifests++;
	}
	free(puts);
	free(owner);
	free(round);
	return nround + given_up;
}

/* The tags of every repository sel names, as they are now.  0, or -1 with e set: a
 * repository that cannot be read could hold a newer push undo would overwrite. */
static int scan_repos(struct registry *reg, const struct journal_record **sel, size_t n,
		      struct reg_scan *now, struct rs_err *e)
{
	char **names = xcalloc(n ? n : 1, sizeof(char *));
	size_t count = 0;
	int rc;

	for (size_t i = 0; i < n; i++) {
		size_t k = 0;

		while (k < count && strcmp(names[k], sel[i]->repo))
			k++;
		if (k == count)
			names[count++] = sel[i]->repo;
	}
	rc = registry_scan(reg, names, count, RS_NEED_DIGEST, now, e);
	for (size_t i = 0; rc == 0 && i < now->count; i++) {
		if (now->repos[i].error) {
			err_set(e, "cannot tell what the tags name now: %s", now->repos[i].error);
			rc = -1;
		}
	}
	free(names);
	return rc;
}

int journal_undo(struct registry *reg, const struct journal_log *log, const char *registry_url,
		 struct journal_undo_result *res, struct rs_err *e)
{
	const struct journal_record **sel = xcalloc(log->count ? log->count : 1, sizeof(*sel));
	struct unit *units;
	struct reg_scan now = {0};
	size_t n = 0, count, sent = 0;

	memset(res, 0, sizeof(*res));
	for (size_t i = 0; i < log->count; i++) {
		if (util_same_url(log->records[i].registry, registry_url))
			sel[n++] = &log->records[i];
		else
			res->other++;
	}
	if (!n && log->count) {
		err_set(e, "%s: its entries are for %s, not %s: undo puts manifests back where "
			   "they were deleted from",
			log->path, log->records[0].registry, registry_url);
		free(sel);
		return 2;
	}
	if (res->other)
		log_msg(RS_LOG_WARN, "%s: %zu entr%s of other registries left alone", log->path,
			res->other, res->other == 1 ? "y" : "ies");
	if (scan_repos(reg, sel, n, &now, e)) {
		free(sel);
		return 1;
	}
	count = build_units(sel, n, &now, res, &units);
	registry_scan_free(&now);
	while (sent < count)
		sent += put_round(reg, units, count, res);
	for (size_t i = 0; i < count; i++) {
		free(units[i].tags);
		free(units[i].children);
	}
	free(units);
	free(sel);
	return 0;
}
