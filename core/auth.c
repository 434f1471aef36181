/* auth.c - registry credentials and bearer tokens (see auth.h).  Secrets (passwords,
 * identity tokens, Basic values, bearer tokens) are kept in buffers this file allocates, sized
 * once where it can so no realloc leaves a copy behind, and are wiped before they are freed.
 * Messages name users, hosts, realms and scopes, never a secret. */
#define _GNU_SOURCE
#include "auth.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/evp.h>

#include "log.h"

#ifndef RS_VERSION
#define RS_VERSION "dev"
#endif

#define PASSWORD_MAX 4096
#define CONFIG_MAX (1024 * 1024) /* a docker config.json */
#define ANSWER_MAX (64 * 1024)   /* a token server's answer, a credential helper's output */
#define DEFAULT_EXPIRES_S 60     /* the distribution token spec's default lifetime */
#define SKEW_MAX_S 30
#define HELPER_TIMEOUT_MS 60000L /* when no request timeout is configured */
#define HELPER_NOT_FOUND "credentials not found in native keychain"
#define BASIC_PREFIX "Authorization: Basic "
#define BEARER_PREFIX "Authorization: Bearer "

/* A resource ("repository:team/app", "registry:catalog") and the actions asked on it. */
struct scope {
	char *resource;
	struct buf actions; /* comma-separated, never NULL data */
};

struct scopes {
	struct scope *v;
	size_t n;
};

/* The token of one resource ("" for requests that name none, /v2/ itself). */
struct token {
	struct token *next;
	char *resource;
	char *scope_text; /* the scopes asked for, space-separated, for messages */
	char *header;     /* secret: "Authorization: Bearer ..."; NULL when the fetch failed */
	char *error;      /* why the fetch failed; kept so that requests do not all ask again */
	char *granted;    /* actions the JWT's access claim grants on resource; NULL: unknown */
	int64_t expires;  /* monotonic ms */
	int handed;       /* auth_header gave it to a request */
	int refreshed;    /* fetched again after the registry refused the one before */
};

struct auth {
	char *origin; /* "https://host:port": requests to anywhere else carry nothing */
	char *host;   /* "host" or "host:port", as docker config keys name it */
	struct tls_opts tls;
	long timeout_ms;
	unsigned want; /* AUTH_WANT_* */
	int allow_insecure;
	int insecure_warned;
	char *username;       /* for messages; NULL when none is known */
	char *password;       /* secret */
	char *identity_token; /* secret: an OAuth2 refresh token from a docker config */
	char *basic;          /* secret: "Authorization: Basic ..." when a password is known */
	int basic_asked;      /* the registry answered 401 Basic: send it with every request */
	int basic_handed;
	char *realm;   /* from the first Bearer challenge: credentials go to no other realm */
	char *service; /* from the last Bearer challenge */
	struct token *tokens;
	struct buf resource; /* scratch: the resource of the URL at hand */
};

/* One parsed WWW-Authenticate challenge; only the parameters regsweep uses. */
struct challenge {
	int present;
	char *realm, *service, *scope;
};

static void wipe_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

/* cJSON frees without clearing: the strings of a parsed secret-bearing document are wiped
 * first. */
static void json_wipe(cJSON *c)
{
	for (; c; c = c->next) {
		if (c->valuestring)
			explicit_bzero(c->valuestring, strlen(c->valuestring));
		json_wipe(c->child);
	}
}

