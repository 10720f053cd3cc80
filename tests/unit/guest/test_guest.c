/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The core's side of guest plugins that needs no guest: the sample's name
 * in the guest, the command that runs it, the task's guest fields as the
 * API reads them (400 naming the field), and which guest plugin a machine
 * gets (refused at --check with file:line: key).
 */
#include <string.h>

#include "api_task_fields.h"
#include "daemon_setup.h"
#include "guest_command.h"
#include "guest_file_name.h"
#include "guest_setup.h"
#include "guest_task_options.h"
#include "test_support.h"

static void
assert_name(const char *original, const char *platform, const char *expected)
{
	g_autofree char *name = nbx_guest_file_name(original, platform);

	g_assert_cmpstr(name, ==, expected);
}

static void
test_file_names(void)
{
	g_autoptr(GString) long_name = g_string_new(NULL);
	g_autofree char *cut = NULL;

	assert_name("report.pdf", "windows", "report.pdf");
	assert_name("démo sample.sh", "linux", "démo sample.sh");
	assert_name("日本語.exe", "windows", "日本語.exe");
	assert_name("../../etc/passwd", "linux", "passwd");
	assert_name("C:\\Users\\x\\evil.exe", "windows", "evil.exe");
	assert_name("a\nb\tc\x7f", "linux", "a_b_c_");
	assert_name("CON", "windows", "_CON");
	assert_name("con.txt", "linux", "_con.txt");
	assert_name("LPT1 .doc", "windows", "_LPT1 .doc");
	assert_name("COM10", "windows", "COM10");
	assert_name("a<b>c:d\"e|f?g*h", "windows", "a_b_c_d_e_f_g_h");
	assert_name("a<b>.", "linux", "a<b>.");
	assert_name("run.exe. . ", "windows", "run.exe");
	assert_name("-rf", "linux", "_-rf");
	assert_name("", "linux", "sample");
	assert_name("..", "linux", "sample");
	assert_name("dir/", "linux", "sample");
	assert_name("\xff\xfe.bin", "linux", "\xef\xbf\xbd\xef\xbf\xbd.bin");
	/* Cut at 200 bytes on a character boundary, the extension kept. */
	for (int i = 0; i < 150; i++)
		g_string_append(long_name, "é");
	g_string_append(long_name, ".exe");
	cut = nbx_guest_file_name(long_name->str, "windows");
	g_assert_cmpuint(strlen(cut), <=, NBX_GUEST_FILE_NAME_MAX);
	g_assert_true(g_utf8_validate(cut, -1, NULL));
	g_assert_true(g_str_has_suffix(cut, ".exe"));
}

static void
assert_command(const char *template, const char *sample, const char *const *arguments,
	       const char *const *expected_argv)
{
	g_autofree char *line = NULL;
	g_auto(GStrv) argv = NULL;
	g_autoptr(GError) error = NULL;

	g_assert_true(nbx_guest_command_expand(template, sample, arguments, &line, &argv, &error));
	g_assert_no_error(error);
	g_assert_cmpstrv(argv, expected_argv);
}

static void
test_commands(void)
{
	const char *const args[] = { "a b", "it's", "$HOME", NULL };
	g_autoptr(GError) error = NULL;
	g_autofree char *line = NULL;
	g_auto(GStrv) argv = NULL;
	const char *exe;

	/* Every value is one word however it is spelt: spaces, quotes, $, backslashes. */
	assert_command("%SAMPLE% %ARGS%", "/tmp/x y/s'1.sh", args,
		       (const char *const[]){ "/tmp/x y/s'1.sh", "a b", "it's", "$HOME", NULL });
	assert_command("cmd.exe /c start \"\" /wait %SAMPLE% %ARGUMENTS%",
		       "C:\\Temp\\nestbox-1\\a b.exe", NULL,
		       (const char *const[]){ "cmd.exe", "/c", "start", "", "/wait",
					      "C:\\Temp\\nestbox-1\\a b.exe", NULL });
	assert_command("rundll32.exe %SAMPLE%,DllMain", "C:\\t\\x.dll", NULL,
		       (const char *const[]){ "rundll32.exe", "C:\\t\\x.dll,DllMain", NULL });
	assert_command("sh -c 'cd \"$1\"' x %DIR%", "/tmp/d/s", NULL,
		       (const char *const[]){ "sh", "-c", "cd \"$1\"", "x", "/tmp/d", NULL });
	assert_command("echo 100% done", "/s", NULL,
		       (const char *const[]){ "echo", "100%", "done", NULL });

	g_assert_false(nbx_guest_command_expand("run %SAMPEL%", "/s", NULL, &line, &argv, &error));
	g_assert_error(error, NBX_GUEST_COMMAND_ERROR, 0);
	g_assert_nonnull(strstr(error->message, "unknown placeholder %SAMPEL%"));
	g_clear_error(&error);
	g_assert_false(nbx_guest_command_check("run 'unclosed %SAMPLE%", &error));
	g_assert_nonnull(strstr(error->message, "does not split into words"));
	g_clear_error(&error);

	exe = nbx_guest_package_template(NULL, "linux", &error);
	g_assert_nonnull(strstr(exe, "chmod +x"));
	exe = nbx_guest_package_template("exe", "windows", &error);
	g_assert_nonnull(strstr(exe, "start"));
	g_assert_null(nbx_guest_package_template("dll", "linux", &error));
	g_assert_nonnull(strstr(error->message, "cannot run on a linux guest"));
	g_clear_error(&error);
	g_assert_null(nbx_guest_package_template("apk", "linux", &error));
	g_assert_nonnull(strstr(error->message, "\"apk\" is unknown"));
}

