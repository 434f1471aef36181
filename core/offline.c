/* offline.c - an images file read into the shape of a scan. */
#include "offline.h"

#include <stdlib.h>
#include <string.h>

#include "json.h"

#define MAX_IMAGES 1000000 /* per file: a listing is always bounded */

/* A time member: 0 when absent or null, -1 when it is not RFC 3339. */
static int read_time(const cJSON *o, const char *key, int64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	*out = RS_TIME_UNKNOWN;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v) || util_parse_rfc3339(v->valuestring, out))
		return -1;
	if (strcmp(key, "created") == 0 && *out < UTIL_EPOCH_1980)
		*out = RS_TIME_UNKNOWN; /* as the scan reads config blobs */
	return 0;
}

struct reader {
	struct reg_scan *scan;
	const char *path;
	struct rs_err *e;
	size_t images; /* read so far, for messages and the bound */
};

static int bad(struct reader *rd, const char *repo, const char *what)
{
	err_set(rd->e, "%s: repository \"%s\", image %zu: %s", rd->path, repo, rd->images, what);
	return -1;
}

static void add_tag(struct reg_repo *rr, size_t *cap, const struct reg_image *img)
{
	if (rr->count == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		rr->images = xrealloc(rr->images, *cap * sizeof(*rr->images));
	}
	rr->images[rr->count++] = *img;
}

static int read_labels(struct reader *rd, const cJSON *labels, struct reg_image *img)
{
	const cJSON *v;

	if (!labels)
		return 0;
	if (!cJSON_IsObject(labels))
		return -1;
	img->labels = pool_calloc(rd->scan->pool, (size_t)cJSON_GetArraySize(labels) + 1,
				  sizeof(*img->labels));
	cJSON_ArrayForEach(v, labels) {
		if (!cJSON_IsString(v))
			return -1;
		img->labels[img->label_count++] =
		    (struct rs_label){pool_strdup(rd->scan->pool, v->string),
				      pool_strdup(rd->scan->pool, v->valuestring)};
	}
	return 0;
}

/* The digest an image without one gets: unique within the file. */
static char *made_up_digest(struct pool *pool, size_t n)
{
	char text[32], digest[UTIL_SHA256_LEN];

	snprintf(text, sizeof(text), "image %zu", n);
	util_sha256(text, strlen(text), digest);
	return pool_strdup(pool, digest);
}

/* One IMAGE: a reg_image per tag, or an untagged entry. */
static int read_image(struct reader *rd, struct reg_repo *rr, size_t *cap, size_t *ucap,
		      const cJSON *j)
{
	const cJSON *tags = cJSON_GetObjectItemCaseSensitive(j, "tags"), *t;
	const char *digest = json_string(j, "digest");
	struct reg_image img = {.size = -1};
	struct pool *pool = rd->scan->pool;

	if (++rd->images > MAX_IMAGES)
		return bad(rd, rr->name, "too many images");
	if (!cJSON_IsObject(j))
		return bad(rd, rr->name, "not an object");
	if (digest && !util_valid_digest(digest))
		return bad(rd, rr->name, "\"digest\" is not sha256:<64 hex digits>");
	img.digest = digest ? pool_strdup(pool, digest) : made_up_digest(pool, rd->images);
	if (read_time(j, "created", &img.created) || read_time(j, "pushed", &img.pushed))
		return bad(rd, rr->name, "\"created\" and \"pushed\" must be RFC 3339 times");
	if (read_labels(rd, cJSON_GetObjectItemCaseSensitive(j, "labels"), &img))
		return bad(rd, rr->name, "\"labels\" must be an object of strings");
	if (tags && !cJSON_IsArray(tags))
		return bad(rd, rr->name, "\"tags\" must be a list");
	if (!cJSON_GetArraySize(tags)) {
		if (rr->untagged_count == *ucap) {
			*ucap = *ucap ? *ucap * 2 : 16;
			rr->untagged = xrealloc(rr->untagged, *ucap * sizeof(*rr->untagged));
		}
		rr->untagged[rr->untagged_count++] = (struct reg_untagged){img.digest, img.pushed};
		return 0;
	}
	cJSON_ArrayForEach(t, tags) {
		struct reg_image one = img;
		const char *name = cJSON_IsString(t) ? t->valuestring : json_string(t, "name");

		if (!name || !util_valid_tag(name))
			return bad(rd, rr->name, "a tag is not a valid tag name");
		one.tag = pool_strdup(pool, name);
		if (cJSON_IsObject(t) && cJSON_GetObjectItemCaseSensitive(t, "pushed") &&
		    read_time(t, "pushed", &one.pushed))
			return bad(rd, rr->name, "a tag's \"pushed\" must be an RFC 3339 time");
		add_tag(rr, cap, &one);
	}
	return 0;
}