static void json_wipe_delete(cJSON *root)
{
	json_wipe(root);
	cJSON_Delete(root);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *json_string(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

/* Standard or URL-safe base64, padding optional (docker's "auth", a JWT's payload).  A fresh
 * NUL-terminated buffer and its length, or NULL when text is not base64. */
static char *b64_decode(const char *in, size_t len, size_t *out_len)
{
	char *out = xmalloc(len / 4 * 3 + 3);
	uint32_t acc = 0;
	size_t n = 0;
	int bits = 0;

	while (len && in[len - 1] == '=')
		len--;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		uint32_t v;

		if (c >= 'A' && c <= 'Z')
			v = (uint32_t)(c - 'A');
		else if (c >= 'a' && c <= 'z')
			v = (uint32_t)(c - 'a' + 26);
		else if (c >= '0' && c <= '9')
			v = (uint32_t)(c - '0' + 52);
		else if (c == '+' || c == '-')
			v = 62;
		else if (c == '/' || c == '_')
			v = 63;
		else {
			explicit_bzero(out, n);
			free(out);
			return NULL;
		}
		acc = (acc << 6 | v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (char)(acc >> bits & 0xff);
		}
	}
	out[n] = '\0';
	*out_len = n;
	return out;
}

/* Length of "scheme://authority" at the start of url; 0 when it has no scheme. */
static size_t origin_len(const char *url)
{
	const char *p = strstr(url, "://");

	if (!p)
		return 0;
	p += 3;
	return (size_t)(p - url) + strcspn(p, "/?#");
}

static int same_origin(const struct auth *a, const char *url)
{
	size_t n = strlen(a->origin);

	return strncasecmp(url, a->origin, n) == 0 &&
	       (url[n] == '/' || url[n] == '?' || url[n] == '\0');
}

static int is_loopback(const char *host)
{
	struct in_addr v4;

	if (strcasecmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0 ||
	    strcmp(host, "::1") == 0)
		return 1;
	return inet_pton(AF_INET, host, &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

/* "host" or "host:port" (the port only when url names one), or NULL when url does not parse;
 * *plain_remote: http:// to a host that is not loopback. */
static char *url_host(const char *url, int *plain_remote)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *out = NULL;

	if (!u)
		return NULL;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
		curl_url_get(u, CURLUPART_PORT, &port, 0);
		out = port ? xasprintf("%s:%s", host, port) : xstrdup(host);
		*plain_remote = strcasecmp(scheme, "http") == 0 && !is_loopback(host);
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return out;
}

/* Credentials go over plain http:// only to a loopback host, or when the stack says
 * allow_insecure_auth (then once said on stderr). */
static int check_transport(struct auth *a, const char *url, struct rs_err *e)
{
	int plain_remote = 0;
	char *host = url_host(url, &plain_remote);

	if (!host) {
		err_set(e, "%s: not a URL credentials can be sent to", url);
		return -1;
	}
	if (plain_remote && !a->allow_insecure) {
		err_set(e, "refusing to send credentials over plain http:// to %s "
			   "(allow_insecure_auth = true allows it)", host);
		free(host);
		return -1;
	}
	if (plain_remote && !a->insecure_warned) {
		log_msg(RS_LOG_WARN, "sending credentials over plain http:// to %s "
				     "(allow_insecure_auth)", host);
		a->insecure_warned = 1;
	}
	free(host);
	return 0;
}

/* All of fd, at most max bytes, in a buffer allocated once (no realloc leaves a copy of a
 * secret behind): NUL-terminated, or NULL with errno set (EFBIG when longer than max). */
static char *read_all(int fd, size_t max, size_t *len)
{
	char *p = xmalloc(max + 2);
	size_t n = 0;
	ssize_t r;
	int saved;

	while (n <= max && (r = read(fd, p + n, max + 1 - n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto fail;
		n += (size_t)r;
	}
	if (n > max) {
		errno = EFBIG;
		goto fail;
	}
	p[n] = '\0';
	*len = n;
	return p;
fail:
	saved = errno;
	explicit_bzero(p, n);
	free(p);
	errno = saved;
	return NULL;
}

static char *read_password_file(const char *path, struct rs_err *e)
{
	/* O_NONBLOCK: a FIFO planted there must not hang the run; it is refused below. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;
	char *pw = NULL;
	size_t len = 0;
	const char *why;

	if (fd < 0) {
		err_set(e, "%s: cannot open password file: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		err_set(e, "%s: password file is not a regular file", path);
	else if ((why = util_untrusted(&st)))
		err_set(e, "%s: password file is %s", path, why);
	else if (st.st_mode & (S_IRGRP | S_IROTH))
		err_set(e, "%s: password file is readable by group or others (chmod 600 it)", path);
	else if (!(pw = read_all(fd, PASSWORD_MAX, &len)))
		err_set(e, "%s: cannot read password file: %s", path,
			errno == EFBIG ? "over 4096 bytes" : strerror(errno));
	close(fd);
	if (!pw)
		return NULL;
	if (len && pw[len - 1] == '\n') /* what `echo` and editors leave */
		pw[--len] = '\0';
	if (len == 0 || memchr(pw, '\0', len)) {
		err_set(e, "%s: password file is empty or holds a NUL byte", path);
		wipe_free(pw);
		return NULL;
	}
	return pw;
}

/* The Basic header line; a user name for Basic may not hold ':' (RFC 7617). */
static int set_basic(struct auth *a, struct rs_err *e)
{
	size_t ulen = strlen(a->username), plen = strlen(a->password), pre = strlen(BASIC_PREFIX);
	size_t n = ulen + 1 + plen;
	unsigned char *plain;

	if (strchr(a->username, ':')) {
		err_set(e, "user name \"%s\" holds a ':'", a->username);
		return -1;
	}
	plain = xmalloc(n + 1);
	memcpy(plain, a->username, ulen);
	plain[ulen] = ':';
	memcpy(plain + ulen + 1, a->password, plen + 1);
	a->basic = xmalloc(pre + 4 * ((n + 2) / 3) + 1);
	memcpy(a->basic, BASIC_PREFIX, pre);
	EVP_EncodeBlock((unsigned char *)a->basic + pre, plain, (int)n);
	explicit_bzero(plain, n);
	free(plain);
	return 0;
}

/* Whether an auths key ("host:port", "https://host:port", "http://host/v1/") names host. */
static int auths_key_matches(const char *key, const char *host)
{
	const char *k = strstr(key, "://");
	size_t n;

	k = k ? k + 3 : key;
	n = strcspn(k, "/");
	return n == strlen(host) && strncasecmp(k, host, n) == 0;
}

/* An auths entry: "auth" is base64 "user:password", "identitytoken" an OAuth2 refresh token
 * (then the password is usually empty). */
static int from_auths_entry(struct auth *a, const char *path, const cJSON *entry,
			    struct rs_err *e)
{
	const char *b64 = json_string(entry, "auth"), *idt = json_string(entry, "identitytoken");
	char *plain, *colon;
	size_t n;

	if (idt)
		a->identity_token = xstrdup(idt);
	if (!b64)
		return 0;
	plain = b64_decode(b64, strlen(b64), &n);
	colon = plain ? memchr(plain, ':', n) : NULL;
	if (!colon || colon == plain || memchr(plain, '\0', n)) {
		err_set(e, "%s: the \"auth\" of %s is not base64 of user:password", path, a->host);
		if (plain)
			explicit_bzero(plain, n);
		free(plain);
		return -1;
	}
	a->username = xstrndup(plain, (size_t)(colon - plain));
	if (colon[1])
		a->password = xstrdup(colon + 1);
	explicit_bzero(plain, n);
	free(plain);
	if (!a->password && !a->identity_token) {
		err_set(e, "%s: the \"auth\" of %s has an empty password", path, a->host);
		return -1;
	}
	return 0;
}

/* Waits for the helper until deadline, then kills it: its exit status (128 + the signal
 * that ended it), or -1 when it had to be killed. */
static int reap(pid_t pid, int64_t deadline)
{
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		struct timespec tick = {0, 10 * 1000 * 1000};

		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		if (r < 0 && errno != EINTR)
			return -1;
		if (now_ms() >= deadline) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			return -1;
		}
		nanosleep(&tick, NULL);
	}
}

/* Reads the helper's standard output until EOF into out (ANSWER_MAX + 1 bytes): its length,
 * -1 when the deadline passed, -2 when it says more than ANSWER_MAX bytes. */
static ssize_t read_helper(int fd, char *out, int64_t deadline)
{
	size_t n = 0;

	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int64_t left = deadline - now_ms();
		ssize_t r;

		if (left <= 0)
			return -1;
		if (n >= ANSWER_MAX)
			return -2;
		r = poll(&pfd, 1, (int)(left > 60000 ? 60000 : left));
		if (r <= 0)
			continue; /* EINTR or a wake-up before the deadline: left decides */
		r = read(fd, out + n, ANSWER_MAX - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			out[n] = '\0';
			return (ssize_t)n;
		}
		n += (size_t)r;
	}
}

/* What a helper's answer holds: {"Username": ..., "Secret": ...}, Username "<token>" meaning
 * Secret is an identity token. */
static int from_helper_answer(struct auth *a, const char *path, const char *prog,
			      const char *out, size_t len, struct rs_err *e)
{
	cJSON *j = cJSON_ParseWithLength(out, len);
	const char *user = json_string(j, "Username"), *secret = json_string(j, "Secret");
	int rc = 0;

	if (!user || !secret) {
		err_set(e, "%s: %s get answered no JSON with \"Username\" and \"Secret\"", path,
			prog);
		rc = -1;
	} else if (strcmp(user, "<token>") == 0) {
		a->identity_token = xstrdup(secret);
	} else {
		a->username = xstrdup(user);
		a->password = xstrdup(secret);
	}
	if (j)
		json_wipe_delete(j);
	return rc;
}

/* Starts `prog get` with the registry host on its standard input (no shell); its pid and the
 * read end of its standard output in *out_fd, or -1 with errno set. */
static pid_t start_helper(const struct auth *a, char *prog, int *out_fd)
{
	char *argv[] = {prog, (char *)"get", NULL}, line[512];
	int in[2], out[2], saved, len = snprintf(line, sizeof(line), "%s\n", a->host);
	pid_t pid = -1;

	if (len < 0 || (size_t)len >= sizeof(line)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (pipe2(in, O_CLOEXEC) != 0)
		return -1;
	if (pipe2(out, O_CLOEXEC) != 0)
		goto close_in;
	/* The host fits a pipe's buffer: written before the fork, so no SIGPIPE when the
	 * helper never reads it.  The newline is for helpers that `read` it in a shell; the
	 * Go ones trim it. */
	if (write(in[1], line, (size_t)len) != len)
		goto close_out;
	close(in[1]);
	in[1] = -1;
	pid = fork();
	if (pid == 0) {
		if (dup2(in[0], STDIN_FILENO) >= 0 && dup2(out[1], STDOUT_FILENO) >= 0)
			execvp(prog, argv);
		_exit(127);
	}
	if (pid > 0) {
		close(in[0]);
		close(out[1]);
		*out_fd = out[0];
		return pid;
	}
close_out:
	saved = errno;
	close(out[0]);
	close(out[1]);
	errno = saved;
close_in:
	saved = errno;
	close(in[0]);
	if (in[1] >= 0)
		close(in[1]);
	errno = saved;
	return -1;
}

/* `docker-credential-<name> get`, in bounded time.  "credentials not found" is no error:
 * docker goes anonymous then, and so does regsweep, saying so. */
static int run_helper(struct auth *a, const char *path, const char *name, struct rs_err *e)
{
	long limit = a->timeout_ms > 0 ? a->timeout_ms : HELPER_TIMEOUT_MS;
	int64_t deadline = now_ms() + limit;
	char *prog, *out;
	ssize_t n;
	pid_t pid;
	int fd, code, rc = -1;

	if (!name[0] || strchr(name, '/')) {
		err_set(e, "%s: credential helper \"%s\" is not a plain name", path, name);
		return -1;
	}
	prog = xasprintf("docker-credential-%s", name);
	pid = start_helper(a, prog, &fd);
	if (pid < 0) {
		err_set(e, "%s: cannot run %s: %s", path, prog, strerror(errno));
		free(prog);
		return -1;
	}
	out = xmalloc(ANSWER_MAX + 1);
	n = read_helper(fd, out, deadline);
	close(fd);
	code = reap(pid, n < 0 ? 0 : deadline);
	if (n == -2)
		err_set(e, "%s: %s get answered over %d bytes", path, prog, ANSWER_MAX);
	else if (n < 0 || code < 0)
		err_set(e, "%s: %s get: no answer within %ld ms", path, prog, limit);
	else if (code == 127)
		err_set(e, "%s: cannot run %s (not in PATH?)", path, prog);
	else if (code != 0 && strncmp(out, HELPER_NOT_FOUND, strlen(HELPER_NOT_FOUND)) == 0) {
		log_msg(RS_LOG_WARN, "%s: %s has no credentials for %s; asking anonymously", path,
			prog, a->host);
		rc = 0;
	} else if (code != 0) { /* a failing helper explains itself on standard output */
		err_set(e, "%s: %s get failed (exit %d): %.*s", path, prog, code,
			(int)strcspn(out, "\r\n"), out);
	} else {
		rc = from_helper_answer(a, path, prog, out, (size_t)n, e);
	}
	explicit_bzero(out, ANSWER_MAX + 1);
	free(out);
	free(prog);
	return rc;
}

/* "~/" expands with $HOME, as docker's own tools do. */
static char *expand_home(const char *path, struct rs_err *e)
{
	const char *home;

	if (strncmp(path, "~/", 2) != 0)
		return xstrdup(path);
	home = getenv("HOME");
	if (!home || !home[0]) {
		err_set(e, "%s: cannot expand ~/: HOME is not set", path);
		return NULL;
	}
	return xasprintf("%s/%s", home, path + 2);
}

/* docker's order: credHelpers[host], the auths entry for host, then credsStore.  No entry
 * at all is not an error: docker would go anonymous, and so does regsweep, saying so. */
static int load_docker_config(struct auth *a, const char *config, struct rs_err *e)
{
	char *path = expand_home(config, e), *text = NULL;
	const cJSON *helpers, *auths, *entry = NULL;
	const char *helper;
	cJSON *j = NULL;
	size_t len = 0;
	int fd, rc = -1;

	if (!path)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd >= 0) {
		text = read_all(fd, CONFIG_MAX, &len);
		close(fd);
	}
	if (!text) {
		err_set(e, "%s: cannot read docker config: %s", path,
			errno == EFBIG ? "over 1 MiB" : strerror(errno));
		goto out;
	}
	j = cJSON_ParseWithLength(text, len);
	explicit_bzero(text, len);
	free(text);
	if (!cJSON_IsObject(j)) {
		err_set(e, "%s: docker config is not a JSON object", path);
		goto out;
	}
	helpers = cJSON_GetObjectItemCaseSensitive(j, "credHelpers");
	auths = cJSON_GetObjectItemCaseSensitive(j, "auths");
	if (cJSON_IsObject(auths))
		for (entry = auths->child; entry; entry = entry->next)
			if (cJSON_IsObject(entry) && auths_key_matches(entry->string, a->host) &&
			    (json_string(entry, "auth") || json_string(entry, "identitytoken")))
				break;
	if ((helper = json_string(helpers, a->host)))
		rc = run_helper(a, path, helper, e);
	else if (entry)
		rc = from_auths_entry(a, path, entry, e);
	else if ((helper = json_string(j, "credsStore")))
		rc = run_helper(a, path, helper, e);
	else {
		log_msg(RS_LOG_WARN, "%s: no credentials for %s; asking anonymously", path,
			a->host);
		rc = 0;
	}
out:
	if (j)
		json_wipe_delete(j);
	free(path);
	return rc;
}

static int load_credentials(struct auth *a, const struct auth_opts *o, struct rs_err *e)
{
	const char *v;

	if (o->docker_config)
		return load_docker_config(a, o->docker_config, e);
	if (!o->username)
		return 0;
	a->username = xstrdup(o->username);
	if (o->password_file) {
		a->password = read_password_file(o->password_file, e);
	} else if (o->password_env) {
		v = getenv(o->password_env);
		if (v && v[0])
			a->password = xstrdup(v);
		else
			err_set(e, "environment variable %s (password_env) is unset or empty",
				o->password_env);
	} else {
		err_set(e, "auth for user %s names no password_file or password_env", a->username);
	}
	return a->password ? 0 : -1;
}

int auth_has_credentials(const struct auth *a)
{
	return a->password || a->identity_token;
}

struct auth *auth_new(const char *registry_url, const struct auth_opts *opts,
		      const struct tls_opts *tls, long timeout_ms, unsigned want,
		      struct rs_err *e)
{
	static const struct auth_opts no_auth;
	int plain_remote;
	char *host = url_host(registry_url, &plain_remote);
	struct auth *a;

	if (!host) {
		err_set(e, "registry url %s does not parse", registry_url);
		return NULL;
	}
	opts = opts ? opts : &no_auth;
	a = xcalloc(1, sizeof(*a));
	a->origin = xstrndup(registry_url, origin_len(registry_url));
	a->host = host;
	a->tls.verify = tls ? tls->verify : 1;
	if (tls && tls->ca_file)
		a->tls.ca_file = xstrdup(tls->ca_file);
	if (tls && tls->client_cert)
		a->tls.client_cert = xstrdup(tls->client_cert);
	if (tls && tls->client_key)
		a->tls.client_key = xstrdup(tls->client_key);
	a->timeout_ms = timeout_ms;
	a->want = want;
	a->allow_insecure = opts->allow_insecure;
	buf_append(&a->resource, "", 0);
	if (load_credentials(a, opts, e) != 0 || (a->password && set_basic(a, e) != 0) ||
	    (auth_has_credentials(a) && check_transport(a, registry_url, e) != 0)) {
		auth_free(a);
		return NULL;
	}
	return a;
}

static void token_free(struct token *t)
{
	free(t->resource);
	free(t->scope_text);
	wipe_free(t->header);
	free(t->error);
	free(t->granted);
	free(t);
}

void auth_free(struct auth *a)
{
	struct token *t;

	if (!a)
		return;
	while ((t = a->tokens)) {
		a->tokens = t->next;
		token_free(t);
	}
	free(a->origin);
	free(a->host);
	free(a->tls.ca_file);
	free(a->tls.client_cert);
	free(a->tls.client_key);
	free(a->username);
	wipe_free(a->password);
	wipe_free(a->identity_token);
	wipe_free(a->basic);
	free(a->realm);
	free(a->service);
	buf_free(&a->resource);
	free(a);
}

/* --- WWW-Authenticate (RFC 7235 section 4.1) --- */

static size_t token_len(const char *p)
{
	return strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
			 "!#$%&'*+-.^_`|~");
}

