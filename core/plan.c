/* plan.c - digest grouping, plan JSON in and out, text rendering. */
#define _GNU_SOURCE /* qsort_r */
#include "plan.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "log.h"

struct pool *plan_pool(struct plan *p)
{
	if (!p->pool)
		p->pool = pool_new();
	return p->pool;
}

struct plan_repo *plan_add_repo(struct plan *p, const char *name)
{
	struct plan_repo *r;

	p->repos = xrealloc(p->repos, (p->repo_count + 1) * sizeof(*p->repos));
	r = &p->repos[p->repo_count++];
	memset(r, 0, sizeof(*r));
	r->name = xstrdup(name);
	r->reclaimable_bytes = -1;
	r->pool = plan_pool(p);
	return r;
}

char *plan_strdup(struct plan_repo *r, const char *s)
{
	return s ? pool_strdup(r->pool, s) : NULL;
}

char *plan_strdup_shared(struct plan_repo *r, const char *s)
{
	const size_t n = sizeof(r->shared) / sizeof(r->shared[0]);

	if (!s)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (r->shared[i] && strcmp(r->shared[i], s) == 0)
			return r->shared[i];
	r->shared_next = (r->shared_next + 1) % n;
	return r->shared[r->shared_next] = pool_strdup(r->pool, s);
}

/* Appends a deletion whose strings are in repo's pool already. */
static struct plan_deletion *add_deletion(struct plan_repo *repo, char *digest,
					  char *media_type, char **tags, size_t tag_count)
{
	struct plan_deletion *d;

	repo->deletions =
	    xrealloc(repo->deletions, (repo->deletion_count + 1) * sizeof(*repo->deletions));
	d = &repo->deletions[repo->deletion_count++];
	memset(d, 0, sizeof(*d));
	d->digest = digest;
	d->media_type = media_type;
	d->tag_count = tag_count;
	d->tags = tags;
	return d;
}

struct plan_deletion *plan_add_deletion(struct plan_repo *repo, const char *digest,
					 const char *media_type, char *const *tags,
					 size_t tag_count)
{
	char **copies = pool_calloc(repo->pool, tag_count + 1, sizeof(char *));

	for (size_t k = 0; k < tag_count; k++)
		copies[k] = plan_strdup(repo, tags[k]);
	return add_deletion(repo, plan_strdup(repo, digest), plan_strdup_shared(repo, media_type),
			    copies, tag_count);
}

struct plan_deletion *plan_find_deletion(struct plan_repo *repo, const char *digest)
{
	uintptr_t k;
	int fresh;

	/* Deletions only grow at the end, and their digests never move: index the new ones
	 * (the first of a digest wins, as a search from the start would find it). */
	for (; repo->indexed < repo->deletion_count; repo->indexed++) {
		void **slot = strmap_slot(&repo->by_digest, repo->deletions[repo->indexed].digest,
					  &fresh);

		if (fresh)
			*slot = (void *)(uintptr_t)(repo->indexed + 1);
	}
	k = (uintptr_t)strmap_get(&repo->by_digest, digest);
	return k ? &repo->deletions[k - 1] : NULL;
}

static int by_digest(const void *a, const void *b, void *tags_)
{
	const struct plan_tag *tags = tags_;
	const struct plan_tag *x = &tags[*(const size_t *)a], *y = &tags[*(const size_t *)b];

	return strcmp(x->digest, y->digest);
}

static void keep_tag(struct plan_tag *t, char *reason)
{
	t->verdict = RS_KEEP;
	t->reason = reason;
}

