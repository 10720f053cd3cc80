/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Files from the guest into ANALYSIS_DIR/files/. The host name of each is
 * the core's: a sequence number and the guest name made safe, created
 * with O_EXCL|O_NOFOLLOW in a directory the core made, so no name a guest
 * sends can reach outside it; the plugin only writes into the descriptor.
 * Sizes are bounded by guest.max_file_mb, the count by guest.max_files.
 */
#include "guest_run_private.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest_file_name.h"
#include "sha256.h"

typedef struct {
	NbxGuestRun *run;
	int dir_fd;
	JsonArray *files;
	guint count;
	/* The first op that failed for want of an answer: the rest are skipped. */
	char *broken;
} Fetch;

static const char *
base_name(const char *guest_path)
{
	const char *slash = strrchr(guest_path, '/');
	const char *backslash = strrchr(guest_path, '\\');
	const char *cut = MAX(slash, backslash);

	return cut != NULL ? cut + 1 : guest_path;
}

/* The SHA-256 of what @fd holds, read back from the start. */
static char *
hash_fd(int fd, gint64 *size)
{
	g_autoptr(NbxSha256) sum = nbx_sha256_new();
	g_autofree char *buffer = g_malloc(1 << 16);
	ssize_t got;

	*size = 0;
	while ((got = pread(fd, buffer, 1 << 16, *size)) > 0) {
		nbx_sha256_update(sum, buffer, got);
		*size += got;
	}
	if (got < 0)
		return NULL;
	return nbx_sha256_finish(g_steal_pointer(&sum));
}

/* Runs a download or agent_log call into a new file @name; records it in @entry. */
static gboolean
fetch_into(Fetch *fetch, NbxGuestCall *call, const char *name, JsonObject *entry)
{
	NbxGuestRun *run = fetch->run;
	g_autofree char *message = NULL;
	g_autofree char *relative = g_build_filename("files", name, NULL);
	g_autofree char *digest = NULL;
	gint64 size = 0;
	int fd = openat(fetch->dir_fd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			0640);
	gboolean ok = fd >= 0;

	if (!ok) {
		message = g_strdup_printf("cannot create %s: %s", relative, g_strerror(errno));
	} else {
		/* The call owns the descriptor: an abandoned op closes it when it returns. */
		call->fd = fd;
		call->max_bytes = run->limits.max_file_bytes;
		ok = nbx_guest_call_run(&call, run->limits.op_s, &message);
		if (ok && (digest = hash_fd(fd, &size)) == NULL)
			message = g_strdup_printf("cannot read %s back: %s", relative,
						  g_strerror(errno));
		/* A plugin that wrote past the limit is not believed either. */
		if (ok && size > run->limits.max_file_bytes)
			message = g_strdup_printf("larger than the limit of %" G_GINT64_FORMAT
						  " bytes (guest.max_file_mb)",
						  run->limits.max_file_bytes);
		ok = ok && message == NULL;
		if (!ok)
			unlinkat(fetch->dir_fd, name, 0);
	}
	nbx_guest_call_free(call);
	if (ok) {
		json_object_set_string_member(entry, "file", relative);
		json_object_set_int_member(entry, "size", size);
		json_object_set_string_member(entry, "sha256", digest);
	} else {
		json_object_set_string_member(entry, "error", message);
		if (run->broken && fetch->broken == NULL)
			fetch->broken = g_strdup(message);
	}
	return ok;
}

static void
fetch_one(Fetch *fetch, const char *pattern, const char *guest_path)
{
	JsonObject *entry = json_object_new();
	g_autofree char *safe = nbx_guest_file_name(base_name(guest_path), "windows");
	g_autofree char *name = g_strdup_printf("%02u-%s", fetch->count, safe);
	g_autofree char *valid = g_utf8_make_valid(guest_path, -1);
	NbxGuestCall *call = nbx_guest_call_new(fetch->run, NBX_GUEST_OP_DOWNLOAD);

	fetch->count++;
	json_object_set_string_member(entry, "pattern", pattern);
	json_object_set_string_member(entry, "guest_path", valid);
	call->host_path = g_strdup(guest_path);
	fetch_into(fetch, call, name, entry);
	json_array_add_object_element(fetch->files, entry);
}

