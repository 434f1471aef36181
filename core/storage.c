/* storage.c - push times and untagged manifests from distribution's filesystem layout:
 *   <root>/docker/registry/v2/repositories/<repo>/_manifests/tags/<tag>/current/link
 *     (its mtime: when the tag was last pushed)
 *   <root>/docker/registry/v2/repositories/<repo>/_manifests/revisions/sha256/<hex>/link
 *     (every manifest the repository holds, tagged or not; mtime: its first push) */
#include "storage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define REPOS_DIR "/docker/registry/v2/repositories"
#define MAX_REVISIONS 1000000 /* per repository: a listing is always bounded */

struct fs_source {
	char *repos; /* <root>/docker/registry/v2/repositories */
};

/* A link file's mtime; RS_TIME_UNKNOWN unless it is a regular file. */
static int64_t link_mtime(const char *path)
{
	struct stat st;

	if (lstat(path, &st) || !S_ISREG(st.st_mode))
		return RS_TIME_UNKNOWN;
	return (int64_t)st.st_mtime;
}

static int64_t fs_tag_pushed(void *impl, const char *repo, const char *tag)
{
	const struct fs_source *fs = impl;
	char *path;
	int64_t t;

	/* Names come from the registry: only valid ones may become paths. */
	if (!util_valid_repo_name(repo) || !util_valid_tag(tag))
		return RS_TIME_UNKNOWN;
	path = xasprintf("%s/%s/_manifests/tags/%s/current/link", fs->repos, repo, tag);
	t = link_mtime(path);
	free(path);
	return t;
}

static int is_hex64(const char *s)
{
	return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

static int fs_revisions(void *impl, const char *repo, size_t max, struct push_revision **out,
			size_t *count, struct rs_err *e)
{
	const struct fs_source *fs = impl;
	char *dir;
	DIR *d;
	struct dirent *de;
	size_t cap = 0;
	int rc = 0;

	*out = NULL;
	*count = 0;
	if (!util_valid_repo_name(repo)) {
		err_set(e, "%s: not a valid repository name", repo);
		return -1;
	}
	dir = xasprintf("%s/%s/_manifests/revisions/sha256", fs->repos, repo);
	d = opendir(dir);
	if (!d) {
		/* A repository that never received a manifest has no revisions directory. */
		if (errno != ENOENT) {
			err_set(e, "%s: %s", dir, strerror(errno));
			rc = -1;
		}
		free(dir);
		return rc;
	}
	while ((de = readdir(d))) {
		char *link;
		int64_t t;

		if (!is_hex64(de->d_name))
			continue;
		link = xasprintf("%s/%s/link", dir, de->d_name);
		t = link_mtime(link);
		free(link);
		/* A deleted manifest leaves its directory without a link. */
		if (t == RS_TIME_UNKNOWN)
			continue;
		if (*count == max) {
			err_set(e, "%s: more than %zu manifests", dir, max);
			rc = -1;
			break;
		}
		if (*count == cap) {
			cap = cap ? cap * 2 : 16;
			*out = xrealloc(*out, cap * sizeof(**out));
		}
		/* is_hex64 held: exactly 64 characters fit. */
		memcpy((*out)[*count].digest, "sha256:", 7);
		memcpy((*out)[*count].digest + 7, de->d_name, 65);
		(*out)[(*count)++].pushed = t;
	}
	closedir(d);
	free(dir);
	return rc;
}

static void fs_close(void *impl)
{
	struct fs_source *fs = impl;

	free(fs->repos);
	free(fs);
}

static const struct push_source_ops fs_ops = {fs_tag_pushed, fs_revisions, fs_close};

int storage_open_fs(const char *root, const char *where, struct push_source *out,
		    struct rs_err *e)
{
	struct fs_source *fs;
	char *repos = xasprintf("%s" REPOS_DIR, root);
	struct stat st;

	if (stat(repos, &st) || !S_ISDIR(st.st_mode)) {
		/* A registry that has never stored anything has no repositories directory. */
		char *top = xasprintf("%s/docker/registry/v2", root);
		int fresh = stat(top, &st) == 0 && S_ISDIR(st.st_mode);

		free(top);
		if (!fresh) {
			err_set(e, "%s: storage_root \"%s\" is not distribution's filesystem "
				   "storage: no docker/registry/v2 under it",
				where, root);
			free(repos);
			return -1;
		}
	}
	fs = xcalloc(1, sizeof(*fs));
	fs->repos = repos;
	out->ops = &fs_ops;
	out->impl = fs;
	return 0;
}

void storage_close(struct push_source *src)
{
	if (src->ops)
		src->ops->close(src->impl);
	memset(src, 0, sizeof(*src));
}

/* Any non-NULL pointer marks a member of a strmap used as a set. */
static char member;

static void add_reached(struct strmap *set, const struct reg_repo *rr, const char *digest)
{
	const struct reg_manifest *m;
	int fresh;

	*strmap_slot(set, digest, &fresh) = &member;
	m = fresh ? registry_manifest(rr, digest) : NULL;
	for (size_t i = 0; m && i < m->child_count; i++)
		add_reached(set, rr, m->children[i]);
}

/* Of revs, the manifests nothing tagged reaches, no other such manifest lists as a child,
 * and that refer to no subject: the roots the `untagged` module judges.  What hangs below
 * them follows them through the graph. */
static void find_untagged(struct reg_repo *rr, const struct push_revision *revs, size_t n,
			  struct pool *pool)
{
	struct strmap reached = {0}, listed = {0};
	int fresh;

	for (size_t i = 0; i < rr->count; i++)
		if (rr->images[i].digest)
			add_reached(&reached, rr, rr->images[i].digest);
	for (size_t i = 0; i < n; i++) {
		const struct reg_manifest *m = registry_manifest(rr, revs[i].digest);

		for (size_t c = 0; m && !strmap_get(&reached, m->digest) && c < m->child_count; c++)
			*strmap_slot(&listed, m->children[c], &fresh) = &member;
	}
	rr->untagged = xcalloc(n + 1, sizeof(*rr->untagged));
	for (size_t i = 0; i < n; i++) {
		const struct reg_manifest *m = registry_manifest(rr, revs[i].digest);

		if (!m || m->subject || strmap_get(&reached, revs[i].digest) ||
		    strmap_get(&listed, revs[i].digest))
			continue;
		rr->untagged[rr->untagged_count++] =
		    (struct reg_untagged){pool_strdup(pool, revs[i].digest), revs[i].pushed};
	}
	strmap_free(&listed);
	strmap_free(&reached);
}

/* The manifests of each repository's revisions that the scan did not read. */
struct unread {
	struct reg_get *gets;
	size_t *repo_of;
	size_t count;
};

static void want_unread(struct unread *u, const struct reg_repo *rr, size_t repo,
			const struct push_revision *revs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (registry_manifest(rr, revs[i].digest))
			continue;
		u->gets = xrealloc(u->gets, (u->count + 1) * sizeof(*u->gets));
		u->repo_of = xrealloc(u->repo_of, (u->count + 1) * sizeof(*u->repo_of));
		u->gets[u->count] = (struct reg_get){.repo = rr->name, .digest = revs[i].digest};
		u->repo_of[u->count++] = repo;
	}
}

