/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * POST /store: multipart with a "file" part and a "filepath" field; the
 * parent directories are made (feature "subdir_upload"). The file streams
 * to a temporary file that replaces @filepath by rename() only once the
 * whole body arrived, so a cut connection leaves no half file, and a
 * symbolic link at @filepath is replaced rather than written through.
 * When "filepath" comes before the file part (as requests, libsoup and
 * curl -F in that order send it), the temporary file is made next to the
 * destination; otherwise it is spooled unnamed in --output-dir and copied.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "guest_fs.h"
#include "guest_path.h"
#include "http_response.h"

struct upload {
	struct nba_agent *agent;
	bool have_file;
	int fd;
	bool next_to_destination; /* @temp is named, in the destination's directory */
	char temp[PATH_MAX];
	uint64_t bytes;
};

/* A named temporary file in the directory of @dest, parents made. */
static int
temp_next_to(struct upload *up, const char *dest, struct nba_error *err)
{
	char where[PATH_MAX] = "", dir[PATH_MAX] = "/";
	size_t dir_len = (size_t)(strrchr(dest, '/') - dest);
	int rc = nba_make_parents(dest, where, sizeof where);

	if (rc != 0) {
		nba_error_set(err, 500, "Error storing file: %s: %s", where, strerror(rc));
		return -1;
	}
	if (dir_len > 0) {
		memcpy(dir, dest, dir_len);
		dir[dir_len] = '\0';
	}
	rc = nba_make_temp(dir, ".nestbox-agent-", ".part", up->temp, &up->fd);
	if (rc != 0) {
		nba_error_set(err, 500, "Error storing file: a temporary file in %s: %s", dir,
			      strerror(rc));
		return -1;
	}
	up->next_to_destination = true;
	return 0;
}

/* An unnamed file in --output-dir, for a file part that came before "filepath". */
static int
temp_spool(struct upload *up, struct nba_error *err)
{
	up->fd = open(up->agent->opt.output_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (up->fd < 0 && nba_make_temp(up->agent->opt.output_dir, "upload-", "", up->temp,
					&up->fd) == 0)
		unlink(up->temp);
	up->temp[0] = '\0';
	if (up->fd < 0) {
		nba_error_set(err, 500, "Error storing file: spooling in %s: %s",
			      up->agent->opt.output_dir, strerror(errno));
		return -1;
	}
	return 0;
}

static bool
write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return false;
		}
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static enum nba_file_take
upload_begin(void *ctx, const char *name, const struct nba_form *form, struct nba_error *err)
{
	struct upload *up = ctx;
	const struct nba_field *dest = nba_form_get(form, "filepath");

	if (strcmp(name, "file") != 0)
		return NBA_FILE_DISCARD;
	if (up->have_file) {
		nba_error_set(err, 400, "two file parts named \"file\"");
		return NBA_FILE_ERROR;
	}
	up->have_file = true;
	if (dest != NULL && nba_guest_path_problem(dest->value, dest->len) != NULL) {
		nba_error_set(err, 400, "filepath \"%.200s\" %s (PROTOCOL.md: paths)", dest->value,
			      nba_guest_path_problem(dest->value, dest->len));
		return NBA_FILE_ERROR;
	}
	if ((dest != NULL ? temp_next_to(up, dest->value, err) : temp_spool(up, err)) != 0)
		return NBA_FILE_ERROR;
	return NBA_FILE_TAKE;
}

static bool
upload_write(void *ctx, const void *data, size_t len, struct nba_error *err)
{
	struct upload *up = ctx;

	if (!write_all(up->fd, data, len)) {
		nba_error_set(err, 500, "Error storing file: writing after %llu bytes: %s",
			      (unsigned long long)up->bytes, strerror(errno));
		return false;
	}
	up->bytes += len;
	return true;
}

static void
upload_discard(struct upload *up)
{
	if (up->fd >= 0)
		close(up->fd);
	if (up->next_to_destination)
		unlink(up->temp);
	up->fd = -1;
	up->next_to_destination = false;
}

/* Copies @len bytes from @in to @out: copy_file_range, or read/write where it cannot. */
static int
copy_bytes(int in, int out, uint64_t len)
{
	loff_t offset = 0;
	bool plain = false;
	char buf[65536];

	while ((uint64_t)offset < len) {
		ssize_t n;

		if (!plain) {
			n = copy_file_range(in, &offset, out, NULL, len - (uint64_t)offset, 0);
			/* older kernels: not across file systems, or not at all */
			if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
				      errno == EOPNOTSUPP)) {
				plain = true;
				continue;
			}
		} else {
			n = pread(in, buf, sizeof buf, offset);
			if (n > 0 && !write_all(out, buf, (size_t)n))
				return errno ? errno : EIO;
			if (n > 0)
				offset += n;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? errno : EIO;
	}
	return 0;
}

/* The spooled file copied to a temporary file next to @dest. */
static int
move_spool_next_to(struct upload *up, const char *dest, struct nba_error *err)
{
	int spool = up->fd;
	int rc;

	up->fd = -1;
	if (temp_next_to(up, dest, err) != 0) {
		close(spool);
		return -1;
	}
	rc = copy_bytes(spool, up->fd, up->bytes);
	close(spool);
	if (rc != 0) {
		nba_error_set(err, 500, "Error storing file: copying the spooled upload: %s",
			      strerror(rc));
		return -1;
	}
	return 0;
}

static void
finish_store(struct nba_call *call, struct upload *up)
{
	struct nba_error err = { 0 };
	const char *dest;
	int rc;

	if (!nba_call_path(call, "filepath", "No filepath has been provided", &dest))
		return;
	if (!up->have_file) {
		nba_reply_error(call->conn, 400, "No file has been provided");
		return;
	}
	if (!up->next_to_destination && move_spool_next_to(up, dest, &err) != 0) {
		nba_reply_error(call->conn, err.status, "%s", err.message);
		return;
	}
	rc = fchmod(up->fd, 0666 & ~call->agent->umask) == 0 ? 0 : errno;
	if (close(up->fd) != 0 && rc == 0)
		rc = errno;
	up->fd = -1;
	if (rc == 0 && rename(up->temp, dest) != 0)
		rc = errno;
	if (rc != 0) {
		/* the temporary file goes with upload_discard() */
		nba_reply_exception(call->conn, "Error storing file", "%s: %s", dest, strerror(rc));
		return;
	}
	up->next_to_destination = false;
	nba_log("%s: stored %llu bytes in %s", call->conn->peer, (unsigned long long)up->bytes, dest);
	nba_reply_success(call->conn, "Successfully stored file");
}

void
nba_route_store(struct nba_call *call)
{
	struct upload up = { .agent = call->agent, .fd = -1 };
	const struct nba_file_sink sink = {
		.begin = upload_begin, .write = upload_write, .ctx = &up,
	};

	if (nba_call_read_form(call, &sink))
		finish_store(call, &up);
	upload_discard(&up);
}
