/* test_auth.c - credentials (password file, variable, docker config, credential helper),
 * the plain-http refusal, WWW-Authenticate parsing, URL scopes and the token flow against a
 * canned token server on a loopback socket, and that no secret reaches an error or the log. */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "log.h"
#include "tests.h"

#define REG "http://127.0.0.1:1"
#define MANIFEST REG "/v2/team/app/manifests/sha256:1111"
#define PW_FILE_SECRET "hunter2-file-secret"
#define PW_FILE_BASIC "Y2k6aHVudGVyMi1maWxlLXNlY3JldA==" /* ci:hunter2-file-secret */
#define PW_ENV_SECRET "env-secret-9"
#define PW_ENV_BASIC "Y2k6ZW52LXNlY3JldC05"
#define DOCKER_AUTH "dTE6cDEtZG9ja2VyLXNlY3JldA==" /* u1:p1-docker-secret */
#define HELPER_BASIC "aGVscGVyLXVzZXI6aGVscGVyLXNlY3JldA==" /* helper-user:helper-secret */
#define IDT_SECRET "idt-secret-Z"
/* {"alg":"none"}.{"access":[{"type":"repository","name":"team/app","actions":["pull"]}]} */
#define PULL_ONLY_JWT                                                                      \
	"eyJhbGciOiJub25lIn0.eyJhY2Nlc3MiOlt7InR5cGUiOiJyZXBvc2l0b3J5IiwibmFtZSI6InRlYW0vYXBw" \
	"IiwiYWN0aW9ucyI6WyJwdWxsIl19XX0.c2ln"

static const char *const secrets[] = {
	PW_FILE_SECRET, PW_FILE_BASIC, PW_ENV_SECRET, PW_ENV_BASIC, "p1-docker-secret",
	DOCKER_AUTH,    HELPER_BASIC,  "helper-secret", IDT_SECRET,  "opaque-tok",
	PULL_ONLY_JWT,  NULL,
};

static int has_secret(const char *text)
{
	for (const char *const *s = secrets; *s; s++)
		if (strstr(text, *s))
			return 1;
	return 0;
}

/* --- a canned token server: answers every request with fake.status and fake.body, and
 * keeps the last request (line, headers and body) --- */

static struct {
	int fd;
	pthread_t thread;
	pthread_mutex_t mu;
	int requests;
	char last[8192];
	int status;
	char body[2048];
	char realm[64];
} fake = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void read_request(int c, char *req, size_t cap)
{
	size_t n = 0, want = 0;
	char *end;

	while (n + 1 < cap) {
		ssize_t r = recv(c, req + n, cap - 1 - n, 0);

		if (r <= 0)
			break;
		n += (size_t)r;
		req[n] = '\0';
		end = strstr(req, "\r\n\r\n");
		if (end && !want) {
			const char *cl = strcasestr(req, "\r\ncontent-length:");

			want = (size_t)(end + 4 - req) + (cl ? strtoul(cl + 17, NULL, 10) : 0);
		}
		if (want && n >= want)
			break;
	}
	req[n] = '\0';
}

static void *fake_serve(void *arg)
{
	char req[8192], resp[4096];
	int c;

	(void)arg;
	while ((c = accept(fake.fd, NULL, NULL)) >= 0) {
		int len;

		read_request(c, req, sizeof(req));
		pthread_mutex_lock(&fake.mu);
		snprintf(fake.last, sizeof(fake.last), "%s", req);
		fake.requests++;
		len = snprintf(resp, sizeof(resp),
			       "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
			       "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
			       fake.status, strlen(fake.body), fake.body);
		pthread_mutex_unlock(&fake.mu);
		if (write(c, resp, (size_t)len) < 0)
			perror("fake token server");
		close(c);
	}
	return NULL;
}

static void fake_reply(int status, const char *body)
{
	pthread_mutex_lock(&fake.mu);
	fake.status = status;
	snprintf(fake.body, sizeof(fake.body), "%s", body);
	pthread_mutex_unlock(&fake.mu);
}

/* The number of requests so far and a copy of the last one. */
static int fake_last(char *out, size_t cap)
{
	int n;

	pthread_mutex_lock(&fake.mu);
	snprintf(out, cap, "%s", fake.last);
	n = fake.requests;
	pthread_mutex_unlock(&fake.mu);
	return n;
}