/* Reads @json as a task; returns the problem's field, or NULL when it was accepted. */
static char *
read_task(const char *json, NbxTask *task)
{
	g_autoptr(JsonNode) root = json_from_string(json, NULL);
	NbxApiProblem problem = { 0 };
	char *field;

	g_assert_nonnull(root);
	if (nbx_api_read_task_object(json_node_get_object(root), task, &problem))
		return NULL;
	g_assert_cmpuint(problem.status, ==, 400);
	g_test_message("%s", problem.message);
	field = g_strdup(problem.field);
	nbx_api_problem_clear(&problem);
	return field;
}

static void
assert_refused(const char *json, const char *field)
{
	g_autoptr(NbxTask) task = nbx_task_new();
	g_autofree char *got = read_task(json, task);

	g_assert_cmpstr(got, ==, field);
}

static void
test_task_fields(void)
{
	g_autoptr(NbxTask) task = nbx_task_new();
	g_autoptr(NbxGuestTaskOptions) options = NULL;

	g_assert_null(read_task("{\"package\": \"shell\", \"arguments\": [\"-x\", \"y z\"], "
				"\"until_exit\": true, \"files\": [\"/tmp/*.log\", "
				"\"C:\\\\out.txt\"], \"options\": {\"sniffer\": {\"bpf\": "
				"\"tcp\"}}}",
				task));
	options = nbx_guest_task_options_read(task->options_json);
	g_assert_cmpstr(options->package, ==, "shell");
	g_assert_null(options->command);
	g_assert_true(options->until_exit);
	g_assert_cmpstrv(options->arguments, ((const char *const[]){ "-x", "y z", NULL }));
	g_assert_cmpstrv(options->files, ((const char *const[]){ "/tmp/*.log", "C:\\out.txt", NULL }));
	/* The auxiliaries' options are still there beside them. */
	g_assert_nonnull(strstr(task->options_json, "\"sniffer\""));

	assert_refused("{\"package\": \"apk\"}", "package");
	assert_refused("{\"package\": 3}", "package");
	assert_refused("{\"command\": \"run %NOPE%\"}", "command");
	assert_refused("{\"command\": \"x %SAMPLE%\", \"package\": \"exe\"}", "command");
	assert_refused("{\"arguments\": \"-x\"}", "arguments");
	assert_refused("{\"arguments\": [\"a\", 1]}", "arguments[1]");
	assert_refused("{\"arguments\": [\"a\\u0001\"]}", "arguments[0]");
	assert_refused("{\"until_exit\": \"yes\"}", "until_exit");
	assert_refused("{\"files\": [\"relative.txt\"]}", "files[0]");
	assert_refused("{\"files\": [\"/ok\", \"\"]}", "files[1]");
	assert_refused("{\"options\": {\"run\": {\"package\": \"exe\"}}}", "options.run");
}

/* ---- which guest plugin a machine gets ------------------------------------ */

static const char *good_dir, *agent_dir;

static char *
config_dir(const char *guest_defaults, const char *machine_guest)
{
	char *dir = test_dir_new();
	g_autofree char *conf = g_strdup_printf(
		"machineries = [ \"fake\" ];\nplugin_dirs = [ \"%s\", \"%s\" ];\n"
		"builtin_plugin_dir = false;\nstate_dir = \"state\";\nrun_dir = \"run\";\n"
		"analyses_dir = \"analyses\";\n%s\n",
		good_dir, agent_dir, guest_defaults);
	g_autofree char *machines = g_strdup_printf(
		"machines = (\n  { name = \"a\"; label = \"a\"; ip = \"192.0.2.1\"; "
		"platform = \"linux\";\n    %s }\n);\n",
		machine_guest);

	test_write(dir, "nestbox.conf", conf);
	test_write(dir, "machinery/fake.conf", machines);
	return dir;
}

