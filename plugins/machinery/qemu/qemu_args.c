/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "qemu_args.h"

#include <string.h>

#define DISK_PLACEHOLDER "%DISPOSABLE_DISK_PATH%"
#define TAP_PLACEHOLDER "%TAP_INTERFACE%"
/* The RAM block a guest started with plain `-m` has on a PC: what its stream names. */
#define RAM_BLOCK "pc.ram"

static bool
is_option(const char *arg, const char *option)
{
	return arg[0] == '-' && strcmp(machine_info_option_name(arg), option) == 0;
}

/*
 * A QEMU option string ("tap,id=net0,ifname=x") split at the commas that
 * are not doubled; the parts keep their ",," escapes.
 */
static GPtrArray *
split_options(const char *value)
{
	GPtrArray *parts = g_ptr_array_new_with_free_func(g_free);
	const char *start = value;

	for (const char *c = value;; c++) {
		if (*c == ',' && c[1] == ',') {
			c++;
			continue;
		}
		if (*c == ',' || *c == '\0') {
			g_ptr_array_add(parts, g_strndup(start, (gsize)(c - start)));
			if (*c == '\0')
				break;
			start = c + 1;
		}
	}
	return parts;
}

/* The value of "KEY=VALUE" in @parts (",," undone), or NULL. */
static char *
option_value(GPtrArray *parts, const char *key)
{
	size_t len = strlen(key);

	for (guint i = 0; i < parts->len; i++) {
		const char *part = g_ptr_array_index(parts, i);
		g_auto(GStrv) pieces = NULL;

		if (strncmp(part, key, len) != 0 || part[len] != '=')
			continue;
		pieces = g_strsplit(part + len + 1, ",,", -1);
		return g_strjoinv(",", pieces);
	}
	return NULL;
}

/* The netdev type of a `-netdev` value: "type=X" or an implied first word. */
static char *
netdev_type(GPtrArray *parts)
{
	const char *first = parts->len > 0 ? g_ptr_array_index(parts, 0) : "";

	if (strchr(first, '=') == NULL)
		return g_strdup(first);
	return option_value(parts, "type");
}

/* Options of a tap that say how QEMU uses the descriptor, not where it comes from. */
static char *
kept_options(GPtrArray *parts)
{
	static const char *const keep[] = { "vnet_hdr=", "vhost=", "vhostforce=", "sndbuf=",
					    "poll-us=", NULL };
	GString *kept = g_string_new(NULL);

	for (guint i = 0; i < parts->len; i++) {
		const char *part = g_ptr_array_index(parts, i);

		for (size_t k = 0; keep[k] != NULL; k++)
			if (g_str_has_prefix(part, keep[k]))
				g_string_append_printf(kept, ",%s", part);
	}
	return g_string_free(kept, FALSE);
}

static void
netdev_free(QemuNetdev *netdev)
{
	g_free(netdev->id);
	g_free(netdev->bridge_name);
	g_free(netdev->kept);
	g_free(netdev);
}

GPtrArray *
qemu_netdevs(const MachineInfo *info)
{
	GPtrArray *netdevs = g_ptr_array_new_with_free_func((GDestroyNotify)netdev_free);

	for (guint i = 0; info->start_args[i] != NULL && info->start_args[i + 1] != NULL; i++) {
		g_autoptr(GPtrArray) parts = NULL;
		g_autofree char *type = NULL;
		g_autofree char *fd = NULL;
		QemuNetdev *netdev;

		if (!is_option(info->start_args[i], "-netdev"))
			continue;
		parts = split_options(info->start_args[++i]);
		type = netdev_type(parts);
		fd = option_value(parts, "fd");
		if (type == NULL || fd != NULL ||
		    (strcmp(type, "tap") != 0 && strcmp(type, "bridge") != 0))
			continue;
		netdev = g_new0(QemuNetdev, 1);
		netdev->index = i;
		netdev->id = option_value(parts, "id");
		netdev->bridge = strcmp(type, "bridge") == 0;
		if (netdev->bridge) {
			netdev->bridge_name = option_value(parts, "br");
			if (netdev->bridge_name == NULL)
				netdev->bridge_name = g_strdup("br0");
		}
		netdev->kept = kept_options(parts);
		g_ptr_array_add(netdevs, netdev);
	}
	return netdevs;
}