void plan_group_digests(struct plan_repo *repo)
{
	size_t *order = xcalloc(repo->tag_count, sizeof(size_t)), n = 0;

	for (size_t i = 0; i < repo->tag_count; i++) {
		struct plan_tag *t = &repo->tags[i];

		if (t->digest)
			order[n++] = i;
		else if (t->verdict == RS_DELETE)
			keep_tag(t, plan_strdup_shared(repo, "digest unknown: cannot be deleted safely"));
	}
	qsort_r(order, n, sizeof(size_t), by_digest, repo->tags);
	for (size_t lo = 0, hi; lo < n; lo = hi) {
		const struct plan_tag *kept = NULL;
		char **tags;
		size_t deleting = 0;

		for (hi = lo; hi < n && !strcmp(repo->tags[order[hi]].digest,
						 repo->tags[order[lo]].digest);
		     hi++) {
			const struct plan_tag *t = &repo->tags[order[hi]];

			if (t->verdict == RS_KEEP && !kept)
				kept = t;
			deleting += t->verdict == RS_DELETE;
		}
		if (!deleting)
			continue;
		if (kept) {
			/* DELETE by digest removes every tag on it (distribution #1656). */
			for (size_t k = lo; k < hi; k++)
				if (repo->tags[order[k]].verdict == RS_DELETE)
					keep_tag(&repo->tags[order[k]],
						 pool_printf(repo->pool, "shares digest with %s",
							     kept->tag));
			continue;
		}
		/* The tags' own strings, already the plan's. */
		tags = pool_calloc(repo->pool, hi - lo + 1, sizeof(char *));
		for (size_t k = lo; k < hi; k++)
			tags[k - lo] = repo->tags[order[k]].tag;
		add_deletion(repo, repo->tags[order[lo]].digest, repo->tags[order[lo]].media_type,
			     tags, hi - lo);
	}
	free(order);
}

void plan_totals(const struct plan *p, struct plan_totals *t)
{
	memset(t, 0, sizeof(*t));
	t->repos = p->repo_count;
	for (size_t i = 0; i < p->repo_count; i++) {
		const struct plan_repo *r = &p->repos[i];

		t->untouched += r->error != NULL;
		t->guarded += r->guard != NULL;
		t->tags += r->tag_count;
		for (size_t k = 0; k < r->tag_count; k++)
			t->deleted += r->tags[k].verdict == RS_DELETE;
		t->manifests += r->deletion_count;
		for (size_t k = 0; k < r->deletion_count; k++) {
			const struct plan_deletion *d = &r->deletions[k];

			t->failed += d->error != NULL;
			t->skipped += d->skipped != NULL;
			t->done += d->done;
			t->done_tags += d->done ? d->tag_count : 0;
		}
	}
	t->kept = t->tags - t->deleted;
}

size_t plan_check_guards(struct plan *p)
{
	const struct plan_guards *g = &p->guards;
	size_t guarded = 0;

	for (size_t i = 0; i < p->repo_count; i++) {
		struct plan_repo *r = &p->repos[i];
		size_t deleted = 0, tags = 0;

		/* Image tags only: a signature or SBOM tag follows its image, and one kept for
		 * an image no longer there must not count as an image kept. */
		for (size_t k = 0; k < r->tag_count; k++) {
			tags += !r->tags[k].subject;
			deleted += !r->tags[k].subject && r->tags[k].verdict == RS_DELETE;
		}
		free(r->guard);
		r->guard = NULL;
		if (g->max_delete_percent >= 0 && deleted * 100 > (size_t)g->max_delete_percent * tags)
			r->guard = xasprintf("would delete %zu of %zu tags (%zu%%), more than "
					     "max_delete_percent = %d",
					     deleted, tags, deleted * 100 / tags, g->max_delete_percent);
		else if (deleted && tags - deleted < (size_t)g->min_keep)
			r->guard = xasprintf("would keep %zu tags, fewer than min_keep = %d",
					     tags - deleted, g->min_keep);
		guarded += r->guard != NULL;
	}
	return guarded;
}

static void strings_write(struct jw *w, const char *key, char *const *v, size_t n)
{
	jw_array(w, key);
	for (size_t i = 0; i < n; i++)
		jw_string(w, NULL, v[i]);
	jw_end(w);
}

