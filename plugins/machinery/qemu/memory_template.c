/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "memory_template.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "durable_file.h"
#include "fingerprint.h"
#include "template_access.h"

#define WORK_DIR ".work"
/* How often a thread waiting for another's conversion looks again. */
#define LOCK_POLL_US (20 * 1000)

void
memory_template_free(MemoryTemplate *template)
{
	if (template == NULL)
		return;
	g_free(template->dir);
	g_free(template->ram);
	g_free(template->state);
	g_free(template->qemu_version);
	g_free(template->machine_type);
	g_free(template->accelerator);
	g_free(template);
}

int64_t
memory_template_memory_mb(const MachineInfo *info)
{
	int64_t mb = machine_info_memory_mb(info);

	/* QEMU's default for a PC without -m. */
	return mb > 0 || machine_info_option(info, "-m") != NULL ? mb : 128;
}

/* The stream's identity: it survives the core renaming the generation's directory. */
static char *
stream_key(const MachineInfo *info, GError **error)
{
	struct stat st;
	g_autofree char *identity = NULL;

	if (info->memory_snapshot == NULL) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
			    "%s names no memory_snapshot: there is nothing to make a template of",
			    info->path);
		return NULL;
	}
	if (g_stat(info->memory_snapshot, &st) != 0) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
			    "memory snapshot %s: %s", info->memory_snapshot, g_strerror(errno));
		return NULL;
	}
	identity = g_strdup_printf("%ju:%ju:%jd:%jd.%09ld", (uintmax_t)st.st_dev,
				   (uintmax_t)st.st_ino, (intmax_t)st.st_size,
				   (intmax_t)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	return g_compute_checksum_for_string(G_CHECKSUM_SHA256, identity, -1);
}

char *
memory_template_dir(const char *root, const char *base, const MachineInfo *info, GError **error)
{
	g_autofree char *key = stream_key(info, error);

	if (key == NULL)
		return NULL;
	key[24] = '\0';
	return g_build_filename(root, base, key, NULL);
}

static bool
identity_of(const char *path, FileIdentity *identity)
{
	struct stat st;

	if (g_stat(path, &st) != 0)
		return false;
	identity->inode = st.st_ino;
	identity->size = st.st_size;
	identity->ctime_ns = (int64_t)st.st_ctim.tv_sec * G_GINT64_CONSTANT(1000000000) +
			     st.st_ctim.tv_nsec;
	return true;
}

static JsonObject *
identity_json(const FileIdentity *identity)
{
	JsonObject *object = json_object_new();

	json_object_set_int_member(object, "inode", (gint64)identity->inode);
	json_object_set_int_member(object, "size", (gint64)identity->size);
	json_object_set_int_member(object, "ctime_ns", identity->ctime_ns);
	return object;
}

static bool
identity_read(JsonObject *record, const char *member, FileIdentity *identity)
{
	JsonNode *node = json_object_get_member(record, member);
	JsonObject *object;

	if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node))
		return false;
	object = json_node_get_object(node);
	identity->inode = (ino_t)json_object_get_int_member_with_default(object, "inode", 0);
	identity->size = (off_t)json_object_get_int_member_with_default(object, "size", -1);
	identity->ctime_ns = json_object_get_int_member_with_default(object, "ctime_ns", -1);
	return identity->inode != 0;
}

/* The template recorded in @dir, or NULL when there is none (or its record is unusable). */
static MemoryTemplate *
load(const char *dir)
{
	g_autofree char *path = g_build_filename(dir, TEMPLATE_RECORD, NULL);
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(MemoryTemplate) template = g_new0(MemoryTemplate, 1);
	JsonObject *record;
	JsonNode *root;

	if (!json_parser_load_from_file(parser, path, NULL) ||
	    (root = json_parser_get_root(parser)) == NULL || !JSON_NODE_HOLDS_OBJECT(root))
		return NULL;
	record = json_node_get_object(root);
	template->dir = g_strdup(dir);
	template->ram = g_build_filename(dir, TEMPLATE_RAM, NULL);
	template->state = g_build_filename(dir, TEMPLATE_STATE, NULL);
	template->memory_mb = json_object_get_int_member_with_default(record, "memory_mb", 0);
	template->qemu_version =
		g_strdup(json_object_get_string_member_with_default(record, "qemu_version", ""));
	template->machine_type =
		g_strdup(json_object_get_string_member_with_default(record, "machine_type", ""));
	template->accelerator =
		g_strdup(json_object_get_string_member_with_default(record, "accelerator", ""));
	if (!identity_read(record, "ram", &template->ram_identity) ||
	    !identity_read(record, "state", &template->state_identity))
		return NULL;
	return g_steal_pointer(&template);
}

