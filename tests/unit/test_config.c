/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A whole configuration directory loaded the way nestboxd --check loads it:
 * every problem reported at once with file:line: key.path, machines unique
 * across machineries, disabled groups not validated, auxiliaries ordered,
 * load_machines overriding the configured list, plugin checks run.
 */
#include "daemon_setup.h"
#include "test_support.h"

static const char *good_dir;

typedef struct {
	char *dir;
	NbxDiagnostics *diagnostics;
	NbxSetup *setup;
} Fixture;

static void
fixture_set_up(Fixture *f, gconstpointer data)
{
	f->diagnostics = nbx_diagnostics_new();
}

static void
fixture_tear_down(Fixture *f, gconstpointer data)
{
	nbx_setup_free(f->setup);
	nbx_diagnostics_free(f->diagnostics);
	if (f->dir != NULL)
		test_dir_remove(f->dir);
	g_free(f->dir);
}

static void
load(Fixture *f)
{
	f->setup = nbx_setup_load(f->dir, NULL, f->diagnostics);
	g_assert_nonnull(f->setup);
}

static void
dump(Fixture *f)
{
	for (guint i = 0; i < nbx_diagnostics_count(f->diagnostics); i++)
		g_test_message("diagnostic: %s", nbx_diagnostics_get(f->diagnostics, i));
}

static void
assert_clean(Fixture *f)
{
	dump(f);
	g_assert_cmpuint(nbx_diagnostics_count(f->diagnostics), ==, 0);
}

/* Asserts a diagnostic "DIR/RELATIVE:LINE: REST" exists. */
static void
assert_problem(Fixture *f, const char *relative, int line, const char *rest)
{
	g_autofree char *expected = g_strdup_printf("%s/%s:%d: %s", f->dir, relative, line, rest);

	for (guint i = 0; i < nbx_diagnostics_count(f->diagnostics); i++) {
		if (g_strcmp0(nbx_diagnostics_get(f->diagnostics, i), expected) == 0)
			return;
	}
	dump(f);
	g_error("missing diagnostic: %s", expected);
}

static const char *machine_fake_a = "  { name = \"a\"; label = \"dom-a\"; ip = \"192.0.2.1\"; "
				    "platform = \"Linux\"; tags = [ \"x86\", \"net\" ]; },\n";

static void
test_valid(Fixture *f, gconstpointer data)
{
	g_autofree char *machines = g_strdup_printf(
		"machines = (\n%s  { name = \"b\"; label = \"dom-b\"; ip = \"192.0.2.2\"; platform = "
		"\"windows\"; os_version = \"win10\"; fault = \"none\"; }\n);\n",
		machine_fake_a);
	NbxPoolMachine *a;
	bool flag = false;
	int64_t speed = 0;
	NbxPluginInstance *fake;

	f->dir = test_config_dir_new(good_dir, "\"fake\"");
	test_write(f->dir, "machinery/fake.conf", machines);
	load(f);
	assert_clean(f);
	g_assert_cmpuint(f->setup->pool->machines->len, ==, 2);
	a = nbx_machine_pool_lookup(f->setup->pool, "a");
	/* LOWERCASE applied, defaults filled. */
	g_assert_cmpstr(a->machine.platform, ==, "linux");
	g_assert_cmpstr(a->machine.tags[1], ==, "net");
	fake = g_ptr_array_index(f->setup->machineries, 0);
	g_assert_true(fake->initialized);
	g_assert_cmpstr(fake->host.config_string(&fake->host, NULL, "greeting"), ==, "hello");
	g_assert_true(fake->host.config_integer(&fake->host, NULL, "speed", &speed));
	g_assert_cmpint(speed, ==, 5);
	g_assert_cmpstr(fake->host.config_string(&fake->host, a->machine.config, "fault"), ==,
			"none");
	g_assert_false(fake->host.config_boolean(&fake->host, NULL, "nonexistent", &flag));
	/* Paths of the core are absolute, against the config dir. */
	g_assert_true(g_str_has_prefix(f->setup->config->state_dir, f->dir));
	g_assert_true(g_file_test(fake->state_dir, G_FILE_TEST_IS_DIR));
}