static void fake_start(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fake.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CU_ASSERT_FATAL(fake.fd >= 0);
	CU_ASSERT_FATAL(bind(fake.fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CU_ASSERT_FATAL(listen(fake.fd, 8) == 0);
	CU_ASSERT_FATAL(getsockname(fake.fd, (struct sockaddr *)&sa, &len) == 0);
	snprintf(fake.realm, sizeof(fake.realm), "http://127.0.0.1:%d/token", ntohs(sa.sin_port));
	fake.requests = 0;
	fake.last[0] = '\0';
	fake_reply(200, "{\"token\":\"opaque-tok-1\",\"expires_in\":300}");
	CU_ASSERT_FATAL(pthread_create(&fake.thread, NULL, fake_serve, NULL) == 0);
}

static void fake_stop(void)
{
	shutdown(fake.fd, SHUT_RDWR); /* accept() fails: the thread ends */
	pthread_join(fake.thread, NULL);
	close(fake.fd);
}

static struct auth *anon(int want_delete)
{
	struct rs_err e = {{0}};
	struct auth *a = auth_new(REG, NULL, NULL, 5000, want_delete, &e);

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	return a;
}

static char *challenge_for(const char *fmt)
{
	return xasprintf(fmt, fake.realm);
}

static void test_challenge_parsing(void)
{
	static const struct {
		const char *header; /* %s: the fake realm */
		const char *url;
		int want_delete;
		int rc;
		const char *want; /* rc 1: the token request line starts so; rc 0: error text */
	} cases[] = {
		{"Bearer realm=\"%s\",service=\"reg\",scope=\"repository:team/app:pull\"",
		 MANIFEST, 0, 1,
		 "GET /token?service=reg&scope=repository%3Ateam%2Fapp%3Apull HTTP"},
		{"bearer REALM = %s , Service = reg", MANIFEST, 0, 1,
		 "GET /token?service=reg&scope=repository%3Ateam%2Fapp%3Apull HTTP"},
		{"Bearer realm=\"%s\",service=\"a\\\"b\\\\c,d\"", REG "/v2/", 0, 1,
		 "GET /token?service=a%22b%5Cc%2Cd HTTP"},
		{"Basic realm=\"basic\", Bearer realm=\"%s\",service=\"s\"", REG "/v2/", 0, 1,
		 "GET /token?service=s HTTP"},
		{"Bearer realm=\"%s\",service=\"s\",scope=\"repository:team/app:delete\"",
		 MANIFEST, 1, 1,
		 "GET /token?service=s&scope=repository%3Ateam%2Fapp%3Apull%2Cdelete HTTP"},
		{"Bearer realm=\"%s\",scope=\"repository:team/app:pull repository:base:pull\"",
		 MANIFEST, 0, 1,
		 "GET /token?scope=repository%3Ateam%2Fapp%3Apull&scope=repository%3Abase%3Apull "},
		{"Bearer realm=\"%s\",service=\"s\",scope=\"registry:catalog:*\"",
		 REG "/v2/_catalog?n=100", 0, 1,
		 "GET /token?service=s&scope=registry%3Acatalog%3A%2A "},
		{"Bearer realm=\"%s\",service=\"s\",error=\"invalid_token\",x=y", REG "/v2/", 0, 1,
		 "GET /token?service=s HTTP"},
		{NULL, MANIFEST, 0, 0, "without a Basic or Bearer challenge"},
		{"Negotiate abc", MANIFEST, 0, 0, "without a Basic or Bearer challenge"},
		{"Bearer realm=\"%s", MANIFEST, 0, 0, "a WWW-Authenticate that does not parse"},
		{"Bearer realm=\"%s\" junk", MANIFEST, 0, 0, "does not parse"},
		{"Bearer service=\"s\"", MANIFEST, 0, 0, "Bearer challenge without a realm"},
		{"BASIC realm=\"x\"", MANIFEST, 0, 0,
		 "asks for credentials and none are configured"},
	};
	char last[8192];

	fake_start();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct auth *a = anon(cases[i].want_delete);
		char *h = cases[i].header ? challenge_for(cases[i].header) : NULL;
		struct rs_err e = {{0}};
		int before = fake_last(last, sizeof(last));
		int rc = auth_challenge(a, cases[i].url, h, &e);

		CU_ASSERT_EQUAL(rc, cases[i].rc);
		if (rc == 1) {
			CU_ASSERT_EQUAL(fake_last(last, sizeof(last)), before + 1);
			CU_ASSERT_EQUAL(strncmp(last, cases[i].want, strlen(cases[i].want)), 0);
			CU_ASSERT_STRING_EQUAL(auth_header(a, cases[i].url),
					       "Authorization: Bearer opaque-tok-1");
		} else {
			CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, cases[i].want));
		}
		if (rc != cases[i].rc || (rc == 1 && strncmp(last, cases[i].want,
							     strlen(cases[i].want))))
			fprintf(stderr, "case %zu: rc %d, %s / %.120s\n", i, rc, e.msg, last);
		free(h);
		auth_free(a);
	}
	fake_stop();
}

