/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "guest_file_name.h"

#include <string.h>

#define FALLBACK_NAME "sample"

/* Win32's device names, reserved with any extension ("con.txt" too). */
static const char *const reserved_names[] = {
	"CON",	"PRN",	"AUX",	"NUL",	"CONIN$", "CONOUT$", "COM1", "COM2", "COM3", "COM4",
	"COM5", "COM6", "COM7", "COM8", "COM9",	  "LPT1",    "LPT2", "LPT3", "LPT4", "LPT5",
	"LPT6", "LPT7", "LPT8", "LPT9", NULL,
};

static gboolean
is_reserved(const char *name)
{
	gsize stem = strcspn(name, ".");

	/* Win32 also ignores trailing spaces before the extension ("CON .txt"). */
	while (stem > 0 && name[stem - 1] == ' ')
		stem--;
	for (const char *const *r = reserved_names; *r != NULL; r++) {
		if (strlen(*r) == stem && g_ascii_strncasecmp(name, *r, stem) == 0)
			return TRUE;
	}
	return FALSE;
}

static gboolean
is_forbidden(gunichar c, gboolean windows)
{
	if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || c == '/' || c == '\\')
		return TRUE;
	/* Unicode's own line and paragraph separators, and the BOM, confuse every shell. */
	if (c == 0x2028 || c == 0x2029 || c == 0xfeff)
		return TRUE;
	return windows && strchr("<>:\"|?*", (int)c) != NULL;
}

/* The last component of either separator: a client's name may be a Windows path. */
static const char *
last_component(const char *name)
{
	const char *slash = strrchr(name, '/');
	const char *backslash = strrchr(name, '\\');
	const char *cut = MAX(slash, backslash);

	return cut != NULL ? cut + 1 : name;
}

/* Cuts @name to @max bytes on a character boundary, keeping a short extension. */
static void
cut_to_length(GString *name, gsize max)
{
	const char *dot = strrchr(name->str, '.');
	g_autofree char *extension = NULL;
	gsize keep;

	if (name->len <= max)
		return;
	if (dot != NULL && dot != name->str && strlen(dot) <= 16)
		extension = g_strdup(dot);
	keep = max - (extension != NULL ? strlen(extension) : 0);
	while (keep > 0 && (name->str[keep] & 0xc0) == 0x80)
		keep--;
	g_string_truncate(name, keep);
	if (extension != NULL)
		g_string_append(name, extension);
}

char *
nbx_guest_file_name(const char *original, const char *platform)
{
	gboolean windows = g_strcmp0(platform, "windows") == 0;
	g_autofree char *valid = g_utf8_make_valid(last_component(original != NULL ? original : ""), -1);
	g_autoptr(GString) name = g_string_new(NULL);

	for (const char *p = valid; *p != '\0'; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);

		if (is_forbidden(c, windows))
			g_string_append_c(name, '_');
		else
			g_string_append_unichar(name, c);
	}
	/* Win32 drops trailing dots and spaces: "a.exe." would run as "a.exe". */
	while (windows && name->len > 0 &&
	       (name->str[name->len - 1] == '.' || name->str[name->len - 1] == ' '))
		g_string_truncate(name, name->len - 1);
	/* A leading dash would read as an option to the command that runs it. */
	if (name->len > 0 && name->str[0] == '-')
		g_string_prepend_c(name, '_');
	if (name->len == 0 || strcmp(name->str, ".") == 0 || strcmp(name->str, "..") == 0)
		g_string_assign(name, FALLBACK_NAME);
	/* Reserved on every platform: a sample made for Windows keeps its meaning. */
	if (is_reserved(name->str))
		g_string_prepend_c(name, '_');
	cut_to_length(name, NBX_GUEST_FILE_NAME_MAX);
	return g_string_free(g_steal_pointer(&name), FALSE);
}
