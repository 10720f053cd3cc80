/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The loader: every refusal has its broken plugin and its message, the good
 * plugin beside them still loads, and untrusted files or directories are
 * refused before any of their code runs.
 */
#include <glib/gstdio.h>
#include <pwd.h>
#include <unistd.h>

#include "plugin_loader.h"
#include "plugin_ops.h"
#include "test_support.h"

static const char *broken_dir;
static const char *good_dir;

static const char *
refusal_for(NbxPluginRegistry *registry, const char *file)
{
	g_autofree char *path = g_build_filename(broken_dir, file, NULL);

	for (guint i = 0; i < registry->refusals->len; i++) {
		const char *line = g_ptr_array_index(registry->refusals, i);

		if (g_str_has_prefix(line, path) && line[strlen(path)] == ':')
			return line;
	}
	return NULL;
}

static void
assert_refused(NbxPluginRegistry *registry, const char *file, const char *reason)
{
	const char *line = refusal_for(registry, file);

	if (line == NULL)
		g_error("%s was not refused", file);
	if (strstr(line, reason) == NULL)
		g_error("refusal of %s is \"%s\", expected it to contain \"%s\"", file, line,
			reason);
}

static void
test_refusals(void)
{
	g_autoptr(NbxPluginRegistry) registry = nbx_plugin_registry_new();

	nbx_plugin_registry_scan_dir(registry, broken_dir);

	/* Spelled out from the ABI version, which grows with every append. */
	g_autofree char *major = g_strdup_printf(
		"refused: built for plugin ABI %d.%d, this nestbox has ABI %d.%d; rebuild",
		NBX_ABI_MAJOR + 1, NBX_ABI_MINOR, NBX_ABI_MAJOR, NBX_ABI_MINOR);
	g_autofree char *minor = g_strdup_printf(
		"refused: built for plugin ABI %d.%d, newer than this nestbox's %d.%d",
		NBX_ABI_MAJOR, NBX_ABI_MINOR + 1, NBX_ABI_MAJOR, NBX_ABI_MINOR);

	assert_refused(registry, "abi-major.so", major);
	assert_refused(registry, "abi-minor.so", minor);
	assert_refused(registry, "struct-size.so",
		       "refused: descriptor struct_size 16 is smaller than");
	assert_refused(registry, "no-descriptor.so",
		       "refused: no symbol nestbox_plugin_descriptor: not a nestbox plugin");
	assert_refused(registry, "unknown-kind.so",
		       "refused: unknown plugin kind 7 (1 = machinery, 2 = auxiliary, 3 = guest)");
	assert_refused(registry, "guest-missing-ops.so",
		       "refused: guest without required ops: disconnect, upload, execute");
	assert_refused(registry, "guest-old-abi.so",
		       "refused: a guest plugin needs plugin ABI 1.2 or newer, it was built for "
		       "1.1");
	assert_refused(registry, "task-schema-file.so",
		       "refused: task_schema: script: a file path cannot be a per-task option");
	assert_refused(registry, "task-schema-machinery.so",
		       "refused: task_schema is only for auxiliaries and guest plugins");
	assert_refused(registry, "missing-ops.so",
		       "refused: machinery without required ops: stop, state");
	assert_refused(registry, "bad-schema.so",
		       "refused: config_schema: malformed schema: fields[0] \"port\": min 10 is "
		       "greater than max 1");
	assert_refused(registry, "good_duplicate.so", "refused: plugin name \"fake\" is already "
						      "taken by ");
	g_assert_cmpuint(registry->refusals->len, ==, 12);

	/* The good plugin among them loads, and only it. */
	g_assert_cmpuint(registry->plugins->len, ==, 1);
	g_assert_nonnull(nbx_plugin_registry_lookup(registry, "fake"));
	g_assert_true(g_str_has_suffix(nbx_plugin_registry_lookup(registry, "fake")->path,
				       "/good.so"));
}

static void
test_good_plugins_load(void)
{
	g_autoptr(NbxPluginRegistry) registry = nbx_plugin_registry_new();
	NbxPlugin *fake;

	nbx_plugin_registry_scan_dir(registry, good_dir);
	g_assert_cmpuint(registry->refusals->len, ==, 0);
	g_assert_cmpuint(registry->plugins->len, ==, 6);
	fake = nbx_plugin_registry_lookup(registry, "fake");
	g_assert_nonnull(fake);
	g_assert_cmpuint(fake->descriptor.kind, ==, NBX_PLUGIN_MACHINERY);
	g_assert_nonnull(nbx_plugin_machinery_ops(fake)->restore_start);
	/* Optional ops it leaves NULL stay NULL: the core answers "not supported". */
	g_assert_null(nbx_plugin_machinery_ops(fake)->norestore_start);
	g_assert_cmpuint(nbx_plugin_registry_lookup(registry, "aux-alpha")->descriptor.order, ==, 2);
}