static void tag_write(struct jw *w, const struct plan_tag *t)
{
	jw_object(w, NULL);
	jw_string(w, "tag", t->tag);
	jw_string(w, "digest", t->digest);
	jw_string(w, "media_type", t->media_type);
	jw_time(w, "created", t->created);
	if (t->pushed != RS_TIME_UNKNOWN)
		jw_time(w, "pushed", t->pushed);
	jw_string(w, "verdict", t->verdict == RS_DELETE ? "delete" : "keep");
	jw_string(w, "reason", t->reason ? t->reason : "");
	if (t->subject)
		jw_string(w, "subject", t->subject);
	jw_end(w);
}

static void deletion_write(struct jw *w, const struct plan_deletion *d, int with_results)
{
	jw_object(w, NULL);
	jw_string(w, "digest", d->digest);
	strings_write(w, "tags", d->tags, d->tag_count);
	jw_string(w, "media_type", d->media_type);
	if (d->follows)
		jw_string(w, "follows", d->follows);
	if (d->follows || d->reason)
		jw_string(w, "reason", d->reason ? d->reason : "");
	if (d->also_follows_count)
		strings_write(w, "also_follows", d->also_follows, d->also_follows_count);
	if (with_results) {
		jw_string(w, "result", d->done      ? "deleted"
				       : d->error   ? "failed"
				       : d->skipped ? "skipped"
						    : "not attempted");
		if (d->error)
			jw_string(w, "error", d->error);
		if (d->skipped)
			jw_string(w, "skipped", d->skipped);
	}
	jw_end(w);
}

static void repo_write(struct jw *w, const struct plan_repo *r, int with_results)
{
	jw_object(w, NULL);
	jw_array(w, "tags");
	for (size_t i = 0; i < r->tag_count; i++)
		tag_write(w, &r->tags[i]);
	jw_end(w);
	jw_string(w, "name", r->name);
	if (r->error)
		jw_string(w, "error", r->error);
	if (r->guard)
		jw_string(w, "guard", r->guard);
	if (r->policy)
		jw_string(w, "policy", r->policy);
	if (r->reclaimable_bytes >= 0)
		jw_number(w, "reclaimable_bytes", (double)r->reclaimable_bytes);
	jw_array(w, "deletions");
	for (size_t i = 0; i < r->deletion_count; i++)
		deletion_write(w, &r->deletions[i], with_results);
	jw_end(w);
	jw_end(w);
}

/* The seal: "plan_sha256", the hash of the compact JSON of everything before it, which
 * plan_read_file checks. */
int plan_write(const struct plan *p, int with_results, const cJSON *extra, struct jw *w)
{
	char hash[UTIL_SHA256_LEN];
	const cJSON *member;
	struct plan_totals t;

	plan_totals(p, &t);
	jw_object(w, NULL);
	jw_number(w, "version", PLAN_VERSION);
	jw_string(w, "registry", p->registry);
	jw_time(w, "created", p->created);
	jw_string(w, "stack", p->stack);
	jw_string(w, "stack_sha256", p->stack_sha256);
	jw_object(w, "guards");
	if (p->guards.max_delete_percent >= 0)
		jw_number(w, "max_delete_percent", p->guards.max_delete_percent);
	jw_number(w, "min_keep", p->guards.min_keep);
	jw_end(w);
	jw_array(w, "repositories");
	for (size_t i = 0; i < p->repo_count; i++)
		repo_write(w, &p->repos[i], with_results);
	jw_end(w);
	jw_object(w, "summary");
	jw_number(w, "repositories", (double)t.repos);
	jw_number(w, "tags", (double)t.tags);
	jw_number(w, "tags_kept", (double)t.kept);
	jw_number(w, "tags_deleted", (double)t.deleted);
	jw_number(w, "manifests_deleted", (double)t.manifests);
	if (p->reclaimable_bytes >= 0) {
		jw_number(w, "reclaimable_bytes", (double)p->reclaimable_bytes);
		jw_bool(w, "reclaimable_is_upper_bound", p->reclaimable_upper_bound);
	}
	if (with_results) {
		jw_number(w, "failed", (double)t.failed);
		jw_number(w, "skipped", (double)t.skipped);
	}
	jw_end(w);
	cJSON_ArrayForEach(member, extra)
		jw_cjson(w, member->string, member);
	jw_digest(w, hash);
	jw_string(w, "plan_sha256", hash);
	jw_end(w);
	return jw_finish(w);
}

