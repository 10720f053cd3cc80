/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The snapshot archive against `tar --zstd` on the same files, in the same
 * run: a generation of a description, a "disk" and a "memory" file with
 * mixed content (zero, text-like and random MiB blocks, in a fixed
 * pseudo-random order), under $TMPDIR.
 *
 *   export  nbx_snapshot_archive_write, against tar --zstd -cf
 *   import  nbx_snapshot_archive_read of that archive, against
 *           tar --zstd -xf of the same archive
 *
 * Every measured operation is its own process (this program again, in its
 * --export/--import mode, or tar), so its wall time includes starting up
 * and its peak RSS (ru_maxrss from wait4) is its own and nothing of this
 * program's. For tar the figure is the larger of tar and zstd, not their
 * sum. nestbox syncs what it writes (the archive; the unpacked files and
 * the directory) and tar does not: the tar+sync column adds `sync` of the
 * same files, for the cost of that difference. Rounds alternate which
 * side goes first; the page cache is warm for both (the files were just
 * written).
 *
 * The whole is measured at two sizes, to show that peak memory does not
 * follow the data. Settings (environment): NBX_BENCH_ROUNDS (5, at the
 * large size; the small one gets 3), NBX_BENCH_DISK_MB (256) and
 * NBX_BENCH_MEMORY_MB (128) for the large size; the small one is a quarter.
 * Prints tables; asserts no times.
 */
#define _GNU_SOURCE /* syncfs */
#include <archive.h>
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <nestbox/machinery.h>
#include <spawn.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "snapshot_archive.h"
#include "test_support.h"

#define MIB (1024 * 1024)

extern char **environ;

static guint
env_count(const char *name, guint fallback)
{
	const char *value = g_getenv(name);
	guint64 n;

	if (value == NULL || *value == '\0')
		return fallback;
	n = g_ascii_strtoull(value, NULL, 10);
	if (n == 0 || n > 100000)
		g_error("%s: expected a count from 1 to 100000, not \"%s\"", name, value);
	return (guint)n;
}

/* ---- the child side: one operation, then exit ---- */

static int
child_export(const char *archive, char **files)
{
	g_autoptr(NbxSnapshotManifest) manifest = nbx_snapshot_manifest_new("bench", "bench", TRUE);
	static const gint32 roles[] = { NBX_SNAPSHOT_FILE_DESCRIPTION, NBX_SNAPSHOT_FILE_DISK,
					NBX_SNAPSHOT_FILE_MEMORY };
	g_autoptr(GError) error = NULL;

	for (guint i = 0; files[i] != NULL; i++)
		nbx_snapshot_manifest_add_file(manifest, roles[MIN(i, G_N_ELEMENTS(roles) - 1)],
					       files[i]);
	nbx_snapshot_manifest_add_fingerprint(manifest, "hypervisor", "qemu");
	if (!nbx_snapshot_archive_write(archive, manifest, &error)) {
		g_printerr("export: %s\n", error->message);
		return 1;
	}
	return 0;
}

static int
child_import(const char *archive, const char *dest)
{
	g_autoptr(NbxSnapshotManifest) manifest = NULL;
	g_autoptr(GError) error = NULL;

	manifest = nbx_snapshot_archive_read(archive, dest, FALSE, NULL, NULL, &error);
	if (manifest == NULL) {
		g_printerr("import: %s\n", error->message);
		return 1;
	}
	return 0;
}

/* ---- the data ---- */

static guint64
next_random(guint64 *state)
{
	/* xorshift64*: fast enough that making 384 MiB is not the wait. */
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return *state * 0x2545F4914F6CDD1DULL;
}

static void
fill_random(guchar *block, gsize length, guint64 *state)
{
	for (gsize i = 0; i + 8 <= length; i += 8) {
		guint64 value = next_random(state);

		memcpy(block + i, &value, 8);
	}
}

/* Strings, paths and small numbers, as in a file system or a heap: compresses about 3:1. */
static void
fill_text(guchar *block, gsize length, guint64 *state)
{
	static const char *const words[] = {
		"C:\\Windows\\System32\\", "kernel32.dll", "HKEY_LOCAL_MACHINE\\SOFTWARE\\",
		"This program cannot be run in DOS mode.", "<?xml version=\"1.0\"?>",
		"Microsoft Corporation", "\x00\x00\x00\x01", "user32.dll", "ntdll.dll",
		"GetProcAddress", "LoadLibraryW", "{8856F961-340A-11D0-A96B-00C04FD705A2}",
	};
	gsize at = 0;

	while (at < length) {
		guint64 r = next_random(state);
		const char *word = words[r % G_N_ELEMENTS(words)];
		gsize n = MIN(strlen(word) + 1, length - at);

		memcpy(block + at, word, n);
		at += n;
		if (at + 4 <= length) {
			guint32 number = (guint32)(r >> 32) & 0xffff;

			memcpy(block + at, &number, 4);
			at += 4;
		}
	}
}

