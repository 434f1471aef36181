/* test_graph.c - referrers follow their subject, a deleted index takes the children nothing
 * kept needs, and the reclaimable estimate counts each freed blob once. */
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "json_agree.h"
#include "tests.h"

/* Sorted, as registry_manifest expects: the index I (children C1, C2), the index J
 * (children C2, C3), the images C1, C2, C3 and X, and S, a manifest with a subject. */
#define HEX_I "1111111111111111111111111111111111111111111111111111111111111111"
#define HEX_J "2222222222222222222222222222222222222222222222222222222222222222"
#define I "sha256:" HEX_I
#define J "sha256:" HEX_J
#define C1 "sha256:3333333333333333333333333333333333333333333333333333333333333333"
#define C2 "sha256:4444444444444444444444444444444444444444444444444444444444444444"
#define C3 "sha256:5555555555555555555555555555555555555555555555555555555555555555"
#define X "sha256:6666666666666666666666666666666666666666666666666666666666666666"
#define S "sha256:7777777777777777777777777777777777777777777777777777777777777777"
#define SIG_I "sha256:8888888888888888888888888888888888888888888888888888888888888888"
#define SIG_J "sha256:9999999999999999999999999999999999999999999999999999999999999999"
#define ORPHAN "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX_GONE "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define CONFIG "sha256:d000000000000000000000000000000000000000000000000000000000000000"
#define API_1 "sha256:e100000000000000000000000000000000000000000000000000000000000000"
#define API_2 "sha256:e200000000000000000000000000000000000000000000000000000000000000"
#define LAYER_SHARED "sha256:b000000000000000000000000000000000000000000000000000000000000000"
#define LAYER_1 "sha256:b100000000000000000000000000000000000000000000000000000000000000"

/* Adds a graph node as a scan would, its strings in the scan's pool. */
static void node(struct reg_scan *scan, const char *digest, const char *children[],
		 const char *layer, const char *subject)
{
	struct reg_repo *rr = &scan->repos[0];
	struct reg_manifest *m;
	size_t n = 0;

	rr->manifests = xrealloc(rr->manifests, (rr->manifest_count + 1) * sizeof(*m));
	m = &rr->manifests[rr->manifest_count++];
	memset(m, 0, sizeof(*m));
	m->digest = pool_strdup(scan->pool, digest);
	m->body = pool_strdup(scan->pool, "{}0123456789"); /* 12 bytes each */
	m->body_len = 12;
	m->subject = subject ? pool_strdup(scan->pool, subject) : NULL;
	while (children && children[n])
		n++;
	m->children = pool_calloc(scan->pool, n, sizeof(char *));
	for (; m->child_count < n; m->child_count++)
		m->children[m->child_count] = pool_strdup(scan->pool, children[m->child_count]);
	if (layer) {
		m->blobs = pool_calloc(scan->pool, 1, sizeof(*m->blobs));
		m->blobs[0] = (struct reg_blob){pool_strdup(scan->pool, layer),
						strcmp(layer, LAYER_SHARED) ? 100 : 1000};
		m->blob_count = 1;
	}
}

static void image(struct reg_scan *scan, struct plan_repo *pr, const char *tag,
		  const char *digest, enum rs_verdict v)
{
	struct reg_repo *rr = &scan->repos[0];
	struct plan_tag *t;
	char *subject;

	rr->images = xrealloc(rr->images, (rr->count + 1) * sizeof(*rr->images));
	rr->images[rr->count++] = (struct reg_image){.tag = pool_strdup(scan->pool, tag),
						     .digest = pool_strdup(scan->pool, digest)};
	pr->tags = xrealloc(pr->tags, (pr->tag_count + 1) * sizeof(*pr->tags));
	t = &pr->tags[pr->tag_count++];
	memset(t, 0, sizeof(*t));
	t->tag = plan_strdup(pr, tag);
	t->digest = plan_strdup(pr, digest);
	t->verdict = v;
	t->reason = plan_strdup(pr, "policy");
	subject = graph_subject(rr, &rr->images[rr->count - 1]);
	t->subject = plan_strdup(pr, subject);
	free(subject);
}

/* old -> I (deleted), new -> J (kept), x -> X (deleted), s -> S (a referrer of C1), and
 * cosign signatures of I, J and of a digest that is not in the repository. */
