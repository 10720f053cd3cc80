/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "http_request.h"

#include <errno.h>
#include <string.h>

bool
nba_ascii_prefix(const char *s, const char *prefix)
{
	for (; *prefix != '\0'; s++, prefix++) {
		char a = *s, b = *prefix;

		if (a >= 'A' && a <= 'Z')
			a = (char)(a - 'A' + 'a');
		if (b >= 'A' && b <= 'Z')
			b = (char)(b - 'A' + 'a');
		if (a != b)
			return false;
	}
	return true;
}

bool
nba_ascii_equal(const char *a, const char *b)
{
	return strlen(a) == strlen(b) && nba_ascii_prefix(a, b);
}

/* RFC 9110 token characters (header names). */
static bool
is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool
read_failed(enum nba_read_status status, struct nba_reader *r, const char *what,
	    size_t max, int too_long_status, struct nba_error *err)
{
	switch (status) {
	case NBA_READ_OK:
		return false;
	case NBA_READ_TOO_LONG:
		nba_error_set(err, too_long_status, "%s is longer than %zu bytes", what, max);
		return true;
	case NBA_READ_ERROR:
		nba_error_set(err, r->error == ETIMEDOUT ? 408 : 0, "%s not received: %s", what,
			      strerror(r->error));
		return true;
	case NBA_READ_EOF:
	case NBA_READ_TRUNCATED:
		break;
	}
	nba_error_set(err, 0, "the connection ended inside the %s", what);
	return true;
}

static bool
parse_version(const char *v, struct nba_request *req, struct nba_error *err)
{
	if (strncmp(v, "HTTP/", 5) == 0 && v[5] >= '0' && v[5] <= '9' && v[6] == '.' &&
	    v[7] >= '0' && v[7] <= '9' && v[8] == '\0') {
		if (v[5] != '1') {
			nba_error_set(err, 505, "HTTP version %s is not supported: use HTTP/1.0 or 1.1", v);
			return false;
		}
		req->version_minor = v[7] - '0';
		return true;
	}
	nba_error_set(err, 400, "malformed request line: the version must be HTTP/1.0 or HTTP/1.1");
	return false;
}

/* "METHOD SP TARGET SP HTTP/1.x", single spaces, printable ASCII target. */
static bool
parse_request_line(char *line, struct nba_request *req, struct nba_error *err)
{
	char *sp1 = strchr(line, ' ');
	char *sp2 = sp1 != NULL ? strchr(sp1 + 1, ' ') : NULL;
	size_t method_len;

	if (sp1 == NULL || sp2 == NULL || strchr(sp2 + 1, ' ') != NULL) {
		nba_error_set(err, 400, "malformed request line: expected METHOD TARGET HTTP/1.x");
		return false;
	}
	method_len = (size_t)(sp1 - line);
	if (method_len == 0 || method_len >= sizeof req->method) {
		nba_error_set(err, 400, "malformed request line: bad method");
		return false;
	}
	for (size_t i = 0; i < method_len; i++) {
		if (line[i] < 'A' || line[i] > 'Z') {
			nba_error_set(err, 400, "malformed request line: bad method");
			return false;
		}
	}
	if (sp2 == sp1 + 1) {
		nba_error_set(err, 400, "malformed request line: empty target");
		return false;
	}
	for (const char *t = sp1 + 1; t < sp2; t++) {
		if (*t < 0x21 || *t > 0x7e) {
			nba_error_set(err, 400, "malformed request line: the target holds a byte "
				      "that is not printable ASCII");
			return false;
		}
	}
	memcpy(req->method, line, method_len);
	req->method[method_len] = '\0';
	memcpy(req->target, sp1 + 1, (size_t)(sp2 - sp1 - 1));
	req->target[sp2 - sp1 - 1] = '\0';
	return parse_version(sp2 + 1, req, err);
}

static bool
parse_content_length(const char *value, struct nba_request *req, struct nba_error *err)
{
	uint64_t n = 0;

	if (req->has_content_length) {
		nba_error_set(err, 400, "more than one Content-Length header");
		return false;
	}
	if (*value == '\0') {
		nba_error_set(err, 400, "Content-Length is empty");
		return false;
	}
	for (const char *p = value; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || p - value >= 18) {
			nba_error_set(err, 400, "Content-Length is not a decimal number of at most "
				      "18 digits: \"%.40s\"", value);
			return false;
		}
		n = n * 10 + (uint64_t)(*p - '0');
	}
	req->has_content_length = true;
	req->content_length = n;
	return true;
}

