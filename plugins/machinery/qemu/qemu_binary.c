/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "qemu_binary.h"

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child_process.h"

struct QemuBinary {
	const struct nbx_host *host;
	char *path;
	char *scratch_dir;
	/* Guarded by @lock: ops on different machines ask at the same time. */
	GMutex lock;
	char *version;
	GHashTable *machines;
	GHashTable *cpus;
};

QemuBinary *
qemu_binary_new(const struct nbx_host *host, const char *path, const char *scratch_dir)
{
	QemuBinary *binary = g_new0(QemuBinary, 1);

	binary->host = host;
	binary->path = g_strdup(path);
	binary->scratch_dir = g_strdup(scratch_dir);
	g_mutex_init(&binary->lock);
	return binary;
}

void
qemu_binary_free(QemuBinary *binary)
{
	if (binary == NULL)
		return;
	g_free(binary->path);
	g_free(binary->scratch_dir);
	g_free(binary->version);
	if (binary->machines != NULL)
		g_hash_table_unref(binary->machines);
	if (binary->cpus != NULL)
		g_hash_table_unref(binary->cpus);
	g_mutex_clear(&binary->lock);
	g_free(binary);
}

char *
qemu_version_number(const char *text)
{
	const char *at = text != NULL ? strstr(text, "version ") : NULL;
	size_t len;

	if (at == NULL)
		return NULL;
	at += strlen("version ");
	len = strspn(at, "0123456789.");
	return len > 0 && g_ascii_isdigit(at[0]) ? g_strndup(at, len) : NULL;
}

/* ABI 1.2: the core runs it and collects what it prints (at most 256 KiB). */
static char *
ask_core(QemuBinary *binary, const char *const *argv, const char *what, int64_t deadline_us,
	 struct nbx_error *err)
{
	const struct nbx_host *host = binary->host;
	const size_t size = 256 * 1024;
	g_autofree char *buffer = g_malloc(size);
	struct nbx_output out = { .struct_size = sizeof out, .buffer = buffer, .size = size };
	struct nbx_spawn spawn = { .struct_size = sizeof spawn, .argv = argv, .stdin_fd = -1 };
	struct nbx_error cause = { 0 };
	int32_t status = 0;

	if (!host->run(host, &spawn, deadline_us, &out, NULL, &status, &cause)) {
		host->error_set(host, err, cause.code, "%s: %s", what, cause.message);
		return NULL;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		host->error_set(host, err, NBX_ERROR_FAILED, "%s: %s exited with status %d", what,
				argv[0], WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
		return NULL;
	}
	return g_steal_pointer(&buffer);
}

/*
 * The output of `QEMU OPTION VALUE`. A core older than ABI 1.2 has no
 * `run`: then a worker thread must not reap a child itself (the core
 * does), so the output goes through a file.
 */
static char *
ask(QemuBinary *binary, const char *option, const char *value, int64_t deadline_us,
    struct nbx_error *err)
{
	g_autofree char *output = g_build_filename(binary->scratch_dir, "qemu-ask-XXXXXX", NULL);
	const char *argv[] = { binary->path, option, value, NULL };
	g_autofree char *what = g_strdup_printf("asking QEMU for %s %s", option,
						value != NULL ? value : "");
	char *text = NULL;
	int fd;

	if (NBX_HOST_HAS(binary->host, run))
		return ask_core(binary, argv, what, deadline_us, err);
	fd = g_mkstemp(output);
	if (fd < 0) {
		binary->host->error_set(binary->host, err, NBX_ERROR_IO,
					"cannot create a file in %s: %s", binary->scratch_dir,
					g_strerror(errno));
		return NULL;
	}
	close(fd);
	if (child_process_run(binary->host, what, argv, output, deadline_us, err) &&
	    !g_file_get_contents(output, &text, NULL, NULL))
		binary->host->error_set(binary->host, err, NBX_ERROR_IO, "cannot read %s", output);
	g_unlink(output);
	return text;
}

const char *
qemu_binary_version(QemuBinary *binary, int64_t deadline_us, struct nbx_error *err)
{
	g_autofree char *text = NULL;
	const char *version;

	g_mutex_lock(&binary->lock);
	if (binary->version == NULL)
		text = ask(binary, "--version", NULL, deadline_us, err);
	if (text != NULL) {
		binary->version = qemu_version_number(text);
		if (binary->version == NULL)
			binary->host->error_set(binary->host, err, NBX_ERROR_HYPERVISOR,
						"%s --version did not print a QEMU version; is it "
						"QEMU?",
						binary->path);
	}
	version = binary->version;
	g_mutex_unlock(&binary->lock);
	return version;
}

/*
 * The names `-machine help` or `-cpu help` lists: the first word of each
 * line ("pc-i440fx-7.2   Standard PC ..."), or for x86 CPUs the word after
 * the architecture ("x86 qemu64   QEMU Virtual CPU ...").
 */
static GHashTable *
parse_names(const char *text)
{
	GHashTable *names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);

	for (size_t i = 0; lines[i] != NULL; i++) {
		g_auto(GStrv) words = NULL;
		const char *line = g_strstrip(lines[i]);

		/* Past the list: "Recognized CPUID flags:" and the flags themselves. */
		if (g_str_has_prefix(line, "Recognized"))
			break;
		/* Headings ("Supported machines are:") and blank lines. */
		if (*line == '\0' || g_str_has_suffix(line, ":"))
			continue;
		words = g_strsplit_set(line, " \t", 3);
		if (strcmp(words[0], "x86") == 0 && words[1] != NULL && *words[1] != '\0')
			g_hash_table_add(names, g_strdup(words[1]));
		else
			g_hash_table_add(names, g_strdup(words[0]));
	}
	return names;
}

static bool
knows(QemuBinary *binary, GHashTable **cache, const char *option, const char *name, bool *known,
      int64_t deadline_us, struct nbx_error *err)
{
	bool ok = true;

	g_mutex_lock(&binary->lock);
	if (*cache == NULL) {
		g_autofree char *text = ask(binary, option, "help", deadline_us, err);

		if (text != NULL)
			*cache = parse_names(text);
		ok = text != NULL;
	}
	if (ok)
		*known = g_hash_table_contains(*cache, name);
	g_mutex_unlock(&binary->lock);
	return ok;
}

bool
qemu_binary_knows_machine(QemuBinary *binary, const char *name, bool *known, int64_t deadline_us,
			  struct nbx_error *err)
{
	return knows(binary, &binary->machines, "-machine", name, known, deadline_us, err);
}

bool
qemu_binary_knows_cpu(QemuBinary *binary, const char *name, bool *known, int64_t deadline_us,
		      struct nbx_error *err)
{
	return knows(binary, &binary->cpus, "-cpu", name, known, deadline_us, err);
}
