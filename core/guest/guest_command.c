/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "guest_command.h"

#include <string.h>

G_DEFINE_QUARK(nbx-guest-command-error-quark, nbx_guest_command_error)

typedef struct {
	const char *name;
	/* POSIX guests (linux and every platform but windows). */
	const char *posix;
	const char *windows;
} Package;

/*
 * exe on a POSIX guest: make it executable and run it (through sh, so the
 * chmod and the exec are one command the agent can watch); on Windows:
 * `start` it, as a double click would, waiting so its exit code is seen.
 */
static const Package packages[] = {
	{ "exe", "/bin/sh -c 'chmod +x \"$0\" && exec \"$0\" \"$@\"' %SAMPLE% %ARGS%",
	  "cmd.exe /c start \"\" /wait %SAMPLE% %ARGS%" },
	{ "shell", "/bin/sh %SAMPLE% %ARGS%", "cmd.exe /c %SAMPLE% %ARGS%" },
	{ "python", "python3 %SAMPLE% %ARGS%", "python.exe %SAMPLE% %ARGS%" },
	{ "dll", NULL, "rundll32.exe %SAMPLE%,DllMain %ARGS%" },
};

#define DEFAULT_PACKAGE "exe"

const char *
nbx_guest_package_names(void)
{
	return "exe, shell, python, dll";
}

static const Package *
package_lookup(const char *name)
{
	for (guint i = 0; i < G_N_ELEMENTS(packages); i++) {
		if (g_strcmp0(packages[i].name, name) == 0)
			return &packages[i];
	}
	return NULL;
}

gboolean
nbx_guest_package_is_known(const char *package)
{
	return package_lookup(package) != NULL;
}

const char *
nbx_guest_package_template(const char *package, const char *platform, GError **error)
{
	const Package *found = package_lookup(package != NULL && *package != '\0' ? package
										  : DEFAULT_PACKAGE);
	const char *template;

	if (found == NULL) {
		g_set_error(error, NBX_GUEST_COMMAND_ERROR, 0,
			    "package \"%s\" is unknown (known: %s)", package,
			    nbx_guest_package_names());
		return NULL;
	}
	template = g_strcmp0(platform, "windows") == 0 ? found->windows : found->posix;
	if (template == NULL)
		g_set_error(error, NBX_GUEST_COMMAND_ERROR, 0,
			    "package \"%s\" cannot run on a %s guest", found->name, platform);
	return template;
}

/* The placeholder at @p ("%NAME%"), its length in *@length; NULL when @p starts none. */
static const char *
placeholder_at(const char *p, gsize *length)
{
	gsize n = 1;

	while (p[n] == '_' || g_ascii_isupper(p[n]))
		n++;
	if (n == 1 || p[n] != '%')
		return NULL;
	*length = n + 1;
	return p;
}

char *
nbx_guest_path_directory(const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *backslash = strrchr(path, '\\');
	const char *cut = MAX(slash, backslash);

	return cut != NULL ? g_strndup(path, MAX(cut - path, 1)) : g_strdup(".");
}

static gboolean
append_value(GString *line, const char *name, gsize length, const char *sample,
	     const char *const *arguments, GError **error)
{
	g_autofree char *quoted = NULL;

	if (length == 8 && strncmp(name, "%SAMPLE%", length) == 0) {
		quoted = g_shell_quote(sample);
	} else if (length == 5 && strncmp(name, "%DIR%", length) == 0) {
		g_autofree char *dir = nbx_guest_path_directory(sample);

		quoted = g_shell_quote(dir);
	} else if ((length == 6 && strncmp(name, "%ARGS%", length) == 0) ||
		   (length == 11 && strncmp(name, "%ARGUMENTS%", length) == 0)) {
		g_autoptr(GString) words = g_string_new(NULL);

		for (const char *const *a = arguments; a != NULL && *a != NULL; a++) {
			g_autofree char *word = g_shell_quote(*a);

			g_string_append_printf(words, "%s%s", words->len > 0 ? " " : "", word);
		}
		quoted = g_string_free(g_steal_pointer(&words), FALSE);
	} else {
		g_set_error(error, NBX_GUEST_COMMAND_ERROR, 0,
			    "unknown placeholder %.*s (known: %%SAMPLE%%, %%DIR%%, %%ARGS%%, "
			    "%%ARGUMENTS%%)",
			    (int)length, name);
		return FALSE;
	}
	g_string_append(line, quoted);
	return TRUE;
}

gboolean
nbx_guest_command_expand(const char *template, const char *sample_path,
			 const char *const *arguments, char **command, char ***argv,
			 GError **error)
{
	g_autoptr(GString) line = g_string_new(NULL);
	g_autoptr(GError) local = NULL;
	char **words = NULL;

	for (const char *p = template; *p != '\0';) {
		gsize length = 0;

		if (*p == '%' && placeholder_at(p, &length) != NULL) {
			if (!append_value(line, p, length, sample_path, arguments, error))
				return FALSE;
			p += length;
			continue;
		}
		g_string_append_c(line, *p++);
	}
	if (!g_shell_parse_argv(line->str, NULL, &words, &local)) {
		g_set_error(error, NBX_GUEST_COMMAND_ERROR, 0,
			    "the command does not split into words: %s", local->message);
		return FALSE;
	}
	*argv = words;
	*command = g_string_free(g_steal_pointer(&line), FALSE);
	return TRUE;
}

gboolean
nbx_guest_command_check(const char *template, GError **error)
{
	g_autofree char *command = NULL;
	g_auto(GStrv) argv = NULL;
	const char *const arguments[] = { "x", NULL };

	return nbx_guest_command_expand(template, "/tmp/x", arguments, &command, &argv, error);
}