static char *
escape_commas(const char *value)
{
	g_auto(GStrv) parts = g_strsplit(value, ",", -1);

	return g_strjoinv(",,", parts);
}

static char *
replace_all(const char *text, const char *placeholder, const char *value)
{
	g_auto(GStrv) parts = g_strsplit(text, placeholder, -1);

	return g_strjoinv(value, parts);
}

/* "pc,accel=tcg,usb=off" -> the same with accel=@accelerator; NULL when it names none. */
static char *
with_accelerator(const char *machine, const char *accelerator)
{
	g_autoptr(GPtrArray) options = split_options(machine);
	bool found = false;

	for (guint i = 0; i < options->len; i++) {
		if (g_str_has_prefix(g_ptr_array_index(options, i), "accel=")) {
			g_free(options->pdata[i]);
			options->pdata[i] = g_strconcat("accel=", accelerator, NULL);
			found = true;
		}
	}
	g_ptr_array_add(options, NULL);
	return found ? g_strjoinv(",", (char **)options->pdata) : NULL;
}

/* The netdev whose value is start_args[@index], or -1. */
static int
netdev_at(GPtrArray *netdevs, guint index)
{
	for (guint n = 0; n < netdevs->len; n++)
		if (((QemuNetdev *)g_ptr_array_index(netdevs, n))->index == index)
			return (int)n;
	return -1;
}

/* The value of start_args[@i], rewritten; NULL with @error. */
static char *
rewrite_value(const MachineInfo *info, const QemuArgsSpec *spec, GPtrArray *netdevs, guint i,
	      bool *accel_set, GError **error)
{
	const char *arg = info->start_args[i];
	const char *previous = i > 0 ? info->start_args[i - 1] : "";
	int netdev = is_option(previous, "-netdev") ? netdev_at(netdevs, i) : -1;
	g_autofree char *disk = escape_commas(spec->overlay);
	g_autofree char *with_disk = replace_all(arg, DISK_PLACEHOLDER, disk);
	g_autofree char *tap = spec->tap != NULL ? escape_commas(spec->tap) : NULL;
	char *rewritten;

	if (netdev >= 0) {
		const QemuNetdev *n = g_ptr_array_index(netdevs, netdev);
		int fd = spec->netdev_fds != NULL ? spec->netdev_fds[netdev] : -1;

		if (fd >= 0)
			return g_strdup_printf("tap%s%s,fd=%d%s", n->id != NULL ? ",id=" : "",
					       n->id != NULL ? n->id : "", fd, n->kept);
		if (n->bridge) {
			g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
				    "%s: start_args: -netdev %s has no tap device", info->path, arg);
			return NULL;
		}
	}
	if (strstr(with_disk, TAP_PLACEHOLDER) != NULL && tap == NULL) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
			    "%s: start_args use %%TAP_INTERFACE%%"
			    " but the machine has no `interface` (the tap device to use)",
			    info->path);
		return NULL;
	}
	rewritten = tap != NULL ? replace_all(with_disk, TAP_PLACEHOLDER, tap)
				: g_strdup(with_disk);
	if (is_option(previous, "-machine")) {
		char *with_accel = with_accelerator(rewritten, spec->accelerator);

		if (with_accel != NULL) {
			g_free(rewritten);
			rewritten = with_accel;
			*accel_set = true;
		}
	}
	return rewritten;
}

static void
add_memory_file(GPtrArray *args, const QemuArgsSpec *spec)
{
	g_autofree char *path = escape_commas(spec->memory_file);

	g_ptr_array_add(args, g_strdup("-object"));
	g_ptr_array_add(args, g_strdup_printf("memory-backend-file,id=%s,mem-path=%s,"
					      "size=%" G_GINT64_FORMAT "M,share=%s",
					      RAM_BLOCK, path, spec->memory_mb,
					      spec->memory_shared ? "on" : "off"));
	g_ptr_array_add(args, g_strdup("-machine"));
	g_ptr_array_add(args, g_strdup("memory-backend=" RAM_BLOCK));
}

