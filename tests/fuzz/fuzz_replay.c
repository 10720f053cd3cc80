/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Runs files through LLVMFuzzerTestOneInput without libFuzzer, so the
 * target is exercised by any compiler: each argument is a file, or a
 * directory whose regular files are all run (sorted, not recursive).
 */
#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
run_file(const char *path)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *contents = NULL;
	gsize length = 0;

	if (!g_file_get_contents(path, &contents, &length, &error)) {
		fprintf(stderr, "fuzz-replay: %s\n", error->message);
		return 1;
	}
	printf("fuzz-replay: %s (%zu bytes)\n", path, (size_t)length);
	fflush(stdout);
	LLVMFuzzerTestOneInput((const uint8_t *)contents, length);
	return 0;
}

static gint
compare_names(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(char *const *)a, *(char *const *)b);
}

int
main(int argc, char **argv)
{
	int failures = 0;
	guint runs = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE-OR-DIRECTORY...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GPtrArray) files = NULL;
		GDir *dir;
		const char *name;

		if (!g_file_test(argv[i], G_FILE_TEST_IS_DIR)) {
			failures += run_file(argv[i]);
			runs++;
			continue;
		}
		dir = g_dir_open(argv[i], 0, &error);
		if (dir == NULL) {
			fprintf(stderr, "fuzz-replay: %s\n", error->message);
			failures++;
			continue;
		}
		files = g_ptr_array_new_with_free_func(g_free);
		while ((name = g_dir_read_name(dir)) != NULL) {
			char *path = g_build_filename(argv[i], name, NULL);

			if (g_file_test(path, G_FILE_TEST_IS_REGULAR))
				g_ptr_array_add(files, path);
			else
				g_free(path);
		}
		g_dir_close(dir);
		g_ptr_array_sort(files, compare_names);
		for (guint j = 0; j < files->len; j++) {
			failures += run_file(g_ptr_array_index(files, j));
			runs++;
		}
	}
	printf("fuzz-replay: %u inputs, %d unreadable\n", runs, failures);
	if (runs == 0) {
		fprintf(stderr, "fuzz-replay: no input\n");
		return 1;
	}
	return failures == 0 ? 0 : 1;
}
