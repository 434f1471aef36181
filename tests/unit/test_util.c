/* test_util.c - duration and RFC 3339 parsing, first-error-wins text. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "json.h"
#include "json_agree.h"
#include "log.h"
#include "tests.h"
#include "util.h"

static void test_durations(void)
{
	static const struct {
		const char *text;
		int ok;
		int64_t seconds;
	} cases[] = {
		{"90m", 1, 5400},     {"12h", 1, 43200},   {"30d", 1, 2592000}, {"2w", 1, 1209600},
		{"45s", 1, 45},       {"0d", 1, 0},        {"", 0, 0},          {"d", 0, 0},
		{"30", 0, 0},         {"30x", 0, 0},       {"1d12h", 1, 129600}, {"3d4h", 1, 273600}, {"0s", 1, 0}, {"2w1d", 1, 1296000}, {"1d12", 0, 0},      {"-1d", 0, 0},
		{" 1d", 0, 0},        {"1d ", 0, 0},       {"99999999999999999999d", 0, 0},
		{"9999999999999999w", 0, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t s = -7;
		int rc = util_parse_duration(cases[i].text, &s);

		CU_ASSERT_EQUAL(rc, cases[i].ok ? 0 : -1);
		if (cases[i].ok)
			CU_ASSERT_EQUAL(s, cases[i].seconds);
	}
}

static void test_rfc3339(void)
{
	static const struct {
		const char *text;
		int ok;
		int64_t seconds;
	} cases[] = {
		{"1970-01-01T00:00:00Z", 1, 0},
		{"2024-05-01T10:20:30Z", 1, 1714558830},
		{"2024-05-01T10:20:30.123456789Z", 1, 1714558830},
		{"2024-05-01T12:20:30+02:00", 1, 1714558830},
		{"2024-05-01T08:20:30-02:00", 1, 1714558830},
		{"2024-02-29T00:00:00Z", 1, 1709164800},
		{"2024-05-01 10:20:30Z", 1, 1714558830},
		{"2024-05-01T10:20:30", 0, 0},
		{"2024-13-01T10:20:30Z", 0, 0},
		{"2024-05-32T10:20:30Z", 0, 0},
		{"2024-05-01T24:00:00Z", 0, 0},
		{"2024-05-01T10:20:30.Z", 0, 0},
		{"2024-05-01T10:20:30Zjunk", 0, 0},
		{"0001-01-01T00:00:00Z", 1, -62135596800},
		{"", 0, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t s = -7;
		int rc = util_parse_rfc3339(cases[i].text, &s);

		CU_ASSERT_EQUAL(rc, cases[i].ok ? 0 : -1);
		if (cases[i].ok)
			CU_ASSERT_EQUAL(s, cases[i].seconds);
	}
}

static void test_format_roundtrip(void)
{
	char buf[32];
	int64_t back;

	util_format_rfc3339(1714558830, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "2024-05-01T10:20:30Z");
	CU_ASSERT_EQUAL(util_parse_rfc3339(buf, &back), 0);
	CU_ASSERT_EQUAL(back, 1714558830);
	util_format_rfc3339(-62135596800, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "0001-01-01T00:00:00Z");
}

static void test_first_error_wins(void)
{
	struct rs_err e = {{0}};

	CU_ASSERT_FALSE(err_isset(&e));
	err_set(&e, "first %d", 1);
	err_set(&e, "second");
	CU_ASSERT_STRING_EQUAL(e.msg, "first 1");
}

static void test_names(void)
{
	static const char *const good[] = {"a", "team/app", "a.b_c__d-e--f/g0", "x/y/z", NULL};
	static const char *const bad[] = {"", "A", "/a", "a/", "a//b", "../x", "a/./b", "a_",
					  "a___b", "a.-b", "a?b", "a b", NULL};

	for (size_t i = 0; good[i]; i++)
		CU_ASSERT_TRUE(util_valid_repo_name(good[i]));
	for (size_t i = 0; bad[i]; i++)
		CU_ASSERT_FALSE(util_valid_repo_name(bad[i]));
	CU_ASSERT_TRUE(util_valid_digest("sha256:0a1b"));
	CU_ASSERT_TRUE(util_valid_digest("sha512+b64:AZaz09=_-"));
	CU_ASSERT_FALSE(util_valid_digest("sha256:"));
	CU_ASSERT_FALSE(util_valid_digest(":abc"));
	CU_ASSERT_FALSE(util_valid_digest("sha256:../../v2"));
	CU_ASSERT_FALSE(util_valid_digest("sha256:ab?x=1"));
	CU_ASSERT_TRUE(util_valid_digest("a.b_c-d+e:Zz"));
	CU_ASSERT_FALSE(util_valid_digest("SHA256:ab"));
	CU_ASSERT_FALSE(util_valid_digest("sha256:ab:cd"));
	CU_ASSERT_FALSE(util_valid_digest("sha256:ab/"));
	CU_ASSERT_FALSE(util_valid_digest("sha 256:ab"));
	CU_ASSERT_FALSE(util_valid_digest("sha=256:ab"));   /* '=' only in the encoded part */
	CU_ASSERT_FALSE(util_valid_digest("sha256:ab+c"));  /* '+' and '.' only in the algorithm */
	CU_ASSERT_FALSE(util_valid_digest("sha256:ab\xc3\xa9")); /* nothing past ASCII */
}