static char *
describe_change(const char *path, const FileIdentity *was, const FileIdentity *now)
{
	return g_strdup_printf("%s changed since the template was made (inode %ju, %jd bytes, ctime "
			       "%" G_GINT64_FORMAT " then; inode %ju, %jd bytes, ctime %" G_GINT64_FORMAT
			       " now)",
			       path, (uintmax_t)was->inode, (intmax_t)was->size, was->ctime_ns,
			       (uintmax_t)now->inode, (intmax_t)now->size, now->ctime_ns);
}

bool
memory_template_intact(const MemoryTemplate *template, char **why)
{
	const char *paths[] = { template->ram, template->state };
	const FileIdentity *recorded[] = { &template->ram_identity, &template->state_identity };

	for (guint i = 0; i < G_N_ELEMENTS(paths); i++) {
		FileIdentity now = { 0 };

		if (!identity_of(paths[i], &now)) {
			*why = g_strdup_printf("%s: %s", paths[i], g_strerror(errno));
			return false;
		}
		if (now.inode != recorded[i]->inode || now.size != recorded[i]->size ||
		    now.ctime_ns != recorded[i]->ctime_ns) {
			*why = describe_change(paths[i], recorded[i], &now);
			return false;
		}
	}
	return true;
}

/* What this host would run @info with, against what made @template; NULL when they agree. */
static char *
mismatch(const TemplateMaker *maker, const MemoryTemplate *template, const MachineInfo *info,
	 const char *version)
{
	g_autofree char *machine_type = fingerprint_machine_type(info);
	int64_t memory_mb = memory_template_memory_mb(info);

	if (strcmp(template->qemu_version, version) != 0)
		return g_strdup_printf("it was made by QEMU %s, this host runs %s",
				       template->qemu_version, version);
	if (strcmp(template->machine_type, machine_type != NULL ? machine_type : "") != 0)
		return g_strdup_printf("it was made for machine type %s, the description says %s",
				       template->machine_type, machine_type != NULL ? machine_type : "(none)");
	if (template->memory_mb != memory_mb)
		return g_strdup_printf("it holds %" G_GINT64_FORMAT " MiB of RAM, the guest has "
				       "%" G_GINT64_FORMAT " MiB",
				       template->memory_mb, memory_mb);
	if (strcmp(template->accelerator, maker->settings->accelerator) != 0)
		return g_strdup_printf("it was made under %s, the accelerator is %s",
				       template->accelerator, maker->settings->accelerator);
	return NULL;
}

/*
 * Holds @dir's lock file until @deadline_us: one conversion at a time per
 * template, across threads, plugin instances and daemons. The descriptor,
 * or -1 with @err.
 */
static int
lock_dir(const struct nbx_host *host, const char *dir, int64_t deadline_us, struct nbx_error *err)
{
	g_autofree char *path = g_strconcat(dir, ".lock", NULL);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0) {
		host->error_set(host, err, NBX_ERROR_IO, "cannot open %s: %s", path,
				g_strerror(errno));
		return -1;
	}
	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			host->error_set(host, err, NBX_ERROR_IO, "cannot lock %s: %s", path,
					g_strerror(errno));
			close(fd);
			return -1;
		}
		if (deadline_us != 0 && host->monotonic_us(host) >= deadline_us) {
			host->error_set(host, err, NBX_ERROR_TIMEOUT,
					"the memory template in %s was still being made by the "
					"deadline",
					dir);
			close(fd);
			return -1;
		}
		g_usleep(LOCK_POLL_US);
	}
	return fd;
}

