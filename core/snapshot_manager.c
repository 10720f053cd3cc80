/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "snapshot_manager.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <nestbox/plugin.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "daemon_setup.h"
#include "plugin_instance.h"
#include "snapshot_archive.h"
#include "task.h"

G_DEFINE_QUARK(nbx-snapshot-error-quark, nbx_snapshot_error)

#define META_FILE ".nestbox-generation.json"
#define SESSION_FILE "session.json"
#define SESSION_DIR "session"
#define CURRENT_LINK "current"
/* snapshot_files / _fingerprint / _import / _remove only read or write small files. */
#define SMALL_OP_TIMEOUT_S 120
#define COPY_IN_TIMEOUT_S 600

typedef struct {
	char *machine;
	gint64 from;
	gboolean cold_boot;
	char *console;
	gint64 started_us;
	/* Held from the scheduler for the session; NULL after a restart. */
	NbxPoolMachine *held;
} Session;

typedef struct {
	char *name;
	char *dir;
	gint64 current;
	/* The current generation was imported without memory (read once, kept here). */
	gboolean current_cold;
	/* generation -> runs restored from it (gint64 keys, guint values). */
	GHashTable *users;
	/* An operator call runs on this base. */
	gboolean busy;
	Session *session;
} Base;

struct _NbxSnapshotManager {
	char *root;
	NbxStore *store;
	NbxSnapshotHost host;
	GMutex lock;
	/* base name -> Base *; guarded by @lock. */
	GHashTable *bases;
};

/* ---- files ------------------------------------------------------------------- */

static gboolean
remove_tree(const char *path)
{
	g_autoptr(GDir) dir = NULL;
	const char *name;
	struct stat st;

	if (lstat(path, &st) != 0)
		return errno == ENOENT;
	if (!S_ISDIR(st.st_mode))
		return g_unlink(path) == 0;
	dir = g_dir_open(path, 0, NULL);
	while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
		g_autofree char *child = g_build_filename(path, name, NULL);

		remove_tree(child);
	}
	return g_rmdir(path) == 0;
}

static gboolean
fsync_path(const char *path, gboolean directory, GError **error)
{
	int fd = open(path, (directory ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) != 0) {
		int saved = errno;

		if (fd >= 0)
			close(fd);
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_FAILED, "cannot sync %s: %s",
			    path, g_strerror(saved));
		return FALSE;
	}
	close(fd);
	return TRUE;
}

/* Every file of @path and @path itself reach the disk: a rename of it then publishes whole files. */
static gboolean
fsync_tree(const char *path, GError **error)
{
	g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
	const char *name;

	while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
		g_autofree char *child = g_build_filename(path, name, NULL);

		if (g_file_test(child, G_FILE_TEST_IS_SYMLINK))
			continue;
		if (!(g_file_test(child, G_FILE_TEST_IS_DIR) ? fsync_tree(child, error)
							      : fsync_path(child, FALSE, error)))
			return FALSE;
	}
	return fsync_path(path, TRUE, error);
}

static gint64
tree_bytes(const char *path)
{
	g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
	const char *name;
	gint64 total = 0;

	while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
		g_autofree char *child = g_build_filename(path, name, NULL);
		struct stat st;

		if (lstat(child, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode))
			total += tree_bytes(child);
		else if (S_ISREG(st.st_mode))
			total += (gint64)st.st_blocks * 512;
	}
	return total;
}

static char *
generation_dir(const Base *base, gint64 generation)
{
	g_autofree char *name = g_strdup_printf("gen-%" G_GINT64_FORMAT, generation);

	return g_build_filename(base->dir, name, NULL);
}

/* "gen-N" -> N, else 0. */
static gint64
generation_of_name(const char *name)
{
	char *end = NULL;
	gint64 n;

	if (!g_str_has_prefix(name, "gen-"))
		return 0;
	n = g_ascii_strtoll(name + 4, &end, 10);
	return (end != NULL && *end == '\0' && n > 0) ? n : 0;
}

static gint64
read_current(const Base *base)
{
	g_autofree char *link = g_build_filename(base->dir, CURRENT_LINK, NULL);
	g_autofree char *target = g_file_read_link(link, NULL);

	return target != NULL ? generation_of_name(target) : 0;
}

/* Points `current` at gen-@generation: a new symlink renamed over the old one. */
static gboolean
write_current(const Base *base, gint64 generation, GError **error)
{
	g_autofree char *link = g_build_filename(base->dir, CURRENT_LINK, NULL);
	g_autofree char *temporary = g_build_filename(base->dir, ".current.new", NULL);
	g_autofree char *target = g_strdup_printf("gen-%" G_GINT64_FORMAT, generation);

	g_unlink(temporary);
	if (symlink(target, temporary) != 0 || rename(temporary, link) != 0) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_FAILED,
			    "cannot make %s current in %s: %s", target, base->dir, g_strerror(errno));
		g_unlink(temporary);
		return FALSE;
	}
	return fsync_path(base->dir, TRUE, error);
}

static gint64
newest_generation(const Base *base)
{
	g_autoptr(GDir) dir = g_dir_open(base->dir, 0, NULL);
	const char *name;
	gint64 newest = 0;

	while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
		newest = MAX(newest, generation_of_name(name));
		if (g_str_has_prefix(name, ".commit-") || g_str_has_prefix(name, ".import-"))
			newest = MAX(newest, g_ascii_strtoll(name + 8, NULL, 10));
	}
	return newest;
}

static JsonObject *
read_json_object(const char *path)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	JsonNode *root;

	if (!json_parser_load_from_file(parser, path, NULL))
		return NULL;
	root = json_parser_get_root(parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root))
		return NULL;
	return json_object_ref(json_node_get_object(root));
}

static gboolean
write_json_object(const char *path, JsonObject *object, GError **error)
{
	g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
	g_autoptr(JsonGenerator) generator = json_generator_new();
	g_autofree char *text = NULL;

	json_node_set_object(node, object);
	json_generator_set_root(generator, node);
	json_generator_set_pretty(generator, TRUE);
	text = json_generator_to_data(generator, NULL);
	return g_file_set_contents_full(path, text, -1,
					G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
					0640, error);
}

/* The generation's own record: whether it needs a cold boot, where it came from. */
static gboolean
generation_needs_cold_boot(const Base *base, gint64 generation)
{
	g_autofree char *dir = NULL;
	g_autofree char *path = NULL;
	g_autoptr(JsonObject) meta = NULL;

	if (generation == 0)
		return FALSE;
	dir = generation_dir(base, generation);
	path = g_build_filename(dir, META_FILE, NULL);
	meta = read_json_object(path);
	return meta != NULL && json_object_get_boolean_member_with_default(meta, "cold_boot", FALSE);
}

/* ---- bases ------------------------------------------------------------------- */

static void
session_free(Session *session)
{
	if (session == NULL)
		return;
	g_free(session->machine);
	g_free(session->console);
	g_free(session);
}

static void
base_free(Base *base)
{
	g_free(base->name);
	g_free(base->dir);
	g_hash_table_unref(base->users);
	session_free(base->session);
	g_free(base);
}