static void test_url_scope(void)
{
	static const struct {
		const char *url;
		const char *scope; /* the new token request's scope, NULL: none sent */
	} cases[] = {
		{REG "/v2/team/app/manifests/latest", "scope=repository%3Ateam%2Fapp%3Apull "},
		{REG "/v2/team/app/blobs/sha256:2222", NULL}, /* the same resource: cached */
		{REG "/v2/a/b/c/tags/list?n=100&last=x", "scope=repository%3Aa%2Fb%2Fc%3Apull "},
		{REG "/v2/x/manifests/y/manifests/sha256:1",
		 "scope=repository%3Ax%2Fmanifests%2Fy%3Apull "},
		{REG "/v2/_catalog?n=10", "scope=registry%3Acatalog%3A%2A "},
		{REG "/v2/", NULL},                    /* the challenge's own token */
		{REG "/v2/Bad/manifests/x", NULL},     /* no valid name: no scope */
		{REG "/v2/team/app/manifests/latest", NULL},
	};
	struct auth *a = anon(0);
	struct rs_err e = {{0}};
	char last[8192], *h;
	int n;

	fake_start();
	/* Before any challenge, nothing is sent and nothing is fetched. */
	CU_ASSERT_PTR_NULL(auth_header(a, MANIFEST));
	h = challenge_for("Bearer realm=\"%s\",service=\"s\"");
	CU_ASSERT_EQUAL(auth_challenge(a, REG "/v2/", h, &e), 1);
	free(h);
	n = fake_last(last, sizeof(last));
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_PTR_NULL(strstr(last, "scope="));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *hdr = auth_header(a, cases[i].url);
		int now = fake_last(last, sizeof(last));

		CU_ASSERT_PTR_NOT_NULL(hdr);
		CU_ASSERT_EQUAL(now, n + (cases[i].scope != NULL));
		if (cases[i].scope)
			CU_ASSERT_PTR_NOT_NULL(strstr(last, cases[i].scope));
		n = now;
	}
	/* Another host gets nothing, whatever its path. */
	CU_ASSERT_PTR_NULL(auth_header(a, "http://127.0.0.2:1/v2/team/app/manifests/latest"));
	CU_ASSERT_PTR_NULL(auth_header(a, REG "0/v2/team/app/manifests/latest"));
	CU_ASSERT_EQUAL(fake_last(last, sizeof(last)), n);
	auth_free(a);
	fake_stop();
}

static struct auth *with_user(const char *url, const char *file, const char *env, int insecure,
			      struct rs_err *e)
{
	struct auth_opts o = {.username = (char *)"ci",
			      .password_file = (char *)file,
			      .password_env = (char *)env,
			      .allow_insecure = insecure};

	return auth_new(url, &o, NULL, 5000, 1, e);
}