/* A token or quoted-string (with quoted-pairs) at *pp; an unquoted value runs to the next
 * comma or blank, as lenient clients read realm=https://... too.  NULL when a quote is not
 * closed. */
static char *param_value(const char **pp)
{
	const char *p = *pp;
	struct buf v = {0};

	buf_append(&v, "", 0);
	if (*p == '"') {
		for (p++; *p != '"'; p++) {
			if (!*p) {
				buf_free(&v);
				return NULL;
			}
			if (*p == '\\' && p[1])
				p++;
			buf_append(&v, p, 1);
		}
		p++;
	} else {
		size_t n = strcspn(p, ", \t");

		buf_append(&v, p, n);
		p += n;
	}
	*pp = p;
	return v.data;
}

static void challenge_set(struct challenge *c, const char *name, size_t n, char *value)
{
	char **slot = NULL;

	if (n == 5 && strncasecmp(name, "realm", 5) == 0)
		slot = &c->realm;
	else if (n == 7 && strncasecmp(name, "service", 7) == 0)
		slot = &c->service;
	else if (n == 5 && strncasecmp(name, "scope", 5) == 0)
		slot = &c->scope;
	if (slot && !*slot) /* a repeated parameter is invalid; the first one counts */
		*slot = value;
	else
		free(value);
}