static gboolean
name_is_safe(const char *name)
{
	return name != NULL && *name != '\0' && strchr(name, '/') == NULL &&
	       strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

/* The Base of @name, made (and read from disk) on first use; lock held. */
static Base *
base_get_locked(NbxSnapshotManager *manager, const char *name)
{
	Base *base = g_hash_table_lookup(manager->bases, name);

	if (base != NULL)
		return base;
	base = g_new0(Base, 1);
	base->name = g_strdup(name);
	base->dir = g_build_filename(manager->root, name, NULL);
	base->users = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
	base->current = read_current(base);
	base->current_cold = generation_needs_cold_boot(base, base->current);
	g_hash_table_insert(manager->bases, base->name, base);
	return base;
}

static guint
users_of(const Base *base, gint64 generation)
{
	return GPOINTER_TO_UINT(g_hash_table_lookup(base->users, &generation));
}

static void
users_add(Base *base, gint64 generation, int delta)
{
	guint count = users_of(base, generation);
	gint64 *key = g_new(gint64, 1);

	*key = generation;
	count = delta < 0 && count == 0 ? 0 : (guint)((int)count + delta);
	if (count == 0) {
		g_hash_table_remove(base->users, key);
		g_free(key);
	} else {
		g_hash_table_replace(base->users, key, GUINT_TO_POINTER(count));
	}
}

/* ---- machines and plugin ops ------------------------------------------------------ */

typedef struct {
	NbxPoolMachine *machine;
	/* The machine whose generations it restores (maybe @machine itself). */
	const char *base_name;
	NbxPluginInstance *machinery;
	const struct nbx_machinery_ops *ops;
} Target;

static gboolean
resolve(NbxSnapshotManager *manager, const char *name, Target *target, GError **error)
{
	NbxSetup *setup = manager->host.get_setup(manager->host.user_data);
	NbxPoolMachine *machine = nbx_machine_pool_lookup(setup->pool, name);

	if (machine == NULL) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_NOT_FOUND,
			    "no enabled machine is named \"%s\" (see nestbox machines)", name);
		return FALSE;
	}
	target->machine = machine;
	target->base_name = nbx_pool_machine_base(machine);
	target->machinery = machine->machinery;
	target->ops = &machine->machinery->plugin->machinery;
	if (!name_is_safe(target->base_name)) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_INVALID,
			    "machine name \"%s\" cannot name a directory", target->base_name);
		return FALSE;
	}
	return TRUE;
}

static gboolean
require_op(const Target *target, const void *op, const char *what, GError **error)
{
	if (op != NULL)
		return TRUE;
	g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_NOT_SUPPORTED,
		    "machine %s: machinery %s does not support %s (it has no %s op)",
		    target->machine->machine.name, nbx_plugin_instance_name(target->machinery),
		    what, what);
	return FALSE;
}

static struct nbx_call
call_with(guint32 flags, gint64 timeout_s)
{
	return (struct nbx_call){
		.struct_size = sizeof(struct nbx_call),
		.flags = flags,
		.deadline_us = g_get_monotonic_time() + timeout_s * G_USEC_PER_SEC,
	};
}

/* Turns a plugin's error into ours, naming the plugin, the machine and the op. */
static gboolean
op_failed(const Target *target, const char *what, struct nbx_error *err, GError **error)
{
	NbxSnapshotError code = NBX_SNAPSHOT_ERROR_FAILED;

	err->message[sizeof err->message - 1] = '\0';
	if (err->code == NBX_ERROR_NOT_SUPPORTED)
		code = NBX_SNAPSHOT_ERROR_NOT_SUPPORTED;
	else if (err->code == NBX_ERROR_INVALID)
		code = NBX_SNAPSHOT_ERROR_INVALID;
	else if (err->code == NBX_ERROR_BUSY)
		code = NBX_SNAPSHOT_ERROR_CONFLICT;
	g_set_error(error, NBX_SNAPSHOT_ERROR, code, "%s: machine %s: %s: %s",
		    nbx_plugin_instance_name(target->machinery), target->machine->machine.name, what,
		    err->message[0] != '\0' ? err->message : "failed (no reason given)");
	return FALSE;
}

static gint64
timeout_of(NbxSnapshotManager *manager, const char *path, gint64 fallback)
{
	NbxSetup *setup = manager->host.get_setup(manager->host.user_data);

	return nbx_config_core_integer(setup->config, path, fallback);
}

/* ---- serialising operator calls per base ------------------------------------------- */

static Base *
base_claim(NbxSnapshotManager *manager, const char *name, GError **error)
{
	Base *base;

	g_mutex_lock(&manager->lock);
	base = base_get_locked(manager, name);
	if (base->busy) {
		g_mutex_unlock(&manager->lock);
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_CONFLICT,
			    "another snapshot operation on base %s is running; try again when it "
			    "ends",
			    name);
		return NULL;
	}
	base->busy = TRUE;
	g_mutex_unlock(&manager->lock);
	if (g_mkdir_with_parents(base->dir, 0750) != 0) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_FAILED,
			    "cannot create %s: %s", base->dir, g_strerror(errno));
		g_mutex_lock(&manager->lock);
		base->busy = FALSE;
		g_mutex_unlock(&manager->lock);
		return NULL;
	}
	return base;
}

static void
base_unclaim(NbxSnapshotManager *manager, Base *base)
{
	g_mutex_lock(&manager->lock);
	base->busy = FALSE;
	g_mutex_unlock(&manager->lock);
}

/*
 * Removes the generations of @base other than the current one that no run
 * uses: the plugin forgets them first (snapshot_remove), then the directory
 * goes. Called without the lock.
 */
static void
collect_garbage(NbxSnapshotManager *manager, Base *base)
{
	g_autoptr(GPtrArray) doomed = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GDir) dir = g_dir_open(base->dir, 0, NULL);
	NbxSetup *setup = manager->host.get_setup(manager->host.user_data);
	NbxPoolMachine *owner = nbx_machine_pool_lookup(setup->pool, base->name);
	const char *name;

	g_mutex_lock(&manager->lock);
	while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
		gint64 generation = generation_of_name(name);

		if (generation > 0 && generation != base->current &&
		    users_of(base, generation) == 0 &&
		    !(base->session != NULL && base->session->from == generation))
			g_ptr_array_add(doomed, g_build_filename(base->dir, name, NULL));
	}
	g_mutex_unlock(&manager->lock);
	for (guint i = 0; i < doomed->len; i++) {
		const char *path = g_ptr_array_index(doomed, i);

		if (owner != NULL && owner->machinery->plugin->machinery.snapshot_remove != NULL) {
			const struct nbx_machinery_ops *ops = &owner->machinery->plugin->machinery;
			struct nbx_call call = call_with(0, SMALL_OP_TIMEOUT_S);
			struct nbx_error err = { 0 };

			if (!ops->snapshot_remove(owner->machinery->instance, &owner->machine, &call,
						  path, &err)) {
				/* Kept, so a later pass can try again: a leak beats a lost snapshot. */
				if (err.code == NBX_ERROR_BUSY)
					g_message("%s: old generation %s kept for now: %s",
						  nbx_plugin_instance_name(owner->machinery), path,
						  err.message);
				else
					g_warning("%s: cannot remove old generation %s: %s",
						  nbx_plugin_instance_name(owner->machinery), path,
						  err.message);
				continue;
			}
		}
		if (remove_tree(path))
			g_message("snapshot base %s: removed unused generation %s", base->name, path);
		else
			g_warning("snapshot base %s: cannot remove %s: %s", base->name, path,
				  g_strerror(errno));
	}
}