static void test_password_file(void)
{
	char *path = tests_write_file("ci.pass", PW_FILE_SECRET "\n"), *want;
	struct rs_err e = {{0}};
	struct auth *a;

	CU_ASSERT_EQUAL_FATAL(chmod(path, 0644), 0);
	CU_ASSERT_PTR_NULL(with_user(REG, path, NULL, 0, &e));
	want = xasprintf("%s: password file is readable by group or others (chmod 600 it)", path);
	CU_ASSERT_STRING_EQUAL(e.msg, want);
	free(want);

	CU_ASSERT_EQUAL_FATAL(chmod(path, 0600), 0);
	memset(&e, 0, sizeof(e));
	a = with_user(REG, path, NULL, 0, &e);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_TRUE(auth_has_credentials(a));
	/* Basic goes out only once the registry asked for it, then with every request. */
	CU_ASSERT_PTR_NULL(auth_header(a, MANIFEST));
	CU_ASSERT_EQUAL(auth_challenge(a, MANIFEST, "Basic realm=\"Registry Realm\"", &e), 1);
	CU_ASSERT_STRING_EQUAL(auth_header(a, MANIFEST), "Authorization: Basic " PW_FILE_BASIC);
	CU_ASSERT_STRING_EQUAL(auth_header(a, REG "/v2/_catalog"),
			       "Authorization: Basic " PW_FILE_BASIC);
	CU_ASSERT_PTR_NULL(auth_header(a, "http://127.0.0.2:1/v2/"));
	CU_ASSERT_EQUAL(auth_challenge(a, MANIFEST, "Basic realm=\"Registry Realm\"", &e), 0);
	CU_ASSERT_STRING_EQUAL(e.msg, "registry refused the credentials of user ci");
	auth_free(a);

	memset(&e, 0, sizeof(e));
	free(path);
	path = tests_write_file("empty.pass", "\n");
	CU_ASSERT_EQUAL_FATAL(chmod(path, 0600), 0);
	CU_ASSERT_PTR_NULL(with_user(REG, path, NULL, 0, &e));
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "password file is empty"));
	free(path);

	memset(&e, 0, sizeof(e));
	CU_ASSERT_PTR_NULL(with_user(REG, "/nonexistent/ci.pass", NULL, 0, &e));
	CU_ASSERT_STRING_EQUAL(e.msg, "/nonexistent/ci.pass: cannot open password file: No such "
				      "file or directory");
}

static void test_password_env(void)
{
	struct rs_err e = {{0}};
	struct auth *a;

	unsetenv("RS_TEST_PASSWORD");
	CU_ASSERT_PTR_NULL(with_user(REG, NULL, "RS_TEST_PASSWORD", 0, &e));
	CU_ASSERT_STRING_EQUAL(e.msg, "environment variable RS_TEST_PASSWORD (password_env) is "
				      "unset or empty");
	memset(&e, 0, sizeof(e));
	setenv("RS_TEST_PASSWORD", "", 1);
	CU_ASSERT_PTR_NULL(with_user(REG, NULL, "RS_TEST_PASSWORD", 0, &e));
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "RS_TEST_PASSWORD"));
	memset(&e, 0, sizeof(e));
	setenv("RS_TEST_PASSWORD", PW_ENV_SECRET, 1);
	a = with_user(REG, NULL, "RS_TEST_PASSWORD", 0, &e);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(auth_challenge(a, MANIFEST, "Basic realm=\"r\"", &e), 1);
	CU_ASSERT_STRING_EQUAL(auth_header(a, MANIFEST), "Authorization: Basic " PW_ENV_BASIC);
	auth_free(a);
	unsetenv("RS_TEST_PASSWORD");
}

static void test_insecure(void)
{
	static const struct {
		const char *url;
		int insecure;
		int ok;
	} cases[] = {
		{"http://reg.example.com:5000", 0, 0}, {"http://reg.example.com:5000", 1, 1},
		{"https://reg.example.com:5000", 0, 1}, {"http://127.0.0.2:5000", 0, 1},
		{"http://localhost:5000", 0, 1},        {"http://[::1]:5000", 0, 1},
		{"HTTP://10.1.2.3", 0, 0},
	};
	struct rs_err e = {{0}};
	struct auth *a;
	char *h;

	setenv("RS_TEST_PASSWORD", PW_ENV_SECRET, 1);
	log_set_level(RS_LOG_ERROR); /* allow_insecure says so on stderr */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&e, 0, sizeof(e));
		a = with_user(cases[i].url, NULL, "RS_TEST_PASSWORD", cases[i].insecure, &e);
		CU_ASSERT_EQUAL(a != NULL, cases[i].ok);
		if (!a)
			CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "refusing to send credentials over "
							     "plain http:// to "));
		CU_ASSERT_FALSE(has_secret(e.msg));
		auth_free(a);
	}
	log_set_level(RS_LOG_INFO);
	memset(&e, 0, sizeof(e));
	CU_ASSERT_PTR_NULL(with_user("http://reg.example.com:5000", NULL, "RS_TEST_PASSWORD", 0,
				     &e));
	CU_ASSERT_STRING_EQUAL(e.msg, "refusing to send credentials over plain http:// to "
				      "reg.example.com:5000 "
				      "(allow_insecure_auth = true allows it)");
	/* Anonymous is fine anywhere; a token realm over plain http:// gets no credentials. */
	memset(&e, 0, sizeof(e));
	a = auth_new("http://reg.example.com:5000", NULL, NULL, 5000, 0, &e);
	CU_ASSERT_PTR_NOT_NULL(a);
	auth_free(a);
	a = with_user(REG, NULL, "RS_TEST_PASSWORD", 0, &e);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	h = xasprintf("Bearer realm=\"http://auth.example.com/token\",service=\"s\"");
	CU_ASSERT_EQUAL(auth_challenge(a, MANIFEST, h, &e), 0);
	CU_ASSERT_STRING_EQUAL(e.msg, "refusing to send credentials over plain http:// to "
				      "auth.example.com (allow_insecure_auth = true allows it)");
	free(h);
	auth_free(a);
	unsetenv("RS_TEST_PASSWORD");
}

