/* test_journal.c - the deletion journal: what is written, how it reads back, and what a
 * reader refuses. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "journal.h"
#include "tests.h"
#include "util.h"

#define REG "http://127.0.0.1:5000"
#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_INDEX "application/vnd.oci.image.index.v1+json"

/* Bodies as registries serve them: pretty-printed, with a newline, a tab, a quote, a
 * backslash and UTF-8 to write back byte for byte. */
static const char image_body[] = "{\n   \"schemaVersion\": 2,\n   \"mediaType\": \"" MT_MANIFEST
				 "\",\n\t\"annotations\": {\"q\": \"say \\\"hi\\\" \\u0001 \xc3\xa9\"}\n}";
static const char index_body[] = "{\"schemaVersion\":2,\"mediaType\":\"" MT_INDEX
				 "\",\"manifests\":[]}";

/* A path in the scratch directory where no file is yet. */
static char *fresh_path(const char *name)
{
	char *path = tests_write_file(name, "");

	unlink(path);
	return path;
}

static char *read_text(const char *path)
{
	struct buf b = {0};

	CU_ASSERT_EQUAL_FATAL(buf_read_file(&b, path), 0);
	buf_append(&b, "", 0);
	return b.data;
}

static size_t count_lines(const char *text)
{
	size_t n = 0;

	for (; *text; text++)
		n += *text == '\n';
	return n;
}

/* Journals the two sample entries into path. */
static void write_samples(const char *path, char *image_digest, char *index_digest)
{
	static const char *const tags[] = {"v1", "latest"};
	struct rs_err e = {{0}};
	struct journal *j = journal_open(path, &e);
	struct journal_entry image = {
		.registry = REG,
		.repo = "team/app",
		.media_type = MT_MANIFEST,
		.tags = tags,
		.tag_count = 2,
		.body = image_body,
		.body_len = strlen(image_body),
	};
	struct journal_entry index = {
		.registry = REG,
		.repo = "team/app",
		.body = index_body,
		.body_len = strlen(index_body),
	};

	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	util_sha256(image_body, strlen(image_body), image_digest);
	util_sha256(index_body, strlen(index_body), index_digest);
	image.digest = image_digest;
	index.digest = index_digest;
	CU_ASSERT_EQUAL(journal_append(j, &image, &e), 0);
	CU_ASSERT_EQUAL(journal_append(j, &index, &e), 0);
	CU_ASSERT_EQUAL(journal_sync(j, &e), 0);
	CU_ASSERT_EQUAL(journal_close(j, &e), 0);
	CU_ASSERT_FALSE(err_isset(&e));
}