/* Removes @dir and what it holds, one level of directories deep (a scratch directory). */
static void
remove_tree(const char *dir)
{
	g_autoptr(GDir) handle = g_dir_open(dir, 0, NULL);
	const char *name;

	while (handle != NULL && (name = g_dir_read_name(handle)) != NULL) {
		g_autofree char *path = g_build_filename(dir, name, NULL);

		if (g_file_test(path, G_FILE_TEST_IS_DIR) && !g_file_test(path, G_FILE_TEST_IS_SYMLINK))
			remove_tree(path);
		else
			g_unlink(path);
	}
	g_rmdir(dir);
}

/*
 * Loads @info's stream into @ram (mapped shared) in a QEMU of the plugin's
 * own that never runs the guest, and saves the device state into @state.
 */
static bool
load_and_save(const TemplateMaker *maker, struct nbx_machine *machine, MachineInfo *info,
	      const char *dir, const char *work, const char *ram, const char *state,
	      int64_t deadline_us, struct nbx_error *err)
{
	const struct nbx_host *host = maker->settings->host;
	g_autofree char *key = g_path_get_basename(dir);
	/* Its own name (the run record's): another template of the machine may be made meanwhile. */
	g_autofree char *name = g_strdup_printf("%s.template-%.8s", machine->name, key);
	struct nbx_machine converter = *machine;
	QemuLaunch launch = {
		.info = info,
		.memory = QEMU_MEMORY_CONVERT,
		.memory_file = ram,
		.memory_mb = memory_template_memory_mb(info),
		.session_dir = work,
	};
	QemuVm *vm;
	bool ok;
	int fd;

	converter.name = name;
	converter.interface = NULL;
	if (NBX_MACHINE_HAS(&converter, network_namespace))
		converter.network_namespace = NULL;
	fd = open(state, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		host->error_set(host, err, NBX_ERROR_IO, "cannot create %s: %s", state,
				g_strerror(errno));
		return false;
	}
	vm = qemu_vm_new_private(maker->settings, &converter);
	ok = qemu_vm_launch(vm, &launch, deadline_us, err);
	if (ok)
		ok = qemu_vm_save_memory(vm, fd, true, deadline_us, err);
	else
		close(fd);
	qemu_vm_kill(vm);
	qemu_vm_free(vm);
	return ok;
}

static bool
write_record(const char *dir, const MachineInfo *info, const char *version,
	     const char *accelerator, GError **error)
{
	g_autofree char *path = g_build_filename(dir, TEMPLATE_RECORD, NULL);
	g_autofree char *ram = g_build_filename(dir, TEMPLATE_RAM, NULL);
	g_autofree char *state = g_build_filename(dir, TEMPLATE_STATE, NULL);
	g_autofree char *machine_type = fingerprint_machine_type(info);
	g_autoptr(JsonObject) record = json_object_new();
	g_autoptr(JsonNode) root = json_node_new(JSON_NODE_OBJECT);
	g_autofree char *text = NULL;
	FileIdentity ram_identity, state_identity;

	if (!identity_of(ram, &ram_identity) || !identity_of(state, &state_identity)) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
			    "the new template in %s: %s", dir, g_strerror(errno));
		return false;
	}
	json_object_set_string_member(record, "source", info->memory_snapshot);
	json_object_set_string_member(record, "qemu_version", version);
	json_object_set_string_member(record, "machine_type", machine_type != NULL ? machine_type : "");
	json_object_set_int_member(record, "memory_mb", memory_template_memory_mb(info));
	json_object_set_string_member(record, "accelerator", accelerator);
	json_object_set_object_member(record, "ram", identity_json(&ram_identity));
	json_object_set_object_member(record, "state", identity_json(&state_identity));
	json_node_set_object(root, record);
	text = json_to_string(root, TRUE);
	return durable_file_replace(path, text, strlen(text), error);
}