/*
 * What an interrupted commit may have made in the hypervisor already (a
 * libvirt snapshot its directory names): the plugin forgets it, or it leaks.
 */
static void
forget_in_plugin(NbxSnapshotManager *manager, Base *base, const char *path)
{
	NbxSetup *setup = manager->host.get_setup(manager->host.user_data);
	NbxPoolMachine *owner = nbx_machine_pool_lookup(setup->pool, base->name);
	struct nbx_call call = call_with(0, SMALL_OP_TIMEOUT_S);
	struct nbx_error err = { 0 };

	if (owner == NULL || owner->machinery->plugin->machinery.snapshot_remove == NULL ||
	    !g_file_test(path, G_FILE_TEST_IS_DIR))
		return;
	if (!owner->machinery->plugin->machinery.snapshot_remove(
		    owner->machinery->instance, &owner->machine, &call, path, &err))
		g_warning("%s: what %s left in the hypervisor may stay: %s",
			  nbx_plugin_instance_name(owner->machinery), path, err.message);
}

/* ---- sessions on disk ------------------------------------------------------------- */

static char *
session_file(const Base *base)
{
	return g_build_filename(base->dir, SESSION_FILE, NULL);
}

static char *
session_work_dir(const Base *base)
{
	return g_build_filename(base->dir, SESSION_DIR, NULL);
}

static gboolean
session_save(const Base *base, const Session *session, GError **error)
{
	g_autoptr(JsonObject) object = json_object_new();
	g_autofree char *path = session_file(base);
	g_autofree char *started = nbx_format_time_us(session->started_us);

	json_object_set_string_member(object, "machine", session->machine);
	json_object_set_int_member(object, "from", session->from);
	json_object_set_boolean_member(object, "cold_boot", session->cold_boot);
	json_object_set_string_member(object, "console",
				      session->console != NULL ? session->console : "");
	json_object_set_string_member(object, "started", started);
	json_object_set_int_member(object, "started_us", session->started_us);
	return write_json_object(path, object, error);
}

static Session *
session_load(const Base *base)
{
	g_autofree char *path = session_file(base);
	g_autoptr(JsonObject) object = read_json_object(path);
	Session *session;

	if (object == NULL)
		return NULL;
	session = g_new0(Session, 1);
	session->machine = g_strdup(json_object_get_string_member_with_default(object, "machine",
									       ""));
	session->from = json_object_get_int_member_with_default(object, "from", 0);
	session->cold_boot = json_object_get_boolean_member_with_default(object, "cold_boot",
									  FALSE);
	session->console = g_strdup(json_object_get_string_member_with_default(object, "console",
									       ""));
	session->started_us = json_object_get_int_member_with_default(object, "started_us", 0);
	return session;
}

static struct nbx_snapshot_session
session_args(const Base *base, const Session *session, const char *work_dir, const char *new_dir,
	     char **from_dir)
{
	*from_dir = session->from > 0 ? generation_dir(base, session->from) : NULL;
	return (struct nbx_snapshot_session){
		.struct_size = sizeof(struct nbx_snapshot_session),
		.from_dir = *from_dir,
		.work_dir = work_dir,
		.new_dir = new_dir,
	};
}

/* Forgets the session of @base: its files, its hold on the machine. */
static void
session_end(NbxSnapshotManager *manager, Base *base)
{
	g_autofree char *path = session_file(base);
	g_autofree char *work = session_work_dir(base);
	Session *session;

	g_unlink(path);
	fsync_path(base->dir, TRUE, NULL);
	remove_tree(work);
	g_mutex_lock(&manager->lock);
	session = g_steal_pointer(&base->session);
	g_mutex_unlock(&manager->lock);
	if (session != NULL && session->held != NULL)
		manager->host.release_machine(manager->host.user_data, session->held);
	session_free(session);
}

/* ---- start-up ----------------------------------------------------------------- */

/* A session a dead daemon left: the plugin cleans up what it can, the files go. */
static void
recover_session(NbxSnapshotManager *manager, Base *base, Session *session)
{
	Target target;
	g_autoptr(GError) error = NULL;

	g_warning("snapshot base %s: the session on machine %s was left open by a previous "
		  "daemon; rolling it back",
		  base->name, session->machine);
	g_mutex_lock(&manager->lock);
	base->session = session;
	g_mutex_unlock(&manager->lock);
	if (resolve(manager, session->machine, &target, &error) &&
	    target.ops->snapshot_rollback != NULL) {
		NbxPoolMachine *held = manager->host.hold_machine(manager->host.user_data,
								  session->machine, NULL);
		g_autofree char *work = session_work_dir(base);
		g_autofree char *from_dir = NULL;
		struct nbx_snapshot_session args = session_args(base, session, work, NULL, &from_dir);
		struct nbx_call call = call_with(0, timeout_of(manager, "timeouts.stop", 120));
		struct nbx_error err = { 0 };

		session->held = held;
		if (!target.ops->snapshot_rollback(target.machinery->instance,
						   &target.machine->machine, &call, &args, &err))
			g_warning("snapshot base %s: rollback of the abandoned session: %s",
				  base->name, err.message);
	}
	nbx_store_event_addf(manager->store, 0, session->machine, "snapshot.rollback",
			     "session on base %s rolled back at start-up (the daemon had died)",
			     base->name);
	session_end(manager, base);
}

static void
recover_base(NbxSnapshotManager *manager, const char *name)
{
	Base *base;
	g_autoptr(GDir) dir = NULL;
	const char *entry;
	Session *session;

	g_mutex_lock(&manager->lock);
	base = base_get_locked(manager, name);
	g_mutex_unlock(&manager->lock);
	dir = g_dir_open(base->dir, 0, NULL);
	while (dir != NULL && (entry = g_dir_read_name(dir)) != NULL) {
		g_autofree char *path = g_build_filename(base->dir, entry, NULL);

		if (g_str_has_prefix(entry, ".commit-") || g_str_has_prefix(entry, ".import-") ||
		    strcmp(entry, ".current.new") == 0) {
			g_warning("snapshot base %s: removing %s, left by an interrupted commit or "
				  "import; generation %" G_GINT64_FORMAT " stays current",
				  name, path, base->current);
			forget_in_plugin(manager, base, path);
			remove_tree(path);
		}
	}
	session = session_load(base);
	if (session != NULL) {
		recover_session(manager, base, session);
	} else {
		/* A session whose end was cut short after its record went. */
		g_autofree char *work = session_work_dir(base);

		remove_tree(work);
	}
	collect_garbage(manager, base);
}

