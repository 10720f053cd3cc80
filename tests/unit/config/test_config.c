/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A whole configuration directory loaded the way nestboxd --check loads it:
 * every problem reported at once with file:line: key.path, machines unique
 * across machineries, disabled groups not validated, auxiliaries ordered,
 * load_machines overriding the configured list, plugin checks run.
 */
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <unistd.h>

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
	NbxMachine *a;
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
		       "begin_fails, commit_fails, commit_hangs, prepare_fails; found \"explode\"");
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
	NbxMachine *machine;

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


/* nestbox.conf of test_config_dir_new (6 lines) followed by @extra from line 7 on. */
static void
write_core(Fixture *f, const char *machineries, const char *extra)
{
	g_autofree char *path = g_build_filename(f->dir, "nestbox.conf", NULL);
	g_autofree char *base = NULL;
	g_autofree char *text = NULL;

	g_assert_true(g_file_get_contents(path, &base, NULL, NULL));
	text = g_strconcat(base, extra, NULL);
	test_write(f->dir, "nestbox.conf", text);
	if (machineries != NULL)
		test_write(f->dir, "machinery/fake.conf", machineries);
}

static void
write_secret(Fixture *f, const char *relative, const char *contents, int mode)
{
	g_autofree char *path = g_build_filename(f->dir, relative, NULL);

	test_write(f->dir, relative, contents);
	g_assert_cmpint(g_chmod(path, mode), ==, 0);
}

/* Replaces @from with @to in nestbox.conf. */
static void
replace_in_core(Fixture *f, const char *from, const char *to)
{
	g_autofree char *path = g_build_filename(f->dir, "nestbox.conf", NULL);
	g_autofree char *text = NULL;
	GString *changed;

	g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
	changed = g_string_new(text);
	g_assert_cmpuint(g_string_replace(changed, from, to, 1), ==, 1);
	test_write(f->dir, "nestbox.conf", changed->str);
	g_string_free(changed, TRUE);
}

/* Asserts a diagnostic "DIR/RELATIVE:LINE: REST" where REST holds @dir for DIR. */
static void
assert_problem_in_dir(Fixture *f, const char *relative, int line, const char *rest)
{
	GString *expanded = g_string_new(rest);

	g_string_replace(expanded, "@DIR@", f->dir, 0);
	assert_problem(f, relative, line, expanded->str);
	g_string_free(expanded, TRUE);
}

static const char *one_machine =
	"machines = ( { name = \"a\"; label = \"d\"; ip = \"192.0.2.1\"; platform = \"linux\"; } );\n";

/* nestbox.conf problems that come alone: @extra from line 7, DIR/token if @token. */
typedef struct {
	const char *extra;
	const char *token;
	int token_mode;
	int line;
	/* What is reported, @DIR@ standing for the configuration directory. */
	const char *problems[2];
} CoreCase;

static const CoreCase core_cases[] = {
	{ "api = { tcp = \"127.0.0.1:8090\"; };\n", NULL, 0, 7,
	  { "api.tcp: TCP clients must authenticate: set api.token_file too" } },
	{ "api = { tcp = \"[::1]:8090\";\n  token_file = \"token\"; };\n", " \n", 0600, 8,
	  { "api.token_file: @DIR@/token is empty: api.tcp needs a token; put at least 16 random "
	    "characters in it, e.g. `head -c 32 /dev/urandom | base64`" } },
	/* A token others can read is refused, as sshd refuses a loose key. */
	{ "api = { tcp = \"127.0.0.1:8090\";\n  token_file = \"token\"; };\n",
	  "0123456789abcdef0123\n", 0644, 8,
	  { "api.token_file: @DIR@/token is open to every user (mode 0644); run: chmod o-rwx "
	    "@DIR@/token" } },
	{ "api = { socket = \"token\"; };\n", "x\n", 0600, 7,
	  { "api.socket: @DIR@/token exists and is not a socket; remove it or choose another "
	    "path" } },
	/* Every task that did not say how long would be refused. */
	{ "scheduler = {\n  default_duration = 7200;\n  max_duration = 3600;\n};\n", NULL, 0, 8,
	  { "scheduler.default_duration: 7200 seconds is longer than scheduler.max_duration "
	    "(3600): a task that does not say how long would be refused" } },
	/* libconfig 1.5 alone reads the first as 0 (accepted) and the second as -1. */
	{ "scheduler = {\n  op_grace = -9223372036854775808;\n"
	  "  max_attempts = 99999999999999999999;\n};\n",
	  NULL, 0, 8,
	  { "scheduler.op_grace: must be between 0 and 3600, found -9223372036854775808",
	    "scheduler.max_attempts: must be between 1 and 10, found 99999999999999999999, too "
	    "large for a 64-bit integer" } },
};