static int buf_sink(void *b, const char *text, size_t n)
{
	buf_append(b, text, n);
	return 0;
}

char *plan_to_json(const struct plan *p, int with_results)
{
	struct buf text = {0};
	struct jw w;

	jw_init(&w, buf_sink, &text);
	plan_write(p, with_results, NULL, &w);
	buf_append(&text, "", 1);
	return text.data;
}

/* Elements are read into r's pool (r: a repository, or a stand-in with the plan's pool).  A
 * deletion's digest is the copy its tags have (in tag_digests) when there is one. */
static int read_deletion(const cJSON *j, struct plan_repo *r, const struct strmap *tag_digests,
			 struct plan_deletion *d)
{
	const char *digest = json_string(j, "digest"), *mt = json_string(j, "media_type");
	const char *follows = json_string(j, "follows"), *reason = json_string(j, "reason");
	const cJSON *tags = cJSON_GetObjectItemCaseSensitive(j, "tags"), *t;
	const cJSON *also = cJSON_GetObjectItemCaseSensitive(j, "also_follows");

	if (!digest || !util_valid_digest(digest) || !cJSON_IsArray(tags) ||
	    (follows && !util_valid_digest(follows)) || (also && (!follows || !cJSON_IsArray(also))))
		return -1;
	d->also_follows =
	    pool_calloc(r->pool, (size_t)cJSON_GetArraySize(also) + 1, sizeof(char *));
	cJSON_ArrayForEach(t, also) {
		if (!cJSON_IsString(t) || !util_valid_digest(t->valuestring))
			return -1;
		d->also_follows[d->also_follows_count++] = plan_strdup(r, t->valuestring);
	}
	d->digest = strmap_get(tag_digests, digest);
	if (!d->digest)
		d->digest = plan_strdup(r, digest);
	d->media_type = plan_strdup_shared(r, mt);
	d->follows = plan_strdup(r, follows);
	d->reason = plan_strdup_shared(r, reason);
	d->tags = pool_calloc(r->pool, (size_t)cJSON_GetArraySize(tags) + 1, sizeof(char *));
	cJSON_ArrayForEach(t, tags)
	{
		if (!cJSON_IsString(t) || !util_valid_tag(t->valuestring))
			return -1;
		d->tags[d->tag_count++] = plan_strdup(r, t->valuestring);
	}
	return 0;
}

/* The pinned tag: name, the digest it pointed at when planned, and the verdict. */
static int read_tag(const cJSON *j, struct plan_repo *r, struct plan_tag *t)
{
	const char *tag = json_string(j, "tag"), *digest = json_string(j, "digest");
	const char *mt = json_string(j, "media_type"), *created = json_string(j, "created");
	const char *verdict = json_string(j, "verdict"), *reason = json_string(j, "reason");
	const char *subject = json_string(j, "subject"), *pushed = json_string(j, "pushed");

	/* A name outside the tag grammar is only ever kept: it never reaches a request. */
	if (!tag || !verdict || (!util_valid_tag(tag) && strcmp(verdict, "keep")) ||
	    (digest && !util_valid_digest(digest)) ||
	    (strcmp(verdict, "keep") && strcmp(verdict, "delete")) ||
	    (subject && !util_valid_digest(subject)))
		return -1;
	t->subject = plan_strdup(r, subject);
	t->tag = plan_strdup(r, tag);
	t->digest = plan_strdup(r, digest);
	t->media_type = plan_strdup_shared(r, mt);
	if (!created || util_parse_rfc3339(created, &t->created))
		t->created = RS_CREATED_UNKNOWN;
	if (!pushed || util_parse_rfc3339(pushed, &t->pushed))
		t->pushed = RS_TIME_UNKNOWN;
	t->verdict = strcmp(verdict, "delete") == 0 ? RS_DELETE : RS_KEEP;
	t->reason = plan_strdup_shared(r, reason ? reason : "");
	return 0;
}