NbxSnapshotManager *
nbx_snapshot_manager_new(const char *state_dir, NbxStore *store, const NbxSnapshotHost *host,
			 GError **error)
{
	NbxSnapshotManager *manager = g_new0(NbxSnapshotManager, 1);
	g_autoptr(GDir) dir = NULL;
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	const char *name;

	manager->root = g_build_filename(state_dir, "snapshots", NULL);
	manager->store = store;
	manager->host = *host;
	g_mutex_init(&manager->lock);
	manager->bases = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
					       (GDestroyNotify)base_free);
	if (g_mkdir_with_parents(manager->root, 0750) != 0) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_FAILED,
			    "cannot create %s: %s", manager->root, g_strerror(errno));
		nbx_snapshot_manager_free(manager);
		return NULL;
	}
	dir = g_dir_open(manager->root, 0, error);
	if (dir == NULL) {
		nbx_snapshot_manager_free(manager);
		return NULL;
	}
	while ((name = g_dir_read_name(dir)) != NULL) {
		g_autofree char *path = g_build_filename(manager->root, name, NULL);

		if (g_str_has_prefix(name, ".import-")) {
			/* An import cut short before it reached its base. */
			g_warning("removing %s, left by an interrupted import", path);
			remove_tree(path);
		} else if (name[0] != '.' && g_file_test(path, G_FILE_TEST_IS_DIR) &&
			   name_is_safe(name)) {
			g_ptr_array_add(names, g_strdup(name));
		}
	}
	for (guint i = 0; i < names->len; i++)
		recover_base(manager, g_ptr_array_index(names, i));
	return manager;
}

void
nbx_snapshot_manager_free(NbxSnapshotManager *manager)
{
	if (manager == NULL)
		return;
	g_hash_table_unref(manager->bases);
	g_mutex_clear(&manager->lock);
	g_free(manager->root);
	g_free(manager);
}

/* Whether @machine's machinery keeps generations at all. */
static gboolean
has_generations(const NbxPoolMachine *machine)
{
	const struct nbx_machinery_ops *ops = &machine->machinery->plugin->machinery;

	return ops->snapshot_commit != NULL || ops->snapshot_import != NULL;
}

/*
 * Counts a user of @base_name's current generation and says which it is;
 * refuses one without memory unless @allow_cold (a minimal export may).
 */
static gboolean
use_current(NbxSnapshotManager *manager, const char *base_name, gboolean allow_cold,
	    gint64 *generation, char **dir, GError **error)
{
	Base *base;

	g_mutex_lock(&manager->lock);
	base = base_get_locked(manager, base_name);
	if (base->current_cold && !allow_cold) {
		g_mutex_unlock(&manager->lock);
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_INVALID,
			    "snapshot generation %" G_GINT64_FORMAT " of base %s was imported "
			    "without its memory: boot it and take a full snapshot first (nestbox "
			    "snapshot begin --cold-boot %s, then nestbox snapshot commit %s)",
			    base->current, base->name, base->name, base->name);
		return FALSE;
	}
	*generation = base->current;
	if (base->current > 0)
		*dir = generation_dir(base, base->current);
	users_add(base, base->current, +1);
	g_mutex_unlock(&manager->lock);
	return TRUE;
}

gboolean
nbx_snapshot_manager_use(NbxSnapshotManager *manager, NbxPoolMachine *machine,
			 gint64 *generation, char **dir, GError **error)
{
	*generation = 0;
	*dir = NULL;
	if (!has_generations(machine))
		return TRUE;
	return use_current(manager, nbx_pool_machine_base(machine), FALSE, generation, dir,
			   error);
}

/* The other half of use_current(): an old generation goes with its last user. */
static void
unuse_generation(NbxSnapshotManager *manager, const char *base_name, gint64 generation)
{
	Base *base;
	gboolean collect;

	g_mutex_lock(&manager->lock);
	base = base_get_locked(manager, base_name);
	users_add(base, generation, -1);
	collect = generation != base->current && users_of(base, generation) == 0 && !base->busy;
	g_mutex_unlock(&manager->lock);
	if (collect)
		collect_garbage(manager, base);
}

void
nbx_snapshot_manager_unuse(NbxSnapshotManager *manager, NbxPoolMachine *machine,
			   gint64 generation)
{
	if (has_generations(machine))
		unuse_generation(manager, nbx_pool_machine_base(machine), generation);
}

gboolean
nbx_snapshot_manager_operating(NbxSnapshotManager *manager)
{
	GHashTableIter iter;
	Base *base;
	gboolean busy = FALSE;

	if (manager == NULL)
		return FALSE;
	g_mutex_lock(&manager->lock);
	g_hash_table_iter_init(&iter, manager->bases);
	while (!busy && g_hash_table_iter_next(&iter, NULL, (gpointer *)&base))
		busy = base->busy;
	g_mutex_unlock(&manager->lock);
	return busy;
}

gboolean
nbx_snapshot_manager_busy(NbxSnapshotManager *manager)
{
	g_autofree char *modified = nbx_snapshot_manager_session_machine(manager);

	/* A call sets busy before it opens a session and clears it after closing one. */
	return modified != NULL || nbx_snapshot_manager_operating(manager);
}

char *
nbx_snapshot_manager_session_machine(NbxSnapshotManager *manager)
{
	GHashTableIter iter;
	Base *base;
	char *machine = NULL;

	g_mutex_lock(&manager->lock);
	g_hash_table_iter_init(&iter, manager->bases);
	while (machine == NULL && g_hash_table_iter_next(&iter, NULL, (gpointer *)&base)) {
		if (base->session != NULL)
			machine = g_strdup(base->session->machine);
	}
	g_mutex_unlock(&manager->lock);
	return machine;
}

/* ---- sessions ------------------------------------------------------------------------ */