static void
test_core_case(Fixture *f, gconstpointer data)
{
	const CoreCase *c = data;
	guint n = 0;

	f->dir = test_config_dir_new(good_dir, "\"fake\"");
	write_core(f, one_machine, c->extra);
	if (c->token != NULL)
		write_secret(f, "token", c->token, c->token_mode);
	load(f);
	for (; n < G_N_ELEMENTS(c->problems) && c->problems[n] != NULL; n++)
		assert_problem_in_dir(f, "nestbox.conf", c->line + (int)n, c->problems[n]);
	g_assert_cmpuint(nbx_diagnostics_count(f->diagnostics), ==, n);
}

/* What start-up refused, --check (the same load) reports, one line each. */
static void
test_api_checks(Fixture *f, gconstpointer data)
{
	f->dir = test_config_dir_new(good_dir, "\"fake\"");
	write_core(f, one_machine,
		   "api = {\n"
		   "  socket = \"missing-dir/api.sock\";\n"
		   "  socket_group = \"nbx-no-such-group\";\n"
		   "  tcp = \"nonsense\";\n"
		   "  token_file = \"token\";\n"
		   "};\n");
	write_secret(f, "token", "short\n", 0600);
	load(f);
	assert_problem_in_dir(f, "nestbox.conf", 8,
			      "api.socket: directory @DIR@/missing-dir does not exist (nestboxd "
			      "creates run_dir, not the directory of api.socket)");
	assert_problem(f, "nestbox.conf", 9, "api.socket_group: no group named \"nbx-no-such-group\"");
	assert_problem(f, "nestbox.conf", 10,
		       "api.tcp: expected ADDRESS:PORT with an IP address and a port from 1 to "
		       "65535 (e.g. 127.0.0.1:8090 or [::1]:8090), found \"nonsense\"");
	assert_problem_in_dir(f, "nestbox.conf", 11,
			      "api.token_file: the token in @DIR@/token is 5 characters long, too "
			      "short; put at least 16 random characters in it, e.g. `head -c 32 "
			      "/dev/urandom | base64`");
	g_assert_cmpuint(nbx_diagnostics_count(f->diagnostics), ==, 4);
}

static void
test_api_token_group_writable(Fixture *f, gconstpointer data)
{
	g_autofree char *path = NULL;

	if (geteuid() != 0) {
		g_test_skip("needs root to give a file to another group");
		return;
	}
	f->dir = test_config_dir_new(good_dir, "\"fake\"");
	write_core(f, one_machine, "api = { token_file = \"token\"; };\n");
	write_secret(f, "token", "0123456789abcdef0123\n", 0660);
	path = g_build_filename(f->dir, "token", NULL);
	g_assert_cmpint(chown(path, (uid_t)-1, 12345), ==, 0);
	load(f);
	assert_problem_in_dir(f, "nestbox.conf", 7,
			      "api.token_file: @DIR@/token is writable by group 12345 (mode 0660); "
			      "run: chmod g-w @DIR@/token");
}

