/* rs-seed.c - pushes synthetic images described by a small spec to a registry over its HTTP API. */
#define _POSIX_C_SOURCE 200809L

#include <cJSON.h>
#include <curl/curl.h>

#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SLOTS 8			/* concurrent transfers: more just queue in the registry */
#define MAX_BODY (4 << 20)	/* far above any manifest or error document we read */
/* util_format_rfc3339 writes RFC 3339 for years 0000-9999 only */
#define MIN_TIME (-62167219200LL)	/* 0000-01-01T00:00:00Z */
#define MAX_TIME 253402300799LL		/* 9999-12-31T23:59:59Z */

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define MT_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar.gzip"

/* What cosign pushes for `sign`: the tag suffix and the media type of the one layer. */
static const struct sign_kind {
	const char *suffix;
	const char *layer_type;
} sign_kinds[] = {
	{"sig", "application/vnd.dev.cosign.simplesigning.v1+json"},
	{"att", "application/vnd.dsse.envelope.v1+json"},
	{"sbom", "text/spdx+json"},
};

static const char usage[] =
	"usage: rs-seed REGISTRY_URL [SPEC_FILE]\n"
	"\n"
	"Pushes the synthetic images that SPEC_FILE (standard input when absent or \"-\")\n"
	"describes to the registry at REGISTRY_URL (e.g. http://127.0.0.1:5000) and\n"
	"prints one line \"REPO TAG DIGEST CREATED\" per tag pushed.\n"
	"\n"
	"Spec lines (blank lines and lines starting with # are ignored):\n"
	"  image REPO TAG CREATED [label=KEY=VALUE ...] [layer=NAME] [oci] [untagged]\n"
	"      a linux/amd64 image with its own config and layer, as a docker v2\n"
	"      manifest (an OCI image manifest with \"oci\"), tagged TAG; images\n"
	"      given the same layer=NAME share one layer blob, also across\n"
	"      repositories; \"untagged\" pushes it by digest only (TAG just\n"
	"      names it) and prints - for its tag. A line pushing a TAG again\n"
	"      with another CREATED moves TAG to a new image and leaves the old\n"
	"      one untagged (without layer=NAME the two share their layer)\n"
	"  tag REPO NEWTAG SRCTAG\n"
	"      NEWTAG gets the exact manifest of SRCTAG, so both share one digest;\n"
	"      prints SRCTAG's CREATED, or - when this run did not push it\n"
	"  index REPO TAG CREATED_AMD64 CREATED_ARM64 [docker] [untagged]\n"
	"      an OCI image index (a docker manifest list with \"docker\") over\n"
	"      untagged linux/amd64 and linux/arm64 images, tagged TAG; prints the\n"
	"      index digest and the newer CREATED; \"untagged\" pushes the index\n"
	"      by digest only too (TAG just names it) and prints - for its tag\n"
	"  sign REPO TAG [sig|att|sbom] [subject] [untagged]\n"
	"      a cosign-style signature (default), attestation or SBOM of the\n"
	"      manifest TAG names now: an OCI image manifest with its own config\n"
	"      and one small payload layer, unique per line, tagged\n"
	"      sha256-<hex of TAG's digest>.sig (.att, .sbom); with \"subject\"\n"
	"      it also names TAG's manifest in an OCI 1.1 \"subject\" descriptor;\n"
	"      prints the signature's tag and digest and CREATED -; \"untagged\"\n"
	"      pushes it by digest only (as OCI 1.1 referrers are) and prints -\n"
	"      for its tag\n"
	"  bulk PREFIX NREPOS NTAGS BASE_TIME STEP_SECONDS\n"
	"      repositories PREFIX-1..PREFIX-NREPOS with tags build-1..build-NTAGS,\n"
	"      build-i created at BASE_TIME + i*STEP_SECONDS (UTC, whole seconds),\n"
	"      pushed in a fixed shuffled order; the images of a repository share\n"
	"      one layer\n"
	"Times are RFC 3339, e.g. 2024-01-02T03:04:05Z or 2024-01-02T05:04:05.5+02:00;\n"
	"CREATED goes into the image config verbatim. Lines run in order; every\n"
	"image has its own config and so its own manifest digest.\n"
	"\n"
	"Exit status: 0 done, 1 registry or network error, 2 usage or spec error.\n";

/* A blob or manifest exactly as it goes over the wire. */
struct blob {
	char *data;
	size_t len;
	char digest[UTIL_SHA256_LEN];
};

enum cmd_kind { CMD_IMAGE, CMD_TAG, CMD_INDEX, CMD_BULK, CMD_SIGN };

/* One spec line; the strings point into its own copy of the line. */
struct cmd {
	enum cmd_kind kind;
	char *line;
	char **words;
	char *repo;		/* bulk: PREFIX */
	char *tag;
	char *src;		/* tag: SRCTAG */
	char *layer;		/* image: the word "layer=NAME", which no image's own layer id
				 * (a repository or image name) can equal; NULL: none */
	const struct sign_kind *sign;	/* sign: what to push */
	char *created[2];	/* image: [0]; index: amd64 and arm64 */
	int64_t when[2];	/* created[] in Unix seconds: times compare by these, not as text */
	char **labels;		/* image: "KEY=VALUE" */
	size_t nlabels;
	int alt;		/* image: oci; index: docker; sign: subject */
	int untagged;		/* image, index, sign: push by digest only */
	long long nrepos, ntags, step;
	int64_t base;
};

enum step { STEP_GET, STEP_POST, STEP_PUT_BLOB, STEP_PUT_MANIFEST };

