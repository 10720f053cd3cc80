/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The command that runs a sample in the guest (nestbox/guest.h, "DOC:
 * commands"): the task's `command` template, or its `package`'s template
 * for the machine's platform, with the placeholders %SAMPLE% (the guest
 * path of the sample), %DIR% (its directory) and %ARGS% (the task's
 * arguments; %ARGUMENTS% is the same) replaced by POSIX-quoted words, so
 * that shlex.split() in the agent gives back exactly those words.
 */
#pragma once

#include <glib.h>

#define NBX_GUEST_COMMAND_ERROR (nbx_guest_command_error_quark())
GQuark nbx_guest_command_error_quark(void);

/* "exe, shell, python, dll": what a task's `package` may name. */
const char *nbx_guest_package_names(void);
gboolean nbx_guest_package_is_known(const char *package);

/*
 * The template of @package (NULL or "": the platform's default, "exe") for
 * @platform, or NULL with @error when that package cannot run there.
 */
const char *nbx_guest_package_template(const char *package, const char *platform,
				       GError **error);

/* The directory of a guest path, POSIX or Windows ("." when it has none). */
char *nbx_guest_path_directory(const char *path);

/* A template's placeholders are known and it splits into words (submission). */
gboolean nbx_guest_command_check(const char *template, GError **error);

/*
 * Expands @template: *@command the whole line, *@argv the same as words.
 * @arguments may be NULL.
 */
gboolean nbx_guest_command_expand(const char *template, const char *sample_path,
				  const char *const *arguments, char **command, char ***argv,
				  GError **error);
