/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "run_record.h"

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define GROUP "run"
#define SUFFIX ".run"
#define TERM_GRACE_US (2 * G_USEC_PER_SEC)
#define KILL_GRACE_US (5 * G_USEC_PER_SEC)

char *
run_record_path(const char *run_dir, const char *machine)
{
	g_autofree char *name = g_strconcat(machine, SUFFIX, NULL);

	return g_build_filename(run_dir, name, NULL);
}

bool
run_record_write(const char *path, const RunRecord *record, GError **error)
{
	g_autoptr(GKeyFile) file = g_key_file_new();
	g_autofree char *text = NULL;
	gsize len = 0;

	g_key_file_set_string(file, GROUP, "machine", record->machine);
	g_key_file_set_int64(file, GROUP, "pid", record->pid);
	g_key_file_set_uint64(file, GROUP, "pid_start_time", record->pid_start_time);
	g_key_file_set_string(file, GROUP, "overlay", record->overlay != NULL ? record->overlay : "");
	g_key_file_set_string(file, GROUP, "qmp_socket", record->qmp_socket);
	g_key_file_set_int64(file, GROUP, "owner_pid", record->owner_pid);
	g_key_file_set_uint64(file, GROUP, "owner_start_time", record->owner_start_time);
	text = g_key_file_to_data(file, &len, NULL);
	/* A temporary file renamed over the record: never half written. */
	return g_file_set_contents_full(path, text, (gssize)len, G_FILE_SET_CONTENTS_CONSISTENT,
					0640, error);
}

RunRecord *
run_record_load(const char *path, GError **error)
{
	g_autoptr(GKeyFile) file = g_key_file_new();
	g_autoptr(RunRecord) record = g_new0(RunRecord, 1);
	GError *local = NULL;

	if (!g_key_file_load_from_file(file, path, G_KEY_FILE_NONE, error))
		return NULL;
	record->machine = g_key_file_get_string(file, GROUP, "machine", &local);
	if (local == NULL)
		record->pid = g_key_file_get_int64(file, GROUP, "pid", &local);
	if (local == NULL)
		record->pid_start_time = g_key_file_get_uint64(file, GROUP, "pid_start_time", &local);
	if (local == NULL)
		record->overlay = g_key_file_get_string(file, GROUP, "overlay", &local);
	if (local == NULL)
		record->qmp_socket = g_key_file_get_string(file, GROUP, "qmp_socket", &local);
	if (local == NULL)
		record->owner_pid = g_key_file_get_int64(file, GROUP, "owner_pid", &local);
	if (local == NULL)
		record->owner_start_time =
			g_key_file_get_uint64(file, GROUP, "owner_start_time", &local);
	if (local != NULL) {
		g_propagate_prefixed_error(error, local, "%s: ", path);
		return NULL;
	}
	if (record->overlay != NULL && *record->overlay == '\0')
		g_clear_pointer(&record->overlay, g_free);
	return g_steal_pointer(&record);
}

void
run_record_free(RunRecord *record)
{
	if (record == NULL)
		return;
	g_free(record->machine);
	g_free(record->overlay);
	g_free(record->qmp_socket);
	g_free(record);
}

bool
process_start_time(int64_t pid, uint64_t *start_time)
{
	g_autofree char *path = g_strdup_printf("/proc/%" G_GINT64_FORMAT "/stat", pid);
	g_autofree char *stat = NULL;
	const char *after_comm;
	char state = 0;
	unsigned long long ticks = 0;

	if (pid <= 0 || !g_file_get_contents(path, &stat, NULL, NULL))
		return false;
	/* The command name (field 2) may hold spaces and parentheses: skip to its last ')'. */
	after_comm = strrchr(stat, ')');
	/* Fields 3 (state) to 22 (starttime). */
	if (after_comm == NULL ||
	    sscanf(after_comm + 1,
		   " %c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu",
		   &state, &ticks) != 2)
		return false;
	/* A zombie has ended; its parent (init, for an orphan) has yet to reap it. */
	if (state == 'Z' || state == 'X')
		return false;
	*start_time = ticks;
	return true;
}

bool
process_is(int64_t pid, uint64_t start_time)
{
	uint64_t now;

	return process_start_time(pid, &now) && now == start_time;
}

void
run_record_init_owner(RunRecord *record)
{
	uint64_t start_time = 0;

	record->owner_pid = getpid();
	process_start_time(record->owner_pid, &start_time);
	record->owner_start_time = start_time;
}