static void challenge_free(struct challenge *c)
{
	free(c->realm);
	free(c->service);
	free(c->scope);
}

/* The first Bearer and the first Basic challenge of a header value that may list several
 * ("Basic realm=\"x\", Bearer realm=\"y\",service=\"z\"").  0, or -1 when it does not
 * parse. */
static int parse_challenges(const char *h, struct challenge *bearer, struct challenge *basic)
{
	struct challenge *cur = NULL;
	int started = 0;

	for (const char *p = h;;) {
		size_t n;
		const char *q;

		p += strspn(p, " \t,");
		if (!*p)
			return 0;
		n = token_len(p);
		if (!n)
			return -1;
		q = p + n;
		q += strspn(q, " \t");
		if (*q == '=' && started) {
			char *value;

			q++;
			q += strspn(q, " \t");
			if (!(value = param_value(&q)))
				return -1;
			if (cur)
				challenge_set(cur, p, n, value);
			else
				free(value);
			q += strspn(q, " \t");
			if (*q && *q != ',')
				return -1;
			p = q;
			continue;
		}
		/* A new challenge: its scheme, case-insensitive. */
		started = 1;
		cur = NULL;
		if (n == 6 && strncasecmp(p, "Bearer", 6) == 0 && !bearer->present)
			cur = bearer;
		else if (n == 5 && strncasecmp(p, "Basic", 5) == 0 && !basic->present)
			cur = basic;
		if (cur)
			cur->present = 1;
		p += n;
	}
}

