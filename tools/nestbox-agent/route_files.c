/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * agent.py's file routes but /store: /mkdir, /mkdtemp, /mktemp, /retrieve,
 * /remove. Messages and status codes are agent.py's; paths follow
 * guest_path.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "base64.h"
#include "guest_fs.h"
#include "guest_path.h"
#include "http_response.h"

void
nba_route_mkdir(struct nba_call *call)
{
	const char *path;
	long long mode;
	char where[PATH_MAX] = "";
	int rc;

	if (!nba_call_path(call, "dirpath", "No dirpath has been provided", &path) ||
	    !nba_call_integer(call, "mode", 0, 07777, 0777, &mode))
		return;
	rc = nba_make_dirs(path, (mode_t)mode, where, sizeof where);
	if (rc != 0) {
		nba_reply_exception(call->conn, "Error creating directory", "%s: %s", where,
				    strerror(rc));
		return;
	}
	nba_reply_success(call->conn, "Successfully created directory");
}

/* prefix and suffix of /mkdtemp and /mktemp; NULL after a 400. */
static const char *
name_part(struct nba_call *call, const char *name)
{
	const struct nba_field *field = nba_form_get(&call->form, name);
	const char *problem;

	if (field == NULL)
		return "";
	problem = nba_name_part_problem(field->value, field->len);
	if (problem != NULL) {
		nba_reply_error(call->conn, 400, "%s %s (PROTOCOL.md: paths)", name, problem);
		return NULL;
	}
	return field->value;
}

static void
make_temp(struct nba_call *call, bool as_directory)
{
	const char *dir, *prefix, *suffix;
	char made[PATH_MAX];
	struct nba_json j;
	int rc, fd = -1;

	if (!nba_call_path(call, "dirpath", NULL, &dir) ||
	    (prefix = name_part(call, "prefix")) == NULL ||
	    (suffix = name_part(call, "suffix")) == NULL)
		return;
	if (dir == NULL)
		dir = nba_default_temp_dir();
	rc = nba_make_temp(dir, prefix, suffix, made, as_directory ? NULL : &fd);
	if (rc == 0 && !as_directory)
		close(fd);
	if (rc != 0) {
		nba_reply_exception(call->conn, as_directory ? "Error creating temporary directory"
				    : "Error creating temporary file", "%s: %s", dir, strerror(rc));
		return;
	}
	nba_reply_begin(&j, 64 * 1024, as_directory ? "Successfully created temporary directory"
			: "Successfully created temporary file");
	nba_json_key(&j, as_directory ? "dirpath" : "filepath");
	nba_json_cstring(&j, made);
	nba_reply_finish(call->conn, 200, &j);
}

void
nba_route_mkdtemp(struct nba_call *call)
{
	make_temp(call, true);
}

void
nba_route_mktemp(struct nba_call *call)
{
	make_temp(call, false);
}

/* sendfile() within the idle timeout; false if the file or the client stops short. */
static bool
send_file_bytes(struct nba_conn *c, int fd, off_t size)
{
	off_t offset = 0;

	while (offset < size) {
		size_t chunk = size - offset > (1 << 20) ? (1 << 20) : (size_t)(size - offset);
		ssize_t sent;

		if (!nba_wait_writable(c))
			return false;
		sent = sendfile(c->fd, fd, &offset, chunk);
		if (sent < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (sent <= 0)
			return false; /* an error, or the file shrank: the client sees a short body */
	}
	return true;
}

static bool
send_file_base64(struct nba_conn *c, int fd, off_t size)
{
	unsigned char raw[3 * 16384];
	char encoded[4 * 16384];
	off_t done = 0;

	while (done < size) {
		size_t want = size - done > (off_t)sizeof raw ? sizeof raw : (size_t)(size - done);
		ssize_t got = pread(fd, raw, want, done);

		if (got <= 0)
			return false;
		/* only the last chunk may need padding: every other is a multiple of 3 */
		if ((size_t)got != want)
			return false;
		done += got;
		if (!nba_send(c, encoded, nba_base64_encode(raw, (size_t)got, encoded)))
			return false;
	}
	return true;
}

void
nba_route_retrieve(struct nba_call *call)
{
	const struct nba_field *encoding = nba_form_get(&call->form, "encoding");
	const struct nba_field *streaming = nba_form_get(&call->form, "streaming");
	bool base64 = encoding != NULL && strcmp(encoding->value, "base64") == 0;
	const char *path;
	struct stat st;
	int fd;

	if (!nba_call_path(call, "filepath", "No filepath has been provided", &path))
		return;
	if (encoding != NULL && !base64) {
		nba_reply_error(call->conn, 400, "encoding must be base64 or absent");
		return;
	}
	if (streaming != NULL && strcmp(streaming->value, "") != 0 &&
	    strcmp(streaming->value, "0") != 0) {
		nba_reply_error(call->conn, 400, "streaming (tail -f) is not provided by nestbox-agent");
		return;
	}
	fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		/* agent.py: 404 with an empty body when it is not a readable regular file */
		nba_log("%s: /retrieve %s: not a readable regular file", call->conn->peer, path);
		if (fd >= 0)
			close(fd);
		nba_send_head(call->conn, 404, NULL, 0);
		return;
	}
	if (nba_send_head(call->conn, 200, "application/octet-stream",
			  base64 ? (long long)nba_base64_size((size_t)st.st_size) : (long long)st.st_size) &&
	    !(base64 ? send_file_base64(call->conn, fd, st.st_size)
		     : send_file_bytes(call->conn, fd, st.st_size)))
		nba_log("%s: /retrieve %s: the transfer stopped short", call->conn->peer, path);
	close(fd);
}

void
nba_route_remove(struct nba_call *call)
{
	const char *path;
	char where[PATH_MAX] = "";
	struct stat st, lst;
	int rc;

	if (!nba_call_path(call, "path", "No path has been provided", &path))
		return;
	if (stat(path, &st) != 0 || (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))) {
		nba_reply_error(call->conn, 404, "Path provided does not exist");
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		if (unlink(path) != 0)
			nba_reply_exception(call->conn, "Error removing file or directory", "%s: %s",
					    path, strerror(errno));
		else
			nba_reply_success(call->conn, "Successfully deleted file");
		return;
	}
	if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode)) {
		nba_reply_exception(call->conn, "Error removing file or directory",
				    "%s: a symbolic link to a directory is not removed as a tree", path);
		return;
	}
	rc = nba_remove_tree(path, where, sizeof where);
	if (rc != 0) {
		nba_reply_exception(call->conn, "Error removing file or directory", "%s: %s: %s",
				    path, where[0] ? where : path, strerror(rc));
		return;
	}
	nba_reply_success(call->conn, "Successfully deleted directory");
}