/* A chain of requests ending in one manifest PUT; up to SLOTS chains run at once. */
struct job {
	char *repo;
	char *tag;		/* NULL: the manifest is PUT by digest */
	char *src;		/* GET this tag's manifest first and PUT it unchanged (with no
				 * tag: only GET it, to learn its digest, type and size) */
	char *created;		/* NULL when unknown */
	struct blob blobs[2];	/* config, layer */
	size_t nblobs, next;
	struct blob manifest;
	char *mtype;
	enum step step;
	int slot;
	char *url;
	struct curl_slist *hdrs;
	struct buf body;
	char *location;
	char *rdigest;		/* Docker-Content-Digest of the response */
	int untagged;		/* pushed by digest on purpose: printed with tag "-" */
};

/* What one image is made of. */
struct image {
	const char *repo;
	const char *tag;	/* NULL: the manifest is PUT by digest */
	const char *name;	/* unique per image, so its config and manifest are too */
	const char *layer_id;	/* images with one layer_id share one layer blob */
	const char *created;
	char *const *labels;
	size_t nlabels;
	int oci;
	const char *arch;
	const char *variant;
};

struct entry {
	char *key;
	char *val;
};

/* Open addressing string map; cap is 0 or a power of two. */
struct table {
	struct entry *e;
	size_t cap, len;
};

struct seeder {
	CURLM *multi;
	CURL *easy[SLOTS];
	char errbuf[SLOTS][CURL_ERROR_SIZE];
	const char *base;	/* REGISTRY_URL without trailing slashes */
	size_t origin_len;	/* its scheme://host:port part, for relative Locations */
	struct table seen;	/* "repo@digest" pushed by this run -> created (manifests) */
	size_t signs;		/* sign lines run so far */
};

static int spec_error(size_t lineno, const char *f, ...) __attribute__((format(printf, 2, 3)));