/* A docker config written into the scratch directory, read through "~/" with HOME there. */
static struct auth *with_docker_config(const char *url, const char *json, struct rs_err *e)
{
	char *path = tests_write_file("docker-config.json", json), *dir = xstrdup(path);
	char *old_home = getenv("HOME") ? xstrdup(getenv("HOME")) : NULL;
	struct auth_opts o = {.docker_config = (char *)"~/docker-config.json"};
	struct auth *a;

	*strrchr(dir, '/') = '\0';
	setenv("HOME", dir, 1);
	a = auth_new(url, &o, NULL, 2000, 1, e);
	if (old_home)
		setenv("HOME", old_home, 1);
	else
		unsetenv("HOME");
	free(old_home);
	free(dir);
	free(path);
	return a;
}

/* The Basic header a's credentials make, once a registry asked for it. */
static const char *basic_of(struct auth *a, const char *url)
{
	struct rs_err e = {{0}};
	char *base = xstrndup(url, strcspn(url + 8, "/") + 8), *u = xasprintf("%s/v2/", base);
	const char *h = NULL;

	if (auth_challenge(a, u, "Basic realm=\"r\"", &e) == 1)
		h = auth_header(a, u);
	free(u);
	free(base);
	return h;
}

static void test_docker_config(void)
{
	static const struct {
		const char *url;
		const char *key;
	} matches[] = {
		{"https://reg.example.com:5000", "https://reg.example.com:5000"},
		{"https://reg.example.com:5000", "reg.example.com:5000"},
		{"https://reg.example.com:5000", "http://REG.example.com:5000/v1/"},
		{"http://localhost", "https://localhost/v2/"},
	};
	static const char *const misses[] = {"https://reg.example.com",
					      "https://reg.example.com:5001",
					      "https://other.example.com:5000"};
	struct rs_err e = {{0}};
	struct auth *a;
	char *json, last[8192];

	for (size_t i = 0; i < sizeof(matches) / sizeof(matches[0]); i++) {
		json = xasprintf("{\"auths\": {\"other.example.com\": {\"auth\": \"eDp5\"}, "
				 "\"%s\": {\"auth\": \"" DOCKER_AUTH "\"}}}",
				 matches[i].key);
		memset(&e, 0, sizeof(e));
		a = with_docker_config(matches[i].url, json, &e);
		CU_ASSERT_PTR_NOT_NULL_FATAL(a);
		CU_ASSERT_TRUE(auth_has_credentials(a));
		CU_ASSERT_STRING_EQUAL(basic_of(a, matches[i].url),
				       "Authorization: Basic " DOCKER_AUTH);
		auth_free(a);
		free(json);
	}
	log_set_level(RS_LOG_ERROR); /* "no credentials for ...; asking anonymously" */
	for (size_t i = 0; i < sizeof(misses) / sizeof(misses[0]); i++) {
		memset(&e, 0, sizeof(e));
		a = with_docker_config(misses[i], "{\"auths\": {\"reg.example.com:5000\": "
						  "{\"auth\": \"" DOCKER_AUTH "\"}}}", &e);
		CU_ASSERT_PTR_NOT_NULL_FATAL(a);
		CU_ASSERT_FALSE(auth_has_credentials(a));
		auth_free(a);
	}
	log_set_level(RS_LOG_INFO);

	/* Not base64, or no colon: an error that shows neither. */
	memset(&e, 0, sizeof(e));
	CU_ASSERT_PTR_NULL(with_docker_config(REG, "{\"auths\": {\"127.0.0.1:1\": "
						   "{\"auth\": \"p1-docker-secret!\"}}}", &e));
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "is not base64 of user:password"));
	CU_ASSERT_FALSE(has_secret(e.msg));
	memset(&e, 0, sizeof(e));
	CU_ASSERT_PTR_NULL(with_docker_config(REG, "{\"auths\": [", &e));
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "docker config is not a JSON object"));

	/* An identity token is an OAuth2 refresh token: POSTed to the realm. */
	fake_start();
	memset(&e, 0, sizeof(e));
	a = with_docker_config(REG, "{\"auths\": {\"127.0.0.1:1\": {\"auth\": "
				    "\"MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAwOg==\", "
				    "\"identitytoken\": \"" IDT_SECRET "\"}}}", &e);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_TRUE(auth_has_credentials(a));
	json = challenge_for("Bearer realm=\"%s\",service=\"reg\"");
	CU_ASSERT_EQUAL(auth_challenge(a, MANIFEST, json, &e), 1);
	fake_last(last, sizeof(last));
	CU_ASSERT_EQUAL(strncmp(last, "POST /token HTTP/1.1", 20), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(last, "\r\n\r\ngrant_type=refresh_token&client_id=regsweep&"
					    "refresh_token=" IDT_SECRET "&service=reg&"
					    "scope=repository%3Ateam%2Fapp%3Apull%2Cdelete"));
	CU_ASSERT_PTR_NULL(strcasestr(last, "Authorization:"));
	/* Basic cannot be answered with an identity token alone. */
	CU_ASSERT_EQUAL(auth_challenge(a, MANIFEST, "Basic realm=\"r\"", &e), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "only an identity token"));
	free(json);
	auth_free(a);
	fake_stop();
}