/* The strings of r's tags and deletions are the pool's. */
static void plan_repo_free(struct plan_repo *r)
{
	free(r->tags);
	free(r->deletions);
	free(r->name);
	free(r->error);
	free(r->guard);
	free(r->policy);
	strmap_free(&r->by_digest);
}

/* p with room for need elements of size bytes, doubling *cap. */
static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return p;
	*cap = need < 16 ? 16 : need > *cap * 2 ? need : *cap * 2;
	return xrealloc(p, *cap * size);
}

/* A plan file as it is read: the top level's members but "repositories" as a small cJSON
 * object (first of a name wins, as cJSON_GetObjectItem finds it), the repositories
 * streamed into p, and the first thing wrong with them. */
struct plan_reader {
	struct jr jr;
	const char *path;
	struct plan *p;
	cJSON *top;
	int repos_seen, repos_array;
	char *seal;   /* the first "plan_sha256", when a string */
	int seal_seen;
	struct rs_err content; /* the first malformed repository, tag or deletion */
};

/* One repository's members as they come: "tags" and "deletions" (the first of each)
 * read element by element, the rest kept in shell. */
struct repo_reader {
	cJSON *shell;
	struct plan_repo strings; /* the plan's pool, for the elements read */
	struct strmap tag_digests; /* the digests of the first `indexed` tags, for deletions */
	size_t indexed;
	struct plan_tag *tags;
	struct plan_deletion *deletions;
	size_t tag_count, deletion_count, tag_cap, deletion_cap;
	int tags_array, deletions_array, tags_seen, deletions_seen;
	size_t bad_tag, bad_deletion; /* 1-based index of the first malformed one; 0: none */
};

static void repo_reader_free(struct repo_reader *rr)
{
	strmap_free(&rr->tag_digests);
	free(rr->tags);
	free(rr->deletions);
	cJSON_Delete(rr->shell);
}

/* Reads one element of a "tags" or "deletions" array (its first token t) into rr. */
static int read_element(struct plan_reader *pr, struct repo_reader *rr, enum jr_token t,
			int deletion)
{
	cJSON *j = jr_value(&pr->jr, t);
	int bad;

	if (!j)
		return -1;
	/* After the first malformed one, elements are only parsed: the file must still be
	 * JSON and its seal checked before that error is reported. */
	if (!rr->bad_tag && !rr->bad_deletion && !err_isset(&pr->content)) {
		if (deletion) {
			int fresh;

			for (; rr->indexed < rr->tag_count; rr->indexed++)
				if (rr->tags[rr->indexed].digest)
					*strmap_slot(&rr->tag_digests, rr->tags[rr->indexed].digest,
						     &fresh) = rr->tags[rr->indexed].digest;
			rr->deletions = grow(rr->deletions, &rr->deletion_cap, rr->deletion_count + 1,
					     sizeof(*rr->deletions));
			memset(&rr->deletions[rr->deletion_count], 0, sizeof(*rr->deletions));
			bad = read_deletion(j, &rr->strings, &rr->tag_digests,
					    &rr->deletions[rr->deletion_count++]);
			rr->bad_deletion = bad ? rr->deletion_count : 0;
		} else {
			rr->tags = grow(rr->tags, &rr->tag_cap, rr->tag_count + 1, sizeof(*rr->tags));
			memset(&rr->tags[rr->tag_count], 0, sizeof(*rr->tags));
			bad = read_tag(j, &rr->strings, &rr->tags[rr->tag_count++]);
			rr->bad_tag = bad ? rr->tag_count : 0;
		}
	}
	cJSON_Delete(j);
	return 0;
}

/* The checks read_repo made on a whole cJSON repository, in the same order, once its
 * members are all read; a valid one is added to the plan, taking rr's arrays. */
