/* report.c - per-repository storage figures from an image graph scan, text and JSON. */
#include "report.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"

/* One reference from a repository to a blob or a manifest, both stored by digest. */
struct ref {
	uint64_t key;       /* the digest's hash: sorting compares these, not the strings */
	const char *digest; /* borrowed from the scan */
	int64_t size;       /* -1 when the descriptor gives none */
	size_t repo;        /* index into the scan's repositories */
};

struct refs {
	struct ref *v;
	size_t n, cap;
};

/* FNV-1a */
static uint64_t digest_key(const char *digest)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (const unsigned char *p = (const unsigned char *)digest; *p; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	return h;
}

static void refs_add(struct refs *rs, const char *digest, int64_t size, size_t repo)
{
	if (!digest)
		return; /* nothing to deduplicate on, and nothing a DELETE could free */
	if (rs->n == rs->cap) {
		rs->cap = rs->cap ? 2 * rs->cap : 256;
		rs->v = xrealloc(rs->v, rs->cap * sizeof(*rs->v));
	}
	rs->v[rs->n++] =
		(struct ref){.key = digest_key(digest), .digest = digest, .size = size, .repo = repo};
}

/* Equal digests end up adjacent, and within them one repository's references; the order
 * between digests is the hashes', which is all grouping needs and spares a string
 * comparison (a cache miss) per step of the sort. */
static int by_digest_repo(const void *a, const void *b)
{
	const struct ref *x = a, *y = b;
	int c;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	c = strcmp(x->digest, y->digest);
	if (c)
		return c;
	return (x->repo > y->repo) - (x->repo < y->repo);
}

static int same_digest(const struct ref *x, const struct ref *y)
{
	return x->key == y->key && !strcmp(x->digest, y->digest);
}

/* Once sorted, the references to one blob are adjacent, and within them those of one
 * repository: each group is counted once per repository that holds it, and as unique
 * when only one does. */
static void count_bytes(struct refs *rs, struct report *out)
{
	if (!rs->n)
		return; /* qsort must not be given a NULL base, even for no elements */
	qsort(rs->v, rs->n, sizeof(*rs->v), by_digest_repo);
	for (size_t lo = 0, hi; lo < rs->n; lo = hi) {
		uint64_t size = 0;
		size_t holders = 0;

		/* Descriptors of one digest should agree; if they do not, the largest wins so
		 * that the figure does not depend on scan order. */
		for (hi = lo; hi < rs->n && same_digest(&rs->v[hi], &rs->v[lo]); hi++) {
			if (rs->v[hi].size > 0 && (uint64_t)rs->v[hi].size > size)
				size = (uint64_t)rs->v[hi].size;
			holders += hi == lo || rs->v[hi].repo != rs->v[hi - 1].repo;
		}
		for (size_t k = lo; k < hi; k++)
			if (k == lo || rs->v[k].repo != rs->v[k - 1].repo) {
				out->repos[rs->v[k].repo].total_bytes += size;
				if (holders == 1)
					out->repos[rs->v[k].repo].unique_bytes += size;
			}
		out->total_bytes += size;
	}
}

static void add_repo_refs(struct refs *rs, const struct reg_repo *rr, size_t repo)
{
	for (size_t i = 0; i < rr->manifest_count; i++) {
		const struct reg_manifest *m = &rr->manifests[i];

		refs_add(rs, m->digest, (int64_t)m->body_len, repo);
		for (size_t k = 0; k < m->blob_count; k++)
			refs_add(rs, m->blobs[k].digest, m->blobs[k].size, repo);
	}
}

/* r's times start unknown. */
static void set_times(struct report_repo *r, const struct reg_repo *rr)
{
	for (size_t i = 0; i < rr->count; i++) {
		int64_t t = rr->images[i].created;

		if (t == RS_CREATED_UNKNOWN)
			continue;
		if (r->oldest == RS_CREATED_UNKNOWN || t < r->oldest)
			r->oldest = t;
		if (r->newest == RS_CREATED_UNKNOWN || t > r->newest)
			r->newest = t;
	}
}

static int by_rank(const void *a, const void *b)
{
	const struct report_repo *x = a, *y = b;

	if (!x->error != !y->error)
		return x->error ? 1 : -1;
	if (x->unique_bytes != y->unique_bytes)
		return x->unique_bytes > y->unique_bytes ? -1 : 1;
	return strcmp(x->name, y->name);
}

void report_build(const struct reg_scan *scan, const char *registry, struct report *out)
{
	struct refs rs = {0};

	memset(out, 0, sizeof(*out));
	out->registry = xstrdup(registry);
	out->count = scan->count;
	out->repos = xcalloc(scan->count, sizeof(*out->repos));
	for (size_t i = 0; i < scan->count; i++) {
		const struct reg_repo *rr = &scan->repos[i];
		struct report_repo *r = &out->repos[i];

		r->name = xstrdup(rr->name);
		r->oldest = r->newest = RS_CREATED_UNKNOWN;
		if (rr->error) {
			r->error = xstrdup(rr->error);
			out->failed++;
			continue;
		}
		r->tags = rr->count;
		r->manifests = rr->manifest_count;
		set_times(r, rr);
		out->tags += r->tags;
		out->manifests += r->manifests;
		add_repo_refs(&rs, rr, i);
	}
	count_bytes(&rs, out);
	free(rs.v);
	qsort(out->repos, out->count, sizeof(*out->repos), by_rank);
}