GPtrArray *
qemu_args_build(const MachineInfo *info, const QemuArgsSpec *spec, GError **error)
{
	g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) netdevs = qemu_netdevs(info);
	bool accel_set = false;

	for (guint i = 0; info->start_args[i] != NULL; i++) {
		const char *arg = info->start_args[i];
		char *value;

		/* The setting decides the accelerator; QEMU would try these first. */
		if (is_option(arg, "-enable-kvm"))
			continue;
		if (is_option(arg, "-accel") && info->start_args[i + 1] != NULL) {
			i++;
			continue;
		}
		value = rewrite_value(info, spec, netdevs, i, &accel_set, error);
		if (value == NULL)
			return NULL;
		g_ptr_array_add(args, value);
	}
	if (!accel_set) {
		g_ptr_array_add(args, g_strdup("-accel"));
		g_ptr_array_add(args, g_strdup(spec->accelerator));
	}
	if (spec->memory_file != NULL)
		add_memory_file(args, spec);
	return g_steal_pointer(&args);
}

/* The accel= of a -machine value, or NULL. */
static char *
machine_accel(const char *machine)
{
	g_autoptr(GPtrArray) options = split_options(machine);

	return option_value(options, "accel");
}

char *
qemu_args_accelerator_override(const MachineInfo *info, const char *accelerator)
{
	g_autoptr(GPtrArray) asked = g_ptr_array_new_with_free_func(g_free);

	for (guint i = 0; info->start_args[i] != NULL; i++) {
		const char *arg = info->start_args[i];
		const char *value = info->start_args[i + 1];
		g_autofree char *accel = NULL;

		if (is_option(arg, "-enable-kvm") && strcmp(accelerator, "kvm") != 0)
			g_ptr_array_add(asked, g_strdup(arg));
		else if (value != NULL && is_option(arg, "-accel") &&
			 strcmp(value, accelerator) != 0)
			g_ptr_array_add(asked, g_strdup_printf("%s %s", arg, value));
		else if (value != NULL && is_option(arg, "-machine") &&
			 (accel = machine_accel(value)) != NULL && strcmp(accel, accelerator) != 0)
			g_ptr_array_add(asked, g_strdup_printf("accel=%s", accel));
	}
	if (asked->len == 0)
		return NULL;
	g_ptr_array_add(asked, NULL);
	return g_strjoinv(", ", (char **)asked->pdata);
}

const char *
qemu_args_template_obstacle(const MachineInfo *info)
{
	for (guint i = 0; info->start_args[i] != NULL; i++) {
		const char *arg = info->start_args[i];
		const char *value = info->start_args[i + 1] != NULL ? info->start_args[i + 1] : "";

		if (strstr(arg, "virtio-balloon") != NULL)
			return "start_args have a virtio-balloon device, which would punch holes "
			       "into the memory template";
		if (strstr(arg, "virtio-mem") != NULL)
			return "start_args have a virtio-mem device, which would punch holes into "
			       "the memory template";
		if (is_option(arg, "-object") && g_str_has_prefix(value, "memory-backend"))
			return "start_args give the guest RAM a backend of their own";
		if (is_option(arg, "-mem-path") || is_option(arg, "-mem-prealloc") ||
		    is_option(arg, "-numa"))
			return "start_args place the guest RAM themselves (-mem-path, "
			       "-mem-prealloc or -numa)";
		if (is_option(arg, "-m") && (strstr(value, "slots=") != NULL ||
					     strstr(value, "maxmem=") != NULL))
			return "start_args allow memory hot-plug (-m slots=, maxmem=)";
		if (strstr(arg, "pc-dimm") != NULL || strstr(arg, "nvdimm") != NULL)
			return "start_args have a memory device (pc-dimm, nvdimm)";
	}
	return NULL;
}

char *
qemu_args_unsupported(const MachineInfo *info)
{
	for (guint i = 0; info->start_args[i] != NULL && info->start_args[i + 1] != NULL; i++) {
		const char *arg = info->start_args[i];
		g_autoptr(GPtrArray) parts = NULL;
		g_autofree char *type = NULL;

		if (!is_option(arg, "-nic") && !is_option(arg, "-net"))
			continue;
		parts = split_options(info->start_args[i + 1]);
		type = netdev_type(parts);
		if (type != NULL && strcmp(type, "bridge") == 0)
			return g_strdup_printf(
				"%s %s needs QEMU's setuid bridge helper; write it as -netdev "
				"type=bridge,br=BRIDGE,id=ID with a -device of its own, and the "
				"plugin makes the tap",
				arg, info->start_args[i + 1]);
	}
	return NULL;
}