/* Copies good/fake.so into a fresh directory, returning the new path. */
static char *
copy_fake(const char *dir, const char *name, int mode)
{
	g_autofree char *from = g_build_filename(good_dir, "fake.so", NULL);
	char *to = g_build_filename(dir, name, NULL);
	g_autofree char *contents = NULL;
	gsize length;
	g_autoptr(GError) error = NULL;

	g_file_get_contents(from, &contents, &length, &error);
	g_assert_no_error(error);
	g_file_set_contents(to, contents, length, &error);
	g_assert_no_error(error);
	g_assert_cmpint(g_chmod(to, mode), ==, 0);
	return to;
}

static void
test_untrusted_file(void)
{
	g_autofree char *dir = test_dir_new();
	g_autofree char *loose = copy_fake(dir, "loose.so", 0666);
	g_autoptr(NbxPluginRegistry) registry = nbx_plugin_registry_new();
	g_autofree char *expected = g_strdup_printf(
		"%s: refused: file %s is writable by any user (mode 0666); run: chmod o-w %s", loose,
		loose, loose);

	g_assert_cmpint(g_chmod(dir, 0755), ==, 0);
	nbx_plugin_registry_scan_dir(registry, dir);
	g_assert_cmpuint(registry->plugins->len, ==, 0);
	g_assert_cmpuint(registry->refusals->len, ==, 1);
	g_assert_cmpstr(g_ptr_array_index(registry->refusals, 0), ==, expected);
	test_dir_remove(dir);
}

static void
test_untrusted_group_writable(void)
{
	g_autofree char *dir = test_dir_new();
	g_autofree char *loose = copy_fake(dir, "group.so", 0664);
	g_autoptr(NbxPluginRegistry) registry = nbx_plugin_registry_new();

	g_assert_cmpint(g_chmod(dir, 0755), ==, 0);
	/* Group 0 is root's: writable by that group is trusted. Another group is not. */
	g_assert_cmpint(chown(loose, (uid_t)-1, 12345), ==, 0);
	nbx_plugin_registry_scan_dir(registry, dir);
	g_assert_cmpuint(registry->plugins->len, ==, 0);
	g_assert_cmpuint(registry->refusals->len, ==, 1);
	g_assert_nonnull(strstr(g_ptr_array_index(registry->refusals, 0),
				"is writable by group 12345 (mode 0664)"));
	test_dir_remove(dir);
}

static void
test_untrusted_owner(void)
{
	g_autofree char *dir = test_dir_new();
	g_autofree char *foreign = copy_fake(dir, "foreign.so", 0644);
	g_autoptr(NbxPluginRegistry) registry = nbx_plugin_registry_new();
	g_autofree char *expected = NULL;

	if (geteuid() != 0) {
		g_test_skip("needs root to give a file away");
		test_dir_remove(dir);
		return;
	}
	g_assert_cmpint(g_chmod(dir, 0755), ==, 0);
	g_assert_cmpint(chown(foreign, 4242, 4242), ==, 0);
	nbx_plugin_registry_scan_dir(registry, dir);
	expected = g_strdup_printf("file %s is owned by uid 4242, not by root", foreign);
	g_assert_cmpuint(registry->plugins->len, ==, 0);
	g_assert_nonnull(strstr(g_ptr_array_index(registry->refusals, 0), expected));
	test_dir_remove(dir);
}

static void
test_untrusted_directory(void)
{
	g_autofree char *dir = test_dir_new();
	g_autofree char *plugin = copy_fake(dir, "fine.so", 0644);

	g_assert_true(g_file_test(plugin, G_FILE_TEST_IS_REGULAR));
	g_autoptr(NbxPluginRegistry) registry = nbx_plugin_registry_new();
	g_autofree char *expected = g_strdup_printf(
		"%s: refused: directory %s is writable by any user (mode 0777); run: chmod o-w %s; "
		"none of its 1 plugins is loaded",
		dir, dir, dir);

	g_assert_cmpint(g_chmod(dir, 0777), ==, 0);
	nbx_plugin_registry_scan_dir(registry, dir);
	g_assert_cmpuint(registry->plugins->len, ==, 0);
	g_assert_cmpstr(g_ptr_array_index(registry->refusals, 0), ==, expected);
	test_dir_remove(dir);
}