static void repo_done(struct plan_reader *pr, struct repo_reader *rr)
{
	const char *name = json_string(rr->shell, "name"), *error = json_string(rr->shell, "error");
	const char *policy = json_string(rr->shell, "policy");
	struct plan_repo *r;

	if (err_isset(&pr->content))
		return;
	/* A repository whose name is not valid is left untouched: it deletes nothing, so its
	 * name never reaches a request. */
	if (!name || !rr->deletions_array || !rr->tags_array ||
	    (!util_valid_repo_name(name) && (!error || rr->deletion_count))) {
		err_set(&pr->content, "%s: repository %zu has no valid \"name\", \"tags\" and "
				      "\"deletions\"",
			pr->path, pr->p->repo_count + 1);
		return;
	}
	if (rr->bad_tag) {
		err_set(&pr->content, "%s: repository \"%s\": tag %zu is malformed", pr->path, name,
			rr->bad_tag);
		return;
	}
	if (rr->bad_deletion) {
		err_set(&pr->content, "%s: repository \"%s\": deletion %zu is malformed (needs "
				      "\"digest\" such as \"sha256:<hex>\" and \"tags\")",
			pr->path, name, rr->bad_deletion);
		return;
	}
	r = plan_add_repo(pr->p, name);
	r->error = error ? xstrdup(error) : NULL;
	r->policy = policy ? xstrdup(policy) : NULL;
	r->reclaimable_bytes = json_bytes(rr->shell, "reclaimable_bytes");
	r->tags = rr->tags;
	r->tag_count = rr->tag_count;
	r->deletions = rr->deletions;
	r->deletion_count = rr->deletion_count;
	rr->tags = NULL;
	rr->deletions = NULL;
	rr->tag_count = rr->deletion_count = 0;
}

/* The elements of an array member of a repository ("tags", "deletions"). */
static int read_elements(struct plan_reader *pr, struct repo_reader *rr, int deletion)
{
	enum jr_token t;

	while ((t = jr_next(&pr->jr)) != JR_ARRAY_END)
		if (read_element(pr, rr, t, deletion))
			return -1;
	return 0;
}

/* One element of "repositories" (its first token t). */
static int read_repo(struct plan_reader *pr, enum jr_token t)
{
	struct repo_reader rr = {.shell = cJSON_CreateObject(),
				 .strings = {.pool = plan_pool(pr->p)}};
	int rc = -1;

	if (t != JR_OBJECT) {
		cJSON *v = jr_value(&pr->jr, t);

		if (v && !err_isset(&pr->content))
			err_set(&pr->content, "%s: repository %zu has no valid \"name\", \"tags\" "
					      "and \"deletions\"",
				pr->path, pr->p->repo_count + 1);
		rc = v ? 0 : -1;
		cJSON_Delete(v);
		goto out;
	}
	while ((t = jr_next(&pr->jr)) == JR_KEY) {
		int tags = !strcmp(pr->jr.text, "tags") && !rr.tags_seen;
		int dels = !strcmp(pr->jr.text, "deletions") && !rr.deletions_seen;
		char *key = xstrdup(pr->jr.text);
		cJSON *v;

		t = jr_next(&pr->jr);
		rr.tags_seen |= tags;
		rr.deletions_seen |= dels;
		if ((tags || dels) && t == JR_ARRAY) {
			*(tags ? &rr.tags_array : &rr.deletions_array) = 1;
			free(key);
			if (read_elements(pr, &rr, dels))
				goto out;
			continue;
		}
		if (!(v = jr_value(&pr->jr, t))) {
			free(key);
			goto out;
		}
		cJSON_AddItemToObject(rr.shell, key, v);
		free(key);
	}
	if (t != JR_OBJECT_END)
		goto out;
	repo_done(pr, &rr);
	rc = 0;
out:
	repo_reader_free(&rr);
	return rc;
}