static void test_round_trip(void)
{
	char *path = fresh_path("round.jsonl"), *text, *want;
	char image_digest[UTIL_SHA256_LEN], index_digest[UTIL_SHA256_LEN];
	struct journal_log log;
	struct rs_err e = {{0}};
	const struct journal_record *r;
	int64_t now = (int64_t)time(NULL);

	write_samples(path, image_digest, index_digest);
	/* One unformatted object a line, the fields in this order. */
	text = read_text(path);
	want = xasprintf("{\"version\":1,\"registry\":\"" REG "\",\"repository\":\"team/app\",\"digest\":\"%s\","
			 "\"media_type\":\"" MT_MANIFEST "\",\"tags\":[\"v1\",\"latest\"],"
			 "\"manifest\":\"{\\n   \\\"schemaVersion\\\": 2,",
			 image_digest);
	CU_ASSERT_EQUAL(strncmp(text, want, strlen(want)), 0);
	CU_ASSERT_EQUAL(count_lines(text), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"media_type\":null,\"tags\":[]"));
	/* Escaped as cJSON escapes: controls and the quote and backslash, UTF-8 as it is. */
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\\n\\t\\\"annotations\\\": {\\\"q\\\": "
					    "\\\"say \\\\\\\"hi\\\\\\\" \\\\u0001 \xc3\xa9\\\"}\\n}\""));
	/* Each line is the text cJSON prints for what it parses to. */
	for (char *line = text, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
		cJSON *doc = cJSON_ParseWithLength(line, (size_t)(nl - line));
		char *again = cJSON_PrintUnformatted(doc);

		CU_ASSERT_PTR_NOT_NULL_FATAL(again);
		CU_ASSERT_EQUAL(strlen(again), (size_t)(nl - line));
		CU_ASSERT_EQUAL(strncmp(again, line, (size_t)(nl - line)), 0);
		cJSON_free(again);
		cJSON_Delete(doc);
	}
	free(want);
	free(text);

	CU_ASSERT_EQUAL_FATAL(journal_read(path, 0, &log, &e), 0);
	CU_ASSERT_EQUAL_FATAL(log.count, 2);
	r = &log.records[0];
	CU_ASSERT_EQUAL(r->line, 1);
	CU_ASSERT_STRING_EQUAL(r->registry, REG);
	CU_ASSERT_STRING_EQUAL(r->repo, "team/app");
	CU_ASSERT_STRING_EQUAL(r->digest, image_digest);
	CU_ASSERT_STRING_EQUAL(r->media_type, MT_MANIFEST);
	CU_ASSERT_EQUAL_FATAL(r->tag_count, 2);
	CU_ASSERT_STRING_EQUAL(r->tags[0], "v1");
	CU_ASSERT_STRING_EQUAL(r->tags[1], "latest");
	CU_ASSERT_EQUAL(r->body_len, strlen(image_body));
	CU_ASSERT_EQUAL(memcmp(r->body, image_body, r->body_len), 0);
	CU_ASSERT(r->time >= now - 5 && r->time <= now + 5);
	r = &log.records[1];
	CU_ASSERT_EQUAL(r->line, 2);
	CU_ASSERT_STRING_EQUAL(r->digest, index_digest);
	/* Unrecorded, so taken from the body. */
	CU_ASSERT_STRING_EQUAL(r->media_type, MT_INDEX);
	CU_ASSERT_EQUAL(r->tag_count, 0);
	CU_ASSERT_STRING_EQUAL(r->body, index_body);
	CU_ASSERT_STRING_EQUAL(journal_registry(&log), REG);
	journal_log_free(&log);

	/* Opening again appends. */
	write_samples(path, image_digest, index_digest);
	CU_ASSERT_EQUAL(journal_read(path, 0, &log, &e), 0);
	CU_ASSERT_EQUAL(log.count, 4);
	CU_ASSERT_FALSE(err_isset(&e));
	journal_log_free(&log);
	free(path);
}

static void test_mode(void)
{
	char *path = fresh_path("mode.jsonl");
	char a[UTIL_SHA256_LEN], b[UTIL_SHA256_LEN];
	struct stat st;
	mode_t old = umask(0);

	write_samples(path, a, b);
	umask(old);
	CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0600);
	free(path);
}

/* Appending after a partial line would make the whole journal unreadable: refused; a
 * journal that ends cleanly takes more entries. */
static void test_reopen(void)
{
	char *path = fresh_path("reopen.jsonl"), *text, *cut, *want;
	char a[UTIL_SHA256_LEN], b[UTIL_SHA256_LEN];
	struct rs_err e = {{0}};
	struct journal *j;

	write_samples(path, a, b);
	j = journal_open(path, &e);
	CU_ASSERT_PTR_NOT_NULL(j);
	CU_ASSERT_EQUAL(journal_close(j, &e), 0);
	text = read_text(path);
	cut = xasprintf("%.*s", (int)(strlen(text) - 20), text);
	free(path);
	path = tests_write_file("reopen.jsonl", cut);
	CU_ASSERT_PTR_NULL(journal_open(path, &e));
	want = xasprintf("%s: ends in a partial line; give --journal another file", path);
	CU_ASSERT_STRING_EQUAL(e.msg, want);
	free(want);
	free(cut);
	free(text);
	free(path);
}