static void
record_error(Fetch *fetch, const char *pattern, const char *message)
{
	JsonObject *entry = json_object_new();

	json_object_set_string_member(entry, "pattern", pattern);
	json_object_set_string_member(entry, "error", message);
	json_array_add_object_element(fetch->files, entry);
}

static void
fetch_glob(Fetch *fetch, const char *pattern)
{
	NbxGuestRun *run = fetch->run;
	NbxGuestCall *call;
	g_autofree char *message = NULL;

	if (!nbx_guest_has(run->guest, NBX_GUEST_OP_LIST_FILES) ||
	    !(run->info.abilities & NBX_GUEST_CAN_LIST)) {
		record_error(fetch, pattern, "not fetched: this agent cannot expand a glob");
		return;
	}
	call = nbx_guest_call_new(run, NBX_GUEST_OP_LIST_FILES);
	call->pattern = g_strdup(pattern);
	call->max_matches = (guint32)MAX(run->limits.max_files - fetch->count, 0);
	if (!nbx_guest_call_run(&call, run->limits.op_s, &message)) {
		record_error(fetch, pattern, message);
		if (run->broken && fetch->broken == NULL)
			fetch->broken = g_strdup(message);
	} else if (call->matches->len == 0) {
		record_error(fetch, pattern, "no file matches");
	}
	for (guint i = 0; call != NULL && i < call->matches->len && fetch->broken == NULL &&
			  fetch->count < run->limits.max_files;
	     i++)
		fetch_one(fetch, pattern, g_ptr_array_index(call->matches, i));
	nbx_guest_call_free(call);
}

static void
fetch_agent_log(Fetch *fetch)
{
	NbxGuestRun *run = fetch->run;
	JsonObject *entry = json_object_new();

	fetch_into(fetch, nbx_guest_call_new(run, NBX_GUEST_OP_AGENT_LOG), "agent.log", entry);
	json_object_set_object_member(run->summary, "agent_log", entry);
}

static gboolean
wants_agent_log(NbxGuestRun *run)
{
	return nbx_guest_has(run->guest, NBX_GUEST_OP_AGENT_LOG) &&
	       (run->info.abilities & NBX_GUEST_CAN_AGENT_LOG);
}

static void
fetch_all(Fetch *fetch)
{
	NbxGuestRun *run = fetch->run;
	gboolean can_download = nbx_guest_has(run->guest, NBX_GUEST_OP_DOWNLOAD) &&
				(run->info.abilities & NBX_GUEST_CAN_DOWNLOAD);

	for (char **p = run->options->files; *p != NULL && fetch->broken == NULL; p++) {
		if (!can_download)
			record_error(fetch, *p, "not fetched: this agent cannot send files");
		else if (fetch->count >= run->limits.max_files)
			record_error(fetch, *p, "not fetched: guest.max_files reached");
		else if (strpbrk(*p, "*?[") != NULL)
			fetch_glob(fetch, *p);
		else
			fetch_one(fetch, *p, *p);
	}
	if (fetch->broken == NULL && wants_agent_log(run))
		fetch_agent_log(fetch);
}

void
nbx_guest_fetch_files(NbxGuestRun *run)
{
	g_autofree char *dir = g_build_filename(run->task->analysis_dir, "files", NULL);
	Fetch fetch = { .run = run, .dir_fd = -1, .files = json_array_new() };
	g_autofree char *message = NULL;
	NbxAnalysisStep step;

	if (run->options->files[0] == NULL && !wants_agent_log(run)) {
		json_array_unref(fetch.files);
		return;
	}
	step = nbx_guest_step_begin(run, "guest.fetch");
	if (g_mkdir_with_parents(dir, 0750) != 0 ||
	    (fetch.dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		message = g_strdup_printf("cannot create %s: %s", dir, g_strerror(errno));
	else
		fetch_all(&fetch);
	if (fetch.dir_fd >= 0)
		close(fetch.dir_fd);
	json_object_set_array_member(run->summary, "files", fetch.files);
	if (message == NULL && fetch.broken != NULL)
		message = g_strdup_printf("the guest stopped answering: %s", fetch.broken);
	nbx_guest_step_end(run, &step, message);
	if (message != NULL)
		nbx_guest_fail(run, message);
	g_free(fetch.broken);
}