static int spec_error(size_t lineno, const char *f, ...)
{
	va_list ap;

	fprintf(stderr, "spec:%zu: ", lineno);
	va_start(ap, f);
	vfprintf(stderr, f, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

/* Takes over a string cJSON or xasprintf() built. */
static void set_blob(struct blob *b, char *text)
{
	b->data = text;
	b->len = strlen(text);
	util_sha256(b->data, b->len, b->digest);
}

static uint64_t hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static struct entry *table_slot(const struct table *t, const char *key)
{
	size_t i = (size_t)hash(key) & (t->cap - 1);

	while (t->e[i].key && strcmp(t->e[i].key, key))
		i = (i + 1) & (t->cap - 1);
	return &t->e[i];
}

static struct entry *table_get(const struct table *t, const char *key)
{
	struct entry *e;

	if (!t->cap)
		return NULL;
	e = table_slot(t, key);
	return e->key ? e : NULL;
}

/* Owns key and val from here on. */
static void table_put(struct table *t, char *key, char *val)
{
	struct entry *e;

	if (2 * (t->len + 1) > t->cap) {
		struct table n = {NULL, t->cap ? 2 * t->cap : 64, t->len};

		n.e = xcalloc(n.cap, sizeof(*n.e));
		for (size_t i = 0; i < t->cap; i++)
			if (t->e[i].key)
				*table_slot(&n, t->e[i].key) = t->e[i];
		free(t->e);
		*t = n;
	}
	e = table_slot(t, key);
	if (e->key) {
		free(key);
		free(e->val);
	} else {
		e->key = key;
		t->len++;
	}
	e->val = val;
}

static void table_free(struct table *t)
{
	for (size_t i = 0; i < t->cap; i++) {
		free(t->e[i].key);
		free(t->e[i].val);
	}
	free(t->e);
}

static struct entry *seen_get(const struct seeder *s, const char *repo, const char *digest)
{
	char *key = xasprintf("%s@%s", repo, digest);
	struct entry *e = table_get(&s->seen, key);

	free(key);
	return e;
}

static int parse_int(const char *s, long long lo, long long hi, long long *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int check_name(size_t lineno, const char *repo, const char *tag)
{
	if (!util_valid_repo_name(repo))
		return spec_error(lineno, "invalid repository name '%s'", repo);
	if (tag && !util_valid_tag(tag))
		return spec_error(lineno, "invalid tag '%s'", tag);
	return 0;
}

static int check_time(size_t lineno, const char *text, int64_t *t)
{
	if (util_parse_rfc3339(text, t))
		return spec_error(lineno, "invalid time '%s' (want RFC 3339, "
				  "e.g. 2024-01-02T03:04:05Z)", text);
	return 0;
}

static int parse_image(struct cmd *c, size_t lineno, char **w, size_t n)
{
	if (n < 4)
		return spec_error(lineno, "usage: image REPO TAG CREATED [label=KEY=VALUE ...] "
					  "[layer=NAME] [oci] [untagged]");
	c->repo = w[1];
	c->tag = w[2];
	c->created[0] = w[3];
	if (check_name(lineno, c->repo, c->tag) || check_time(lineno, w[3], &c->when[0]))
		return -1;
	c->labels = xcalloc(n, sizeof(*c->labels));
	for (size_t i = 4; i < n; i++) {
		char *kv, *eq;

		if (!strcmp(w[i], "oci")) {
			if (c->alt)
				return spec_error(lineno, "'oci' given twice");
			c->alt = 1;
			continue;
		}
		if (!strcmp(w[i], "untagged")) {
			if (c->untagged)
				return spec_error(lineno, "'untagged' given twice");
			c->untagged = 1;
			continue;
		}
		if (!strncmp(w[i], "layer=", 6)) {
			if (c->layer)
				return spec_error(lineno, "'layer=' given twice");
			if (!w[i][6])
				return spec_error(lineno, "want layer=NAME, got '%s'", w[i]);
			c->layer = w[i];
			continue;
		}
		if (strncmp(w[i], "label=", 6))
			return spec_error(lineno, "unknown option '%s'", w[i]);
		kv = w[i] + 6;
		eq = strchr(kv, '=');
		if (!eq || eq == kv)
			return spec_error(lineno, "want label=KEY=VALUE, got '%s'", w[i]);
		/* a JSON object with a key twice means different things to different readers */
		for (size_t k = 0; k < c->nlabels; k++)
			if (!strncmp(c->labels[k], kv, (size_t)(eq - kv) + 1))
				return spec_error(lineno, "label '%.*s' given twice", (int)(eq - kv),
						  kv);
		c->labels[c->nlabels++] = kv;
	}
	return 0;
}

static int parse_bulk(struct cmd *c, size_t lineno, char **w, size_t n)
{
	int64_t first, last;
	char *name;
	int bad;

	if (n != 6)
		return spec_error(lineno, "usage: bulk PREFIX NREPOS NTAGS BASE_TIME STEP_SECONDS");
	c->repo = w[1];
	if (parse_int(w[2], 1, 10000, &c->nrepos))
		return spec_error(lineno, "NREPOS must be 1..10000, got '%s'", w[2]);
	if (parse_int(w[3], 1, 100000, &c->ntags))
		return spec_error(lineno, "NTAGS must be 1..100000, got '%s'", w[3]);
	if (c->nrepos * c->ntags > 1000000)
		return spec_error(lineno, "NREPOS*NTAGS must be at most 1000000");
	if (check_time(lineno, w[4], &c->base))
		return -1;
	if (parse_int(w[5], -10000000000LL, 10000000000LL, &c->step))
		return spec_error(lineno, "STEP_SECONDS must be an integer within +-1e10, got '%s'",
				  w[5]);
	/* the longest and the shortest name decide whether every PREFIX-i is valid */
	name = xasprintf("%s-%lld", c->repo, c->nrepos);
	bad = !util_valid_repo_name(name);
	free(name);
	name = xasprintf("%s-1", c->repo);
	bad |= !util_valid_repo_name(name);
	free(name);
	if (bad)
		return spec_error(lineno, "invalid repository prefix '%s'", c->repo);
	/* created times run monotonically from build-1 to build-NTAGS */
	first = c->base + c->step;
	last = c->base + c->step * c->ntags;
	if (first < MIN_TIME || first > MAX_TIME || last < MIN_TIME || last > MAX_TIME)
		return spec_error(lineno, "created times leave years 0000-9999");
	return 0;
}

static int parse_sign(struct cmd *c, size_t lineno, char **w, size_t n)
{
	if (n < 3 || n > 6)
		return spec_error(lineno, "usage: sign REPO TAG [sig|att|sbom] [subject] [untagged]");
	c->repo = w[1];
	c->tag = w[2];
	for (size_t i = 3; i < n; i++) {
		size_t k = 0;

		if (!strcmp(w[i], "subject") && !c->alt) {
			c->alt = 1;
			continue;
		}
		if (!strcmp(w[i], "untagged") && !c->untagged) {
			c->untagged = 1;
			continue;
		}
		while (k < sizeof(sign_kinds) / sizeof(sign_kinds[0]) &&
		       strcmp(w[i], sign_kinds[k].suffix))
			k++;
		if (k == sizeof(sign_kinds) / sizeof(sign_kinds[0]) || c->sign)
			return spec_error(lineno, "usage: sign REPO TAG [sig|att|sbom] [subject] [untagged]");
		c->sign = &sign_kinds[k];
	}
	if (!c->sign)
		c->sign = &sign_kinds[0];
	return check_name(lineno, c->repo, c->tag);
}

static int parse_line(struct cmd *c, size_t lineno)
{
	size_t n = 0, cap = 8;
	char *save = NULL, *word;

	c->words = xmalloc(cap * sizeof(*c->words));
	for (word = strtok_r(c->line, " \t\r\n", &save); word;
	     word = strtok_r(NULL, " \t\r\n", &save)) {
		if (n == cap)
			c->words = xrealloc(c->words, (cap *= 2) * sizeof(*c->words));
		c->words[n++] = word;
	}
	if (!strcmp(c->words[0], "image")) {
		c->kind = CMD_IMAGE;
		return parse_image(c, lineno, c->words, n);
	}
	if (!strcmp(c->words[0], "tag")) {
		c->kind = CMD_TAG;
		if (n != 4)
			return spec_error(lineno, "usage: tag REPO NEWTAG SRCTAG");
		c->repo = c->words[1];
		c->tag = c->words[2];
		c->src = c->words[3];
		return check_name(lineno, c->repo, c->tag) || check_name(lineno, c->repo, c->src)
			       ? -1 : 0;
	}
	if (!strcmp(c->words[0], "index")) {
		c->kind = CMD_INDEX;
		int bad = n < 5 || n > 7;

		for (size_t i = 5; i < n && !bad; i++) {
			if (!strcmp(c->words[i], "docker") && !c->alt)
				c->alt = 1;
			else if (!strcmp(c->words[i], "untagged") && !c->untagged)
				c->untagged = 1;
			else
				bad = 1;
		}
		if (bad)
			return spec_error(lineno, "usage: index REPO TAG CREATED_AMD64 "
						  "CREATED_ARM64 [docker] [untagged]");
		c->repo = c->words[1];
		c->tag = c->words[2];
		c->created[0] = c->words[3];
		c->created[1] = c->words[4];
		return check_name(lineno, c->repo, c->tag) ||
		       check_time(lineno, c->created[0], &c->when[0]) ||
		       check_time(lineno, c->created[1], &c->when[1]) ? -1 : 0;
	}
	if (!strcmp(c->words[0], "bulk")) {
		c->kind = CMD_BULK;
		return parse_bulk(c, lineno, c->words, n);
	}
	if (!strcmp(c->words[0], "sign")) {
		c->kind = CMD_SIGN;
		return parse_sign(c, lineno, c->words, n);
	}
	return spec_error(lineno, "unknown command '%s'", c->words[0]);
}

static void cmds_free(struct cmd *cmds, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(cmds[i].line);
		free(cmds[i].words);
		free(cmds[i].labels);
	}
	free(cmds);
}

/* Reads the whole spec before pushing anything, so a typo costs no half-seeded registry. */
static int parse_spec(FILE *in, struct cmd **out, size_t *nout)
{
	struct cmd *cmds = NULL;
	size_t n = 0, cap = 0, lineno = 0, size = 0;
	char *buf = NULL;
	int rc = 0;

	while (getline(&buf, &size, in) >= 0) {
		const char *p = buf + strspn(buf, " \t\r\n");

		lineno++;
		if (!*p || *p == '#')
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			cmds = xrealloc(cmds, cap * sizeof(*cmds));
		}
		memset(&cmds[n], 0, sizeof(cmds[n]));
		cmds[n].line = xstrdup(p);
		if (parse_line(&cmds[n++], lineno)) {
			rc = -1;
			break;
		}
	}
	if (!rc && ferror(in)) {
		fprintf(stderr, "rs-seed: reading spec: %s\n", strerror(errno));
		rc = -1;
	}
	free(buf);
	if (rc) {
		cmds_free(cmds, n);
		return -1;
	}
	*out = cmds;
	*nout = n;
	return 0;
}

static void job_free(struct job *j)
{
	if (!j)
		return;
	free(j->repo);
	free(j->tag);
	free(j->src);
	free(j->created);
	for (size_t i = 0; i < j->nblobs; i++)
		free(j->blobs[i].data);
	free(j->manifest.data);
	free(j->mtype);
	free(j->url);
	curl_slist_free_all(j->hdrs);
	buf_free(&j->body);
	free(j->location);
	free(j->rdigest);
	free(j);
}

static cJSON *descriptor(const char *mtype, const struct blob *b)
{
	cJSON *d = cJSON_CreateObject();

	cJSON_AddStringToObject(d, "mediaType", mtype);
	cJSON_AddNumberToObject(d, "size", (double)b->len);
	cJSON_AddStringToObject(d, "digest", b->digest);
	return d;
}

static void add_platform(cJSON *o, const char *arch, const char *variant)
{
	cJSON_AddStringToObject(o, "architecture", arch);
	cJSON_AddStringToObject(o, "os", "linux");
	if (variant)
		cJSON_AddStringToObject(o, "variant", variant);
}

static char *print_json(cJSON *o)
{
	char *text = cJSON_PrintUnformatted(o);

	cJSON_Delete(o);
	return text;
}

/*
 * The config's history names the image, so no two configs or manifests are
 * equal even when created times are. The registry never opens a layer: only
 * its digest and size matter, so a line of text will do.
 */
static struct job *image_job(const struct image *im)
{
	struct job *j = xcalloc(1, sizeof(*j));
	cJSON *cfg = cJSON_CreateObject(), *m = cJSON_CreateObject(), *lab, *rootfs, *step;
	char *by;

	j->repo = xstrdup(im->repo);
	j->tag = im->tag ? xstrdup(im->tag) : NULL;
	j->created = xstrdup(im->created);
	j->nblobs = 2;
	set_blob(&j->blobs[1], xasprintf("rs-seed layer %s\n", im->layer_id));

	add_platform(cfg, im->arch, im->variant);
	cJSON_AddStringToObject(cfg, "created", im->created);
	lab = cJSON_AddObjectToObject(cJSON_AddObjectToObject(cfg, "config"), "Labels");
	for (size_t i = 0; i < im->nlabels; i++) {
		const char *eq = strchr(im->labels[i], '=');
		char *key = xstrndup(im->labels[i], (size_t)(eq - im->labels[i]));

		cJSON_AddStringToObject(lab, key, eq + 1);
		free(key);
	}
	rootfs = cJSON_AddObjectToObject(cfg, "rootfs");
	cJSON_AddStringToObject(rootfs, "type", "layers");
	cJSON_AddItemToArray(cJSON_AddArrayToObject(rootfs, "diff_ids"),
			     cJSON_CreateString(j->blobs[1].digest));
	step = cJSON_CreateObject();
	cJSON_AddItemToArray(cJSON_AddArrayToObject(cfg, "history"), step);
	cJSON_AddStringToObject(step, "created", im->created);
	by = xasprintf("rs-seed %s linux/%s%s%s", im->name, im->arch, im->variant ? "/" : "",
		       im->variant ? im->variant : "");
	cJSON_AddStringToObject(step, "created_by", by);
	free(by);
	set_blob(&j->blobs[0], print_json(cfg));

	j->mtype = xstrdup(im->oci ? MT_OCI_MANIFEST : MT_DOCKER_MANIFEST);
	cJSON_AddNumberToObject(m, "schemaVersion", 2);
	cJSON_AddStringToObject(m, "mediaType", j->mtype);
	cJSON_AddItemToObject(m, "config", descriptor(im->oci ? MT_OCI_CONFIG : MT_DOCKER_CONFIG,
						      &j->blobs[0]));
	cJSON_AddItemToArray(cJSON_AddArrayToObject(m, "layers"),
			     descriptor(im->oci ? MT_OCI_LAYER : MT_DOCKER_LAYER, &j->blobs[1]));
	set_blob(&j->manifest, print_json(m));
	return j;
}

static const char *method_of(enum step step)
{
	return step == STEP_GET ? "GET" : step == STEP_POST ? "POST" : "PUT";
}

/* Names the request by method and path: upload URLs carry a long opaque query. */
static int request_error(const struct seeder *s, const struct job *j, const char *what)
{
	const char *path = j->url;

	if (!strncmp(path, s->base, s->origin_len))
		path += s->origin_len;
	fprintf(stderr, "rs-seed: %s %.*s: %s\n", method_of(j->step), (int)strcspn(path, "?"), path,
		what);
	return -1;
}

static size_t on_body(char *ptr, size_t size, size_t n, void *ud)
{
	struct job *j = ud;
	size_t len = size * n;

	if (len > MAX_BODY - j->body.len)
		return 0; /* fails the transfer with a write error */
	buf_append(&j->body, ptr, len);
	return len;
}

/* Keeps the value of a `name: value` header line. */
static void header_value(const char *line, size_t len, const char *name, char **out)
{
	size_t n = strlen(name);

	if (len <= n || line[n] != ':' || strncasecmp(line, name, n))
		return;
	line += n + 1;
	len -= n + 1;
	while (len && (*line == ' ' || *line == '\t')) {
		line++;
		len--;
	}
	while (len && (line[len - 1] == '\r' || line[len - 1] == '\n' || line[len - 1] == ' '))
		len--;
	free(*out);
	*out = xstrndup(line, len);
}

static size_t on_header(char *ptr, size_t size, size_t n, void *ud)
{
	struct job *j = ud;

	header_value(ptr, size * n, "Location", &j->location);
	header_value(ptr, size * n, "Docker-Content-Digest", &j->rdigest);
	return size * n;
}

/* Builds the request for j->step and hands it to the multi handle. */
static int send_request(struct seeder *s, struct job *j)
{
	CURL *e = s->easy[j->slot];
	const struct blob *body = NULL;
	const char *ctype = NULL;
	char *url;
	CURLcode rc;

	switch (j->step) {
	case STEP_GET:
		url = xasprintf("%s/v2/%s/manifests/%s", s->base, j->repo, j->src);
		break;
	case STEP_POST:
		url = xasprintf("%s/v2/%s/blobs/uploads/", s->base, j->repo);
		break;
	case STEP_PUT_BLOB:
		/* the Location may be absolute or a path, with or without a query */
		url = xasprintf("%.*s%s%cdigest=%s", j->location[0] == '/' ? (int)s->origin_len : 0,
				s->base, j->location, strchr(j->location, '?') ? '&' : '?',
				j->blobs[j->next].digest);
		body = &j->blobs[j->next];
		ctype = "application/octet-stream";
		break;
	default: /* STEP_PUT_MANIFEST */
		url = xasprintf("%s/v2/%s/manifests/%s", s->base, j->repo,
				j->tag ? j->tag : j->manifest.digest);
		body = &j->manifest;
		ctype = j->mtype;
		break;
	}
	free(j->url);
	j->url = url;
	buf_free(&j->body);
	free(j->location);
	free(j->rdigest);
	j->location = j->rdigest = NULL;
	curl_slist_free_all(j->hdrs);
	j->hdrs = NULL;
	if (j->step == STEP_GET)
		j->hdrs = curl_slist_append(NULL, "Accept: " MT_OCI_INDEX ", " MT_OCI_MANIFEST
					    ", " MT_DOCKER_LIST ", " MT_DOCKER_MANIFEST);
	if (ctype) {
		char *ct = xasprintf("Content-Type: %s", ctype);

		j->hdrs = curl_slist_append(j->hdrs, ct);
		free(ct);
		/* curl would wait for a 100 Continue on bodies over 1 KiB; no registry needs it */
		j->hdrs = curl_slist_append(j->hdrs, "Expect:");
	}

	curl_easy_reset(e);
	s->errbuf[j->slot][0] = '\0';
	rc = curl_easy_setopt(e, CURLOPT_URL, j->url);
	if (!rc)
		rc = curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)j);
	if (!rc)
		rc = curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf[j->slot]);
	if (!rc)
		rc = curl_easy_setopt(e, CURLOPT_USERAGENT, "rs-seed");
	/* talk to the registry under test directly, whatever proxy the environment names */
	if (!rc)
		rc = curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	if (!rc)
		rc = curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	if (!rc)
		rc = curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 10L);
	if (!rc)
		rc = curl_easy_setopt(e, CURLOPT_TIMEOUT, 60L);
	if (!rc)
		rc = curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	if (!rc)
		rc = curl_easy_setopt(e, CURLOPT_WRITEDATA, (void *)j);
	if (!rc)
		rc = curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	if (!rc)
		rc = curl_easy_setopt(e, CURLOPT_HEADERDATA, (void *)j);
	if (!rc)
		rc = curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->hdrs);
	if (!rc && j->step == STEP_POST) {
		rc = curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
		if (!rc)
			rc = curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
	}
	if (!rc && body) {
		rc = curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
		if (!rc)
			rc = curl_easy_setopt(e, CURLOPT_POSTFIELDS, body->data);
		if (!rc)
			rc = curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
	}
	if (rc)
		return request_error(s, j, curl_easy_strerror(rc));
	if (curl_multi_add_handle(s->multi, e) != CURLM_OK)
		return request_error(s, j, "cannot start the transfer");
	return 0;
}