gboolean
nbx_snapshot_manager_begin(NbxSnapshotManager *manager, const char *name, gboolean cold_boot,
			   char **console, gint64 *from, GError **error)
{
	Target target;
	Base *base;
	Session *session;
	g_autofree char *work = NULL;
	g_autofree char *from_dir = NULL;
	struct nbx_snapshot_session args;
	struct nbx_call call;
	struct nbx_error err = { 0 };
	g_autoptr(GError) busy = NULL;
	gboolean ok;

	if (!resolve(manager, name, &target, error) ||
	    !require_op(&target, target.ops->snapshot_begin, "snapshot_begin", error) ||
	    !require_op(&target, target.ops->snapshot_commit, "snapshot_commit", error))
		return FALSE;
	base = base_claim(manager, target.base_name, error);
	if (base == NULL)
		return FALSE;
	if (base->session != NULL) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_CONFLICT,
			    "base %s is being modified already, on machine %s (console %s): commit "
			    "or roll that back first",
			    base->name, base->session->machine,
			    base->session->console[0] != '\0' ? base->session->console : "none");
		base_unclaim(manager, base);
		return FALSE;
	}
	session = g_new0(Session, 1);
	session->machine = g_strdup(name);
	session->started_us = g_get_real_time();
	g_mutex_lock(&manager->lock);
	session->from = base->current;
	/* A generation without memory can only be booted. */
	session->cold_boot = cold_boot || base->current_cold;
	g_mutex_unlock(&manager->lock);
	session->held = manager->host.hold_machine(manager->host.user_data, name, &busy);
	if (session->held == NULL) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_CONFLICT,
			    "machine %s cannot be modified now: %s", name, busy->message);
		session_free(session);
		base_unclaim(manager, base);
		return FALSE;
	}
	work = session_work_dir(base);
	remove_tree(work);
	/* Recorded before the plugin starts anything: a crash from here on is rolled back. */
	if (g_mkdir(work, 0750) != 0) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_FAILED,
			    "cannot create %s: %s", work, g_strerror(errno));
		manager->host.release_machine(manager->host.user_data, session->held);
		session_free(session);
		base_unclaim(manager, base);
		return FALSE;
	}
	g_mutex_lock(&manager->lock);
	base->session = session;
	g_mutex_unlock(&manager->lock);
	if (!session_save(base, session, error)) {
		session_end(manager, base);
		base_unclaim(manager, base);
		return FALSE;
	}
	args = session_args(base, session, work, NULL, &from_dir);
	call = call_with(session->cold_boot ? NBX_SNAPSHOT_COLD_BOOT : 0,
			 timeout_of(manager, "timeouts.restore", 300));
	ok = target.ops->snapshot_begin(target.machinery->instance, &target.machine->machine, &call,
					&args, &err);
	if (!ok) {
		op_failed(&target, "snapshot_begin", &err, error);
		session_end(manager, base);
		base_unclaim(manager, base);
		return FALSE;
	}
	args.console[sizeof args.console - 1] = '\0';
	g_free(session->console);
	session->console = g_strdup(args.console);
	session_save(base, session, NULL);
	nbx_store_event_addf(manager->store, 0, name, "snapshot.begin",
			     "modifying base %s from generation %" G_GINT64_FORMAT "%s; console %s",
			     base->name, session->from, session->cold_boot ? " (cold boot)" : "",
			     session->console[0] != '\0' ? session->console : "none");
	*console = g_strdup(session->console);
	*from = session->from;
	base_unclaim(manager, base);
	return TRUE;
}

/*
 * An op on the open session of a base: the machine resolved, the op
 * checked, the base claimed, and the session's arguments ready.
 */
typedef struct {
	Target target;
	Base *base;
	char *work;
	char *from_dir;
	struct nbx_snapshot_session args;
} SessionCall;

static void
session_call_close(NbxSnapshotManager *manager, SessionCall *call)
{
	if (call->base != NULL)
		base_unclaim(manager, call->base);
	g_free(call->work);
	g_free(call->from_dir);
}

/* @op_offset: the op's offset in struct nbx_machinery_ops; @what: its name. */
static gboolean
session_call_open(NbxSnapshotManager *manager, const char *name, gsize op_offset,
		  const char *what, SessionCall *call, GError **error)
{
	Base *base;

	if (!resolve(manager, name, &call->target, error) ||
	    !require_op(&call->target, G_STRUCT_MEMBER(gpointer, call->target.ops, op_offset), what,
			error))
		return FALSE;
	base = base_claim(manager, call->target.base_name, error);
	if (base == NULL)
		return FALSE;
	call->base = base;
	if (base->session == NULL) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_CONFLICT,
			    "no modification of base %s is open (nestbox snapshot begin %s)",
			    base->name, name);
		return FALSE;
	}
	if (strcmp(base->session->machine, name) != 0) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_CONFLICT,
			    "base %s is being modified on machine %s, not %s", base->name,
			    base->session->machine, name);
		return FALSE;
	}
	call->work = session_work_dir(base);
	call->args = session_args(base, base->session, call->work, NULL, &call->from_dir);
	return TRUE;
}

gboolean
nbx_snapshot_manager_copy_in(NbxSnapshotManager *manager, const char *name,
			     const char *const *paths, GError **error)
{
	SessionCall session = { 0 };
	struct nbx_call call = call_with(0, COPY_IN_TIMEOUT_S);
	struct nbx_error err = { 0 };
	gboolean ok;

	if (paths == NULL || paths[0] == NULL) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_INVALID,
			    "paths: name at least one file");
		return FALSE;
	}
	for (const char *const *p = paths; *p != NULL; p++) {
		if (!g_path_is_absolute(*p) || !g_file_test(*p, G_FILE_TEST_IS_REGULAR) ||
		    g_access(*p, R_OK) != 0) {
			g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_INVALID,
				    "%s: not an absolute path of a regular file the daemon can read",
				    *p);
			return FALSE;
		}
	}
	ok = session_call_open(manager, name,
			       G_STRUCT_OFFSET(struct nbx_machinery_ops, snapshot_copy_in),
			       "snapshot_copy_in", &session, error);
	if (ok) {
		Target *t = &session.target;

		ok = t->ops->snapshot_copy_in(t->machinery->instance, &t->machine->machine, &call,
					      &session.args, paths, &err);
		if (!ok)
			op_failed(t, "snapshot_copy_in", &err, error);
		else
			nbx_store_event_addf(manager->store, 0, name, "snapshot.copy",
					     "%u file(s) handed to the guest",
					     g_strv_length((char **)paths));
	}
	session_call_close(manager, &session);
	return ok;
}

/* Publishes @staged as gen-@generation of @base and makes it current. */
static gboolean
publish(NbxSnapshotManager *manager, Base *base, const char *staged, gint64 generation,
	JsonObject *meta, GError **error)
{
	g_autofree char *meta_path = g_build_filename(staged, META_FILE, NULL);
	g_autofree char *final = generation_dir(base, generation);

	json_object_set_int_member(meta, "generation", generation);
	if (!write_json_object(meta_path, meta, error) || !fsync_tree(staged, error))
		return FALSE;
	if (rename(staged, final) != 0) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_FAILED,
			    "cannot rename %s to %s: %s", staged, final, g_strerror(errno));
		return FALSE;
	}
	if (!fsync_path(base->dir, TRUE, error) || !write_current(base, generation, error)) {
		/* Not current: the next start removes it as unused. */
		return FALSE;
	}
	g_mutex_lock(&manager->lock);
	base->current = generation;
	base->current_cold = json_object_get_boolean_member_with_default(meta, "cold_boot", FALSE);
	g_mutex_unlock(&manager->lock);
	return TRUE;
}

static JsonObject *
new_meta(const char *origin, const Target *target)
{
	JsonObject *meta = json_object_new();
	g_autofree char *now = nbx_format_time_us(g_get_real_time());

	json_object_set_string_member(meta, "origin", origin);
	json_object_set_string_member(meta, "created", now);
	json_object_set_string_member(meta, "machine", target->machine->machine.name);
	json_object_set_string_member(meta, "machinery",
				      nbx_plugin_instance_name(target->machinery));
	return meta;
}