static void
test_api_socket_too_long(Fixture *f, gconstpointer data)
{
	g_autofree char *name = g_strnfill(110, 's');
	g_autofree char *extra = g_strdup_printf("api = { socket = \"/tmp/%s\"; };\n", name);
	g_autofree char *expected = g_strdup_printf(
		"api.socket: /tmp/%s is 115 bytes long; a UNIX socket path has at most 107", name);

	f->dir = test_config_dir_new(good_dir, "\"fake\"");
	write_core(f, one_machine, extra);
	load(f);
	assert_problem(f, "nestbox.conf", 7, expected);
	g_assert_cmpuint(nbx_diagnostics_count(f->diagnostics), ==, 1);
}

/* The default socket is RUN_DIR/api.sock: a long run_dir makes it too long. */
static void
test_api_default_socket_too_long(Fixture *f, gconstpointer data)
{
	g_autofree char *deep = g_strnfill(120, 'r');
	g_autofree char *run_dir = g_strdup_printf("run_dir = \"%s\";", deep);

	f->dir = test_config_dir_new(good_dir, "\"fake\"");
	write_core(f, one_machine, "");
	replace_in_core(f, "run_dir = \"run\";", run_dir);
	load(f);
	g_assert_cmpuint(nbx_diagnostics_count(f->diagnostics), ==, 1);
	assert_problem_prefix(f, "nestbox.conf:5: run_dir: the control API's socket ");
	assert_problem_prefix(f, "long; a UNIX socket path has at most 107: choose a shorter "
				 "run_dir, or set api.socket");
}

/* Addresses, not their spelling, must be unique. */
static void
test_duplicate_addresses(Fixture *f, gconstpointer data)
{
	f->dir = test_config_dir_new(good_dir, "\"fake\"");
	test_write(f->dir, "machinery/fake.conf",
		   "machines = (\n"
		   "  { name = \"a\"; label = \"la\"; ip = \"fe80::a\"; platform = \"linux\"; },\n"
		   "  { name = \"b\"; label = \"lb\"; ip = \"FE80::A\"; platform = \"linux\"; },\n"
		   "  { name = \"c\"; label = \"lc\"; ip = \"::1\"; platform = \"linux\"; },\n"
		   "  { name = \"d\"; label = \"ld\"; ip = \"0:0:0:0:0:0:0:1\"; platform = \"linux\"; }\n"
		   ");\n");
	load(f);
	assert_problem_prefix(f, "machinery/fake.conf:3: machines.b.ip: ip \"fe80::a\" is already "
				 "used by machine a (fake, ");
	assert_problem_prefix(f, "machinery/fake.conf:5: machines.d.ip: ip \"::1\" is already used "
				 "by machine c (fake, ");
	g_assert_cmpuint(nbx_diagnostics_count(f->diagnostics), ==, 2);
}

static void
test_no_machine_is_a_warning(Fixture *f, gconstpointer data)
{
	g_autofree char *expected = NULL;

	f->dir = test_config_dir_new(good_dir, "\"fake\"");
	test_write(f->dir, "machinery/fake.conf", "speed = 2;\nmachines = ( );\n");
	load(f);
	assert_clean(f);
	expected = g_strdup_printf("%s/machinery/fake.conf:2: warning: machines: machinery fake is "
				   "enabled but has no enabled machine: it will run no analysis",
				   f->dir);
	g_assert_cmpuint(nbx_diagnostics_warning_count(f->diagnostics), ==, 1);
	g_assert_cmpstr(nbx_diagnostics_get_warning(f->diagnostics, 0), ==, expected);
}

/* A directory, a FIFO, a device: refused at once, never read (a FIFO blocks). */
static void
test_not_regular_files(Fixture *f, gconstpointer data)
{
	g_autofree char *fake = NULL, *aux = NULL, *expected_fake = NULL, *expected_aux = NULL;

	f->dir = test_config_dir_new(good_dir, "\"fake\"");
	fake = g_build_filename(f->dir, "machinery", "fake.conf", NULL);
	aux = g_build_filename(f->dir, "auxiliary.conf", NULL);
	g_assert_cmpint(g_mkdir_with_parents(fake, 0755), ==, 0);
	g_assert_cmpint(mkfifo(aux, 0644), ==, 0);
	load(f);
	expected_fake = g_strdup_printf("%s: cannot read: is a directory, not a regular file", fake);
	expected_aux = g_strdup_printf("%s: cannot read: is a FIFO, not a regular file", aux);
	dump(f);
	g_assert_cmpuint(nbx_diagnostics_count(f->diagnostics), ==, 2);
	g_assert_cmpstr(nbx_diagnostics_get(f->diagnostics, 0), ==, expected_fake);
	g_assert_cmpstr(nbx_diagnostics_get(f->diagnostics, 1), ==, expected_aux);
}

