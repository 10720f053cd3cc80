/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "qemu_identity.h"

#include <errno.h>
#include <glib.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <sys/stat.h>

/* @machine's position in the plugin's `machines` list, or -1 (a declared machine). */
static int64_t
machine_index(const struct nbx_host *host, const struct nbx_machine *machine)
{
	size_t n = host->config_list_length(host, NULL, "machines");

	for (size_t i = 0; i < n; i++)
		if (host->config_list_group(host, NULL, "machines", i) == machine->config)
			return (int64_t)i;
	return -1;
}

static bool
identity_of_user(const struct nbx_host *host, const struct nbx_machine *machine,
		 const char *user, QemuIdentity *identity, struct nbx_error *err)
{
	char buffer[4096];
	struct passwd entry, *found = NULL;
	int status = getpwnam_r(user, &entry, buffer, sizeof buffer, &found);

	if (found == NULL) {
		host->error_set(host, err, NBX_ERROR_INVALID,
				"%s: machine %s: qemu_user %s: %s", host->config_location(host,
				machine->config, "qemu_user"), machine->name, user,
				status != 0 ? g_strerror(status) : "no such user (create it first)");
		return false;
	}
	if (found->pw_uid == 0 || found->pw_gid == 0) {
		host->error_set(host, err, NBX_ERROR_INVALID,
				"%s: machine %s: qemu_user %s is root or in group root; QEMU must "
				"never run as root",
				host->config_location(host, machine->config, "qemu_user"),
				machine->name, user);
		return false;
	}
	identity->uid = found->pw_uid;
	identity->gid = found->pw_gid;
	snprintf(identity->description, sizeof identity->description, "user %s (uid %u)", user,
		 (unsigned)found->pw_uid);
	return true;
}

static bool
identity_of_range(const struct nbx_host *host, int64_t uid_base,
		  const struct nbx_machine *machine, QemuIdentity *identity,
		  struct nbx_error *err)
{
	int64_t index = machine_index(host, machine);

	if (index < 0) {
		host->error_set(host, err, NBX_ERROR_INVALID,
				"machine %s is not in the `machines` list, so it has no uid of "
				"qemu_uid_base's range; give it a qemu_user",
				machine->name);
		return false;
	}
	if (uid_base + index >= (int64_t)UINT32_MAX) {
		host->error_set(host, err, NBX_ERROR_INVALID,
				"%s: qemu_uid_base %" G_GINT64_FORMAT " + machine %s's index %"
				G_GINT64_FORMAT " is not a uid",
				host->config_location(host, NULL, "qemu_uid_base"), uid_base,
				machine->name, index);
		return false;
	}
	identity->uid = identity->gid = (uint32_t)(uid_base + index);
	snprintf(identity->description, sizeof identity->description, "uid %u",
		 (unsigned)identity->uid);
	return true;
}

bool
qemu_identity_of(const struct nbx_host *host, int64_t uid_base, const char *accelerator,
		 const struct nbx_machine *machine, QemuIdentity *identity, struct nbx_error *err)
{
	const char *user = host->config_string(host, machine->config, "qemu_user");
	char buffer[4096];
	struct group entry, *kvm = NULL;

	*identity = (QemuIdentity){ .description = "the daemon's user" };
	if (user != NULL) {
		if (!identity_of_user(host, machine, user, identity, err))
			return false;
	} else if (uid_base == 0) {
		return true;
	} else if (!identity_of_range(host, uid_base, machine, identity, err)) {
		return false;
	}
	if (g_strcmp0(accelerator, "kvm") == 0)
		getgrnam_r("kvm", &entry, buffer, sizeof buffer, &kvm);
	if (kvm != NULL) {
		identity->groups[0] = kvm->gr_gid;
		identity->n_groups = 1;
	}
	return true;
}

bool
qemu_identity_contained(const QemuIdentity *identity)
{
	return identity->uid != 0;
}

bool
qemu_identity_can_read(const QemuIdentity *identity, const struct stat *st)
{
	if (!qemu_identity_contained(identity) || (st->st_mode & S_IROTH))
		return true;
	if (st->st_uid == identity->uid)
		return (st->st_mode & S_IRUSR) != 0;
	return st->st_gid == identity->gid && (st->st_mode & S_IRGRP);
}