bool
run_record_owner_alive(const RunRecord *record)
{
	return process_is(record->owner_pid, record->owner_start_time);
}

/*
 * Sends @signal to @pid only if it is still the process that started at
 * @start_time. A pidfd pins the process between the check and the signal,
 * so a pid recycled in that instant is not hit; kill() is the fallback on
 * kernels without pidfd_open.
 */
static bool
signal_process(int64_t pid, uint64_t start_time, int signal)
{
#if defined(SYS_pidfd_open) && defined(SYS_pidfd_send_signal)
	int fd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);

	if (fd >= 0) {
		bool ok = process_is(pid, start_time) &&
			  syscall(SYS_pidfd_send_signal, fd, signal, NULL, 0) == 0;

		close(fd);
		return ok;
	}
#endif
	return process_is(pid, start_time) && kill((pid_t)pid, signal) == 0;
}

/* It is not our child: nothing to wait for but its disappearance from /proc. */
static bool
wait_gone(int64_t pid, uint64_t start_time, int64_t timeout_us)
{
	int64_t until = g_get_monotonic_time() + timeout_us;

	while (process_is(pid, start_time)) {
		if (g_get_monotonic_time() >= until)
			return false;
		g_usleep(20000);
	}
	return true;
}

static bool
kill_orphan(const struct nbx_host *host, const char *path, const RunRecord *record,
	    const char **how)
{
	*how = "had ended on its own";
	if (record->pid <= 0 || !process_is(record->pid, record->pid_start_time))
		return true;
	*how = "was killed with SIGTERM";
	if (signal_process(record->pid, record->pid_start_time, SIGTERM) &&
	    wait_gone(record->pid, record->pid_start_time, TERM_GRACE_US))
		return true;
	*how = "was killed with SIGKILL (SIGTERM did not end it)";
	signal_process(record->pid, record->pid_start_time, SIGKILL);
	if (wait_gone(record->pid, record->pid_start_time, KILL_GRACE_US))
		return true;
	host->log(host, NBX_LOG_ERROR,
		  "machine %s: QEMU pid %" G_GINT64_FORMAT
		  " left by an earlier daemon survives SIGKILL; record %s kept",
		  record->machine, record->pid, path);
	return false;
}

static void
remove_file(const struct nbx_host *host, const char *what, const char *path)
{
	if (path != NULL && g_unlink(path) != 0 && errno != ENOENT)
		host->log(host, NBX_LOG_WARNING, "cannot remove %s %s: %s", what, path,
			  g_strerror(errno));
}

bool
run_record_recover(const struct nbx_host *host, const char *path, const RunRecord *record)
{
	const char *how;

	if (!kill_orphan(host, path, record, &how))
		return false;
	remove_file(host, "overlay", record->overlay);
	remove_file(host, "QMP socket", record->qmp_socket);
	remove_file(host, "run record", path);
	if (record->pid > 0)
		host->log(host, NBX_LOG_WARNING,
			  "machine %s: cleaned up after dead daemon pid %" G_GINT64_FORMAT
			  ": its QEMU pid %" G_GINT64_FORMAT " %s; removed overlay %s",
			  record->machine, record->owner_pid, record->pid, how,
			  record->overlay != NULL ? record->overlay : "(none)");
	else
		host->log(host, NBX_LOG_WARNING,
			  "machine %s: cleaned up after dead daemon pid %" G_GINT64_FORMAT
			  ", which never started QEMU; removed overlay %s",
			  record->machine, record->owner_pid,
			  record->overlay != NULL ? record->overlay : "(none)");
	return true;
}

void
run_record_recover_all(const struct nbx_host *host, const char *run_dir)
{
	g_autoptr(GDir) dir = g_dir_open(run_dir, 0, NULL);
	const char *name;

	if (dir == NULL)
		return;
	while ((name = g_dir_read_name(dir)) != NULL) {
		g_autofree char *path = NULL;
		g_autoptr(RunRecord) record = NULL;
		g_autoptr(GError) error = NULL;

		if (!g_str_has_suffix(name, SUFFIX))
			continue;
		path = g_build_filename(run_dir, name, NULL);
		record = run_record_load(path, &error);
		if (record == NULL) {
			host->log(host, NBX_LOG_WARNING, "ignoring unreadable run record: %s",
				  error->message);
			continue;
		}
		/* Another instance (a configuration reload) or daemon still runs it. */
		if (run_record_owner_alive(record))
			continue;
		run_record_recover(host, path, record);
	}
}