void storage_attach(struct push_source *src, struct registry *reg, struct reg_scan *scan,
		    int untagged)
{
	struct push_revision **revs = xcalloc(scan->count + 1, sizeof(*revs));
	size_t *nrevs = xcalloc(scan->count + 1, sizeof(*nrevs));
	char *failed = xcalloc(scan->count + 1, 1);
	struct reg_manifest *read = NULL;
	size_t nread = 0;
	struct unread u = {0};

	for (size_t i = 0; i < scan->count; i++) {
		struct reg_repo *rr = &scan->repos[i];
		struct rs_err e = {{0}};

		if (rr->error)
			continue;
		for (size_t k = 0; k < rr->count; k++)
			rr->images[k].pushed = src->ops->tag_pushed(src->impl, rr->name,
								    rr->images[k].tag);
		if (!untagged)
			continue;
		if (src->ops->revisions(src->impl, rr->name, MAX_REVISIONS, &revs[i], &nrevs[i],
					&e)) {
			log_msg(RS_LOG_WARN, "%s: untagged manifests not listed, none is deleted: %s",
				rr->name, e.msg);
			failed[i] = 1;
			continue;
		}
		want_unread(&u, rr, i, revs[i], nrevs[i]);
	}
	registry_get_manifests(reg, u.gets, u.count);
	read = xcalloc(u.count + 1, sizeof(*read));
	/* gets are grouped by repository: adopt each group at once. */
	for (size_t k = 0; k < u.count; k++) {
		struct reg_repo *rr = &scan->repos[u.repo_of[k]];

		memset(&read[nread], 0, sizeof(read[nread])); /* reused across repositories */
		if (!u.gets[k].body ||
		    registry_manifest_from_body(scan->pool, scan->bodies, &read[nread], u.gets[k].digest,
						u.gets[k].body, u.gets[k].body_len, NULL)) {
			if (!failed[u.repo_of[k]])
				log_msg(RS_LOG_WARN, "%s@%s: untagged manifest not readable, none "
						     "is deleted: %s",
					rr->name, u.gets[k].digest,
					u.gets[k].body ? "not a manifest" : u.gets[k].error);
			failed[u.repo_of[k]] = 1;
		} else {
			nread++;
		}
		free(u.gets[k].body);
		if (k + 1 == u.count || u.repo_of[k + 1] != u.repo_of[k]) {
			registry_adopt_manifests(rr, read, nread);
			nread = 0;
		}
	}
	free(read);
	for (size_t i = 0; untagged && i < scan->count; i++)
		if (!scan->repos[i].error && !failed[i])
			find_untagged(&scan->repos[i], revs[i], nrevs[i], scan->pool);
	for (size_t i = 0; i < scan->count; i++)
		free(revs[i]);
	free(revs);
	free(nrevs);
	free(failed);
	free(u.gets);
	free(u.repo_of);
}