static void
test_core_file_is_a_device(Fixture *f, gconstpointer data)
{
	g_autofree char *path = NULL, *expected = NULL;

	f->dir = test_dir_new();
	path = g_build_filename(f->dir, "nestbox.conf", NULL);
	g_assert_cmpint(symlink("/dev/zero", path), ==, 0);
	f->setup = nbx_setup_load(f->dir, NULL, f->diagnostics);
	g_assert_null(f->setup);
	expected = g_strdup_printf("%s: cannot read: is a character device, not a regular file",
				   path);
	g_assert_cmpuint(nbx_diagnostics_count(f->diagnostics), ==, 1);
	g_assert_cmpstr(nbx_diagnostics_get(f->diagnostics, 0), ==, expected);
}

/* Relative includes resolve against the including file, wherever nestboxd runs. */
static void
test_include_relative(Fixture *f, gconstpointer data)
{
	f->dir = test_config_dir_new(good_dir, "\"fake\"");
	write_core(f, one_machine, "@include \"parts/scheduler.conf\"\n");
	test_write(f->dir, "parts/scheduler.conf",
		   "scheduler = {\n  @include \"grace.conf\"\n  max_attempts = 3;\n};\n");
	test_write(f->dir, "parts/grace.conf", "op_grace = 7;\nshutdown_timeout = 0;\n");
	load(f);
	assert_problem(f, "parts/grace.conf", 2,
		       "scheduler.shutdown_timeout: must be between 1 and 3600, found 0");
	g_assert_cmpuint(nbx_diagnostics_count(f->diagnostics), ==, 1);
	g_assert_cmpint(nbx_config_core_integer(f->setup->config, "scheduler.op_grace", -1), ==, 7);
	g_assert_cmpint(nbx_config_core_integer(f->setup->config, "scheduler.max_attempts", -1), ==,
			3);
}

static void
test_include_errors(Fixture *f, gconstpointer data)
{
	g_autofree char *fifo = NULL;

	f->dir = test_config_dir_new(good_dir, "\"fake\"");
	write_core(f, one_machine,
		   "@include \"nope.conf\"\n@include \"loop.conf\"\n@include \"fifo.conf\"\n"
		   "@include \"sub/bad.conf\"\n");
	test_write(f->dir, "loop.conf", "# me again\n@include \"loop.conf\"\n");
	test_write(f->dir, "sub/bad.conf", "log_level = \"debug\";\nscheduler = { op_grace = ; };\n");
	fifo = g_build_filename(f->dir, "fifo.conf", NULL);
	g_assert_cmpint(mkfifo(fifo, 0644), ==, 0);
	f->setup = nbx_setup_load(f->dir, NULL, f->diagnostics);
	g_assert_null(f->setup);
	assert_problem_in_dir(f, "nestbox.conf", 7,
			      "@include \"nope.conf\": cannot read @DIR@/nope.conf: file does not "
			      "exist");
	assert_problem_in_dir(f, "loop.conf", 2,
			      "@include \"loop.conf\": @DIR@/loop.conf includes itself");
	assert_problem_in_dir(f, "nestbox.conf", 9,
			      "@include \"fifo.conf\": cannot read @DIR@/fifo.conf: is a FIFO, not a "
			      "regular file");
	g_assert_cmpuint(nbx_diagnostics_count(f->diagnostics), ==, 3);
}