static void sample(struct reg_scan *scan, struct plan *p)
{
	const char *of_i[] = {C1, C2, NULL}, *of_j[] = {C2, C3, NULL};
	struct reg_repo *rr;
	struct plan_repo *pr;

	memset(scan, 0, sizeof(*scan));
	memset(p, 0, sizeof(*p));
	scan->repos = xcalloc(1, sizeof(*scan->repos));
	scan->count = 1;
	scan->pool = pool_new();
	rr = &scan->repos[0];
	rr->name = pool_strdup(scan->pool, "team/app");
	node(scan, I, of_i, NULL, NULL);
	node(scan, J, of_j, NULL, NULL);
	node(scan, C1, NULL, LAYER_1, NULL);
	node(scan, C2, NULL, LAYER_SHARED, NULL);
	node(scan, C3, NULL, LAYER_SHARED, NULL);
	node(scan, X, NULL, LAYER_SHARED, NULL);
	node(scan, S, NULL, NULL, C1);
	node(scan, SIG_I, NULL, NULL, NULL);
	node(scan, SIG_J, NULL, NULL, NULL);
	node(scan, ORPHAN, NULL, NULL, NULL);
	p->registry = xstrdup("http://127.0.0.1:5000");
	pr = plan_add_repo(p, "team/app");
	image(scan, pr, "old", I, RS_DELETE);
	image(scan, pr, "new", J, RS_KEEP);
	image(scan, pr, "x", X, RS_DELETE);
	image(scan, pr, "s", S, RS_KEEP);
	image(scan, pr, "sha256-" HEX_I ".sig", SIG_I, RS_KEEP);
	image(scan, pr, "sha256-" HEX_J ".att", SIG_J, RS_KEEP);
	image(scan, pr, "sha256-" HEX_GONE ".sbom", ORPHAN, RS_KEEP);
	graph_settle(pr, rr);
}

static const struct plan_deletion *deletion(const struct plan_repo *pr, const char *digest)
{
	for (size_t k = 0; k < pr->deletion_count; k++)
		if (strcmp(pr->deletions[k].digest, digest) == 0)
			return &pr->deletions[k];
	return NULL;
}

static void test_subjects(void)
{
	struct reg_scan scan;
	struct plan p;
	const struct plan_tag *t;

	sample(&scan, &p);
	t = p.repos[0].tags;
	CU_ASSERT_PTR_NULL(t[0].subject);
	CU_ASSERT_STRING_EQUAL(t[3].subject, C1); /* from the manifest's subject field */
	CU_ASSERT_STRING_EQUAL(t[4].subject, I);  /* from the cosign tag name */
	CU_ASSERT_STRING_EQUAL(t[5].subject, J);
	plan_free(&p);
	registry_scan_free(&scan);
}

static void test_settle(void)
{
	struct reg_scan scan;
	struct plan p;
	const struct plan_repo *pr;
	const struct plan_deletion *d;

	sample(&scan, &p);
	pr = &p.repos[0];
	/* I, X, I's child C1 (C2 is J's too), the referrer of C1 and I's signature. */
	CU_ASSERT_EQUAL(pr->deletion_count, 5);
	CU_ASSERT_PTR_NOT_NULL(deletion(pr, I));
	CU_ASSERT_PTR_NOT_NULL(deletion(pr, X));
	CU_ASSERT_PTR_NULL(deletion(pr, C2));
	CU_ASSERT_PTR_NULL(deletion(pr, C3));
	d = deletion(pr, C1);
	CU_ASSERT_FATAL(d != NULL);
	CU_ASSERT_EQUAL(d->tag_count, 0);
	CU_ASSERT_STRING_EQUAL(d->follows, I);
	CU_ASSERT_STRING_EQUAL(d->reason, "child of deleted index " I);
	d = deletion(pr, S);
	CU_ASSERT_FATAL(d != NULL);
	CU_ASSERT_STRING_EQUAL(d->follows, C1);
	CU_ASSERT_EQUAL(pr->tags[3].verdict, RS_DELETE);
	CU_ASSERT_STRING_EQUAL(pr->tags[3].reason, "follows its subject " C1 ", which is deleted");
	d = deletion(pr, SIG_I);
	CU_ASSERT_FATAL(d != NULL);
	CU_ASSERT_STRING_EQUAL(d->follows, I);
	CU_ASSERT_EQUAL(pr->tags[5].verdict, RS_KEEP);
	CU_ASSERT_STRING_EQUAL(pr->tags[5].reason, "follows its subject " J ", which is kept");
	CU_ASSERT_EQUAL(pr->tags[6].verdict, RS_KEEP);
	CU_ASSERT_STRING_EQUAL(pr->tags[6].reason,
			       "its subject sha256:" HEX_GONE " is not in the repository: kept");
	plan_free(&p);
	registry_scan_free(&scan);
}