/* Removes the directory at name under dirfd and everything in it, following no symlink. */
static int rm_tree(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d;
	struct dirent *de;
	int rc = 0;

	if (fd < 0)
		return unlinkat(dirfd, name, 0);
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	while (rc == 0 && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		rc = de->d_type == DT_DIR ? rm_tree(fd, de->d_name) : unlinkat(fd, de->d_name, 0);
	}
	closedir(d);
	return rc ? rc : unlinkat(dirfd, name, AT_REMOVEDIR);
}

/* One repository's tags by the digest their current link names: head[digest] is the first
 * tag's index + 1 into names, next[i] the following one's; the strings live in pool. */
struct repo_tags {
	struct strmap head;
	char **names;
	size_t *next;
	size_t count;
};

static void read_repo_tags(const char *repo_dir, struct pool *pool, struct repo_tags *t)
{
	char *tags_dir = xasprintf("%s/_manifests/tags", repo_dir);
	DIR *d = opendir(tags_dir);
	struct dirent *de;
	size_t cap = 0;
	int fresh;

	while (d && (de = readdir(d))) {
		char *link, digest[80];
		FILE *f;
		void **slot;
		size_t n = 0;

		if (!util_valid_tag(de->d_name))
			continue;
		link = xasprintf("%s/%s/current/link", tags_dir, de->d_name);
		f = fopen(link, "re");
		free(link);
		if (f) {
			n = fread(digest, 1, sizeof(digest) - 1, f);
			fclose(f);
		}
		digest[n] = '\0';
		digest[strcspn(digest, "\n")] = '\0';
		if (!util_valid_digest(digest))
			continue;
		if (t->count == cap) {
			cap = cap ? cap * 2 : 64;
			t->names = xrealloc(t->names, cap * sizeof(char *));
			t->next = xrealloc(t->next, cap * sizeof(size_t));
		}
		slot = strmap_slot(&t->head, pool_strdup(pool, digest), &fresh);
		t->names[t->count] = pool_strdup(pool, de->d_name);
		t->next[t->count] = fresh ? 0 : (uintptr_t)*slot;
		*slot = (void *)(uintptr_t)++t->count;
	}
	if (d)
		closedir(d);
	free(tags_dir);
}

static void free_repo_tags(struct repo_tags *t)
{
	strmap_free(&t->head);
	free(t->names);
	free(t->next);
	memset(t, 0, sizeof(*t));
}

/* Deletes one manifest of the repository whose directory is repo_dir (tags: its tags). */
static void delete_one(const char *repo_dir, const struct repo_tags *tags, struct reg_delete *d)
{
	char *link = xasprintf("%s/_manifests/revisions/sha256/%s/link", repo_dir, d->digest + 7);
	char *tags_dir = xasprintf("%s/_manifests/tags", repo_dir);
	int tfd;

	d->ok = 1;
	if (unlink(link) != 0) {
		if (errno != ENOENT) {
			d->ok = 0;
			snprintf(d->error, sizeof(d->error), "%s: %s", link, strerror(errno));
		}
		goto out; /* gone already: nothing to untag, as a 404 from the API */
	}
	tfd = open(tags_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	for (uintptr_t i = tfd < 0 ? 0 : (uintptr_t)strmap_get(&tags->head, d->digest); i;
	     i = tags->next[i - 1]) {
		if (rm_tree(tfd, tags->names[i - 1]) != 0 && errno != ENOENT && d->ok) {
			d->ok = 0;
			snprintf(d->error, sizeof(d->error), "%s/%s: %s", tags_dir,
				 tags->names[i - 1], strerror(errno));
		}
	}
	if (tfd >= 0)
		close(tfd);
out:
	free(tags_dir);
	free(link);
}

size_t storage_delete(const char *root, struct reg_delete *dels, size_t count)
{
	struct pool *pool = pool_new();
	struct repo_tags tags = {0};
	const char *repo = NULL;
	char *repo_dir = NULL;
	size_t failed = 0;

	for (size_t i = 0; i < count; i++) {
		struct reg_delete *d = &dels[i];

		if (!util_valid_repo_name(d->repo) || strncmp(d->digest, "sha256:", 7) ||
		    !util_valid_digest(d->digest)) {
			snprintf(d->error, sizeof(d->error), "%s@%s: not a name and sha256 digest to "
							   "delete in storage",
				 d->repo, d->digest);
			failed++;
			continue;
		}
		/* A repository's tags are read once for its run of the batch. */
		if (!repo || strcmp(repo, d->repo)) {
			free_repo_tags(&tags);
			free(repo_dir);
			repo = d->repo;
			repo_dir = xasprintf("%s" REPOS_DIR "/%s", root, repo);
			read_repo_tags(repo_dir, pool, &tags);
		}
		delete_one(repo_dir, &tags, d);
		failed += !d->ok;
	}
	free_repo_tags(&tags);
	free(repo_dir);
	pool_free(pool);
	return failed;
}