/* --- scopes --- */

static int list_has(const char *list, const char *item, size_t n)
{
	for (const char *p = list; *p;) {
		size_t len = strcspn(p, ",");

		if (len == n && strncmp(p, item, n) == 0)
			return 1;
		p += len;
		p += *p == ',';
	}
	return 0;
}

static struct scope *scopes_find(const struct scopes *s, const char *res, size_t n)
{
	for (size_t i = 0; i < s->n; i++)
		if (strlen(s->v[i].resource) == n && strncmp(s->v[i].resource, res, n) == 0)
			return &s->v[i];
	return NULL;
}

/* Adds actions to resource's entry, merging with what it asks already: one scope per
 * resource, "repository:x:pull,delete" rather than two. */
static void scopes_add(struct scopes *s, const char *res, size_t res_len, const char *actions,
		       size_t act_len)
{
	struct scope *sc = scopes_find(s, res, res_len);
	const char *end = actions + act_len;

	if (!sc) {
		s->v = xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
		sc = &s->v[s->n++];
		sc->resource = xstrndup(res, res_len);
		memset(&sc->actions, 0, sizeof(sc->actions));
		buf_append(&sc->actions, "", 0);
	}
	for (const char *p = actions; p < end;) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		size_t n = (size_t)((comma ? comma : end) - p);

		if (n && !list_has(sc->actions.data, p, n)) {
			if (sc->actions.len)
				buf_append(&sc->actions, ",", 1);
			buf_append(&sc->actions, p, n);
		}
		p += n + (comma != NULL);
	}
}

/* A challenge's scope parameter: space-separated "type:name:actions", the name possibly
 * holding colons, so the type ends at the first colon and the actions start after the
 * last. */
static void scopes_add_param(struct scopes *s, const char *param)
{
	for (const char *p = param; *p;) {
		size_t n = strcspn(p, " ");
		const char *first = memchr(p, ':', n), *last = memrchr(p, ':', n);

		if (first && last > first)
			scopes_add(s, p, (size_t)(last - p), last + 1, (size_t)(p + n - last - 1));
		p += n;
		p += strspn(p, " ");
	}
}

static void scopes_free(struct scopes *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].resource);
		buf_free(&s->v[i].actions);
	}
	free(s->v);
}

/* The last "/manifests/", "/blobs/" or "/tags/" in [s, end): names may hold those words as
 * components, references and digests hold no '/', so the route is the last one. */
static const char *last_route(const char *s, const char *end)
{
	static const char *const routes[] = {"/manifests/", "/blobs/", "/tags/"};
	const char *best = NULL;

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		size_t m = strlen(routes[i]);

		for (const char *p = s; (p = memmem(p, (size_t)(end - p), routes[i], m)); p++)
			if (p > best)
				best = p;
	}
	return best;
}