static void test_estimate(void)
{
	struct reg_scan scan;
	struct plan p;

	sample(&scan, &p);
	graph_estimate(&p, &scan, 0);
	/* Five manifests of 12 bytes and LAYER_1; LAYER_SHARED stays with C2 and C3. */
	CU_ASSERT_EQUAL(p.reclaimable_bytes, 5 * 12 + 100);
	CU_ASSERT_EQUAL(p.repos[0].reclaimable_bytes, 5 * 12 + 100);
	CU_ASSERT_EQUAL(p.reclaimable_upper_bound, 0);
	graph_estimate(&p, &scan, 1);
	CU_ASSERT_EQUAL(p.reclaimable_upper_bound, 1);
	plan_free(&p);
	registry_scan_free(&scan);
}

/* Referrers only the referrers API listed are not in the graph: their journal bytes say
 * what they free, and a config they share is counted once. */
static void test_estimate_from_bodies(void)
{
	static const char body[] = "{\"schemaVersion\":2,\"config\":{\"digest\":\"" CONFIG
				   "\",\"size\":10},\"layers\":[]}";
	const char *digests[] = {API_1, API_2};
	struct reg_scan scan;
	struct plan p;

	sample(&scan, &p);
	for (size_t i = 0; i < 2; i++) {
		struct plan_deletion *d = plan_add_deletion(&p.repos[0], digests[i], NULL, NULL, 0);

		d->body = plan_strdup(&p.repos[0], body);
		d->body_len = strlen(body);
	}
	graph_estimate(&p, &scan, 0);
	CU_ASSERT_EQUAL(p.reclaimable_bytes, 5 * 12 + 100 + 2 * (int64_t)strlen(body) + 10);
	plan_free(&p);
	registry_scan_free(&scan);
}

/* Every third text as served with a Content-Type (a space before its parameters). */
static int manifest_agree_text(const char *text, size_t n, int round)
{
	return manifest_agree(text, n, round % 3 ? NULL : "application/x-test ;charset=utf-8");
}

/* Manifests are read without a tree: what the graph gets from them (media type, subject,
 * children, blobs and sizes) must be what a cJSON tree gives, for real shapes and for
 * broken ones around them. */
static void test_manifest_read(void)
{
	static const char *const seeds[] = {
	    "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
	    "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\""
	    CONFIG "\",\"size\":1469},\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer."
	    "v1.tar+gzip\",\"digest\":\"" LAYER_1 "\",\"size\":32},{\"digest\":\"" LAYER_SHARED
	    "\",\"size\":3370706}],\"annotations\":{\"org.opencontainers.image.created\":"
	    "\"2024-05-30T07:59:12Z\"}}",
	    "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
	    "\"manifests\":[{\"digest\":\"" C1 "\",\"size\":1024,\"platform\":{\"os\":\"linux\"}},"
	    "{\"digest\":\"sha512:" HEX_I HEX_J "\",\"size\":7}]}",
	    "{\"config\":{\"digest\":\"" CONFIG "\",\"size\":2},\"layers\":[{\"digest\":\"" LAYER_1
	    "\",\"size\":250}],\"subject\":{\"digest\":\"" I "\",\"size\":1024}}",
	    /* Escapes, sizes cJSON reads oddly, layers as an object, a repeated member. */
	    "{\"m\\u0065diaType\":\"a\\/b\",\"config\":{\"digest\":\"sha256:\\u0064" HEX_I
	    "\",\"size\":1e999},\"layers\":{\"x\":{\"digest\":\"" LAYER_1 "\",\"size\":-1},"
	    "\"y\":{\"digest\":\"" X "\",\"size\":\"9\"}},\"config\":{}}",
	    /* Sizes at the edges: 0, -0, 2^53 (the largest taken) and past it. */
	    "{\"config\":{\"digest\":\"" CONFIG "\",\"size\":0},\"layers\":[{\"digest\":\"" LAYER_1
	    "\",\"size\":9007199254740992},{\"digest\":\"" X "\",\"size\":9007199254740994},"
	    "{\"digest\":\"" LAYER_SHARED "\",\"size\":-0}]}",
	};
	int differ = json_mutations(seeds, sizeof(seeds) / sizeof(seeds[0]), 20000, 3,
				    0x2545F4914F6CDD1Du, manifest_agree_text);

	CU_ASSERT_EQUAL(differ, 0);
}

void suite_graph(void)
{
	static const struct test_case cases[] = {
		{"referrers are recognised by tag name and by subject", test_subjects},
		{"referrers and index children follow what they depend on", test_settle},
		{"reclaimable bytes count blobs only deleted manifests reference", test_estimate},
		{"reclaimable bytes of manifests known by their bytes only", test_estimate_from_bodies},
		{"manifests read as a cJSON tree reads them", test_manifest_read},
		{NULL, NULL},
	};

	tests_add_suite("graph", cases);
}