static void test_malformed_line(void)
{
	char *path = fresh_path("malformed.jsonl"), *text, *with_bad, *want;
	char a[UTIL_SHA256_LEN], b[UTIL_SHA256_LEN];
	struct journal_log log;
	struct rs_err e = {{0}};

	write_samples(path, a, b);
	text = read_text(path);
	/* line 2 is garbage, line 3 is an object without a digest */
	with_bad = xasprintf("%.*s\n{\"registry\":\n%s", (int)(strchr(text, '\n') - text), text,
			     strchr(text, '\n') + 1);
	free(path);
	path = tests_write_file("malformed.jsonl", with_bad);
	CU_ASSERT_EQUAL(journal_read(path, 0, &log, &e), -1);
	want = xasprintf("%s:2: not a JSON object", path);
	CU_ASSERT_STRING_EQUAL(e.msg, want);
	journal_log_free(&log);
	free(want);
	free(with_bad);
	free(path);

	memset(&e, 0, sizeof(e));
	path = tests_write_file("nodigest.jsonl",
				"\n{\"registry\":\"" REG "\",\"repository\":\"a\",\"tags\":[],"
				"\"manifest\":\"{}\",\"time\":\"2024-05-01T10:20:30Z\"}\n");
	CU_ASSERT_EQUAL(journal_read(path, 0, &log, &e), -1);
	want = xasprintf("%s:2: \"digest\" is missing or not a digest", path);
	CU_ASSERT_STRING_EQUAL(e.msg, want);
	journal_log_free(&log);
	free(want);
	free(path);

	/* Something after the object on its line. */
	memset(&e, 0, sizeof(e));
	with_bad = xasprintf("%.*s x\n", (int)(strchr(text, '\n') - text), text);
	path = tests_write_file("trailing.jsonl", with_bad);
	CU_ASSERT_EQUAL(journal_read(path, 0, &log, &e), -1);
	want = xasprintf("%s:1: not a JSON object", path);
	CU_ASSERT_STRING_EQUAL(e.msg, want);
	journal_log_free(&log);
	free(want);
	free(with_bad);
	free(path);

	memset(&e, 0, sizeof(e));
	path = tests_write_file("empty.jsonl", "");
	CU_ASSERT_EQUAL(journal_read(path, 0, &log, &e), 0);
	CU_ASSERT_EQUAL(log.count, 0);
	CU_ASSERT_PTR_NULL(journal_registry(&log));
	journal_log_free(&log);
	free(path);

	memset(&e, 0, sizeof(e));
	path = fresh_path("missing.jsonl");
	CU_ASSERT_EQUAL(journal_read(path, 0, &log, &e), -1);
	want = xasprintf("%s: No such file or directory", path);
	CU_ASSERT_STRING_EQUAL(e.msg, want);
	journal_log_free(&log);
	free(want);
	free(path);
	free(text);
}

/* A crash while a batch was being written leaves a partial last line whose DELETEs were
 * never sent: skipped.  The same bytes followed by a newline are a damaged journal. */
static void test_incomplete_last_line(void)
{
	char *path = fresh_path("partial.jsonl"), *text, *cut;
	char a[UTIL_SHA256_LEN], b[UTIL_SHA256_LEN];
	struct journal_log log;
	struct rs_err e = {{0}};

	write_samples(path, a, b);
	text = read_text(path);
	cut = xasprintf("%.*s", (int)(strlen(text) - 20), text);
	free(path);
	path = tests_write_file("partial.jsonl", cut);
	CU_ASSERT_EQUAL(journal_read(path, 0, &log, &e), 0);
	CU_ASSERT_EQUAL(log.count, 1);
	journal_log_free(&log);
	free(cut);

	cut = xasprintf("%.*s\n", (int)(strlen(text) - 20), text);
	free(path);
	path = tests_write_file("partial.jsonl", cut);
	CU_ASSERT_EQUAL(journal_read(path, 0, &log, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "partial.jsonl:2: "));
	journal_log_free(&log);
	free(cut);
	free(text);
	free(path);
}

static void test_digest_mismatch(void)
{
	char *path = fresh_path("mismatch.jsonl"), *text, *p, *want;
	char a[UTIL_SHA256_LEN], b[UTIL_SHA256_LEN], got[UTIL_SHA256_LEN];
	struct journal_entry en = {
		.registry = REG,
		.repo = "team/app",
		.digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000",
		.body = "{}",
		.body_len = 2,
	};
	struct journal_log log;
	struct rs_err e = {{0}};
	struct journal *j;

	/* The writer refuses to journal what undo could not put back. */
	j = journal_open(path, &e);
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	CU_ASSERT_EQUAL(journal_append(j, &en, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "team/app@sha256:0000"));
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "the manifest's bytes hash to sha256:44136fa3"));
	memset(&e, 0, sizeof(e));
	CU_ASSERT_EQUAL(journal_close(j, &e), 0);

	/* A body edited after the fact: one byte of the first manifest changed. */
	write_samples(path, a, b);
	text = read_text(path);
	p = strstr(text, "schemaVersion\\\": 2");
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	p[strlen("schemaVersion\\\": ")] = '3';
	free(path);
	path = tests_write_file("mismatch.jsonl", text);
	CU_ASSERT_EQUAL(journal_read(path, 0, &log, &e), -1);
	p = xstrdup(image_body);
	p[strstr(p, "2,") - p] = '3';
	util_sha256(p, strlen(p), got);
	want = xasprintf("%s:1: team/app@%s: the manifest's bytes hash to %s", path, a, got);
	CU_ASSERT_STRING_EQUAL(e.msg, want);
	journal_log_free(&log);
	free(want);
	free(p);
	free(text);
	free(path);
}