/* The resource a registry URL acts on, into a->resource: /v2/<name>/(manifests|blobs|tags)/
 * -> "repository:<name>", /v2/_catalog -> "registry:catalog", anything else (/v2/ itself)
 * -> "". */
static const char *url_resource(struct auth *a, const char *url)
{
	const char *path = url + origin_len(url), *end = path + strcspn(path, "?#"), *route;
	struct buf *r = &a->resource;

	r->len = 0;
	r->data[0] = '\0';
	if (end - path < 4 || strncmp(path, "/v2/", 4) != 0)
		return r->data;
	path += 4;
	if (end - path == 8 && strncmp(path, "_catalog", 8) == 0) {
		buf_append(r, "registry:catalog", 16);
		return r->data;
	}
	route = last_route(path, end);
	if (!route)
		return r->data;
	buf_append(r, "repository:", 11);
	buf_append(r, path, (size_t)(route - path));
	if (!util_valid_repo_name(r->data + 11)) {
		r->len = 0;
		r->data[0] = '\0';
	}
	return r->data;
}

/* The actions regsweep itself needs on a resource. */
static const char *own_actions(const struct auth *a, const char *resource)
{
	if (strncmp(resource, "registry:", 9) == 0)
		return "*";
	static const char *const actions[] = {"pull", "pull,delete", "pull,push",
					      "pull,push,delete"};

	return actions[a->want & 3];
}

/* --- tokens --- */

/* The actions a JWT's "access" claim grants on resource, read without verifying (the
 * registry verifies; this only words errors): "" when it grants none, NULL when the token is
 * not a JWT with such a claim. */
static char *jwt_granted(const char *token, const char *resource)
{
	const char *dot1 = strchr(token, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	const char *colon = strchr(resource, ':');
	const cJSON *access, *item, *act;
	char *payload, *out = NULL;
	struct scopes s = {0};
	cJSON *j;
	size_t n;

	if (!dot2 || !colon)
		return NULL;
	payload = b64_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &n);
	j = payload ? cJSON_ParseWithLength(payload, n) : NULL;
	free(payload);
	access = cJSON_GetObjectItemCaseSensitive(j, "access");
	if (cJSON_IsArray(access)) {
		scopes_add(&s, resource, strlen(resource), "", 0);
		cJSON_ArrayForEach(item, access)
		{
			const char *type = json_string(item, "type");
			const char *name = json_string(item, "name");

			if (!type || !name || strlen(type) != (size_t)(colon - resource) ||
			    strncmp(type, resource, strlen(type)) != 0 ||
			    strcmp(name, colon + 1) != 0)
				continue;
			cJSON_ArrayForEach(act, cJSON_GetObjectItemCaseSensitive(item, "actions"))
				if (cJSON_IsString(act))
					scopes_add(&s, resource, strlen(resource), act->valuestring,
						   strlen(act->valuestring));
		}
		out = xstrdup(s.v[0].actions.data);
		scopes_free(&s);
	}
	cJSON_Delete(j);
	return out;
}

/* The first action of asked a token is known not to grant, its length in *n; NULL when
 * none is, or what the token grants is unknown. */
static const char *missing_action(const struct token *t, const char *asked, size_t *n)
{
	if (!t->granted || !asked || list_has(t->granted, "*", 1))
		return NULL;
	for (const char *p = asked; *p;) {
		size_t len = strcspn(p, ",");

		if (len && !list_has(t->granted, p, len)) {
			*n = len;
			return p;
		}
		p += len;
		p += *p == ',';
	}
	return NULL;
}

static size_t on_answer(char *data, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	size_t len = size * n;

	if (b->len + len > ANSWER_MAX)
		return 0;
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return len;
}

/* RFC 3986's unreserved characters: the only ones a form value carries as they are. */
static int unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

static void form_escape(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (unreserved((unsigned char)*s))
			buf_append(b, s, 1);
		else
			buf_printf(b, "%%%02X", (unsigned char)*s);
	}
}

/* The request's parameters without any secret: service, then the scopes (one scope= each
 * for GET, as docker sends them; one space-separated scope= for an OAuth2 POST). */
static void token_params(const struct auth *a, const struct scopes *sc, int oauth,
			 struct buf *p)
{
	if (a->service) {
		buf_append(p, "service=", 8);
		form_escape(p, a->service);
	}
	for (size_t i = 0; i < sc->n; i++) {
		struct buf one = {0};

		buf_printf(&one, "%s:%s", sc->v[i].resource, sc->v[i].actions.data);
		if (!oauth || i == 0)
			buf_append(p, p->len ? "&scope=" : "scope=", p->len ? 7 : 6);
		else
			buf_append(p, "%20", 3);
		form_escape(p, one.data);
		buf_free(&one);
	}
}

/* The OAuth2 refresh-token form: the secret goes last into a buffer sized once. */
static char *oauth_body(const struct auth *a, const struct buf *params, size_t *len)
{
	static const char head[] = "grant_type=refresh_token&client_id=regsweep&refresh_token=";
	static const char hex[] = "0123456789ABCDEF";
	size_t cap = sizeof(head) + 3 * strlen(a->identity_token) + params->len + 2;
	char *body = xmalloc(cap), *w = body;

	memcpy(w, head, sizeof(head) - 1);
	w += sizeof(head) - 1;
	for (const char *s = a->identity_token; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (unreserved(c)) {
			*w++ = (char)c;
		} else {
			*w++ = '%';
			*w++ = hex[c >> 4];
			*w++ = hex[c & 15];
		}
	}
	if (params->len) {
		*w++ = '&';
		memcpy(w, params->data, params->len);
		w += params->len;
	}
	*w = '\0';
	*len = (size_t)(w - body);
	return body;
}