/* @zero and @text percent of the MiB blocks are zeros and text, the rest random. */
static void
make_file(const char *path, guint mib, guint zero, guint text, guint64 seed)
{
	g_autofree guchar *block = g_malloc(MIB);
	guint64 state = seed;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	g_assert_cmpint(fd, >=, 0);
	for (guint i = 0; i < mib; i++) {
		guint kind = next_random(&state) % 100;

		if (kind < zero)
			memset(block, 0, MIB);
		else if (kind < zero + text)
			fill_text(block, MIB, &state);
		else
			fill_random(block, MIB, &state);
		g_assert_cmpint(write(fd, block, MIB), ==, MIB);
	}
	/* Written back now, so no writeback of the set runs under a measurement. */
	g_assert_cmpint(fsync(fd), ==, 0);
	close(fd);
}

/* ---- measuring ---- */

typedef struct {
	double seconds;
	double peak_mib;
} Run;

/*
 * ru_maxrss of a process counts the memory of the process it was spawned
 * from (exec records the old address space's peak, and posix_spawn shares
 * this program's): every figure would be at least this program's own. GNU
 * time, small itself, forks the command and reports its peak alone.
 */
static const char *gnu_time;
static char *peak_file;

static Run
run_argv(char **argv)
{
	g_autoptr(GPtrArray) full = g_ptr_array_new();
	g_autofree char *peak_text = NULL;
	struct rusage usage;
	gint64 start;
	int status = 0;
	pid_t pid;
	Run run;

	if (gnu_time != NULL) {
		g_ptr_array_add(full, (char *)gnu_time);
		g_ptr_array_add(full, "-f");
		g_ptr_array_add(full, "%M");
		g_ptr_array_add(full, "-o");
		g_ptr_array_add(full, peak_file);
	}
	for (guint i = 0; argv[i] != NULL; i++)
		g_ptr_array_add(full, argv[i]);
	g_ptr_array_add(full, NULL);

	start = g_get_monotonic_time();
	if (posix_spawnp(&pid, full->pdata[0], NULL, NULL, (char **)full->pdata, environ) != 0)
		g_error("cannot start %s: %s", argv[0], g_strerror(errno));
	if (wait4(pid, &status, 0, &usage) != pid)
		g_error("wait4: %s", g_strerror(errno));
	run.seconds = (g_get_monotonic_time() - start) / 1e6;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		g_error("%s %s failed (status %d)", argv[0], argv[1], status);
	run.peak_mib = usage.ru_maxrss / 1024.0;
	if (gnu_time != NULL && g_file_get_contents(peak_file, &peak_text, NULL, NULL))
		run.peak_mib = g_ascii_strtod(peak_text, NULL) / 1024.0;
	return run;
}