static void test_registries(void)
{
	char *path = fresh_path("two.jsonl"), *text, *both;
	char a[UTIL_SHA256_LEN], b[UTIL_SHA256_LEN];
	struct journal_log log;
	struct rs_err e = {{0}};
	char *p;

	write_samples(path, a, b);
	text = read_text(path);
	both = xasprintf("%s%s", text, text);
	p = strstr(strchr(both, '\n') + 1, REG);
	memcpy(p, "http://127.0.0.1:5001", strlen(REG));
	free(path);
	path = tests_write_file("two.jsonl", both);
	CU_ASSERT_EQUAL_FATAL(journal_read(path, 0, &log, &e), 0);
	CU_ASSERT_EQUAL(log.count, 4);
	CU_ASSERT_PTR_NULL(journal_registry(&log));
	journal_log_free(&log);
	free(both);
	free(text);
	free(path);
}

static void test_default_path(void)
{
	char *scratch = fresh_path("state"), *home = fresh_path("home"), *path, *prefix, *pid;
	char *saved = getenv("XDG_STATE_HOME"), *saved_home = getenv("HOME");
	struct rs_err e = {{0}};
	struct stat st;

	saved = saved ? xstrdup(saved) : NULL;
	saved_home = saved_home ? xstrdup(saved_home) : NULL;
	setenv("XDG_STATE_HOME", scratch, 1);
	path = journal_default_path(&e);
	CU_ASSERT_PTR_NOT_NULL_FATAL(path);
	prefix = xasprintf("%s/regsweep/journal-", scratch);
	CU_ASSERT_EQUAL(strncmp(path, prefix, strlen(prefix)), 0);
	/* journal-YYYYMMDDTHHMMSSZ-<pid>.jsonl */
	pid = xasprintf("-%ld.jsonl", (long)getpid());
	CU_ASSERT_EQUAL(strlen(path), strlen(prefix) + strlen("20240501T102030Z") + strlen(pid));
	CU_ASSERT_STRING_EQUAL(path + strlen(path) - strlen(pid), pid);
	free(pid);
	CU_ASSERT_EQUAL(stat(scratch, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0700);
	free(prefix);
	prefix = xasprintf("%s/regsweep", scratch);
	CU_ASSERT_EQUAL(stat(prefix, &st), 0);
	CU_ASSERT(S_ISDIR(st.st_mode));
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0700);
	free(prefix);
	free(path);

	/* A relative XDG_STATE_HOME is ignored (the XDG spec): HOME's ~/.local/state is used. */
	setenv("XDG_STATE_HOME", "relative", 1);
	setenv("HOME", home, 1);
	path = journal_default_path(&e);
	prefix = xasprintf("%s/.local/state/regsweep/journal-", home);
	CU_ASSERT_PTR_NOT_NULL_FATAL(path);
	CU_ASSERT_EQUAL(strncmp(path, prefix, strlen(prefix)), 0);
	free(prefix);
	free(path);

	unsetenv("XDG_STATE_HOME");
	unsetenv("HOME");
	CU_ASSERT_PTR_NULL(journal_default_path(&e));
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "give --journal FILE"));
	if (saved)
		setenv("XDG_STATE_HOME", saved, 1);
	if (saved_home)
		setenv("HOME", saved_home, 1);
	free(saved);
	free(saved_home);
	free(home);
	free(scratch);
}

void suite_journal(void)
{
	static const struct test_case cases[] = {
		{"append, sync and read back", test_round_trip},
		{"created 0600", test_mode},
		{"reopened only when it ends cleanly", test_reopen},
		{"malformed line", test_malformed_line},
		{"incomplete last line", test_incomplete_last_line},
		{"digest mismatch refused", test_digest_mismatch},
		{"one registry or several", test_registries},
		{"default path", test_default_path},
		{NULL, NULL},
	};

	tests_add_suite("journal", cases);
}