/* Moves on to the first blob this run has not pushed to the repository yet. */
static void next_blob(const struct seeder *s, struct job *j)
{
	while (j->next < j->nblobs && seen_get(s, j->repo, j->blobs[j->next].digest))
		j->next++;
	j->step = j->next < j->nblobs ? STEP_POST : STEP_PUT_MANIFEST;
}

static int start_job(struct seeder *s, struct job *j, int slot)
{
	j->slot = slot;
	if (j->src)
		j->step = STEP_GET;
	else
		next_blob(s, j);
	return send_request(s, j);
}

/* Takes in a finished request: 1 when the job sent its next one, 0 when it is done, -1 on error. */
static int advance(struct seeder *s, struct job *j, CURLcode res)
{
	CURL *e = s->easy[j->slot];
	struct entry *known;
	long status = 0;
	char *ct = NULL, *what;

	if (res != CURLE_OK)
		return request_error(s, j, s->errbuf[j->slot][0] ? s->errbuf[j->slot]
								 : curl_easy_strerror(res));
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299) {
		/* the registry's JSON error says why; its first line is enough */
		size_t shown = j->body.data ? strcspn(j->body.data, "\r\n") : 0;

		what = xasprintf("HTTP %ld%s%.*s", status, shown ? ": " : "",
				 shown > 400 ? 400 : (int)shown, j->body.data ? j->body.data : "");
		request_error(s, j, what);
		free(what);
		return -1;
	}
	switch (j->step) {
	case STEP_GET:
		curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct);
		if (!ct || !j->body.len)
			return request_error(s, j, "no manifest or no Content-Type in the answer");
		j->mtype = xstrdup(ct);
		j->manifest.data = j->body.data;
		j->manifest.len = j->body.len;
		j->body = (struct buf){NULL, 0, 0};
		util_sha256(j->manifest.data, j->manifest.len, j->manifest.digest);
		if (!j->tag)
			return 0;
		known = seen_get(s, j->repo, j->manifest.digest);
		if (known && known->val)
			j->created = xstrdup(known->val);
		j->step = STEP_PUT_MANIFEST;
		break;
	case STEP_POST:
		if (!j->location)
			return request_error(s, j, "upload answer has no Location");
		j->step = STEP_PUT_BLOB;
		break;
	case STEP_PUT_BLOB:
		table_put(&s->seen, xasprintf("%s@%s", j->repo, j->blobs[j->next].digest), NULL);
		j->next++;
		next_blob(s, j);
		break;
	default: /* STEP_PUT_MANIFEST; the registry must have stored exactly the bytes we hashed */
		if (j->rdigest && strcmp(j->rdigest, j->manifest.digest)) {
			what = xasprintf("registry says digest %s, we sent %s", j->rdigest,
					 j->manifest.digest);
			request_error(s, j, what);
			free(what);
			return -1;
		}
		table_put(&s->seen, xasprintf("%s@%s", j->repo, j->manifest.digest),
			  j->created ? xstrdup(j->created) : NULL);
		return 0;
	}
	return send_request(s, j) ? -1 : 1;
}

