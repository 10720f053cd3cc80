/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * upload: POST /mkdtemp for a fresh directory, then POST /store of the
 * sample into it, multipart with a Content-Length (the agents read a
 * chunked body as empty), streamed from the host file, never loaded whole.
 */
#include <errno.h>
#include <fcntl.h>
#include <gio/gunixinputstream.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_plugin.h"

/* Opens the sample, with its size; false with @err when it cannot be sent. */
static int
open_sample(struct agent_session *session, const char *host_path, goffset *size,
	    struct nbx_error *err)
{
	const struct nbx_host *host = session->host;
	int fd = open(host_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	struct stat st;

	if (fd < 0) {
		host->error_set(host, err, errno == ENOENT ? NBX_ERROR_NOT_FOUND : NBX_ERROR_IO,
				"cannot open the sample %s: %s", host_path, g_strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		host->error_set(host, err, NBX_ERROR_INVALID, "the sample %s is not a regular file",
				host_path);
		close(fd);
		return -1;
	}
	if (st.st_size > session->settings.max_upload_bytes) {
		host->error_set(host, err, NBX_ERROR_INVALID,
				"the sample %s is %lld bytes, more than max_upload_bytes (%" G_GINT64_FORMAT
				")",
				host_path, (long long)st.st_size, session->settings.max_upload_bytes);
		close(fd);
		return -1;
	}
	*size = st.st_size;
	return fd;
}

static gboolean
is_ascii(const char *text)
{
	for (const char *p = text; *p != '\0'; p++) {
		if ((unsigned char)*p >= 0x80)
			return FALSE;
	}
	return TRUE;
}

/*
 * The core made the name safe; a separator here would still escape the
 * directory. A name beyond ASCII needs the feature "unicodepath" (agents
 * before 0.8 mangle it).
 */
static bool
file_name_ok(struct agent_session *session, const char *file_name, struct nbx_error *err)
{
	if (file_name[0] == '\0' || strpbrk(file_name, "/\\") != NULL ||
	    strcmp(file_name, ".") == 0 || strcmp(file_name, "..") == 0) {
		session->host->error_set(session->host, err, NBX_ERROR_INVALID,
					 "the file name \"%s\" is not a plain name", file_name);
		return false;
	}
	if (!is_ascii(file_name) && !agent_has(session, AGENT_FEATURE_UNICODEPATH)) {
		session->host->error_set(session->host, err, NBX_ERROR_NOT_SUPPORTED,
					 "the agent at %s does not announce unicodepath: the file "
					 "name \"%s\" cannot be sent to it",
					 session->endpoint.name, file_name);
		return false;
	}
	return true;
}

bool
agent_op_upload(void *instance, void *session_ptr, const char *host_path, const char *file_name,
		char *guest_path, size_t guest_path_size, const struct nbx_call *call,
		struct nbx_error *err)
{
	struct agent_session *session = session_ptr;
	g_autoptr(GInputStream) content = NULL;
	g_autofree char *dir = NULL, *path = NULL;
	goffset size = 0;
	int fd;

	if (!agent_op_begin(session, call, err) || !file_name_ok(session, file_name, err))
		return false;
	fd = open_sample(session, host_path, &size, err);
	if (fd < 0)
		return false;
	content = g_unix_input_stream_new(fd, TRUE);
	if (!agent_make_temp_dir(session, "nestbox-", &dir, err))
		return false;
	path = agent_guest_join(session, dir, file_name);
	if (strlen(path) >= guest_path_size) {
		session->host->error_set(session->host, err, NBX_ERROR_INVALID,
					 "the sample's guest path %s is longer than the %zu bytes "
					 "the core takes",
					 path, guest_path_size - 1);
		return false;
	}
	if (!agent_store_stream(session, path, content, size, err))
		return false;
	memcpy(guest_path, path, strlen(path) + 1);
	return true;
}