/* The top-level object, member by member. */
static int read_top(struct plan_reader *pr)
{
	enum jr_token t;

	if (jr_next(&pr->jr) != JR_OBJECT)
		return -1;
	while ((t = jr_next(&pr->jr)) == JR_KEY) {
		char *key = xstrdup(pr->jr.text);
		int seal = !strcmp(key, "plan_sha256") && !pr->seal_seen;
		cJSON *v;

		/* The seal is the hash of everything but itself. */
		if (seal)
			jr_unhashed(&pr->jr);
		t = jr_next(&pr->jr);
		if (!strcmp(key, "repositories") && !pr->repos_seen) {
			pr->repos_seen = 1;
			if (t == JR_ARRAY) {
				free(key);
				pr->repos_array = 1;
				while ((t = jr_next(&pr->jr)) != JR_ARRAY_END)
					if (read_repo(pr, t))
						return -1;
				continue;
			}
		}
		if (!(v = jr_value(&pr->jr, t))) {
			free(key);
			return -1;
		}
		if (seal) {
			pr->seal_seen = 1;
			pr->seal = cJSON_IsString(v) ? xstrdup(v->valuestring) : NULL;
			cJSON_Delete(v);
		} else {
			cJSON_AddItemToObject(pr->top, key, v);
		}
		free(key);
	}
	return t == JR_OBJECT_END && jr_next(&pr->jr) == JR_END ? 0 : -1;
}

static int read_int(const cJSON *o, const char *key, int lo, int hi, int *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi)
		return -1;
	*out = v->valueint;
	return 0;
}

/* The top level's facts, checked as before the repositories' own errors. */
static int read_plan(const cJSON *root, struct plan *p, struct rs_err *e, const char *path,
		     int repos_array)
{
	const cJSON *guards = cJSON_GetObjectItemCaseSensitive(root, "guards");
	const cJSON *sum = cJSON_GetObjectItemCaseSensitive(root, "summary");
	const char *registry = json_string(root, "registry"), *stack = json_string(root, "stack");
	const char *created = json_string(root, "created");
	const char *stack_sha = json_string(root, "stack_sha256");

	if (!registry || !repos_array) {
		err_set(e, "%s: plan lacks \"registry\" or \"repositories\"", path);
		return -1;
	}
	p->guards.max_delete_percent = -1;
	if (!guards ||
	    (cJSON_GetObjectItemCaseSensitive(guards, "max_delete_percent") &&
	     read_int(guards, "max_delete_percent", 0, 100, &p->guards.max_delete_percent)) ||
	    read_int(guards, "min_keep", 0, INT32_MAX, &p->guards.min_keep)) {
		err_set(e, "%s: plan lacks valid \"guards\"", path);
		return -1;
	}
	p->registry = xstrdup(registry);
	p->stack = stack ? xstrdup(stack) : NULL;
	p->stack_sha256 = stack_sha ? xstrdup(stack_sha) : NULL;
	if (!created || util_parse_rfc3339(created, &p->created))
		p->created = RS_CREATED_UNKNOWN;
	p->reclaimable_bytes = json_bytes(sum, "reclaimable_bytes");
	p->reclaimable_upper_bound =
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(sum, "reclaimable_is_upper_bound"));
	return 0;
}

int plan_read_file(const char *path, struct plan *out, struct rs_err *e)
{
	struct plan_reader pr = {.path = path, .p = out, .top = cJSON_CreateObject()};
	char hash[UTIL_SHA256_LEN];
	const cJSON *version;
	int fd, rc = -1;

	memset(out, 0, sizeof(*out));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		err_set(e, "%s: cannot read the plan file", path);
		cJSON_Delete(pr.top);
		return -1;
	}
	/* Read as a stream: a plan of 50,000 tags is never held as text or as a tree. */
	jr_init(&pr.jr, fd);
	if (read_top(&pr)) {
		err_set(e, pr.jr.read_error ? "%s: cannot read the plan file" : "%s: not valid JSON",
			path);
		goto out;
	}
	version = cJSON_GetObjectItemCaseSensitive(pr.top, "version");
	jr_digest(&pr.jr, hash);
	if (!cJSON_IsNumber(version) || version->valueint != PLAN_VERSION) {
		err_set(e, "%s: not a version %d regsweep plan", path, PLAN_VERSION);
	} else if (!pr.seal || strcmp(hash, pr.seal)) {
		err_set(e, "%s: plan_sha256 does not match: the plan was changed after regsweep "
			   "wrote it",
			path);
	} else if (read_plan(pr.top, out, e, path, pr.repos_array) == 0) {
		if (err_isset(&pr.content))
			err_set(e, "%s", pr.content.msg);
		else
			rc = 0;
	}