/* Runs the jobs in order, SLOTS at a time, until all are done or one fails. */
static int run(struct seeder *s, struct job **jobs, size_t n)
{
	size_t next = 0, active = 0;
	int rc = 0;

	for (int i = 0; i < SLOTS && next < n && !rc; i++, active++)
		rc = start_job(s, jobs[next++], i);
	while (active && !rc) {
		CURLMsg *msg;
		int running, left;

		if (curl_multi_perform(s->multi, &running) != CURLM_OK) {
			fputs("rs-seed: curl_multi_perform failed\n", stderr);
			rc = -1;
			break;
		}
		while (!rc && (msg = curl_multi_info_read(s->multi, &left))) {
			struct job *j;
			char *priv;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
			j = (struct job *)(void *)priv;
			curl_multi_remove_handle(s->multi, msg->easy_handle);
			switch (advance(s, j, msg->data.result)) {
			case 1:
				break;
			case 0:
				active--;
				if (next < n) {
					rc = start_job(s, jobs[next++], j->slot);
					active++;
				}
				break;
			default:
				rc = -1;
			}
		}
		if (!rc && active && curl_multi_poll(s->multi, NULL, 0, 1000, NULL) != CURLM_OK) {
			fputs("rs-seed: curl_multi_poll failed\n", stderr);
			rc = -1;
		}
	}
	/* after an error, drop the transfers still in flight */
	for (int i = 0; i < SLOTS; i++)
		curl_multi_remove_handle(s->multi, s->easy[i]);
	return rc;
}