/* The day is what the table needs; JSON has the full time. */
static void format_day(int64_t t, char out[32])
{
	if (t == RS_CREATED_UNKNOWN) {
		strcpy(out, "-");
		return;
	}
	util_format_rfc3339(t, out, 32);
	out[strcspn(out, "T")] = '\0';
}

/* How many of the scanned repositories are shown: --top cuts the ranking, never a failure. */
static size_t shown(const struct report *r, size_t top)
{
	size_t scanned = r->count - r->failed;

	return top && top < scanned ? top : scanned;
}

static void print_row(const struct report_repo *r, FILE *out)
{
	char total[UTIL_SIZE_LEN], unique[UTIL_SIZE_LEN], oldest[32], newest[32];

	if (r->error) {
		out_line(out, "%-40s %6s %9s %11s %11s %-10s %s", r->name, "-", "-", "-", "-", "-",
			 "-");
		out_line(out, "  not scanned: %s", r->error);
		return;
	}
	util_format_size((int64_t)(r->total_bytes), total, sizeof(total));
	util_format_size((int64_t)(r->unique_bytes), unique, sizeof(unique));
	format_day(r->oldest, oldest);
	format_day(r->newest, newest);
	out_line(out, "%-40s %6zu %9zu %11s %11s %-10s %s", r->name, r->tags, r->manifests, total,
		 unique, oldest, newest);
}

void report_print_text(const struct report *r, size_t top, FILE *out)
{
	size_t n = shown(r, top), scanned = r->count - r->failed;
	char size[UTIL_SIZE_LEN];

	fprintf(out, "%-40s %6s %9s %11s %11s %-10s %s\n", "REPOSITORY", "TAGS", "MANIFESTS",
		"TOTAL", "UNIQUE", "OLDEST", "NEWEST");
	for (size_t i = 0; i < n; i++)
		print_row(&r->repos[i], out);
	if (n < scanned) {
		uint64_t rest = 0;

		for (size_t i = n; i < scanned; i++)
			rest += r->repos[i].unique_bytes;
		util_format_size((int64_t)(rest), size, sizeof(size));
		fprintf(out, "... %zu more repositor%s, %s unique between them\n", scanned - n,
			scanned - n == 1 ? "y" : "ies", size);
	}
	for (size_t i = scanned; i < r->count; i++)
		print_row(&r->repos[i], out);
	util_format_size((int64_t)(r->total_bytes), size, sizeof(size));
	fprintf(out, "total: %zu repositories, %zu tags, %zu manifests, %s", r->count, r->tags,
		r->manifests, size);
	if (r->failed)
		fprintf(out, "; %zu not scanned", r->failed);
	fputc('\n', out);
}

/* Exact as long as it fits a double's 53-bit mantissa: 8 PiB. */
static cJSON *count_json(uint64_t n)
{
	return cJSON_CreateNumber((double)n);
}

static cJSON *repo_json(const struct report_repo *r)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "name", r->name);
	if (r->error) {
		/* Figures of a partial scan would read as facts: none are given. */
		static const char *const keys[] = {"tags",   "manifests", "total_bytes",
						   "unique_bytes", "oldest", "newest"};

		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			cJSON_AddNullToObject(o, keys[i]);
		cJSON_AddStringToObject(o, "error", r->error);
		return o;
	}
	cJSON_AddItemToObject(o, "tags", count_json(r->tags));
	cJSON_AddItemToObject(o, "manifests", count_json(r->manifests));
	cJSON_AddItemToObject(o, "total_bytes", count_json(r->total_bytes));
	cJSON_AddItemToObject(o, "unique_bytes", count_json(r->unique_bytes));
	cJSON_AddItemToObject(o, "oldest", json_time(r->oldest));
	cJSON_AddItemToObject(o, "newest", json_time(r->newest));
	return o;
}

char *report_to_json(const struct report *r, size_t top)
{
	cJSON *root = cJSON_CreateObject(), *repos, *sum;
	size_t n = shown(r, top);
	char *text;

	cJSON_AddNumberToObject(root, "version", REPORT_VERSION);
	cJSON_AddStringToObject(root, "registry", r->registry);
	repos = cJSON_AddArrayToObject(root, "repositories");
	for (size_t i = 0; i < r->count; i++)
		if (i < n || r->repos[i].error)
			cJSON_AddItemToArray(repos, repo_json(&r->repos[i]));
	sum = cJSON_AddObjectToObject(root, "summary");
	cJSON_AddItemToObject(sum, "repositories", count_json(r->count));
	cJSON_AddItemToObject(sum, "not_scanned", count_json(r->failed));
	cJSON_AddItemToObject(sum, "tags", count_json(r->tags));
	cJSON_AddItemToObject(sum, "manifests", count_json(r->manifests));
	cJSON_AddItemToObject(sum, "total_bytes", count_json(r->total_bytes));
	text = json_text(root, 1);
	cJSON_Delete(root);
	return text;
}

void report_free(struct report *r)
{
	for (size_t i = 0; i < r->count; i++) {
		free(r->repos[i].name);
		free(r->repos[i].error);
	}
	free(r->repos);
	free(r->registry);
	memset(r, 0, sizeof(*r));
}