static void test_format_size(void)
{
	char out[UTIL_SIZE_LEN];

	util_format_size(0, out, sizeof(out));
	CU_ASSERT_STRING_EQUAL(out, "0 B");
	util_format_size(1023, out, sizeof(out));
	CU_ASSERT_STRING_EQUAL(out, "1023 B");
	util_format_size(1024, out, sizeof(out));
	CU_ASSERT_STRING_EQUAL(out, "1.0 KiB");
	util_format_size(5033165, out, sizeof(out));
	CU_ASSERT_STRING_EQUAL(out, "4.8 MiB");
	/* 1023.999 KiB would round to "1024.0 KiB" */
	util_format_size(1048575, out, sizeof(out));
	CU_ASSERT_STRING_EQUAL(out, "1.0 MiB");
	util_format_size(INT64_MAX, out, sizeof(out));
	CU_ASSERT_STRING_EQUAL(out, "8.0 EiB");
}

/* Strings across many chunks, objects aligned and zeroed, a large object in a chunk of its
 * own while the current chunk stays in use: everything keeps its bytes until pool_free
 * (ASan sees a leak or an overrun in the chunks themselves). */
static void test_pool(void)
{
	struct pool *p = pool_new(), *small = pool_new();
	char *s[20000], name[32], *big, *after;
	int64_t *obj;
	size_t n = sizeof(s) / sizeof(s[0]), bad = 0;

	/* A pool that keeps a little maps a page: a scan makes one per repository. */
	CU_ASSERT_STRING_EQUAL(pool_strdup(small, "/v2/team/app/tags/list"), "/v2/team/app/tags/list");
	CU_ASSERT_EQUAL(pool_mapped(small), 4096);
	pool_free(small);

	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "tag-%zu", i);
		s[i] = i % 2 ? pool_strdup(p, name) : pool_strndup(p, name, strlen(name));
		obj = pool_calloc(p, 3, sizeof(*obj));
		bad += (uintptr_t)obj % _Alignof(max_align_t) != 0 || obj[0] || obj[1] || obj[2];
		obj[2] = -1;
	}
	big = pool_calloc(p, 1, 200 * 1024);
	after = pool_strdup(p, "after");
	memset(big, 'x', 200 * 1024);
	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "tag-%zu", i);
		bad += strcmp(s[i], name) != 0;
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_STRING_EQUAL(after, "after");
	CU_ASSERT_STRING_EQUAL(pool_strndup(p, "abcdef", 3), "abc");
	CU_ASSERT_PTR_NOT_NULL(pool_calloc(p, 0, 8));
	/* 20,000 x 40 bytes, the 200 KiB object and chunks that grew to 256 KiB: under 2 MB. */
	CU_ASSERT(pool_mapped(p) > 1000 * 1024 && pool_mapped(p) < 2 * 1024 * 1024);
	pool_free(p);
	pool_free(NULL);
}

/* pool_printf and pool_adopt: what one pool made lives on in the other. */
static void test_pool_adopt(void)
{
	struct pool *keep = pool_new(), *scan = pool_new();
	char *body = pool_printf(scan, "{\"size\":%d,\"of\":\"%s\"}", 42, "x");
	char *own = pool_strdup(keep, "own");

	pool_adopt(keep, scan); /* scan is released */
	CU_ASSERT_STRING_EQUAL(body, "{\"size\":42,\"of\":\"x\"}");
	CU_ASSERT_STRING_EQUAL(pool_strdup(keep, "after"), "after");
	CU_ASSERT_STRING_EQUAL(own, "own");
	pool_adopt(keep, NULL);
	pool_free(keep);
}

/* Elements grouped by a string member, in array order, NULL keys left out; a map of keys
 * (no stored hash) that grows past its first size still finds every one. */