static char *write_helper(const char *name, const char *body)
{
	char *script = xasprintf("#!/bin/sh\n%s\n", body);
	char *path = tests_write_file(name, script);

	CU_ASSERT_EQUAL(chmod(path, 0700), 0);
	free(script);
	return path;
}

static void test_credential_helper(void)
{
	char *path = write_helper("docker-credential-testhelper",
				  "host=$(cat)\n"
				  "case \"$host\" in\n"
				  "reg.example.com:5000) printf '{\"ServerURL\":\"%s\","
				  "\"Username\":\"helper-user\",\"Secret\":\"helper-secret\"}' "
				  "\"$host\" ;;\n"
				  "tok.example.com) printf '{\"Username\":\"<token>\",\"Secret\":"
				  "\"" IDT_SECRET "\"}' ;;\n"
				  "broken.example.com) echo 'keychain locked'; exit 3 ;;\n"
				  "*) printf 'credentials not found in native keychain'; "
				  "exit 1 ;;\n"
				  "esac");
	char *slow = write_helper("docker-credential-slow", "exec sleep 5");
	char *dir = xstrdup(path), *old_path = xstrdup(getenv("PATH") ? getenv("PATH") : "");
	char *new_path;
	struct rs_err e = {{0}};
	struct timespec t0, t1;
	struct auth *a;

	*strrchr(dir, '/') = '\0';
	new_path = xasprintf("%s:%s", dir, old_path);
	setenv("PATH", new_path, 1);

	a = with_docker_config("https://reg.example.com:5000",
			       "{\"credHelpers\": {\"reg.example.com:5000\": \"testhelper\"}, "
			       "\"auths\": {\"reg.example.com:5000\": {\"auth\": \"eDp5\"}}}",
			       &e);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_STRING_EQUAL(basic_of(a, "https://reg.example.com:5000"),
			       "Authorization: Basic " HELPER_BASIC);
	auth_free(a);

	a = with_docker_config("https://tok.example.com", "{\"credsStore\": \"testhelper\"}", &e);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_TRUE(auth_has_credentials(a));
	auth_free(a);

	log_set_level(RS_LOG_ERROR); /* "has no credentials for ...; asking anonymously" */
	a = with_docker_config("https://none.example.com", "{\"credsStore\": \"testhelper\"}", &e);
	log_set_level(RS_LOG_INFO);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_FALSE(auth_has_credentials(a));
	auth_free(a);
	CU_ASSERT_FALSE(err_isset(&e));

	CU_ASSERT_PTR_NULL(with_docker_config("https://broken.example.com",
					      "{\"credsStore\": \"testhelper\"}", &e));
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "docker-credential-testhelper get failed (exit 3): "
					     "keychain locked"));
	memset(&e, 0, sizeof(e));
	CU_ASSERT_PTR_NULL(with_docker_config(REG, "{\"credsStore\": \"missing\"}", &e));
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "cannot run docker-credential-missing "
					     "(not in PATH?)"));
	memset(&e, 0, sizeof(e));
	CU_ASSERT_PTR_NULL(with_docker_config(REG, "{\"credsStore\": \"../x\"}", &e));
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "is not a plain name"));

	/* A helper that hangs is killed at the deadline (2 s here). */
	memset(&e, 0, sizeof(e));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CU_ASSERT_PTR_NULL(with_docker_config(REG, "{\"credsStore\": \"slow\"}", &e));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "docker-credential-slow get: no answer within "
					     "2000 ms"));
	CU_ASSERT_TRUE(t1.tv_sec - t0.tv_sec < 4);

	setenv("PATH", old_path, 1);
	free(new_path);
	free(old_path);
	free(dir);
	free(slow);
	free(path);
}

