/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "test_support.h"

#include <glib/gstdio.h>

char *
test_dir_new(void)
{
	g_autoptr(GError) error = NULL;
	char *dir = g_dir_make_tmp("nestbox-test-XXXXXX", &error);

	g_assert_no_error(error);
	return dir;
}

void
test_dir_remove(const char *dir)
{
	g_autoptr(GDir) handle = g_dir_open(dir, 0, NULL);
	const char *name;

	if (handle == NULL) {
		g_remove(dir);
		return;
	}
	while ((name = g_dir_read_name(handle)) != NULL) {
		g_autofree char *path = g_build_filename(dir, name, NULL);

		if (g_file_test(path, G_FILE_TEST_IS_DIR) && !g_file_test(path, G_FILE_TEST_IS_SYMLINK))
			test_dir_remove(path);
		else
			g_remove(path);
	}
	g_rmdir(dir);
}

void
test_write(const char *dir, const char *relative, const char *contents)
{
	g_autofree char *path = g_build_filename(dir, relative, NULL);
	g_autofree char *parent = g_path_get_dirname(path);
	g_autoptr(GError) error = NULL;

	g_assert_cmpint(g_mkdir_with_parents(parent, 0755), ==, 0);
	g_file_set_contents(path, contents, -1, &error);
	g_assert_no_error(error);
}

char *
test_config_dir_new(const char *plugin_dir, const char *machineries)
{
	char *dir = test_dir_new();
	g_autofree char *conf = g_strdup_printf("machineries = [ %s ];\n"
						"plugin_dirs = [ \"%s\" ];\n"
						"builtin_plugin_dir = false;\n"
						"state_dir = \"state\";\n"
						"run_dir = \"run\";\n"
						"analyses_dir = \"analyses\";\n",
						machineries, plugin_dir);

	test_write(dir, "nestbox.conf", conf);
	return dir;
}