static void test_chains(void)
{
	struct item {
		int n;
		const char *key;
	} items[] = {{0, "a"}, {1, NULL}, {2, "b"}, {3, "a"}, {4, "c"}, {5, "a"}, {6, NULL}};
	struct strchains c;
	struct strmap m = {0};
	char keys[500][8], order[16] = "";
	size_t i, found = 0;
	int fresh;

	strchains_build(&c, items, 7, sizeof(items[0]), offsetof(struct item, key));
	for (i = strchains_first(&c, "a"); i; i = c.next[i - 1])
		order[strlen(order)] = (char)('0' + items[i - 1].n);
	CU_ASSERT_STRING_EQUAL(order, "035");
	CU_ASSERT_EQUAL(strchains_first(&c, "b"), 3);
	CU_ASSERT_EQUAL(c.next[2], 0);
	CU_ASSERT_EQUAL(strchains_first(&c, "z"), 0);
	CU_ASSERT_EQUAL(strchains_first(&c, NULL), 0);
	strchains_free(&c);
	for (i = 0; i < 500; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%zu", i);
		*strmap_slot(&m, keys[i], &fresh) = keys[i];
		found += fresh;
	}
	for (i = 0; i < 500; i++)
		found += strmap_get(&m, keys[i]) == keys[i];
	CU_ASSERT_EQUAL(found, 1000);
	CU_ASSERT_PTR_NULL(strmap_get(&m, "k500"));
	strmap_free(&m);
}

/* What a hostile registry may put in a name reaches a terminal only as \xNN. */
static void test_escape(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"team/app:v1.2", "team/app:v1.2"},
		{"a\033]0;pwned\007b", "a\\x1b]0;pwned\\x07b"},
		{"line\nforged: ok", "line\\x0aforged: ok"},
		{"\033[2J\r\t\177", "\\x1b[2J\\x0d\\x09\\x7f"},
		{"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xb3", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xb3"},
		{"c1 \xc2\x9b" "31m", "c1 \\xc2\\x9b31m"},     /* CSI as a C1 control */
		{"raw \x9b" "31m", "raw \\x9b31m"},               /* and as a lone byte */
		{"short \xe2\x82", "short \\xe2\\x82"},     /* cut sequence */
		{"overlong \xc0\xaf", "overlong \\xc0\\xaf"}, /* "/" in two bytes */
		{"surrogate \xed\xa0\x80", "surrogate \\xed\\xa0\\x80"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b = {0};

		out_escape(&b, cases[i].in);
		CU_ASSERT_STRING_EQUAL(b.data ? b.data : "", cases[i].out);
		buf_free(&b);
	}
}

static int jw_buf_sink(void *b, const char *text, size_t n)
{
	buf_append(b, text, n);
	return 0;
}

/* The streaming writer prints what cJSON prints for the same document, indented, and
 * hashes its compact text: plans written either way have the same seal. */
static void test_json_writer(void)
{
	static const char *const doc_text =
	    "{\"s\":\"q\\\" b\\\\ c\\b\\f\\n\\r\\t \\u0001 \\u001f \\u007f Ã© /\","
	    "\"n\":[0,-1,7358161,2147483647,2147483648,-2147483649,3e9,0.5,1e300,"
	    "9007199254740993,1.0000000000000002,123456789012345678],"
	    "\"e\":{},\"a\":[],\"nest\":[{\"x\":[[true,false,null]],\"y\":{\"z\":\"\"}},{}],"
	    "\"last\":null}";
	cJSON *doc = cJSON_Parse(doc_text);
	char *pretty, *compact, want[UTIL_SHA256_LEN], got[UTIL_SHA256_LEN], all[40 * 255 + 1];
	cJSON *str;
	struct buf out = {0};
	struct jw w;

	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	jw_init(&w, jw_buf_sink, &out);
	jw_cjson(&w, NULL, doc);
	jw_digest(&w, got);
	CU_ASSERT_EQUAL(jw_finish(&w), 0);
	buf_append(&out, "", 1);
	pretty = json_text(doc, 1);
	compact = json_text(doc, 0);
	util_sha256(compact, strlen(compact), want);
	CU_ASSERT_STRING_EQUAL(out.data, pretty);
	CU_ASSERT_STRING_EQUAL(got, want);
	/* jw_digest closes what is open: the hash of "{" plus the first member plus "}". */
	out.len = 0;
	jw_init(&w, jw_buf_sink, &out);
	jw_object(&w, NULL);
	jw_string(&w, "a", "b");
	jw_digest(&w, got);
	util_sha256("{\"a\":\"b\"}", 9, want);
	CU_ASSERT_STRING_EQUAL(got, want);
	CU_ASSERT_EQUAL(jw_finish(&w), 0);
	/* Every byte but NUL as cJSON writes it in a string, 40 times: past the 4 KiB pieces
	 * the escaping works in. */
	for (size_t i = 0; i < sizeof(all) - 1; i++)
		all[i] = (char)(1 + i % 255);
	all[sizeof(all) - 1] = '\0';
	str = cJSON_CreateString(all);
	free(compact);
	compact = cJSON_PrintUnformatted(str);
	out.len = 0;
	json_string_text(&out, all);
	CU_ASSERT_EQUAL(out.len, strlen(compact));
	CU_ASSERT_EQUAL(memcmp(out.data, compact, out.len), 0);
	cJSON_Delete(str);
	free(pretty);
	free(compact);
	buf_free(&out);
	cJSON_Delete(doc);
}