static void
assert_diagnostic(NbxDiagnostics *diagnostics, const char *dir, const char *expected_rest)
{
	g_autofree char *prefix = g_strdup_printf("%s/", dir);

	for (guint i = 0; i < nbx_diagnostics_count(diagnostics); i++) {
		const char *d = nbx_diagnostics_get(diagnostics, i);

		g_test_message("diagnostic: %s", d);
		if (g_str_has_prefix(d, prefix) && strcmp(d + strlen(prefix), expected_rest) == 0)
			return;
	}
	g_error("missing diagnostic: %s%s", prefix, expected_rest);
}

static NbxSetup *
load(const char *dir, NbxDiagnostics *diagnostics)
{
	NbxSetup *setup = nbx_setup_load(dir, NULL, diagnostics);

	g_assert_nonnull(setup);
	return setup;
}

static void
test_machine_guest(void)
{
	g_autofree char *dir = config_dir("guest = { linux = \"agent\"; };", "");
	g_autoptr(NbxDiagnostics) diagnostics = nbx_diagnostics_new();
	g_autoptr(NbxSetup) setup = load(dir, diagnostics);
	g_autoptr(GError) error = NULL;
	NbxPluginInstance *guest;

	g_assert_cmpuint(nbx_diagnostics_count(diagnostics), ==, 0);
	guest = nbx_guest_setup_lookup(setup, g_ptr_array_index(setup->pool->machines, 0), &error);
	g_assert_no_error(error);
	g_assert_nonnull(guest);
	g_assert_cmpstr(nbx_plugin_instance_name(guest), ==, "agent");
	g_assert_true(guest->initialized);
	test_dir_remove(dir);
}

static void
test_machine_guest_none(void)
{
	g_autofree char *dir = config_dir("guest = { linux = \"agent\"; };", "guest = \"none\";");
	g_autoptr(NbxDiagnostics) diagnostics = nbx_diagnostics_new();
	g_autoptr(NbxSetup) setup = load(dir, diagnostics);
	g_autoptr(GError) error = NULL;

	g_assert_cmpuint(nbx_diagnostics_count(diagnostics), ==, 0);
	g_assert_null(
		nbx_guest_setup_lookup(setup, g_ptr_array_index(setup->pool->machines, 0), &error));
	g_assert_no_error(error);
	test_dir_remove(dir);
}

static void
test_guest_errors(void)
{
	g_autofree char *dir = config_dir("guest = {\n  windows = \"nosuch\";\n};",
					  "guest = \"fake\";");
	g_autoptr(NbxDiagnostics) diagnostics = nbx_diagnostics_new();
	g_autoptr(NbxSetup) setup = NULL;

	test_write(dir, "guest/agent.conf", "port = 0;\n");
	test_write(dir, "guest/agnet.conf", "\n");
	setup = load(dir, diagnostics);
	assert_diagnostic(diagnostics, dir, "guest/agent.conf:1: port: must be between 1 and 65535, found 0");
	assert_diagnostic(diagnostics, dir, "guest/agnet.conf: no guest plugin named \"agnet\" is loaded");
	test_dir_remove(dir);
}

static void
test_guest_names_at_check(void)
{
	g_autofree char *dir = config_dir("guest = {\n  windows = \"nosuch\";\n};",
					  "guest = \"fake\";");
	g_autoptr(NbxDiagnostics) diagnostics = nbx_diagnostics_new();
	NbxSetup *setup = load(dir, diagnostics);

	nbx_setup_free(setup);
	assert_diagnostic(diagnostics, dir,
			  "nestbox.conf:8: guest.windows: guest plugin \"nosuch\": no guest plugin "
			  "of that name is loaded");
	assert_diagnostic(diagnostics, dir,
			  "machinery/fake.conf:3: guest: machine a: guest plugin \"fake\": that "
			  "plugin is not a guest plugin");
	test_dir_remove(dir);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	good_dir = g_getenv("NESTBOX_TEST_GOOD_PLUGIN_DIR");
	agent_dir = g_getenv("NBX_TEST_AGENT_PLUGIN_DIR");
	g_test_add_func("/guest/file-names", test_file_names);
	g_test_add_func("/guest/commands", test_commands);
	g_test_add_func("/guest/task-fields", test_task_fields);
	if (good_dir != NULL && agent_dir != NULL) {
		g_test_add_func("/guest/config/machine-guest", test_machine_guest);
		g_test_add_func("/guest/config/none", test_machine_guest_none);
		g_test_add_func("/guest/config/files", test_guest_errors);
		g_test_add_func("/guest/config/names", test_guest_names_at_check);
	}
	return g_test_run();
}