static bool
apply_header(const char *name, const char *value, struct nba_request *req, struct nba_error *err)
{
	if (nba_ascii_equal(name, "Content-Length"))
		return parse_content_length(value, req, err);
	if (nba_ascii_equal(name, "Transfer-Encoding")) {
		req->has_transfer_encoding = true;
	} else if (nba_ascii_equal(name, "Content-Type")) {
		if (req->content_type[0] != '\0') {
			nba_error_set(err, 400, "more than one Content-Type header");
			return false;
		}
		if (strlen(value) > NBA_MAX_CONTENT_TYPE) {
			nba_error_set(err, 431, "Content-Type is longer than %d bytes",
				      NBA_MAX_CONTENT_TYPE);
			return false;
		}
		strcpy(req->content_type, value);
	} else if (nba_ascii_equal(name, "Expect")) {
		if (!nba_ascii_equal(value, "100-continue")) {
			nba_error_set(err, 417, "Expect: only 100-continue is understood");
			return false;
		}
		req->expect_continue = true;
	}
	return true;
}

/* "Name: value": a token, a colon, the value without surrounding blanks. */
static bool
parse_header(char *line, size_t len, struct nba_request *req, struct nba_error *err)
{
	char *colon = memchr(line, ':', len);
	char *value, *end;

	if (line[0] == ' ' || line[0] == '\t') {
		nba_error_set(err, 400, "folded header lines are not accepted");
		return false;
	}
	if (colon == NULL || colon == line) {
		nba_error_set(err, 400, "malformed header line: no \"Name:\"");
		return false;
	}
	for (char *p = line; p < colon; p++) {
		if (!is_tchar((unsigned char)*p)) {
			nba_error_set(err, 400, "malformed header name");
			return false;
		}
	}
	if (memchr(line, '\0', len) != NULL) {
		nba_error_set(err, 400, "a header holds a NUL byte");
		return false;
	}
	*colon = '\0';
	value = colon + 1;
	while (*value == ' ' || *value == '\t')
		value++;
	end = line + len;
	while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*end = '\0';
	return apply_header(line, value, req, err);
}

static bool
read_request_line(struct nba_reader *r, struct nba_request *req, char *line, struct nba_error *err)
{
	size_t len = 0;

	/* RFC 9112 2.2: empty lines before the request line are ignored (a few). */
	for (int blank = 0; blank < 4; blank++) {
		enum nba_read_status st = nba_reader_line(r, line, NBA_MAX_REQUEST_LINE, &len);

		if (read_failed(st, r, "request line", NBA_MAX_REQUEST_LINE, 414, err))
			return false;
		if (len > 0)
			break;
	}
	if (len == 0) {
		nba_error_set(err, 400, "no request line");
		return false;
	}
	if (memchr(line, '\0', len) != NULL) {
		nba_error_set(err, 400, "the request line holds a NUL byte");
		return false;
	}
	return parse_request_line(line, req, err);
}

bool
nba_request_read_head(struct nba_reader *r, struct nba_request *req, struct nba_error *err)
{
	/* static storage would be shared by threads; 8 KiB on the stack is fine */
	char line[NBA_MAX_REQUEST_LINE + 2];
	size_t total = 0;
	int count = 0;

	_Static_assert(NBA_MAX_HEADER_LINE <= NBA_MAX_REQUEST_LINE, "one line buffer");
	memset(req, 0, sizeof *req);
	if (!read_request_line(r, req, line, err))
		return false;
	for (;;) {
		size_t len = 0;
		enum nba_read_status st = nba_reader_line(r, line, NBA_MAX_HEADER_LINE, &len);

		if (read_failed(st, r, "header line", NBA_MAX_HEADER_LINE, 431, err))
			return false;
		if (len == 0)
			return true;
		total += len;
		if (++count > NBA_MAX_HEADERS || total > NBA_MAX_HEADER_BYTES) {
			nba_error_set(err, 431, "more than %d headers or %d bytes of headers",
				      NBA_MAX_HEADERS, NBA_MAX_HEADER_BYTES);
			return false;
		}
		if (!parse_header(line, len, req, err))
			return false;
	}
}