static int json_agree_text(const char *text, size_t n, int round)
{
	(void)round;
	return json_agree(text, n);
}

static void test_json_scan(void)
{
	static const char *const seeds[] = {
	    "{\"architecture\":\"amd64\",\"created\":\"2023-11-14T22:13:20Z\",\"config\":"
	    "{\"Labels\":{\"a\":\"b\"},\"Env\":[\"PATH=/bin\"]},\"rootfs\":{\"type\":\"layers\","
	    "\"diff_ids\":[]},\"history\":[{\"created\":\"x\",\"empty_layer\":true}],\"n\":-1.5e3}",
	    "\xEF\xBB\xBF {\"created\" : null , \"created\":\"2\", \"a\":[1,2.0,-0,1e+2,{}]}trailing",
	    "{\"cr\\u0065ated\":\"\\ud83d\\ude00 \\u00e9 \\n\\\"\",\"config\":[],\"\":0}",
	    "\t\r\n\x01[true,false,null,\"\\/\\b\\f\\r\\t\",[[[]]],{\"a\":{\"a\":1}}]",
	    "{\"a\":\"\\uZZZZ\\u12\\\"x\",\"b\":1-2,\"c\":.5}",
	    "{\"k\\u0000x\":\"v\\u0000w\",\"layers\":{\"size\":1e999,\"digest\":\"sha256:0\"}}",
	};
	static const char nul_inside[] = "{\"a\":\"x\0y\",\"k\0z\":1}";
	static const char *const keys[] = {"created"};
	struct json_span found[1];
	struct buf t = {0};
	int differ = json_mutations(seeds, sizeof(seeds) / sizeof(seeds[0]), 40000, 4,
				    0x9E3779B97F4A7C15u, json_agree_text);

	/* A raw NUL in a string ends it, in a value and in a member name. */
	differ += json_agree(nul_inside, sizeof(nul_inside) - 1) != 0;
	/* cJSON's nesting limit: 1,000 containers deep, not 1,001. */
	for (int depth = 999; depth <= 1001; depth++) {
		t.len = 0;
		for (int i = 0; i < depth; i++)
			buf_append(&t, i % 2 ? "[" : "{\"a\":", i % 2 ? 1 : 5);
		for (int i = depth - 1; i >= 0; i--)
			buf_append(&t, i % 2 ? "]" : "}", 1);
		differ += json_agree(t.data, t.len) != 0;
	}
	CU_ASSERT_EQUAL(differ, 0);
	/* What a config without "config" hands on: no object, so no members. */
	json_members((struct json_span){NULL, 0}, keys, 1, found);
	CU_ASSERT_PTR_NULL(found[0].text);
	CU_ASSERT_EQUAL(json_value_span(NULL, 0, &found[0]), -1);
	CU_ASSERT_EQUAL(json_next((struct json_span){NULL, 0}, NULL, &found[0]), 0);
	CU_ASSERT_EQUAL(json_count((struct json_span){NULL, 0}), 0);
	CU_ASSERT_PTR_NULL(json_string_value((struct json_span){NULL, 0}, &t));
	CU_ASSERT_EQUAL(json_number_value((struct json_span){NULL, 0}, &(double){0}), -1);
	buf_free(&t);
}

void suite_util(void)
{
	static const struct test_case cases[] = {
		{"durations", test_durations},
		{"rfc3339", test_rfc3339},
		{"format round trip", test_format_roundtrip},
		{"first error wins", test_first_error_wins},
		{"repository names and digests", test_names},
		{"sizes for people", test_format_size},
		{"pools", test_pool},
		{"pool adoption", test_pool_adopt},
		{"chains and maps of strings", test_chains},
		{"terminal escaping", test_escape},
		{"json writer", test_json_writer},
		{"json scanned as cJSON parses it", test_json_scan},
		{NULL, NULL},
	};
	tests_add_suite("util", cases);
}