static void
test_all_errors_at_once(Fixture *f, gconstpointer data)
{
	f->dir = test_config_dir_new(good_dir, "\"fake\"");
	test_write(f->dir, "machinery/fake.conf",
		   "speed = 11;\n"                                     /* 1 */
		   "greting = \"typo\";\n"                             /* 2 */
		   "machines = (\n"                                    /* 3 */
		   "  { name = \"a\"; label = \"l\"; ip = \"300.1.1.1\"; platform = \"linux\"; },\n"
		   "  { name = \"b\"; label = \"m\"; ip = \"192.0.2.9\"; },\n" /* 5 */
		   "  { name = \"c\"; label = \"n\"; ip = \"192.0.2.8\"; platform = \"linux\";\n"
		   "    mac_address = \"zz:00\"; fault = \"explode\"; agent_port = 70000; }\n"
		   ");\n");
	load(f);
	assert_problem(f, "machinery/fake.conf", 1, "speed: must be between 1 and 10, found 11");
	assert_problem(f, "machinery/fake.conf", 2,
		       "greting: unknown key (did you mean \"greeting\"?)");
	assert_problem(f, "machinery/fake.conf", 4,
		       "machines.a.ip: not an IPv4 or IPv6 address: \"300.1.1.1\"");
	assert_problem(f, "machinery/fake.conf", 5, "machines.b.platform: required key is missing");
	assert_problem(f, "machinery/fake.conf", 7,
		       "machines.c.mac_address: not a MAC address (expected aa:bb:cc:dd:ee:ff): "
		       "\"zz:00\"");
	assert_problem(f, "machinery/fake.conf", 7,
		       "machines.c.fault: must be one of none, restore_fails, reject_in_check, "
		       "restore_hangs, restore_times_out, stop_fails, dies_while_running, "
		       "comes_back_paused, paused_unresumable, stop_hangs, ignores_acpi, dump_fails, "
		       "begin_fails, commit_fails, commit_hangs; found \"explode\"");
	assert_problem(f, "machinery/fake.conf", 7,
		       "machines.c.agent_port: must be between 1 and 65535, found 70000");
	g_assert_cmpuint(nbx_diagnostics_count(f->diagnostics), ==, 7);
	/* Nothing was initialised on a configuration that failed its schema. */
	g_assert_false(((NbxPluginInstance *)g_ptr_array_index(f->setup->machineries, 0))->initialized);
}

static void
test_duplicates_across_machineries(Fixture *f, gconstpointer data)
{
	f->dir = test_config_dir_new(good_dir, "\"fake\", \"declarer\"");
	test_write(f->dir, "machinery/fake.conf",
		   "machines = (\n"
		   "  { name = \"m1\"; label = \"d1\"; ip = \"192.0.2.1\"; platform = \"linux\";\n"
		   "    mac_address = \"52:54:00:00:00:01\"; },\n"
		   "  { name = \"m1\"; label = \"d1\"; ip = \"192.0.2.1\"; platform = \"linux\";\n"
		   "    mac_address = \"52:54:00:00:00:01\"; },\n"
		   "  { name = \"decl0\"; label = \"other\"; ip = \"192.0.2.100\"; platform = \"linux\"; }\n"
		   ");\n");
	test_write(f->dir, "machinery/declarer.conf", "count = 1;\n");
	load(f);
}

static void
assert_problem_prefix(Fixture *f, const char *prefix)
{
	if (nbx_diagnostics_contains(f->diagnostics, prefix))
		return;
	dump(f);
	g_error("missing diagnostic containing: %s", prefix);
}

static void
test_duplicates_detail(Fixture *f, gconstpointer data)
{
	g_autofree char *first = NULL;

	test_duplicates_across_machineries(f, data);
	first = g_strdup_printf("%s/machinery/fake.conf:4: machines.m1.name: name \"m1\" is "
				"already used by machine m1 (fake, %s/machinery/fake.conf:2)",
				f->dir, f->dir);
	g_assert_cmpstr(nbx_diagnostics_get(f->diagnostics, 0), ==, first);
	assert_problem_prefix(f, "machines.m1.label: label \"d1\" is already used by machine m1");
	assert_problem_prefix(f, "machines.m1.ip: ip \"192.0.2.1\" is already used by machine m1");
	assert_problem_prefix(f, "machines.m1.mac_address: mac_address \"52:54:00:00:00:01\" is "
				 "already used by machine m1");
	/* Across machineries: the declared decl0 clashes with the configured one. */
	assert_problem_prefix(f, "machinery declarer: machines.decl0.name: name \"decl0\" is "
				 "already used by machine decl0 (fake, ");
	assert_problem_prefix(f, "machinery declarer: machines.decl0.ip: ip \"192.0.2.100\" is "
				 "already used by machine decl0 (fake, ");
	g_assert_cmpuint(nbx_diagnostics_count(f->diagnostics), ==, 6);
}