static int emit(struct job **jobs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (jobs[i]->tag || jobs[i]->untagged)
			printf("%s %s %s %s\n", jobs[i]->repo, jobs[i]->tag ? jobs[i]->tag : "-",
			       jobs[i]->manifest.digest, jobs[i]->created ? jobs[i]->created : "-");
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "rs-seed: writing output: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static int run_and_emit(struct seeder *s, struct job **jobs, size_t n)
{
	return run(s, jobs, n) || emit(jobs, n) ? -1 : 0;
}

static int exec_image(struct seeder *s, const struct cmd *c)
{
	char *name = xasprintf("%s:%s", c->repo, c->tag);
	struct image im = {c->repo, c->untagged ? NULL : c->tag, name,
			   c->layer ? c->layer : name, c->created[0], c->labels, c->nlabels, c->alt,
			   "amd64", NULL};
	struct job *j = image_job(&im);
	int rc;

	j->untagged = c->untagged;
	rc = run_and_emit(s, &j, 1);

	job_free(j);
	free(name);
	return rc;
}

static int exec_tag(struct seeder *s, const struct cmd *c)
{
	struct job *j = xcalloc(1, sizeof(*j));
	int rc;

	j->repo = xstrdup(c->repo);
	j->tag = xstrdup(c->tag);
	j->src = xstrdup(c->src);
	rc = run_and_emit(s, &j, 1);
	job_free(j);
	return rc;
}

static int exec_index(struct seeder *s, const struct cmd *c)
{
	static const char *const arch[2] = {"amd64", "arm64"}, *const variant[2] = {NULL, "v8"};
	char *name = xasprintf("index %s:%s", c->repo, c->tag);
	struct job *child[2];
	int rc;

	for (int i = 0; i < 2; i++) {
		char *layer = xasprintf("%s %s", name, arch[i]);
		struct image im = {c->repo, NULL, name, layer, c->created[i], NULL, 0, !c->alt,
				   arch[i], variant[i]};

		child[i] = image_job(&im);
		free(layer);
	}
	free(name);
	rc = run(s, child, 2);
	if (!rc) {
		struct job *j = xcalloc(1, sizeof(*j));
		cJSON *m = cJSON_CreateObject(), *list;

		j->repo = xstrdup(c->repo);
		j->tag = c->untagged ? NULL : xstrdup(c->tag);
		j->untagged = c->untagged;
		j->created = xstrdup(c->created[c->when[1] > c->when[0]]);
		j->mtype = xstrdup(c->alt ? MT_DOCKER_LIST : MT_OCI_INDEX);
		cJSON_AddNumberToObject(m, "schemaVersion", 2);
		cJSON_AddStringToObject(m, "mediaType", j->mtype);
		list = cJSON_AddArrayToObject(m, "manifests");
		for (int i = 0; i < 2; i++) {
			cJSON *d = descriptor(child[i]->mtype, &child[i]->manifest);

			add_platform(cJSON_AddObjectToObject(d, "platform"), arch[i], variant[i]);
			cJSON_AddItemToArray(list, d);
		}
		set_blob(&j->manifest, print_json(m));
		rc = run_and_emit(s, &j, 1);
		job_free(j);
	}
	job_free(child[0]);
	job_free(child[1]);
	return rc;
}

/*
 * What cosign pushes: an OCI image manifest whose config is cosign's near-empty one and
 * whose one layer is the payload, tagged after the subject's digest.  The registry never
 * opens the payload, so a line naming the subject will do; a sequence number makes the
 * blobs unique per sign line.
 */
static struct job *sign_job(struct seeder *s, const struct cmd *c, const struct job *subject)
{
	struct job *j = xcalloc(1, sizeof(*j));
	cJSON *cfg = cJSON_CreateObject(), *m = cJSON_CreateObject(), *rootfs;

	j->repo = xstrdup(c->repo);
	j->untagged = c->untagged;
	if (!c->untagged)
		j->tag = xasprintf("sha256-%s.%s", subject->manifest.digest + strlen("sha256:"),
				   c->sign->suffix);
	j->nblobs = 2;
	set_blob(&j->blobs[1], xasprintf("rs-seed %s #%zu of %s@%s\n", c->sign->suffix,
					 ++s->signs, c->repo, subject->manifest.digest));
	cJSON_AddStringToObject(cfg, "architecture", "");
	cJSON_AddStringToObject(cfg, "os", "");
	cJSON_AddStringToObject(cfg, "created", "0001-01-01T00:00:00Z");
	rootfs = cJSON_AddObjectToObject(cfg, "rootfs");
	cJSON_AddStringToObject(rootfs, "type", "layers");
	cJSON_AddItemToArray(cJSON_AddArrayToObject(rootfs, "diff_ids"),
			     cJSON_CreateString(j->blobs[1].digest));
	set_blob(&j->blobs[0], print_json(cfg));

	j->mtype = xstrdup(MT_OCI_MANIFEST);
	cJSON_AddNumberToObject(m, "schemaVersion", 2);
	cJSON_AddStringToObject(m, "mediaType", j->mtype);
	cJSON_AddItemToObject(m, "config", descriptor(MT_OCI_CONFIG, &j->blobs[0]));
	cJSON_AddItemToArray(cJSON_AddArrayToObject(m, "layers"),
			     descriptor(c->sign->layer_type, &j->blobs[1]));
	if (c->alt)
		cJSON_AddItemToObject(m, "subject", descriptor(subject->mtype, &subject->manifest));
	set_blob(&j->manifest, print_json(m));
	return j;
}

/* Resolves TAG first: the signature's tag and subject name the digest it has now. */
static int exec_sign(struct seeder *s, const struct cmd *c)
{
	struct job *subject = xcalloc(1, sizeof(*subject));
	int rc;

	subject->repo = xstrdup(c->repo);
	subject->src = xstrdup(c->tag);
	rc = run(s, &subject, 1);
	if (!rc) {
		struct job *j = sign_job(s, c, subject);

		rc = run_and_emit(s, &j, 1);
		job_free(j);
	}
	job_free(subject);
	return rc;
}

/* splitmix64: a fixed seed gives every run the same push order. */
static uint64_t next_random(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Image number idx of a bulk line, counting build-1..build-NTAGS of PREFIX-1 from 0. */
static struct job *bulk_job(const struct cmd *c, size_t idx)
{
	size_t t = idx % (size_t)c->ntags + 1;
	char *repo = xasprintf("%s-%zu", c->repo, idx / (size_t)c->ntags + 1);
	char *tag = xasprintf("build-%zu", t), *name = xasprintf("%s:%s", repo, tag);
	char created[32];
	struct image im = {repo, tag, name, repo, created, NULL, 0, 0, "amd64", NULL};
	struct job *j;

	/* parse_bulk checked that created times at both ends of the range can be written */
	util_format_rfc3339(c->base + (int64_t)t * c->step, created, sizeof(created));
	j = image_job(&im);
	free(repo);
	free(tag);
	free(name);
	return j;
}

/*
 * Pushed shuffled, so that push order (and any upload time or file mtime the
 * registry keeps) does not follow image age: cleanup must read created times.
 * The images of one repository share their layer, which saves two of five
 * requests per image; one image per repository goes first to upload it, as a
 * manifest PUT fails while its layer is still in flight.
 */
static int exec_bulk(struct seeder *s, const struct cmd *c)
{
	size_t nrepos = (size_t)c->nrepos, n = nrepos * (size_t)c->ntags, k = 0;
	size_t *order = xmalloc(n * sizeof(*order));
	unsigned char *first = xcalloc(nrepos, 1);
	struct job **jobs = xcalloc(n, sizeof(*jobs));
	uint64_t state = 0x5eed;
	int rc;

	for (size_t i = 0; i < n; i++)
		order[i] = i;
	for (size_t i = n - 1; i > 0; i--) {
		size_t pick = (size_t)(next_random(&state) % (i + 1)), tmp = order[i];

		order[i] = order[pick];
		order[pick] = tmp;
	}
	for (size_t i = 0; i < n; i++) {
		size_t r = order[i] / (size_t)c->ntags;

		if (!first[r]) {
			first[r] = 1;
			jobs[k++] = bulk_job(c, order[i]);
			order[i] = SIZE_MAX;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (order[i] != SIZE_MAX)
			jobs[k++] = bulk_job(c, order[i]);
	rc = run(s, jobs, nrepos) || run(s, jobs + nrepos, n - nrepos) || emit(jobs, n) ? -1 : 0;
	for (size_t i = 0; i < n; i++)
		job_free(jobs[i]);
	free(jobs);
	free(first);
	free(order);
	return rc;
}

static int seed(struct seeder *s, const struct cmd *cmds, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct cmd *c = &cmds[i];
		int rc = c->kind == CMD_IMAGE ? exec_image(s, c)
			 : c->kind == CMD_TAG ? exec_tag(s, c)
			 : c->kind == CMD_INDEX ? exec_index(s, c)
			 : c->kind == CMD_SIGN ? exec_sign(s, c)
			 : exec_bulk(s, c);

		if (rc)
			return -1;
	}
	return 0;
}

static int seeder_run(const char *url, const struct cmd *cmds, size_t n)
{
	struct seeder s;
	size_t len = strlen(url);
	const char *host = strstr(url, "://") + 3;
	char *base;
	int rc = -1, ready;

	while (len && url[len - 1] == '/')
		len--;
	base = xstrndup(url, len);
	memset(&s, 0, sizeof(s));
	s.base = base;
	s.origin_len = (size_t)(host - url) + strcspn(host, "/");
	if (s.origin_len > len)
		s.origin_len = len;
	/*
	 * cJSON and libcurl allocate through the core's x* functions, which abort when
	 * memory runs out: no call of theirs returns NULL for want of memory.
	 */
	cJSON_InitHooks(&(cJSON_Hooks){xmalloc, free});
	if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, xmalloc, free, xrealloc, xstrdup, xcalloc) !=
	    CURLE_OK) {
		fputs("rs-seed: curl_global_init failed\n", stderr);
		free(base);
		return -1;
	}
	s.multi = curl_multi_init();
	ready = s.multi != NULL;
	for (int i = 0; i < SLOTS; i++)
		ready &= (s.easy[i] = curl_easy_init()) != NULL;
	/* keep-alive: one connection per slot, reused for every request */
	if (ready &&
	    curl_multi_setopt(s.multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)SLOTS) == CURLM_OK &&
	    curl_multi_setopt(s.multi, CURLMOPT_MAXCONNECTS, (long)SLOTS) == CURLM_OK)
		rc = seed(&s, cmds, n);
	else
		fputs("rs-seed: cannot configure libcurl\n", stderr);
	for (int i = 0; i < SLOTS; i++)
		curl_easy_cleanup(s.easy[i]);
	curl_multi_cleanup(s.multi);
	curl_global_cleanup();
	table_free(&s.seen);
	free(base);
	return rc;
}

int main(int argc, char **argv)
{
	const char *url, *host;
	struct cmd *cmds;
	size_t n;
	FILE *in = stdin;
	int rc;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs(usage, stdout);
		return 0;
	}
	if (argc < 2 || argc > 3) {
		fputs(usage, stderr);
		return 2;
	}
	url = argv[1];
	host = strncmp(url, "http://", 7) ? strncmp(url, "https://", 8) ? NULL : url + 8 : url + 7;
	if (!host || !*host || *host == '/') {
		fprintf(stderr, "rs-seed: REGISTRY_URL must look like http://HOST:PORT, got '%s'\n",
			url);
		return 2;
	}
	if (argc == 3 && strcmp(argv[2], "-")) {
		in = fopen(argv[2], "r");
		if (!in) {
			fprintf(stderr, "rs-seed: %s: %s\n", argv[2], strerror(errno));
			return 2;
		}
	}
	rc = parse_spec(in, &cmds, &n);
	if (in != stdin)
		fclose(in);
	if (rc)
		return 2;
	rc = seeder_run(url, cmds, n);
	cmds_free(cmds, n);
	return rc ? 1 : 0;
}