static int
compare_double(gconstpointer a, gconstpointer b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
median(GArray *values)
{
	g_array_sort(values, compare_double);
	return g_array_index(values, double, values->len / 2);
}

typedef enum { SIDE_NESTBOX, SIDE_TAR, SIDE_TAR_SYNC, N_SIDES } Side;

typedef struct {
	GArray *seconds; /* double */
	double peak_mib; /* the largest seen */
} Samples;

typedef struct {
	const char *self;
	char *dir;
	char *src;
	char *files[4]; /* description, disk, memory */
	char *nbx_archive;
	char *tar_archive;
	gint64 bytes;
	Samples export[N_SIDES];
	Samples import[N_SIDES];
} Set;

static void
samples_add(Samples *samples, Run run)
{
	g_array_append_val(samples->seconds, run.seconds);
	samples->peak_mib = MAX(samples->peak_mib, run.peak_mib);
}

static char *
shell_quote_all(char **paths)
{
	g_autoptr(GString) text = g_string_new(NULL);

	for (guint i = 0; paths[i] != NULL; i++) {
		g_autofree char *quoted = g_shell_quote(paths[i]);

		g_string_append_printf(text, " %s", quoted);
	}
	return g_string_free(g_steal_pointer(&text), FALSE);
}

/*
 * Untimed, before every timed operation: writes back and commits what the
 * previous ones left (tar's unsynced archive and files, the blocks of the
 * files just removed, which this filesystem may discard at commit), so that
 * none of it lands in the next one's time: an fsync waits for the journal
 * commit that carries them, and writeback runs within 30 s of any write.
 */
static void
settle_filesystem(Set *set)
{
	int fd = open(set->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(syncfs(fd), ==, 0);
	close(fd);
}

static Run
export_once(Set *set, Side side)
{
	g_autofree char *quoted_out = g_shell_quote(set->tar_archive);
	g_autofree char *quoted_src = g_shell_quote(set->src);
	g_autofree char *script = NULL;
	Run run;

	g_unlink(set->tar_archive);
	switch (side) {
	case SIDE_NESTBOX: {
		char *argv[] = { (char *)set->self, "--export", set->nbx_archive, set->files[0],
				 set->files[1], set->files[2], NULL };

		g_unlink(set->nbx_archive);
		settle_filesystem(set);
		return run_argv(argv);
	}
	case SIDE_TAR: {
		char *argv[] = { "tar", "--zstd", "-cf", set->tar_archive, "-C", set->src,
				 "machineinfo.json", "disk.qcow2", "memory.bin", NULL };

		settle_filesystem(set);
		run = run_argv(argv);
		break;
	}
	default: {
		script = g_strdup_printf("tar --zstd -cf %s -C %s machineinfo.json disk.qcow2 "
					 "memory.bin && sync %s",
					 quoted_out, quoted_src, quoted_out);
		char *argv[] = { "sh", "-c", script, NULL };

		settle_filesystem(set);
		run = run_argv(argv);
		break;
	}
	}
	return run;
}

static Run
import_once(Set *set, Side side)
{
	g_autofree char *dest = g_build_filename(set->dir, "unpacked", NULL);
	g_autofree char *quoted_archive = g_shell_quote(set->nbx_archive);
	g_autofree char *quoted_dest = g_shell_quote(dest);
	g_autofree char *script = NULL;
	Run run;

	test_dir_remove(dest);
	g_assert_cmpint(g_mkdir(dest, 0755), ==, 0);
	settle_filesystem(set);
	switch (side) {
	case SIDE_NESTBOX: {
		char *argv[] = { (char *)set->self, "--import", set->nbx_archive, dest, NULL };

		run = run_argv(argv);
		break;
	}
	case SIDE_TAR: {
		char *argv[] = { "tar", "--zstd", "-xf", set->nbx_archive, "-C", dest, NULL };

		run = run_argv(argv);
		break;
	}
	default: {
		/* The same syncs as nestbox: each file, then the directories. */
		script = g_strdup_printf("tar --zstd -xf %s -C %s && cd %s && sync files/* "
					 "files .",
					 quoted_archive, quoted_dest, quoted_dest);
		char *argv[] = { "sh", "-c", script, NULL };

		run = run_argv(argv);
		break;
	}
	}
	test_dir_remove(dest);
	return run;
}

static void
set_make(Set *set, const char *self, guint disk_mib, guint memory_mib)
{
	GStatBuf st;

	set->self = self;
	set->dir = test_dir_new();
	set->src = g_build_filename(set->dir, "src", NULL);
	g_assert_cmpint(g_mkdir_with_parents(set->src, 0755), ==, 0);
	set->files[0] = g_build_filename(set->src, "machineinfo.json", NULL);
	set->files[1] = g_build_filename(set->src, "disk.qcow2", NULL);
	set->files[2] = g_build_filename(set->src, "memory.bin", NULL);
	set->nbx_archive = g_build_filename(set->dir, "nestbox.tar.zst", NULL);
	set->tar_archive = g_build_filename(set->dir, "tar.tar.zst", NULL);

	test_write(set->src, "machineinfo.json",
		   "{\"name\": \"bench\", \"memory_mb\": 4096, \"disk\": \"disk.qcow2\"}\n");
	/* A disk: a quarter zeros, the rest text and compressed data; memory has more zero pages. */
	make_file(set->files[1], disk_mib, 25, 45, 0x9e3779b97f4a7c15ULL);
	make_file(set->files[2], memory_mib, 40, 40, 0xd1b54a32d192ed03ULL);
	set->bytes = 0;
	for (guint i = 0; i < 3; i++) {
		g_assert_cmpint(g_stat(set->files[i], &st), ==, 0);
		set->bytes += st.st_size;
	}
	for (guint s = 0; s < N_SIDES; s++) {
		set->export[s].seconds = g_array_new(FALSE, FALSE, sizeof(double));
		set->import[s].seconds = g_array_new(FALSE, FALSE, sizeof(double));
	}
}

static void
set_free(Set *set)
{
	test_dir_remove(set->dir);
	g_free(set->dir);
	g_free(set->src);
	for (guint i = 0; i < 3; i++)
		g_free(set->files[i]);
	g_free(set->nbx_archive);
	g_free(set->tar_archive);
	for (guint s = 0; s < N_SIDES; s++) {
		g_array_unref(set->export[s].seconds);
		g_array_unref(set->import[s].seconds);
	}
}

/* The archive nestbox wrote unpacks, by tar, to the very files: checked once, untimed. */
static void
set_check(Set *set)
{
	g_autofree char *dest = g_build_filename(set->dir, "check", NULL);
	g_autofree char *quoted_archive = g_shell_quote(set->nbx_archive);
	g_autofree char *quoted_dest = g_shell_quote(dest);
	g_autofree char *quoted_files = shell_quote_all(set->files);
	g_autofree char *script = g_strdup_printf(
		"tar --zstd -xf %s -C %s && cd %s/files && sha256sum%s | sed 's|  .*/|  |' | "
		"sha256sum --quiet -c",
		quoted_archive, quoted_dest, quoted_dest, quoted_files);
	char *argv[] = { "sh", "-c", script, NULL };

	g_assert_cmpint(g_mkdir(dest, 0755), ==, 0);
	run_argv(argv);
	test_dir_remove(dest);
}

static void
set_measure(Set *set, guint rounds)
{
	/* Warm-up, untimed: makes the archive the imports read, and checks it. */
	export_once(set, SIDE_NESTBOX);
	set_check(set);
	export_once(set, SIDE_TAR);
	for (guint r = 0; r < rounds; r++) {
		for (guint i = 0; i < N_SIDES; i++) {
			Side side = r % 2 == 0 ? i : N_SIDES - 1 - i;

			samples_add(&set->export[side], export_once(set, side));
		}
		for (guint i = 0; i < N_SIDES; i++) {
			Side side = r % 2 == 0 ? i : N_SIDES - 1 - i;

			samples_add(&set->import[side], import_once(set, side));
		}
	}
}

static double
mb_per_s(Set *set, Samples *samples, gboolean best)
{
	/* Sorted by median(): the first is the fastest. */
	double seconds = median(samples->seconds);

	if (best)
		seconds = g_array_index(samples->seconds, double, 0);
	return set->bytes / 1e6 / seconds;
}

/*
 * The median is the figure; the best round is printed too because the
 * machine may be shared: other load only ever slows a round down.
 */
static void
print_rates(Set *set, const char *what, Samples *samples)
{
	for (guint best = 0; best <= 1; best++) {
		double nbx = mb_per_s(set, &samples[SIDE_NESTBOX], best);
		double tar = mb_per_s(set, &samples[SIDE_TAR], best);
		double tar_sync = mb_per_s(set, &samples[SIDE_TAR_SYNC], best);
		g_autofree char *label =
			g_strdup_printf("%s MB/s (%s)", what, best ? "best round" : "median");

		g_print("%-34s %10.1f %10.1f %8.3f %10.1f %8.3f\n", label, nbx, tar, nbx / tar,
			tar_sync, nbx / tar_sync);
	}
}

static char *
load_average(void)
{
	g_autofree char *text = NULL;

	if (!g_file_get_contents("/proc/loadavg", &text, NULL, NULL))
		return g_strdup("unknown");
	return g_strndup(text, strcspn(text, " "));
}

static void
print_set(Set *set, const char *title, guint rounds)
{
	GStatBuf nbx, tar;

	g_assert_cmpint(g_stat(set->nbx_archive, &nbx), ==, 0);
	g_assert_cmpint(g_stat(set->tar_archive, &tar), ==, 0);
	g_print("\n## %s: %.1f MiB of files, %u rounds; archive %.1f MiB (nestbox), %.1f MiB "
		"(tar)\n",
		title, set->bytes / (double)MIB, rounds, nbx.st_size / (double)MIB,
		tar.st_size / (double)MIB);
	g_print("%-34s %10s %10s %8s %10s %8s\n", "metric", "nestbox", "tar", "ratio", "tar+sync",
		"ratio");
	print_rates(set, "export", set->export);
	print_rates(set, "import", set->import);
	g_print("%-34s %10.1f %10.1f %8.2f\n", "export peak RSS, MiB", set->export[0].peak_mib,
		set->export[SIDE_TAR].peak_mib,
		set->export[0].peak_mib / set->export[SIDE_TAR].peak_mib);
	g_print("%-34s %10.1f %10.1f %8.2f\n", "import peak RSS, MiB", set->import[0].peak_mib,
		set->import[SIDE_TAR].peak_mib,
		set->import[0].peak_mib / set->import[SIDE_TAR].peak_mib);
}

static double
idle_peak_mib(const char *self)
{
	char *argv[] = { (char *)self, "--idle", NULL };

	return run_argv(argv).peak_mib;
}

int
main(int argc, char **argv)
{
	guint rounds = env_count("NBX_BENCH_ROUNDS", 5);
	guint disk_mib = env_count("NBX_BENCH_DISK_MB", 256);
	guint memory_mib = env_count("NBX_BENCH_MEMORY_MB", 128);
	g_autofree char *self = NULL;
	g_autofree char *tar_version = NULL;
	g_autofree char *zstd_version = NULL;
	g_autofree char *load_before = NULL;
	g_autofree char *load_after = NULL;
	Set small = { 0 }, large = { 0 };
	double idle;

	if (argc >= 4 && strcmp(argv[1], "--export") == 0)
		return child_export(argv[2], argv + 3);
	if (argc == 4 && strcmp(argv[1], "--import") == 0)
		return child_import(argv[2], argv[3]);
	if (argc == 2 && strcmp(argv[1], "--idle") == 0)
		return 0;
	if (argc != 1) {
		g_printerr("usage: snapshot-archive-bench (settings in the environment)\n");
		return 2;
	}
	self = g_file_read_link("/proc/self/exe", NULL);
	if (g_file_test("/usr/bin/time", G_FILE_TEST_IS_EXECUTABLE))
		gnu_time = "/usr/bin/time";
	peak_file = g_build_filename(g_get_tmp_dir(), "nbx-bench-peak-XXXXXX", NULL);
	close(g_mkstemp(peak_file));
	g_spawn_command_line_sync("sh -c 'tar --version | head -n 1'", &tar_version, NULL, NULL,
				  NULL);
	g_spawn_command_line_sync("zstd -q --version", &zstd_version, NULL, NULL, NULL);

	g_print("# snapshot-archive: nbx_snapshot_archive_write/read against tar --zstd -cf/-xf "
		"on the same files, in $TMPDIR (%s)\n",
		g_get_tmp_dir());
	g_print("# %s; zstd %s; libarchive: %s\n", g_strstrip(tar_version),
		g_strstrip(zstd_version), archive_version_details());
#ifdef NBX_HAVE_LIBCRYPTO
	g_print("# nestbox hashes with libcrypto's SHA-256 (NBX_HAVE_LIBCRYPTO)\n");
#else
	g_print("# nestbox hashes with GLib's SHA-256 (GChecksum): the build has no "
		"NBX_HAVE_LIBCRYPTO\n");
#endif
	g_print("# each operation a process of its own; ratio = nestbox MB/s / tar MB/s; "
		"MB = 10^6 bytes of files\n");
	if (gnu_time == NULL)
		g_print("# /usr/bin/time (GNU time) is missing: peak RSS figures include this "
			"program's own\n");

	load_before = load_average();
	set_make(&small, self, MAX(disk_mib / 4, 1), MAX(memory_mib / 4, 1));
	set_measure(&small, 3);
	set_make(&large, self, disk_mib, memory_mib);
	set_measure(&large, rounds);
	idle = idle_peak_mib(self);
	load_after = load_average();

	g_print("# load average (1 min) on %u CPUs: %s before, %s after\n", g_get_num_processors(),
		load_before, load_after);
	print_set(&large, "large", rounds);
	print_set(&small, "small", 3);

	g_print("\n## peak RSS against the data (MiB; a process that does nothing: %.1f)\n", idle);
	g_print("%-34s %12.0f %12.0f\n", "files, MiB", small.bytes / (double)MIB,
		large.bytes / (double)MIB);
	g_print("%-34s %12.1f %12.1f\n", "nestbox export", small.export[0].peak_mib,
		large.export[0].peak_mib);
	g_print("%-34s %12.1f %12.1f\n", "nestbox import", small.import[0].peak_mib,
		large.import[0].peak_mib);
	g_print("%-34s %12.1f %12.1f\n", "tar --zstd -c (max of tar, zstd)",
		small.export[SIDE_TAR].peak_mib, large.export[SIDE_TAR].peak_mib);
	g_print("%-34s %12.1f %12.1f\n", "tar --zstd -x (max of tar, zstd)",
		small.import[SIDE_TAR].peak_mib, large.import[SIDE_TAR].peak_mib);

	set_free(&small);
	set_free(&large);
	g_unlink(peak_file);
	g_free(peak_file);
	return 0;
}