static void
test_disabled_not_validated(Fixture *f, gconstpointer data)
{
	f->dir = test_config_dir_new(good_dir, "\"fake\"");
	test_write(f->dir, "machinery/fake.conf",
		   "machines = (\n"
		   "  { name = \"on\"; label = \"d1\"; ip = \"192.0.2.1\"; platform = \"linux\"; },\n"
		   "  { enabled = false; name = \"off\"; ip = \"garbage\"; bogus = 1; }\n"
		   ");\n");
	test_write(f->dir, "auxiliary.conf",
		   "aux-strict = { enabled = false; };\n"
		   "not-installed = { enabled = false; whatever = 1; };\n"
		   "aux-alpha = { enabled = false; level = \"not a number\"; };\n");
	load(f);
	assert_clean(f);
	g_assert_cmpuint(f->setup->pool->machines->len, ==, 1);
	g_assert_cmpuint(f->setup->auxiliaries->len, ==, 0);
}

static void
test_auxiliary_order(Fixture *f, gconstpointer data)
{
	static const char *const expected[] = { "aux-beta", "aux-gamma", "aux-alpha" };

	f->dir = test_config_dir_new(good_dir, "");
	/* beta's descriptor order 0 means 1: it ties with gamma and wins on name. */
	test_write(f->dir, "auxiliary.conf",
		   "aux-alpha = { };\naux-gamma = { level = 4; };\naux-beta = { };\n");
	load(f);
	assert_clean(f);
	g_assert_cmpuint(f->setup->auxiliaries->len, ==, 3);
	for (guint i = 0; i < 3; i++)
		g_assert_cmpstr(nbx_plugin_instance_name(g_ptr_array_index(f->setup->auxiliaries, i)),
				==, expected[i]);
}

static void
test_auxiliary_order_override(Fixture *f, gconstpointer data)
{
	static const char *const expected[] = { "aux-alpha", "aux-beta", "aux-gamma" };

	f->dir = test_config_dir_new(good_dir, "");
	test_write(f->dir, "auxiliary.conf",
		   "aux-alpha = { order = 0; };\naux-gamma = { order = 7; };\naux-beta = { };\n");
	load(f);
	assert_clean(f);
	for (guint i = 0; i < 3; i++)
		g_assert_cmpstr(nbx_plugin_instance_name(g_ptr_array_index(f->setup->auxiliaries, i)),
				==, expected[i]);
}

static void
test_auxiliary_errors(Fixture *f, gconstpointer data)
{
	f->dir = test_config_dir_new(good_dir, "\"missing\", \"aux-alpha\"");
	test_write(f->dir, "auxiliary.conf",
		   "aux-strict = { };\n"
		   "not-installed = { };\n"
		   "fake = { };\n"
		   "aux-alpha = { order = -1; level = 10; };\n");
	load(f);
	assert_problem(f, "nestbox.conf", 1, "machineries: no machinery plugin named \"missing\" "
					     "is loaded");
	assert_problem(f, "nestbox.conf", 1, "machineries: plugin \"aux-alpha\" is not a machinery");
	assert_problem(f, "auxiliary.conf", 1, "aux-strict.must_set: required key is missing");
	assert_problem(f, "auxiliary.conf", 2,
		       "not-installed: no auxiliary plugin named \"not-installed\" is loaded");
	assert_problem(f, "auxiliary.conf", 3, "fake: plugin \"fake\" is not an auxiliary");
	assert_problem(f, "auxiliary.conf", 4,
		       "aux-alpha.order: must be between 0 and 2147483647, found -1");
	assert_problem(f, "auxiliary.conf", 4, "aux-alpha.level: must be between 0 and 9, found 10");
	g_assert_cmpuint(nbx_diagnostics_count(f->diagnostics), ==, 7);
}