/* Moves the new files into place, synced, and records what they are now. */
static bool
install(const TemplateMaker *maker, const char *dir, const char *ram_new, const char *state_new,
	const MachineInfo *info, const char *version, GError **error)
{
	const char *accelerator = maker->settings->accelerator;
	g_autofree char *ram = g_build_filename(dir, TEMPLATE_RAM, NULL);
	g_autofree char *state = g_build_filename(dir, TEMPLATE_STATE, NULL);
	g_autofree char *record = g_build_filename(dir, TEMPLATE_RECORD, NULL);

	/* No record, no template: a crash from here on leaves none, never a half one. */
	g_unlink(record);
	if (g_chmod(ram_new, 0600) != 0) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s", ram_new,
			    g_strerror(errno));
		return false;
	}
	/* Before the record takes the file's ctime, which the ACL changes. */
	if (maker->n_readers > 0 &&
	    !template_access_grant(ram_new, maker->readers, maker->n_readers, error))
		return false;
	if (!durable_file_sync(ram_new, error) || !durable_file_sync(state_new, error))
		return false;
	if (g_rename(ram_new, ram) != 0 || g_rename(state_new, state) != 0) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
			    "cannot move the new template into %s: %s", dir, g_strerror(errno));
		return false;
	}
	/* The identities are taken after the renames, which change ctime. */
	return durable_file_sync_dir(dir, error) &&
	       write_record(dir, info, version, accelerator, error);
}

/* Makes the template of @info in @dir (whose lock the caller holds). */
static bool
convert(const TemplateMaker *maker, struct nbx_machine *machine, MachineInfo *info,
	const char *dir, const char *version, int64_t deadline_us, struct nbx_error *err)
{
	const struct nbx_host *host = maker->settings->host;
	g_autofree char *work = g_build_filename(dir, WORK_DIR, NULL);
	g_autofree char *ram_new = g_build_filename(dir, TEMPLATE_RAM ".new", NULL);
	g_autofree char *state_new = g_build_filename(dir, TEMPLATE_STATE ".new", NULL);
	g_autoptr(GError) error = NULL;
	bool ok;

	/* What a conversion killed midway left. */
	remove_tree(work);
	g_unlink(ram_new);
	g_unlink(state_new);
	if (g_mkdir_with_parents(work, 0700) != 0) {
		host->error_set(host, err, NBX_ERROR_IO, "cannot create %s: %s", work,
				g_strerror(errno));
		return false;
	}
	ok = load_and_save(maker, machine, info, dir, work, ram_new, state_new, deadline_us, err);
	if (ok && !install(maker, dir, ram_new, state_new, info, version, &error)) {
		host->error_set(host, err, NBX_ERROR_IO, "%s", error->message);
		ok = false;
	}
	if (!ok) {
		g_unlink(ram_new);
		g_unlink(state_new);
	}
	remove_tree(work);
	return ok;
}

/* @dir's template when it is usable as it is; else NULL, and *@why when one was there. */
static MemoryTemplate *
usable(const TemplateMaker *maker, const char *dir, const MachineInfo *info, const char *version,
       char **why)
{
	g_autoptr(MemoryTemplate) template = load(dir);
	int64_t missing;

	*why = NULL;
	if (template == NULL || !memory_template_intact(template, why) ||
	    (*why = mismatch(maker, template, info, version)) != NULL)
		return NULL;
	missing = template_access_missing(template->ram, maker->readers, maker->n_readers);
	if (missing >= 0) {
		*why = g_strdup_printf("QEMU user %" G_GINT64_FORMAT " of a machine of its base may "
				       "not open its RAM",
				       missing);
		return NULL;
	}
	return g_steal_pointer(&template);
}