out:
	jr_free(&pr.jr);
	close(fd);
	cJSON_Delete(pr.top);
	free(pr.seal);
	return rc;
}

static void print_tag_lines(const struct plan_repo *r, FILE *out, int verbose)
{
	for (size_t k = 0; k < r->tag_count; k++) {
		const struct plan_tag *t = &r->tags[k];
		int shared = t->reason && !strncmp(t->reason, "shares digest", 13);

		/* Shared-digest survivors are always shown: they are what surprises people. */
		if (verbose || shared)
			out_line(out, "  %-6s %s:%s  %s", t->verdict == RS_DELETE ? "delete" : "keep",
				r->name, t->tag, t->reason ? t->reason : "");
	}
	for (size_t k = 0; verbose && k < r->deletion_count; k++) {
		const struct plan_deletion *d = &r->deletions[k];

		if (!d->tag_count)
			out_line(out, "  %-6s %s@%s  %s", "delete", r->name, d->digest,
				d->reason ? d->reason : "");
	}
}

/* Per repository: manifests deleted, skipped and failed by apply. */
static void repo_results(const struct plan_repo *r, size_t *done, size_t *skipped,
			 size_t *failed)
{
	*done = *skipped = *failed = 0;
	for (size_t k = 0; k < r->deletion_count; k++) {
		*done += r->deletions[k].done;
		*skipped += r->deletions[k].skipped != NULL;
		*failed += r->deletions[k].error != NULL;
	}
}

void plan_print_text(const struct plan *p, FILE *out, int verbose, int with_results)
{
	struct plan_totals t;
	char size[32];

	fprintf(out, "%-40s %7s %7s %7s %9s", "REPOSITORY", "TAGS", "KEEP", "DELETE", "MANIFESTS");
	if (with_results)
		fprintf(out, " %7s %7s %6s", "DELETED", "SKIPPED", "FAILED");
	fprintf(out, " %10s\n", "RECLAIM");
	for (size_t i = 0; i < p->repo_count; i++) {
		const struct plan_repo *r = &p->repos[i];
		size_t deleted = 0, done, skipped, failed;

		for (size_t k = 0; k < r->tag_count; k++)
			deleted += r->tags[k].verdict == RS_DELETE;
		struct buf row = {0};

		buf_printf(&row, "%-40s %7zu %7zu %7zu %9zu", r->name, r->tag_count,
			   r->tag_count - deleted, deleted, r->deletion_count);
		repo_results(r, &done, &skipped, &failed);
		if (with_results)
			buf_printf(&row, " %7zu %7zu %6zu", done, skipped, failed);
		if (r->reclaimable_bytes >= 0)
			util_format_size(r->reclaimable_bytes, size, sizeof(size));
		buf_printf(&row, " %10s", r->reclaimable_bytes >= 0 ? size : "-");
		out_line(out, "%s", row.data);
		buf_free(&row);
		if (verbose && r->policy)
			out_line(out, "  policy: %s", r->policy);
		if (r->error)
			out_line(out, "  untouched: %s", r->error);
		if (r->guard)
			out_line(out, "  refused by guard: %s", r->guard);
		print_tag_lines(r, out, verbose);
	}
	plan_totals(p, &t);
	fprintf(out,
		"total: %zu repositories, %zu tags, %zu kept, %zu to delete, %zu manifests to "
		"delete\n",
		t.repos, t.tags, t.kept, t.deleted, t.manifests);
	if (p->reclaimable_bytes >= 0) {
		util_format_size(p->reclaimable_bytes, size, sizeof(size));
		fprintf(out, "reclaimable by the registry's garbage collector: %s%s\n",
			p->reclaimable_upper_bound ? "at most " : "", size);
	}
}

void plan_free(struct plan *p)
{
	for (size_t i = 0; i < p->repo_count; i++)
		plan_repo_free(&p->repos[i]);
	free(p->repos);
	free(p->registry);
	free(p->stack);
	free(p->stack_sha256);
	pool_free(p->pool);
	memset(p, 0, sizeof(*p));
}