static void
test_include_syntax_error(Fixture *f, gconstpointer data)
{
	f->dir = test_config_dir_new(good_dir, "\"fake\"");
	write_core(f, one_machine, "@include \"sub/bad.conf\"\nlog_level = \"info\";\n");
	test_write(f->dir, "sub/bad.conf", "# a comment\nscheduler = { op_grace = ; };\n");
	f->setup = nbx_setup_load(f->dir, NULL, f->diagnostics);
	g_assert_null(f->setup);
	assert_problem(f, "sub/bad.conf", 2, "syntax error");
	g_assert_cmpuint(nbx_diagnostics_count(f->diagnostics), ==, 1);
}

/* What start-up read once cannot change on a reload: each key is named. */
static void
test_reload_keys(Fixture *f, gconstpointer data)
{
	g_autoptr(NbxDiagnostics) ignored = nbx_diagnostics_new();
	g_autoptr(NbxConfig) running = NULL, fresh = NULL;

	f->dir = test_config_dir_new(good_dir, "");
	write_core(f, NULL, "api = { token_file = \"token\"; };\n");
	write_secret(f, "token", "0123456789abcdef0123\n", 0600);
	running = nbx_config_load_core(f->dir, NULL, ignored);
	g_assert_cmpuint(nbx_diagnostics_count(ignored), ==, 0);

	replace_in_core(f, "state_dir = \"state\";", "state_dir = \"elsewhere\";");
	replace_in_core(f, "api = {", "api = { socket = \"other.sock\";");
	write_secret(f, "token", "another-token-0123456789\n", 0600);
	fresh = nbx_config_load_core(f->dir, NULL, ignored);
	g_assert_cmpuint(nbx_diagnostics_count(ignored), ==, 0);

	g_assert_false(nbx_config_check_reload(running, fresh, f->diagnostics));
	assert_problem_in_dir(f, "nestbox.conf", 4,
			      "state_dir: a reload cannot change it (running with \"@DIR@/state\", "
			      "the file now says \"@DIR@/elsewhere\"); restart nestboxd to apply it");
	assert_problem_in_dir(f, "nestbox.conf", 7,
			      "api.socket: a reload cannot change it (running with "
			      "\"@DIR@/run/api.sock\", the file now says \"@DIR@/other.sock\"); "
			      "restart nestboxd to apply it");
	assert_problem_in_dir(f, "nestbox.conf", 7,
			      "api.token_file: the token in @DIR@/token changed; a reload cannot "
			      "change it: restart nestboxd to apply it");
	g_assert_cmpuint(nbx_diagnostics_count(f->diagnostics), ==, 3);
	g_assert_true(nbx_config_check_reload(fresh, fresh, f->diagnostics));
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
	ADD("/config/api/checks", test_api_checks);
	ADD("/config/api/token-group-writable", test_api_token_group_writable);
	ADD("/config/api/socket-too-long", test_api_socket_too_long);
	ADD("/config/api/default-socket-too-long", test_api_default_socket_too_long);
	ADD("/config/duplicate-addresses", test_duplicate_addresses);
	ADD("/config/no-machine-is-a-warning", test_no_machine_is_a_warning);
	ADD("/config/not-regular-files", test_not_regular_files);
	ADD("/config/core-file-is-a-device", test_core_file_is_a_device);
	ADD("/config/include/relative", test_include_relative);
	ADD("/config/include/errors", test_include_errors);
	ADD("/config/include/syntax-error", test_include_syntax_error);
	ADD("/config/reload-keys", test_reload_keys);
	static const char *const core_case_names[] = {
		"api/tcp-without-token",      "api/empty-token", "api/token-readable-by-others",
		"api/socket-not-a-socket",    "durations",	 "integers-beyond-32-bits",
	};
	G_STATIC_ASSERT(G_N_ELEMENTS(core_case_names) == G_N_ELEMENTS(core_cases));
	for (guint i = 0; i < G_N_ELEMENTS(core_cases); i++) {
		g_autofree char *path = g_strdup_printf("/config/%s", core_case_names[i]);

		g_test_add(path, Fixture, &core_cases[i], fixture_set_up, test_core_case,
			   fixture_tear_down);
	}
	return g_test_run();
}
