/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "template_access.h"

#include <errno.h>
#include <acl/libacl.h>
#include <sys/acl.h>

/* Adds an entry of @tag (for @uid when a user's) with read and write, or none. */
static bool
add_entry(acl_t *acl, acl_tag_t tag, const uint32_t *uid, bool read_write)
{
	acl_entry_t entry;
	acl_permset_t permissions;

	if (acl_create_entry(acl, &entry) != 0 || acl_set_tag_type(entry, tag) != 0 ||
	    (uid != NULL && acl_set_qualifier(entry, uid) != 0) ||
	    acl_get_permset(entry, &permissions) != 0 || acl_clear_perms(permissions) != 0)
		return false;
	if (read_write && (acl_add_perm(permissions, ACL_READ) != 0 ||
			   acl_add_perm(permissions, ACL_WRITE) != 0))
		return false;
	return acl_set_permset(entry, permissions) == 0;
}

bool
template_access_grant(const char *path, const uint32_t *uids, guint n, GError **error)
{
	acl_t acl = acl_init((int)n + 4);
	bool ok = acl != NULL && add_entry(&acl, ACL_USER_OBJ, NULL, true) &&
		  add_entry(&acl, ACL_GROUP_OBJ, NULL, false) &&
		  add_entry(&acl, ACL_OTHER, NULL, false) && add_entry(&acl, ACL_MASK, NULL, true);

	for (guint i = 0; ok && i < n; i++)
		ok = add_entry(&acl, ACL_USER, &uids[i], true);
	ok = ok && acl_valid(acl) == 0 && acl_set_file(path, ACL_TYPE_ACCESS, acl) == 0;
	if (!ok)
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
			    "%s: cannot give the QEMU users of its base access (POSIX ACL): %s", path,
			    g_strerror(errno));
	if (acl != NULL)
		acl_free(acl);
	return ok;
}

/* Whether @acl has a user entry for @uid with read and write. */
static bool
allows(acl_t acl, uint32_t uid)
{
	acl_entry_t entry;

	for (int which = ACL_FIRST_ENTRY; acl_get_entry(acl, which, &entry) == 1;
	     which = ACL_NEXT_ENTRY) {
		acl_tag_t tag;
		acl_permset_t permissions;
		uid_t *qualifier;
		bool match;

		if (acl_get_tag_type(entry, &tag) != 0 || tag != ACL_USER)
			continue;
		qualifier = acl_get_qualifier(entry);
		match = qualifier != NULL && *qualifier == uid;
		if (qualifier != NULL)
			acl_free(qualifier);
		if (match && acl_get_permset(entry, &permissions) == 0)
			return acl_get_perm(permissions, ACL_READ) == 1 &&
			       acl_get_perm(permissions, ACL_WRITE) == 1;
	}
	return false;
}

int64_t
template_access_missing(const char *path, const uint32_t *uids, guint n)
{
	acl_t acl = acl_get_file(path, ACL_TYPE_ACCESS);
	int64_t missing = -1;

	for (guint i = 0; missing < 0 && i < n; i++)
		if (acl == NULL || !allows(acl, uids[i]))
			missing = uids[i];
	if (acl != NULL)
		acl_free(acl);
	return missing;
}