/* Bearer tokens: cached per resource, refreshed once after a refusal, a JWT lacking delete
 * named as such, a failed fetch reported without asking again; and nothing secret in the
 * errors or in the debug log. */
static void test_token_flow(void)
{
	char *log_path = tests_write_file("auth.log", ""), *ch, *want, *log_text, last[8192];
	int saved_err = dup(STDERR_FILENO), fd = open(log_path, O_WRONLY | O_TRUNC);
	struct rs_err e = {{0}};
	struct auth *a;
	FILE *f;
	long len;

	fake_start();
	setenv("RS_TEST_PASSWORD", PW_ENV_SECRET, 1);
	log_set_level(RS_LOG_DEBUG);
	CU_ASSERT_FATAL(saved_err >= 0 && fd >= 0 && dup2(fd, STDERR_FILENO) >= 0);

	/* Credentials go to the token server as Basic; a refused token is refreshed once. */
	a = with_user(REG, NULL, "RS_TEST_PASSWORD", 0, &e);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	ch = challenge_for("Bearer realm=\"%s\",service=\"reg\","
			   "scope=\"repository:team/app:pull\"");
	CU_ASSERT_EQUAL(auth_challenge(a, MANIFEST, ch, &e), 1);
	CU_ASSERT_EQUAL(fake_last(last, sizeof(last)), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(last, "Authorization: Basic " PW_ENV_BASIC "\r\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(last, "scope=repository%3Ateam%2Fapp%3Apull%2Cdelete "));
	/* A request that went before the token came is just sent again. */
	CU_ASSERT_EQUAL(auth_challenge(a, MANIFEST, ch, &e), 1);
	CU_ASSERT_EQUAL(fake_last(last, sizeof(last)), 1);
	CU_ASSERT_STRING_EQUAL(auth_header(a, MANIFEST), "Authorization: Bearer opaque-tok-1");
	fake_reply(200, "{\"access_token\":\"opaque-tok-2\"}");
	CU_ASSERT_EQUAL(auth_challenge(a, MANIFEST, ch, &e), 1);
	CU_ASSERT_EQUAL(fake_last(last, sizeof(last)), 2);
	CU_ASSERT_STRING_EQUAL(auth_header(a, MANIFEST), "Authorization: Bearer opaque-tok-2");
	CU_ASSERT_EQUAL(auth_challenge(a, MANIFEST, ch, &e), 0);
	CU_ASSERT_STRING_EQUAL(e.msg, "registry refused the token for "
				      "repository:team/app:pull,delete");
	CU_ASSERT_EQUAL(fake_last(last, sizeof(last)), 2);
	free(ch);

	/* The JWT grants pull only: the DELETE's refusal names the missing action at once. */
	memset(&e, 0, sizeof(e));
	fake_reply(200, "{\"token\":\"" PULL_ONLY_JWT "\",\"expires_in\":300}");
	ch = challenge_for("Bearer realm=\"%s\",service=\"reg\","
			   "scope=\"repository:team/app:delete\",error=\"insufficient_scope\"");
	auth_free(a);
	a = with_user(REG, NULL, "RS_TEST_PASSWORD", 0, &e);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(auth_challenge(a, MANIFEST, ch, &e), 1);
	CU_ASSERT_STRING_EQUAL(auth_header(a, MANIFEST), "Authorization: Bearer " PULL_ONLY_JWT);
	CU_ASSERT_EQUAL(auth_challenge(a, MANIFEST, ch, &e), 0);
	CU_ASSERT_STRING_EQUAL(e.msg, "token for repository:team/app lacks the delete action "
				      "(scope refused?)");
	free(ch);

	/* The token server refuses: said once, cached, not asked again for that resource. */
	memset(&e, 0, sizeof(e));
	fake_reply(401, "{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}");
	ch = challenge_for("Bearer realm=\"%s\",service=\"reg\"");
	CU_ASSERT_EQUAL(auth_challenge(a, REG "/v2/team/other/tags/list", ch, &e), 0);
	want = xasprintf("token server %s: HTTP 401 for scope repository:team/other:pull,delete",
			 fake.realm);
	CU_ASSERT_STRING_EQUAL(e.msg, want);
	free(want);
	CU_ASSERT_PTR_NULL(auth_header(a, REG "/v2/team/other/manifests/x"));
	memset(&e, 0, sizeof(e));
	CU_ASSERT_EQUAL(auth_challenge(a, REG "/v2/team/other/manifests/x", ch, &e), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "HTTP 401 for scope repository:team/other:"));
	CU_ASSERT_EQUAL(fake_last(last, sizeof(last)), 4);
	free(ch);

	/* A short-lived token is fetched again once it expires. */
	memset(&e, 0, sizeof(e));
	fake_reply(200, "{\"token\":\"opaque-tok-short\",\"expires_in\":1}");
	CU_ASSERT_PTR_NOT_NULL(auth_header(a, REG "/v2/short/manifests/x"));
	CU_ASSERT_EQUAL(fake_last(last, sizeof(last)), 5);
	CU_ASSERT_PTR_NOT_NULL(auth_header(a, REG "/v2/short/manifests/y"));
	CU_ASSERT_EQUAL(fake_last(last, sizeof(last)), 5);
	nanosleep(&(struct timespec){1, 50 * 1000 * 1000}, NULL);
	CU_ASSERT_PTR_NOT_NULL(auth_header(a, REG "/v2/short/manifests/z"));
	CU_ASSERT_EQUAL(fake_last(last, sizeof(last)), 6);

	/* Answers that are not tokens. */
	fake_reply(200, "{\"expires_in\":60}");
	CU_ASSERT_PTR_NULL(auth_header(a, REG "/v2/none/manifests/x"));
	fake_reply(200, "{\"token\":\"a\\r\\nX-Evil: 1\"}");
	CU_ASSERT_PTR_NULL(auth_header(a, REG "/v2/evil/manifests/x"));
	auth_free(a);

	fflush(stderr);
	dup2(saved_err, STDERR_FILENO);
	close(saved_err);
	close(fd);
	log_set_level(RS_LOG_INFO);
	unsetenv("RS_TEST_PASSWORD");
	fake_stop();

	f = fopen(log_path, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	log_text = xcalloc(1, (size_t)len + 1);
	CU_ASSERT_EQUAL(fread(log_text, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	CU_ASSERT_PTR_NOT_NULL(strstr(log_text, "token for repository:team/app:pull,delete from"));
	CU_ASSERT_FALSE(has_secret(log_text));
	free(log_text);
	free(log_path);
}

void suite_auth(void)
{
	static const struct test_case cases[] = {
		{"WWW-Authenticate parsing and token requests", test_challenge_parsing},
		{"URL to scope", test_url_scope},
		{"password file permissions and Basic", test_password_file},
		{"password environment variable", test_password_env},
		{"no credentials over plain http to a remote host", test_insecure},
		{"docker config lookups", test_docker_config},
		{"docker credential helpers", test_credential_helper},
		{"token cache, refresh, scope refusal, redaction", test_token_flow},
		{NULL, NULL},
	};

	tests_add_suite("auth", cases);
}