gboolean
nbx_snapshot_manager_commit(NbxSnapshotManager *manager, const char *name, gint64 *generation,
			    GError **error)
{
	SessionCall session = { 0 };
	Target *t = &session.target;
	Base *base;
	g_autofree char *staged = NULL;
	g_autofree char *staged_name = NULL;
	g_autoptr(JsonObject) meta = NULL;
	struct nbx_call call;
	struct nbx_error err = { 0 };
	gint64 next, from;

	if (!session_call_open(manager, name,
			       G_STRUCT_OFFSET(struct nbx_machinery_ops, snapshot_commit),
			       "snapshot_commit", &session, error)) {
		session_call_close(manager, &session);
		return FALSE;
	}
	base = session.base;
	next = newest_generation(base) + 1;
	staged_name = g_strdup_printf(".commit-%" G_GINT64_FORMAT, next);
	staged = g_build_filename(base->dir, staged_name, NULL);
	if (g_mkdir(staged, 0750) != 0) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_FAILED,
			    "cannot create %s: %s", staged, g_strerror(errno));
		session_call_close(manager, &session);
		return FALSE;
	}
	session.args.new_dir = staged;
	call = call_with(0, timeout_of(manager, "timeouts.snapshot_commit", 1800));
	if (!t->ops->snapshot_commit(t->machinery->instance, &t->machine->machine, &call,
				     &session.args, &err)) {
		op_failed(t, "snapshot_commit", &err, error);
		remove_tree(staged);
		nbx_store_event_addf(manager->store, 0, name, "snapshot.commit_failed", "%s",
				     (*error)->message);
		session_call_close(manager, &session);
		return FALSE;
	}
	from = base->session->from;
	meta = new_meta("commit", t);
	json_object_set_int_member(meta, "from", from);
	json_object_set_boolean_member(meta, "cold_boot", FALSE);
	if (!publish(manager, base, staged, next, meta, error)) {
		/* The machine is down (commit stopped it): the session is over either way. */
		remove_tree(staged);
		session_end(manager, base);
		session_call_close(manager, &session);
		return FALSE;
	}
	nbx_store_event_addf(manager->store, 0, name, "snapshot.commit",
			     "base %s: generation %" G_GINT64_FORMAT " (from %" G_GINT64_FORMAT
			     ") is current",
			     base->name, next, from);
	g_message("snapshot base %s: generation %" G_GINT64_FORMAT " committed on machine %s",
		  base->name, next, name);
	session_end(manager, base);
	session_call_close(manager, &session);
	collect_garbage(manager, base);
	*generation = next;
	return TRUE;
}

gboolean
nbx_snapshot_manager_rollback(NbxSnapshotManager *manager, const char *name, GError **error)
{
	SessionCall session = { 0 };
	Target *t = &session.target;
	struct nbx_call call;
	struct nbx_error err = { 0 };
	Base *base;

	if (!session_call_open(manager, name,
			       G_STRUCT_OFFSET(struct nbx_machinery_ops, snapshot_rollback),
			       "snapshot_rollback", &session, error)) {
		session_call_close(manager, &session);
		return FALSE;
	}
	base = session.base;
	call = call_with(0, timeout_of(manager, "timeouts.stop", 120));
	if (!t->ops->snapshot_rollback(t->machinery->instance, &t->machine->machine, &call,
				       &session.args, &err)) {
		/* The machine may still run: the session stays, so it is not reused. */
		op_failed(t, "snapshot_rollback", &err, error);
		session_call_close(manager, &session);
		return FALSE;
	}
	nbx_store_event_addf(manager->store, 0, name, "snapshot.rollback",
			     "base %s: modification thrown away; generation %" G_GINT64_FORMAT
			     " stays current",
			     base->name, base->current);
	session_end(manager, base);
	session_call_close(manager, &session);
	collect_garbage(manager, base);
	return TRUE;
}

/* ---- export and import ----------------------------------------------------------- */

static bool
add_file(void *user_data, int32_t role, const char *path)
{
	nbx_snapshot_manifest_add_file(user_data, role, path);
	return true;
}

static bool
add_fingerprint(void *user_data, const char *key, const char *value)
{
	nbx_snapshot_manifest_add_fingerprint(user_data, key, value);
	return true;
}

/* Fills @manifest with the files and the fingerprint of @dir (NULL: generation 0). */
static gboolean
describe_generation(const Target *target, const char *dir, NbxSnapshotManifest *manifest,
		    GError **error)
{
	struct nbx_call call = call_with(0, SMALL_OP_TIMEOUT_S);
	struct nbx_error err = { 0 };

	if (!target->ops->snapshot_files(target->machinery->instance, &target->machine->machine,
					 &call, dir, add_file, manifest, &err))
		return op_failed(target, "snapshot_files", &err, error);
	call = call_with(0, SMALL_OP_TIMEOUT_S);
	if (!target->ops->snapshot_fingerprint(target->machinery->instance,
					       &target->machine->machine, &call, dir,
					       add_fingerprint, manifest, &err))
		return op_failed(target, "snapshot_fingerprint", &err, error);
	return TRUE;
}

gboolean
nbx_snapshot_manager_export(NbxSnapshotManager *manager, const char *name, gboolean full,
			    const char *output, JsonObject **result, GError **error)
{
	Target target;
	g_autoptr(NbxSnapshotManifest) manifest = NULL;
	g_autofree char *dir = NULL;
	gint64 generation = 0;
	gboolean ok;
	struct stat st;

	if (output == NULL || !g_path_is_absolute(output)) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_INVALID,
			    "output: must be an absolute path");
		return FALSE;
	}
	if (!resolve(manager, name, &target, error) ||
	    !require_op(&target, target.ops->snapshot_files, "snapshot_files", error) ||
	    !require_op(&target, target.ops->snapshot_fingerprint, "snapshot_fingerprint", error))
		return FALSE;
	/* Counted as used, so no commit removes it under the export. A minimal
	 * export of a generation without memory is fine; a full one is not. */
	if (!use_current(manager, target.base_name, !full, &generation, &dir, error))
		return FALSE;
	manifest = nbx_snapshot_manifest_new(target.base_name,
					     nbx_plugin_instance_name(target.machinery), full);
	ok = describe_generation(&target, dir, manifest, error) &&
	     nbx_snapshot_archive_write(output, manifest, error);
	unuse_generation(manager, target.base_name, generation);
	if (!ok)
		return FALSE;
	*result = json_object_new();
	json_object_set_string_member(*result, "machine", name);
	json_object_set_string_member(*result, "base", target.base_name);
	json_object_set_int_member(*result, "generation", generation);
	json_object_set_string_member(*result, "kind", full ? "full" : "minimal");
	json_object_set_string_member(*result, "output", output);
	json_object_set_int_member(*result, "bytes", stat(output, &st) == 0 ? st.st_size : 0);
	json_object_set_int_member(*result, "files", manifest->files->len);
	nbx_store_event_addf(manager->store, 0, name, "snapshot.export",
			     "base %s generation %" G_GINT64_FORMAT " exported (%s) to %s",
			     target.base_name, generation, full ? "full" : "minimal", output);
	return TRUE;
}