/* PARENT/plugins/fake.so with PARENT in @mode (and @gid unless -1): the registry. */
static NbxPluginRegistry *
scan_below(int mode, gid_t gid, uid_t uid, char **parent_out, char **dir_out)
{
	char *parent = test_dir_new();
	char *dir = g_build_filename(parent, "plugins", NULL);
	g_autofree char *plugin = NULL;
	NbxPluginRegistry *registry = nbx_plugin_registry_new();

	g_assert_cmpint(g_mkdir(dir, 0755), ==, 0);
	plugin = copy_fake(dir, "fake.so", 0644);
	g_assert_cmpint(chown(parent, uid, gid), ==, 0);
	g_assert_cmpint(g_chmod(parent, mode), ==, 0);
	nbx_plugin_registry_scan_dir(registry, dir);
	*parent_out = parent;
	*dir_out = dir;
	return registry;
}

/* Whoever can swap a directory above the plugins can swap the plugins. */
static void
test_untrusted_ancestor(void)
{
	g_autofree char *parent = NULL, *dir = NULL, *expected = NULL;
	g_autoptr(NbxPluginRegistry) registry = scan_below(0777, (gid_t)-1, (uid_t)-1, &parent, &dir);

	expected = g_strdup_printf("%s: refused: directory %s, above %s, is writable by any user "
				   "(mode 0777); run: chmod o-w %s; none of its 1 plugins is loaded",
				   dir, parent, dir, parent);
	g_assert_cmpuint(registry->plugins->len, ==, 0);
	g_assert_cmpuint(registry->refusals->len, ==, 1);
	g_assert_cmpstr(g_ptr_array_index(registry->refusals, 0), ==, expected);
	test_dir_remove(parent);
}

/* A sticky directory (like /tmp) lets nobody move another's entries. */
static void
test_sticky_ancestor(void)
{
	g_autofree char *parent = NULL, *dir = NULL;
	g_autoptr(NbxPluginRegistry) registry = scan_below(01777, (gid_t)-1, (uid_t)-1, &parent, &dir);

	g_assert_cmpuint(registry->refusals->len, ==, 0);
	g_assert_nonnull(nbx_plugin_registry_lookup(registry, "fake"));
	test_dir_remove(parent);
}

static void
test_untrusted_ancestor_group_and_owner(void)
{
	g_autofree char *parent = NULL, *dir = NULL, *parent2 = NULL, *dir2 = NULL;
	g_autofree char *group = NULL, *owner = NULL;
	g_autoptr(NbxPluginRegistry) by_group = NULL, by_owner = NULL;

	if (geteuid() != 0) {
		g_test_skip("needs root to give a directory away");
		return;
	}
	by_group = scan_below(0775, 12345, (uid_t)-1, &parent, &dir);
	by_owner = scan_below(0755, (gid_t)-1, 4242, &parent2, &dir2);
	group = g_strdup_printf("directory %s, above %s, is writable by group 12345 (mode 0775)",
				parent, dir);
	owner = g_strdup_printf("directory %s, above %s, is owned by uid 4242, not by root",
				parent2, dir2);
	g_assert_cmpuint(by_group->plugins->len, ==, 0);
	g_assert_nonnull(strstr(g_ptr_array_index(by_group->refusals, 0), group));
	g_assert_cmpuint(by_owner->plugins->len, ==, 0);
	g_assert_nonnull(strstr(g_ptr_array_index(by_owner->refusals, 0), owner));
	test_dir_remove(parent);
	test_dir_remove(parent2);
}

static void
test_missing_directory(void)
{
	g_autoptr(NbxPluginRegistry) registry = nbx_plugin_registry_new();

	nbx_plugin_registry_scan_dir(registry, "/nonexistent/nestbox-plugins");
	g_assert_cmpuint(registry->refusals->len, ==, 1);
	g_assert_true(g_str_has_prefix(g_ptr_array_index(registry->refusals, 0),
				       "/nonexistent/nestbox-plugins: refused: cannot read plugin "
				       "directory"));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	broken_dir = g_getenv("NESTBOX_TEST_BROKEN_PLUGIN_DIR");
	good_dir = g_getenv("NESTBOX_TEST_GOOD_PLUGIN_DIR");
	g_assert_nonnull(broken_dir);
	g_assert_nonnull(good_dir);
	g_test_add_func("/loader/refusals", test_refusals);
	g_test_add_func("/loader/good-plugins", test_good_plugins_load);
	g_test_add_func("/loader/untrusted/file", test_untrusted_file);
	g_test_add_func("/loader/untrusted/group-writable", test_untrusted_group_writable);
	g_test_add_func("/loader/untrusted/owner", test_untrusted_owner);
	g_test_add_func("/loader/untrusted/directory", test_untrusted_directory);
	g_test_add_func("/loader/untrusted/ancestor", test_untrusted_ancestor);
	g_test_add_func("/loader/untrusted/ancestor-group-and-owner",
			test_untrusted_ancestor_group_and_owner);
	g_test_add_func("/loader/sticky-ancestor", test_sticky_ancestor);
	g_test_add_func("/loader/missing-directory", test_missing_directory);
	return g_test_run();
}