static void
test_missing_files(Fixture *f, gconstpointer data)
{
	g_autofree char *expected = NULL;

	f->dir = test_config_dir_new(good_dir, "\"fake\"");
	load(f);
	expected = g_strdup_printf("%s/machinery/fake.conf: cannot read: file does not exist",
				   f->dir);
	g_assert_cmpuint(nbx_diagnostics_count(f->diagnostics), ==, 1);
	g_assert_cmpstr(nbx_diagnostics_get(f->diagnostics, 0), ==, expected);
}

static void
test_syntax_error(Fixture *f, gconstpointer data)
{
	f->dir = test_config_dir_new(good_dir, "\"fake\"");
	test_write(f->dir, "machinery/fake.conf", "speed = 3;\nmachines = ( { name = ; } );\n");
	load(f);
	/* libconfig's parser says "syntax error" and nothing else: said once. */
	assert_problem(f, "machinery/fake.conf", 2, "syntax error");
	g_assert_cmpuint(nbx_diagnostics_count(f->diagnostics), ==, 1);
}

static void
test_load_machines_override(Fixture *f, gconstpointer data)
{
	NbxPoolMachine *machine;

	f->dir = test_config_dir_new(good_dir, "\"declarer\"");
	test_write(f->dir, "machinery/declarer.conf", "count = 3;\nprefix = \"vm\";\n");
	load(f);
	assert_clean(f);
	g_assert_cmpuint(f->setup->pool->machines->len, ==, 3);
	machine = nbx_machine_pool_lookup(f->setup->pool, "vm2");
	g_assert_nonnull(machine);
	g_assert_cmpstr(machine->machine.ip, ==, "192.0.2.102");
	g_assert_cmpstr(machine->location, ==, "machinery declarer");
	g_assert_cmpstr(machine->machine.tags[0], ==, "declared");
}

static void
test_check_machine(Fixture *f, gconstpointer data)
{
	f->dir = test_config_dir_new(good_dir, "\"fake\"");
	test_write(f->dir, "machinery/fake.conf",
		   "machines = (\n"
		   "  { name = \"picky\"; label = \"d\"; ip = \"192.0.2.1\"; platform = \"linux\";\n"
		   "    fault = \"reject_in_check\"; }\n"
		   ");\n");
	load(f);
	assert_problem(f, "machinery/fake.conf", 3,
		       "machines.picky.fault: machine picky rejected by the fake machinery");
	g_assert_cmpuint(nbx_diagnostics_count(f->diagnostics), ==, 1);
}

static void
test_bad_machine_name(Fixture *f, gconstpointer data)
{
	f->dir = test_config_dir_new(good_dir, "\"fake\"");
	test_write(f->dir, "machinery/fake.conf",
		   "machines = ( { name = \"../etc\"; label = \"d\"; ip = \"192.0.2.1\";\n"
		   "               platform = \"linux\"; } );\n");
	load(f);
	assert_problem(f, "machinery/fake.conf", 1,
		       "name: machine name \"../etc\" may only hold letters, digits, '_', '-' and "
		       "'.' (at most 64), and not be \".\" or \"..\"");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	good_dir = g_getenv("NESTBOX_TEST_GOOD_PLUGIN_DIR");
	g_assert_nonnull(good_dir);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
	ADD("/config/valid", test_valid);
	ADD("/config/all-errors-at-once", test_all_errors_at_once);
	ADD("/config/duplicates", test_duplicates_detail);
	ADD("/config/disabled-not-validated", test_disabled_not_validated);
	ADD("/config/auxiliary/order", test_auxiliary_order);
	ADD("/config/auxiliary/order-override", test_auxiliary_order_override);
	ADD("/config/auxiliary/errors", test_auxiliary_errors);
	ADD("/config/missing-file", test_missing_files);
	ADD("/config/syntax-error", test_syntax_error);
	ADD("/config/load-machines-override", test_load_machines_override);
	ADD("/config/check-machine", test_check_machine);
	ADD("/config/bad-machine-name", test_bad_machine_name);
	return g_test_run();
}