static int read_repo(struct reader *rd, const char *name, const cJSON *images)
{
	struct reg_repo *rr;
	size_t cap = 0, ucap = 0;
	const cJSON *j;

	if (!name || !util_valid_repo_name(name)) {
		err_set(rd->e, "%s: repository %zu has no valid name", rd->path,
			rd->scan->count + 1);
		return -1;
	}
	if (!cJSON_IsArray(images)) {
		err_set(rd->e, "%s: repository \"%s\" has no \"images\" list", rd->path, name);
		return -1;
	}
	rd->scan->repos = xrealloc(rd->scan->repos, (rd->scan->count + 1) * sizeof(*rr));
	rr = &rd->scan->repos[rd->scan->count++];
	memset(rr, 0, sizeof(*rr));
	rr->name = pool_strdup(rd->scan->pool, name);
	cJSON_ArrayForEach(j, images) {
		if (read_image(rd, rr, &cap, &ucap, j))
			return -1;
	}
	return 0;
}

static int read_doc(struct reader *rd, const cJSON *doc, const char *default_repo,
		    int64_t *now)
{
	const cJSON *repos = cJSON_GetObjectItemCaseSensitive(doc, "repositories"), *r;
	int64_t t;

	if (cJSON_IsArray(doc))
		return read_repo(rd, default_repo, doc);
	if (!cJSON_IsObject(doc)) {
		err_set(rd->e, "%s: not a list of images or an object", rd->path);
		return -1;
	}
	if (read_time(doc, "now", &t)) {
		err_set(rd->e, "%s: \"now\" must be an RFC 3339 time", rd->path);
		return -1;
	}
	if (t != RS_TIME_UNKNOWN)
		*now = t;
	if (!repos) {
		const char *name = json_string(doc, "repository");

		return read_repo(rd, name ? name : default_repo,
				 cJSON_GetObjectItemCaseSensitive(doc, "images"));
	}
	if (!cJSON_IsArray(repos)) {
		err_set(rd->e, "%s: \"repositories\" must be a list", rd->path);
		return -1;
	}
	cJSON_ArrayForEach(r, repos) {
		if (read_repo(rd, json_string(r, "name"), cJSON_GetObjectItemCaseSensitive(r, "images")))
			return -1;
	}
	return 0;
}

int offline_read(const char *path, const char *default_repo, struct reg_scan *out,
		 int64_t *now, struct rs_err *e)
{
	struct reader rd = {.scan = out, .path = path, .e = e};
	struct buf b = {0};
	cJSON *doc;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	out->pool = pool_new();
	if (buf_read_file(&b, path)) {
		err_set(e, "%s: cannot read the images file", path);
		goto out;
	}
	doc = b.data ? cJSON_ParseWithLength(b.data, b.len) : NULL;
	if (!doc) {
		err_set(e, "%s: not valid JSON", path);
		goto out;
	}
	rc = read_doc(&rd, doc, default_repo, now);
	cJSON_Delete(doc);
out:
	buf_free(&b);
	return rc;
}
