/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The names in a snapshot archive: file roles, safe base names, the UTF-8 locale. */
#include "archive_format.h"

#include <nestbox/machinery.h>
#include <string.h>

static const char *const role_names[] = {
	[NBX_SNAPSHOT_FILE_DESCRIPTION] = "description",
	[NBX_SNAPSHOT_FILE_DISK] = "disk",
	[NBX_SNAPSHOT_FILE_MEMORY] = "memory",
	[NBX_SNAPSHOT_FILE_OTHER] = "other",
};

const char *
nbx_archive_role_name(gint32 role)
{
	if (role < NBX_SNAPSHOT_FILE_DESCRIPTION || role > NBX_SNAPSHOT_FILE_OTHER)
		return NULL;
	return role_names[role];
}

gint32
nbx_archive_role_from_name(const char *name)
{
	for (gint32 role = NBX_SNAPSHOT_FILE_DESCRIPTION; role <= NBX_SNAPSHOT_FILE_OTHER; role++) {
		if (g_strcmp0(role_names[role], name) == 0)
			return role;
	}
	return 0;
}

const char *
nbx_archive_name_unsafe_reason(const char *name)
{
	if (name[0] == '\0')
		return "an empty name";
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return "not a file name";
	if (strchr(name, '/') != NULL)
		return "contains '/'";
	if (strlen(name) > 255)
		return "longer than 255 bytes";
	if (!g_utf8_validate(name, -1, NULL))
		return "not UTF-8";
	for (const char *c = name; *c != '\0'; c++) {
		if ((guchar)*c < 0x20 || *c == 0x7f)
			return "contains a control character";
	}
	return NULL;
}

void
nbx_archive_locale_enter(NbxArchiveLocale *locale)
{
	locale_t base = duplocale(uselocale((locale_t)0));

	locale->utf8 =
		base != (locale_t)0 ? newlocale(LC_CTYPE_MASK, "C.UTF-8", base) : (locale_t)0;
	if (locale->utf8 == (locale_t)0) {
		if (base != (locale_t)0)
			freelocale(base);
		return;
	}
	locale->previous = uselocale(locale->utf8);
}

void
nbx_archive_locale_leave(NbxArchiveLocale *locale)
{
	if (locale->utf8 == (locale_t)0)
		return;
	uselocale(locale->previous);
	freelocale(locale->utf8);
}