/* The fingerprint keys that must agree for a memory state to restore. */
static const char *const compared_keys[] = {
	"hypervisor", "hypervisor_version", "machine_type", "cpu_model", "memory_mb", NULL,
};

/* "key: archive X, this host Y" for each difference, or NULL when they agree. */
static char *
fingerprint_differences(const NbxSnapshotManifest *archive, const NbxSnapshotManifest *here)
{
	g_autoptr(GString) text = g_string_new(NULL);

	for (guint i = 0; compared_keys[i] != NULL; i++) {
		const char *a = nbx_snapshot_manifest_fingerprint(archive, compared_keys[i]);
		const char *h = nbx_snapshot_manifest_fingerprint(here, compared_keys[i]);

		if (g_strcmp0(a, h) != 0)
			g_string_append_printf(text, "%s%s: archive %s, this host %s",
					       text->len > 0 ? "; " : "", compared_keys[i],
					       a != NULL ? a : "(none)", h != NULL ? h : "(none)");
	}
	return text->len > 0 ? g_string_free(g_steal_pointer(&text), FALSE) : NULL;
}

typedef struct {
	NbxSnapshotManager *manager;
	const char *machine;
	gboolean replace;
	Target target;
	Base *base;
	gboolean full;
	/* Why check_import refused, in our own domain (the archive wraps it as REFUSED). */
	GError *refusal;
} ImportCheck;

static gboolean check_import_header(const NbxSnapshotManifest *header, ImportCheck *check,
				    GError **error);

/* Everything that can be refused before a byte is unpacked. */
static gboolean
check_import(const NbxSnapshotManifest *header, gpointer data, GError **error)
{
	ImportCheck *check = data;

	if (check_import_header(header, check, error))
		return TRUE;
	g_clear_error(&check->refusal);
	check->refusal = g_error_copy(*error);
	return FALSE;
}

static gboolean
check_import_header(const NbxSnapshotManifest *header, ImportCheck *check, GError **error)
{
	NbxSnapshotManager *manager = check->manager;
	const char *name = check->machine != NULL ? check->machine : header->machine;
	gboolean has_snapshot;

	if (!resolve(manager, name, &check->target, error))
		return FALSE;
	if (g_strcmp0(header->machinery, nbx_plugin_instance_name(check->target.machinery)) != 0) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_INVALID,
			    "the snapshot is for machinery %s; machine %s belongs to %s",
			    header->machinery, name, nbx_plugin_instance_name(check->target.machinery));
		return FALSE;
	}
	if (!require_op(&check->target, check->target.ops->snapshot_import, "snapshot_import",
			error))
		return FALSE;
	check->base = base_claim(manager, check->target.base_name, error);
	if (check->base == NULL)
		return FALSE;
	if (check->base->session != NULL) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_CONFLICT,
			    "base %s is being modified on machine %s: commit or roll back first",
			    check->base->name, check->base->session->machine);
		return FALSE;
	}
	has_snapshot = check->base->current > 0;
	if (!has_snapshot && check->target.ops->snapshot_files != NULL) {
		g_autoptr(NbxSnapshotManifest) probe = nbx_snapshot_manifest_new(name, "", FALSE);
		struct nbx_call call = call_with(0, SMALL_OP_TIMEOUT_S);
		struct nbx_error err = { 0 };

		has_snapshot = check->target.ops->snapshot_files(check->target.machinery->instance,
								 &check->target.machine->machine,
								 &call, NULL, add_file, probe, &err);
	}
	if (has_snapshot && !check->replace) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_CONFLICT,
			    "machine %s already has a snapshot (base %s, generation %" G_GINT64_FORMAT
			    "); import with --replace to make the imported one current (the "
			    "present one is kept until nothing uses it)",
			    name, check->base->name, check->base->current);
		return FALSE;
	}
	check->full = header->full;
	return TRUE;
}

gboolean
nbx_snapshot_manager_import(NbxSnapshotManager *manager, const char *input, const char *machine,
			    gboolean replace, gboolean minimal, JsonObject **result,
			    GError **error)
{
	ImportCheck check = { .manager = manager, .machine = machine, .replace = replace };
	g_autoptr(NbxSnapshotManifest) manifest = NULL;
	g_autoptr(JsonObject) meta = NULL;
	g_autofree char *staged = NULL;
	g_autofree char *staged_name = NULL;
	g_autoptr(GError) local = NULL;
	struct nbx_call call;
	struct nbx_error err = { 0 };
	gint64 next;
	gboolean cold;

	if (input == NULL || !g_path_is_absolute(input)) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_INVALID,
			    "input: must be an absolute path");
		return FALSE;
	}
	/* The staging directory lives in the base's directory, which the check names. */
	staged_name = g_strdup_printf(".import-%" G_GINT64_FORMAT "-%08x", g_get_real_time(),
				      g_random_int());
	staged = g_build_filename(manager->root, staged_name, NULL);
	if (g_mkdir_with_parents(staged, 0750) != 0) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_FAILED,
			    "cannot create %s: %s", staged, g_strerror(errno));
		return FALSE;
	}
	manifest = nbx_snapshot_archive_read(input, staged, minimal, check_import, &check, &local);
	if (manifest == NULL) {
		remove_tree(staged);
		if (check.base != NULL)
			base_unclaim(manager, check.base);
		if (check.refusal != NULL)
			g_propagate_error(error, g_steal_pointer(&check.refusal));
		else if (local->domain == NBX_SNAPSHOT_ERROR)
			g_propagate_error(error, g_steal_pointer(&local));
		else
			g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_INVALID,
				    "%s", local->message);
		return FALSE;
	}
	cold = minimal || !check.full;
	if (!cold) {
		g_autoptr(NbxSnapshotManifest) here =
			nbx_snapshot_manifest_new(manifest->machine, manifest->machinery, TRUE);
		g_autofree char *differences = NULL;

		call = call_with(NBX_SNAPSHOT_FINGERPRINT_HOST, SMALL_OP_TIMEOUT_S);
		if (check.target.ops->snapshot_fingerprint == NULL) {
			require_op(&check.target, NULL, "snapshot_fingerprint", error);
			goto fail;
		}
		if (!check.target.ops->snapshot_fingerprint(check.target.machinery->instance,
							    &check.target.machine->machine, &call,
							    staged, add_fingerprint, here, &err)) {
			op_failed(&check.target, "snapshot_fingerprint", &err, error);
			goto fail;
		}
		differences = fingerprint_differences(manifest, here);
		if (differences != NULL) {
			g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_INVALID,
				    "%s: its memory state was made by an incompatible host (%s); "
				    "import it with --minimal to boot its disk and take a new memory "
				    "snapshot here",
				    input, differences);
			goto fail;
		}
	}
	call = call_with(cold ? NBX_SNAPSHOT_IMPORT_MINIMAL : 0, SMALL_OP_TIMEOUT_S);
	if (!check.target.ops->snapshot_import(check.target.machinery->instance,
					       &check.target.machine->machine, &call, staged,
					       &err)) {
		op_failed(&check.target, "snapshot_import", &err, error);
		goto fail;
	}
	/* Into the base's directory (same file system), under its final number's staging name. */
	next = newest_generation(check.base) + 1;
	{
		g_autofree char *name = g_strdup_printf(".import-%" G_GINT64_FORMAT, next);
		g_autofree char *in_base = g_build_filename(check.base->dir, name, NULL);

		if (rename(staged, in_base) != 0) {
			g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_FAILED,
				    "cannot move %s to %s: %s", staged, in_base, g_strerror(errno));
			goto fail;
		}
		g_free(staged);
		staged = g_steal_pointer(&in_base);
	}
	meta = new_meta("import", &check.target);
	json_object_set_boolean_member(meta, "cold_boot", cold);
	json_object_set_string_member(meta, "archive", input);
	json_object_set_string_member(meta, "archive_machine", manifest->machine);
	if (!publish(manager, check.base, staged, next, meta, error))
		goto fail;
	nbx_store_event_addf(manager->store, 0, check.target.machine->machine.name,
			     "snapshot.import",
			     "base %s: generation %" G_GINT64_FORMAT " imported from %s (%s)",
			     check.base->name, next, input, cold ? "needs a cold boot" : "full");
	base_unclaim(manager, check.base);
	collect_garbage(manager, check.base);
	*result = json_object_new();
	json_object_set_string_member(*result, "machine", check.target.machine->machine.name);
	json_object_set_string_member(*result, "base", check.base->name);
	json_object_set_int_member(*result, "generation", next);
	json_object_set_boolean_member(*result, "cold_boot", cold);
	json_object_set_int_member(*result, "files", manifest->files->len);
	return TRUE;

