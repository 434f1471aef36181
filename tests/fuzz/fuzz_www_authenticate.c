/* fuzz_www_authenticate.c - WWW-Authenticate headers (RFC 7235 challenges, Bearer scopes)
 * through their narrowest public entry, auth_challenge, with and without credentials,
 * then auth_header as the next request asks it.
 *
 * A Bearer challenge makes auth.c fetch a token from the realm the input names: this
 * harness defines curl_easy_perform, which the core's call binds to instead of libcurl's,
 * so that no request leaves the process and every token request fails to connect. */
#include <stdlib.h>

#include <curl/curl.h>

#include "auth.h"
#include "fuzz.h"

static struct auth_opts with_password = {
	.username = "ci",
	.password_env = "RS_FUZZ_PASSWORD",
};

CURLcode curl_easy_perform(CURL *curl)
{
	(void)curl;
	return CURLE_COULDNT_CONNECT;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return setenv("RS_FUZZ_PASSWORD", "hunter2", 1);
}

static void challenge(const struct auth_opts *opts, unsigned want, const char *url,
		     const char *header)
{
	struct rs_err e = {{0}};
	struct auth *a = auth_new("http://127.0.0.1:5000", opts, NULL, 1000, want, &e);

	if (!a)
		abort(); /* the harness's own setup: never the input's fault */
	if (auth_challenge(a, url, header, &e) == 1)
		auth_header(a, url);
	/* The same challenge again, as a registry answers a request sent with what the first
	 * one brought: the refresh and the refusal paths. */
	auth_challenge(a, url, header, &e);
	auth_header(a, "http://127.0.0.1:5000/v2/_catalog?n=1000");
	auth_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char manifest[] = "http://127.0.0.1:5000/v2/library/app/manifests/latest";
	char *header = fuzz_string(data, size);

	challenge(NULL, 0, manifest, header);
	challenge(&with_password, AUTH_WANT_DELETE, "http://127.0.0.1:5000/v2/", header);
	free(header);
	return 0;
}