MemoryTemplate *
memory_template_ensure(const TemplateMaker *maker, struct nbx_machine *machine, const char *base,
		       MachineInfo *info, int64_t deadline_us, struct nbx_error *err)
{
	const struct nbx_host *host = maker->settings->host;
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = memory_template_dir(maker->settings->template_dir, base, info, &error);
	g_autofree char *base_dir = g_build_filename(maker->settings->template_dir, base, NULL);
	g_autofree char *why = NULL;
	const char *version;
	MemoryTemplate *template;
	int lock;

	if (dir == NULL) {
		host->error_set(host, err, NBX_ERROR_NOT_FOUND, "%s", error->message);
		return NULL;
	}
	version = qemu_binary_version(maker->binary, deadline_us, err);
	if (version == NULL)
		return NULL;
	/* Only the daemon's user enters a base's templates. */
	if (g_mkdir_with_parents(base_dir, 0700) != 0 || g_chmod(base_dir, 0700) != 0 ||
	    g_mkdir_with_parents(dir, 0700) != 0) {
		host->error_set(host, err, NBX_ERROR_IO, "cannot create %s: %s", dir,
				g_strerror(errno));
		return NULL;
	}
	lock = lock_dir(host, dir, deadline_us, err);
	if (lock < 0)
		return NULL;
	template = usable(maker, dir, info, version, &why);
	if (template == NULL && why != NULL)
		host->log(host, NBX_LOG_WARNING,
			  "machine %s: the memory template in %s is rebuilt from %s: %s",
			  machine->name, dir, info->memory_snapshot, why);
	if (template == NULL && convert(maker, machine, info, dir, version, deadline_us, err))
		template = load(dir);
	close(lock);
	if (template == NULL)
		host->error_set(host, err, NBX_ERROR_FAILED,
				"the memory template of %s could not be made", info->memory_snapshot);
	return template;
}

void
memory_template_remove(const struct nbx_host *host, const char *root, const char *base,
		       const MachineInfo *info)
{
	g_autofree char *dir = memory_template_dir(root, base, info, NULL);
	g_autofree char *lock = dir != NULL ? g_strconcat(dir, ".lock", NULL) : NULL;

	if (dir == NULL || !g_file_test(dir, G_FILE_TEST_IS_DIR))
		return;
	remove_tree(dir);
	g_unlink(lock);
	if (g_file_test(dir, G_FILE_TEST_EXISTS))
		host->log(host, NBX_LOG_WARNING, "cannot remove the memory template %s", dir);
}

/* A conversion's leftovers in @dir, unless one runs there now (its lock is held). */
static void
clean_dir(const struct nbx_host *host, const char *dir)
{
	g_autofree char *lock_path = g_strconcat(dir, ".lock", NULL);
	g_autofree char *work = g_build_filename(dir, WORK_DIR, NULL);
	g_autofree char *ram_new = g_build_filename(dir, TEMPLATE_RAM ".new", NULL);
	g_autofree char *state_new = g_build_filename(dir, TEMPLATE_STATE ".new", NULL);
	int lock = open(lock_path, O_RDWR | O_CLOEXEC);

	if (lock >= 0 && flock(lock, LOCK_EX | LOCK_NB) != 0) {
		close(lock);
		return;
	}
	if (g_file_test(work, G_FILE_TEST_IS_DIR) || g_file_test(ram_new, G_FILE_TEST_EXISTS))
		host->log(host, NBX_LOG_WARNING,
			  "removed what a template conversion that did not finish left in %s", dir);
	remove_tree(work);
	g_unlink(ram_new);
	g_unlink(state_new);
	if (lock >= 0)
		close(lock);
}

void
memory_template_clean(const struct nbx_host *host, const char *root)
{
	g_autoptr(GDir) bases = g_dir_open(root, 0, NULL);
	const char *base;

	while (bases != NULL && (base = g_dir_read_name(bases)) != NULL) {
		g_autofree char *base_dir = g_build_filename(root, base, NULL);
		g_autoptr(GDir) keys = g_dir_open(base_dir, 0, NULL);
		const char *key;

		while (keys != NULL && (key = g_dir_read_name(keys)) != NULL) {
			g_autofree char *dir = g_build_filename(base_dir, key, NULL);

			if (g_file_test(dir, G_FILE_TEST_IS_DIR))
				clean_dir(host, dir);
		}
	}
}