/* Reads the token server's JSON answer into t (header, expiry, granted actions). */
static int token_from_answer(struct token *t, const char *answer, size_t len, const char *realm,
			     struct rs_err *e)
{
	cJSON *j = cJSON_ParseWithLength(answer, len);
	const char *tok = json_string(j, "token");
	const cJSON *exp = cJSON_GetObjectItemCaseSensitive(j, "expires_in");
	int64_t secs = DEFAULT_EXPIRES_S, skew;
	size_t n;

	if (!tok)
		tok = json_string(j, "access_token");
	if (!tok) {
		err_set(e, "token server %s: the answer has no token", realm);
	} else if (tok[strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				"0123456789-._~+/=")]) {
		/* RFC 6750's b64token: anything else could break the header line. */
		err_set(e, "token server %s: the token holds characters a header cannot carry",
			realm);
	} else {
		if (cJSON_IsNumber(exp) && exp->valuedouble >= 1 && exp->valuedouble < 1e9)
			secs = (int64_t)exp->valuedouble;
		skew = secs / 10 < SKEW_MAX_S ? secs / 10 : SKEW_MAX_S;
		t->expires = now_ms() + (secs - skew) * 1000;
		n = strlen(BEARER_PREFIX) + strlen(tok) + 1;
		t->header = xmalloc(n);
		snprintf(t->header, n, "%s%s", BEARER_PREFIX, tok);
		t->granted = jwt_granted(tok, t->resource);
		log_msg(RS_LOG_DEBUG, "token for %s from %s, valid %lld s%s%s",
			t->scope_text[0] ? t->scope_text : "/v2/", realm, (long long)(secs - skew),
			t->granted ? ", granting " : "",
			t->granted ? (t->granted[0] ? t->granted : "nothing") : "");
	}
	if (j)
		json_wipe_delete(j);
	return t->header ? 0 : -1;
}

/* One blocking request to the realm: GET with Basic credentials (or none), or an OAuth2
 * POST with the identity token.  Its own easy handle: it runs from the executor's completion
 * path, once per resource. */
static int token_request(struct auth *a, const struct scopes *sc, struct token *t,
			 struct rs_err *e)
{
	int oauth = a->identity_token != NULL;
	struct buf params = {0}, url = {0}, answer = {0};
	struct curl_slist *hdrs = NULL;
	char *body = NULL;
	size_t body_len = 0;
	long status = 0;
	CURLcode code;
	CURL *c;

	if (auth_has_credentials(a) && check_transport(a, a->realm, e) != 0)
		return -1;
	c = curl_easy_init();
	if (!c) {
		err_set(e, "token server %s: cannot initialise libcurl", a->realm);
		return -1;
	}
	token_params(a, sc, oauth, &params);
	buf_append(&url, a->realm, strlen(a->realm));
	if (oauth) {
		body = oauth_body(a, &params, &body_len);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body_len);
	} else if (params.len) {
		buf_append(&url, strchr(a->realm, '?') ? "&" : "?", 1);
		buf_append(&url, params.data, params.len);
	}
	if (!oauth && a->basic && !(hdrs = curl_slist_append(NULL, a->basic))) {
		err_set(e, "token server %s: out of memory", a->realm);
		goto out;
	}
	answer.data = xmalloc(ANSWER_MAX + 1);
	answer.cap = ANSWER_MAX + 1;
	answer.data[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, url.data);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_answer);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "regsweep/" RS_VERSION);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	/* A redirect is the realm's answer, not followed: the credentials go to it only. */
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	if (a->timeout_ms > 0)
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, a->timeout_ms);
	netopts_apply_tls(c, &a->tls);
	code = curl_easy_perform(c);
	if (code == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (code == CURLE_WRITE_ERROR)
		err_set(e, "token server %s: answer over %d bytes", a->realm, ANSWER_MAX);
	else if (code != CURLE_OK)
		err_set(e, "token server %s: %s", a->realm, curl_easy_strerror(code));
	else if (status != 200 && t->scope_text[0])
		err_set(e, "token server %s: HTTP %ld for scope %s", a->realm, status,
			t->scope_text);
	else if (status != 200)
		err_set(e, "token server %s: HTTP %ld", a->realm, status);
	else
		token_from_answer(t, answer.data, answer.len, a->realm, e);
out:
	for (struct curl_slist *s = hdrs; s; s = s->next)
		explicit_bzero(s->data, strlen(s->data));
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	if (body) {
		explicit_bzero(body, body_len);
		free(body);
	}
	if (answer.data)
		explicit_bzero(answer.data, answer.len);
	buf_free(&answer);
	buf_free(&url);
	buf_free(&params);
	return t->header ? 0 : -1;
}

/* Fetches the token for resource: one merged scope with the actions regsweep needs and what
 * the challenge asks (ch may be NULL).  The result, good or failed, is cached. */
static struct token *fetch(struct auth *a, const char *resource, const struct scopes *ch)
{
	struct token *t = xcalloc(1, sizeof(*t));
	struct scopes sc = {0};
	struct buf text = {0};
	struct rs_err e = {{0}};

