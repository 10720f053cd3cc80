/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "guest_path.h"

#include <limits.h>
#include <stdbool.h>
#include <string.h>

static bool
is_dot_component(const char *start, size_t len)
{
	return (len == 1 && start[0] == '.') || (len == 2 && start[0] == '.' && start[1] == '.');
}

const char *
nba_guest_path_problem(const char *path, size_t len)
{
	if (len == 0)
		return "is empty";
	if (memchr(path, '\0', len) != NULL)
		return "holds a NUL byte";
	if (path[0] != '/')
		return "is not absolute";
	if (len >= PATH_MAX)
		return "is longer than PATH_MAX";
	for (size_t i = 0; i < len;) {
		const char *slash;
		size_t n;

		while (i < len && path[i] == '/')
			i++;
		slash = memchr(path + i, '/', len - i);
		n = slash != NULL ? (size_t)(slash - (path + i)) : len - i;
		if (is_dot_component(path + i, n))
			return "has a \".\" or \"..\" component";
		i += n;
	}
	return NULL;
}

const char *
nba_name_part_problem(const char *name, size_t len)
{
	if (memchr(name, '\0', len) != NULL)
		return "holds a NUL byte";
	if (memchr(name, '/', len) != NULL)
		return "holds a \"/\"";
	if (len > NAME_MAX / 2)
		return "is longer than 127 bytes";
	return NULL;
}