fail:
	remove_tree(staged);
	base_unclaim(manager, check.base);
	return FALSE;
}

/* ---- status ------------------------------------------------------------------------- */

static JsonObject *
generation_json(const Base *base, gint64 generation)
{
	JsonObject *object = json_object_new();
	g_autofree char *dir = generation > 0 ? generation_dir(base, generation) : NULL;

	json_object_set_int_member(object, "generation", generation);
	json_object_set_boolean_member(object, "current", generation == base->current);
	json_object_set_int_member(object, "users", users_of(base, generation));
	if (dir == NULL) {
		json_object_set_string_member(object, "origin", "configuration");
		json_object_set_null_member(object, "dir");
		json_object_set_null_member(object, "bytes");
		json_object_set_boolean_member(object, "cold_boot", FALSE);
	} else {
		g_autofree char *meta_path = g_build_filename(dir, META_FILE, NULL);
		g_autoptr(JsonObject) meta = read_json_object(meta_path);

		json_object_set_string_member(object, "dir", dir);
		json_object_set_int_member(object, "bytes", tree_bytes(dir));
		json_object_set_string_member(
			object, "origin",
			meta != NULL ? json_object_get_string_member_with_default(meta, "origin", "?")
				     : "?");
		json_object_set_string_member(
			object, "created",
			meta != NULL ? json_object_get_string_member_with_default(meta, "created", "")
				     : "");
		json_object_set_boolean_member(
			object, "cold_boot",
			meta != NULL &&
				json_object_get_boolean_member_with_default(meta, "cold_boot", FALSE));
	}
	return object;
}

static gint
compare_int64(gconstpointer a, gconstpointer b)
{
	gint64 x = *(const gint64 *)a, y = *(const gint64 *)b;

	return x < y ? -1 : x > y;
}

JsonNode *
nbx_snapshot_manager_status(NbxSnapshotManager *manager)
{
	NbxSetup *setup = manager->host.get_setup(manager->host.user_data);
	g_autoptr(GHashTable) machines_of = g_hash_table_new_full(
		g_str_hash, g_str_equal, NULL, (GDestroyNotify)json_array_unref);
	g_autoptr(GPtrArray) order = g_ptr_array_new();
	JsonArray *bases = json_array_new();
	JsonObject *root = json_object_new();
	JsonNode *node = json_node_new(JSON_NODE_OBJECT);

	for (guint i = 0; i < setup->pool->machines->len; i++) {
		NbxPoolMachine *machine = g_ptr_array_index(setup->pool->machines, i);
		const char *base = nbx_pool_machine_base(machine);
		JsonArray *list;

		if (!has_generations(machine))
			continue;
		list = g_hash_table_lookup(machines_of, base);
		if (list == NULL) {
			list = json_array_new();
			g_hash_table_insert(machines_of, (gpointer)base, list);
			g_ptr_array_add(order, (gpointer)base);
		}
		json_array_add_string_element(list, machine->machine.name);
	}
	g_mutex_lock(&manager->lock);
	for (guint i = 0; i < order->len; i++) {
		const char *name = g_ptr_array_index(order, i);
		Base *base = base_get_locked(manager, name);
		JsonObject *object = json_object_new();
		JsonArray *generations = json_array_new();
		g_autoptr(GArray) numbers = g_array_new(FALSE, FALSE, sizeof(gint64));
		g_autoptr(GDir) dir = g_dir_open(base->dir, 0, NULL);
		NbxPoolMachine *owner = nbx_machine_pool_lookup(setup->pool, name);
		const char *entry;
		gint64 zero = 0;

		g_array_append_val(numbers, zero);
		while (dir != NULL && (entry = g_dir_read_name(dir)) != NULL) {
			gint64 n = generation_of_name(entry);

			if (n > 0)
				g_array_append_val(numbers, n);
		}
		g_array_sort(numbers, compare_int64);
		for (guint g = 0; g < numbers->len; g++)
			json_array_add_object_element(
				generations, generation_json(base, g_array_index(numbers, gint64, g)));
		json_object_set_string_member(object, "base", name);
		json_object_set_string_member(
			object, "machinery",
			owner != NULL ? nbx_plugin_instance_name(owner->machinery) : "");
		json_object_set_array_member(object, "machines",
					     json_array_ref(g_hash_table_lookup(machines_of, name)));
		json_object_set_int_member(object, "current", base->current);
		json_object_set_array_member(object, "generations", generations);
		json_object_set_boolean_member(object, "busy", base->busy);
		if (base->session != NULL) {
			JsonObject *session = json_object_new();
			g_autofree char *started = nbx_format_time_us(base->session->started_us);

			json_object_set_string_member(session, "machine", base->session->machine);
			json_object_set_int_member(session, "from", base->session->from);
			json_object_set_boolean_member(session, "cold_boot", base->session->cold_boot);
			json_object_set_string_member(session, "console",
						      base->session->console != NULL
							      ? base->session->console
							      : "");
			json_object_set_string_member(session, "started", started);
			json_object_set_object_member(object, "session", session);
		} else {
			json_object_set_null_member(object, "session");
		}
		json_array_add_object_element(bases, object);
	}
	g_mutex_unlock(&manager->lock);
	json_object_set_array_member(root, "bases", bases);
	json_node_take_object(node, root);
	return node;
}