	if (resource[0]) {
		const char *own = own_actions(a, resource);

		scopes_add(&sc, resource, strlen(resource), own, strlen(own));
	}
	for (size_t i = 0; ch && i < ch->n; i++)
		scopes_add(&sc, ch->v[i].resource, strlen(ch->v[i].resource),
			   ch->v[i].actions.data, ch->v[i].actions.len);
	buf_append(&text, "", 0);
	for (size_t i = 0; i < sc.n; i++)
		buf_printf(&text, "%s%s:%s", i ? " " : "", sc.v[i].resource, sc.v[i].actions.data);
	t->resource = xstrdup(resource);
	t->scope_text = text.data;
	if (token_request(a, &sc, t, &e) != 0)
		t->error = xstrdup(e.msg);
	scopes_free(&sc);
	t->next = a->tokens;
	a->tokens = t;
	return t;
}

static struct token *find(struct auth *a, const char *resource)
{
	for (struct token *t = a->tokens; t; t = t->next)
		if (strcmp(t->resource, resource) == 0)
			return t;
	return NULL;
}

static void drop(struct auth *a, struct token *t)
{
	struct token **pp = &a->tokens;

	while (*pp != t)
		pp = &(*pp)->next;
	*pp = t->next;
	token_free(t);
}

/* The cached token of resource; an expired one is dropped (NULL). */
static struct token *current(struct auth *a, const char *resource)
{
	struct token *t = find(a, resource);

	if (t && t->header && now_ms() >= t->expires) {
		drop(a, t);
		return NULL;
	}
	return t;
}

const char *auth_header(struct auth *a, const char *url)
{
	const char *resource;
	struct token *t;

	if (!same_origin(a, url))
		return NULL;
	if (a->basic_asked) {
		a->basic_handed = 1;
		return a->basic;
	}
	if (!a->realm)
		return NULL;
	/* The realm is known (the ping's challenge): fetch before sending rather than after a
	 * 401, so that every request carries the token of its resource and a 401 with a token
	 * means the token was refused. */
	resource = url_resource(a, url);
	t = current(a, resource);
	if (!t)
		t = fetch(a, resource, NULL);
	if (!t->header)
		return NULL;
	t->handed = 1;
	return t->header;
}

static int on_basic(struct auth *a, struct rs_err *e)
{
	if (!a->basic) {
		if (a->identity_token)
			err_set(e, "registry %s asks for Basic credentials; the docker config "
				   "holds only an identity token for %s", a->origin, a->host);
		else
			err_set(e, "registry %s asks for credentials and none are configured",
				a->origin);
		return 0;
	}
	if (!a->basic_asked || !a->basic_handed) { /* this request went without them */
		a->basic_asked = 1;
		return 1;
	}
	err_set(e, "registry refused the credentials of user %s", a->username);
	return 0;
}

static void set_string(char **slot, const char *value)
{
	if (*slot && value && strcmp(*slot, value) == 0)
		return;
	free(*slot);
	*slot = value ? xstrdup(value) : NULL;
}

static int on_bearer(struct auth *a, const char *url, const struct challenge *ch,
		     struct rs_err *e)
{
	struct scopes asked = {0};
	const struct scope *needed; /* what the challenge asks on this resource */
	const char *resource, *miss;
	struct token *t;
	size_t n;
	int rc = 0;

	if (!ch->realm || !ch->realm[0]) {
		err_set(e, "registry %s: Bearer challenge without a realm", a->origin);
		return 0;
	}
	/* A later challenge naming another realm would take the credentials elsewhere. */
	if (a->realm && strcmp(a->realm, ch->realm) != 0) {
		err_set(e, "registry %s: a Bearer challenge names the realm %s, not %s as first "
			   "announced; credentials go to that one only",
			a->origin, ch->realm, a->realm);
		return 0;
	}
	set_string(&a->realm, ch->realm);
	set_string(&a->service, ch->service);
	if (ch->scope)
		scopes_add_param(&asked, ch->scope);
	resource = url_resource(a, url);
	needed = scopes_find(&asked, resource, strlen(resource));
	t = current(a, resource);
	if (t && !t->header) {
		err_set(e, "%s", t->error);
		goto out;
	}
	if (t && !t->handed) { /* this request went before the token came */
		rc = 1;
		goto out;
	}
	if (t && (miss = missing_action(t, needed ? needed->actions.data : NULL, &n))) {
		err_set(e, "token for %s lacks the %.*s action (scope refused?)", resource, (int)n,
			miss);
		goto out;
	}
	if (t && t->refreshed) {
		if (needed && list_has(needed->actions.data, "delete", 6))
			err_set(e, "token for %s lacks the delete action (scope refused?)",
				resource);
		else
			err_set(e, "registry refused the token for %s",
				t->scope_text[0] ? t->scope_text : "/v2/");
		goto out;
	}
	if (t) { /* refused: maybe revoked or expired early; refresh once */
		drop(a, t);
		t = fetch(a, resource, &asked);
		t->refreshed = 1;
	} else {
		t = fetch(a, resource, &asked);
	}
	if (t->header)
		rc = 1;
	else
		err_set(e, "%s", t->error);
out:
	scopes_free(&asked);
	return rc;
}

int auth_challenge(struct auth *a, const char *url, const char *www_authenticate,
		   struct rs_err *e)
{
	struct challenge bearer = {0}, basic = {0};
	int rc = 0;

	if (!same_origin(a, url))
		err_set(e, "%s answered 401; credentials go only to %s", url, a->origin);
	else if (www_authenticate && parse_challenges(www_authenticate, &bearer, &basic) != 0)
		err_set(e, "%s answered 401 with a WWW-Authenticate that does not parse", url);
	else if (!bearer.present && !basic.present)
		err_set(e, "%s answered 401 without a Basic or Bearer challenge", url);
	else if (bearer.present)
		rc = on_bearer(a, url, &bearer, e);
	else
		rc = on_basic(a, e);
	challenge_free(&bearer);
	challenge_free(&basic);
	return rc;
}
