/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * QemuVm's migrations: the memory a restore loads (a stream, through a
 * decompressor, or a template's device state) and the memory a commit or
 * a template saves. Their end comes as MIGRATION events, so nothing polls.
 */
#include <stdarg.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qemu_vm_state.h"
#include "qmp_message.h"

static bool
migration_ended(const char *status)
{
	return status != NULL && (strcmp(status, "completed") == 0 ||
				  strcmp(status, "failed") == 0 || strcmp(status, "cancelled") == 0);
}

/* The feeder has exited with a failure; its wait status in *@status. Under vm->lock. */
static bool
feeder_failed(QemuVm *vm, int *status)
{
	return vm->feeder != NULL && child_process_exited(vm->feeder, status) &&
	       !(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
}

/*
 * Waits until QEMU reports the migration ended (MIGRATION events), it
 * exits, the feeder fails (QEMU waits forever on a stream that ends before
 * its first byte), or @deadline_us. Returns the last status (g_free; NULL
 * when none came); *@alive tells whether QEMU still runs, *@feeder_status
 * (when not NULL) the failed feeder's wait status, else 0.
 */
static char *
wait_migration_end(QemuVm *vm, int64_t deadline_us, bool *alive, int *feeder_status)
{
	int failed = 0;
	char *status;

	g_mutex_lock(&vm->lock);
	while (vm->alive && !migration_ended(vm->migration_status) && !feeder_failed(vm, &failed)) {
		if (deadline_us == 0)
			g_cond_wait(&vm->cond, &vm->lock);
		else if (!g_cond_wait_until(&vm->cond, &vm->lock, deadline_us))
			break;
	}
	if (!feeder_failed(vm, &failed))
		failed = 0;
	*alive = vm->alive;
	status = g_strdup(vm->migration_status);
	g_mutex_unlock(&vm->lock);
	if (feeder_status != NULL)
		*feeder_status = failed;
	return status;
}

/* "status 1: Data corruption detected", from the feeder's log. */
static char *
feeder_failure(QemuVm *vm, int status)
{
	g_autofree char *words = NULL;
	g_autofree char *text = NULL;

	if (g_file_get_contents(vm->feeder_log, &text, NULL, NULL)) {
		g_auto(GStrv) lines = g_strsplit(g_strstrip(text), "\n", -1);
		guint n = g_strv_length(lines);

		words = g_strdup(n > 0 ? lines[n - 1] : "");
	}
	if (WIFEXITED(status))
		return g_strdup_printf("status %d: %s", WEXITSTATUS(status),
				       words != NULL ? words : "(no output)");
	return g_strdup_printf("signal %d", WTERMSIG(status));
}

/* Waits for the incoming migration from @memory to end; false with @err when it did not complete. */
static bool
wait_migration(QemuVm *vm, const char *memory, int64_t deadline_us, struct nbx_error *err)
{
	bool alive;
	int feeder_status = 0;
	g_autofree char *status = wait_migration_end(vm, deadline_us, &alive, &feeder_status);

	if (status != NULL && strcmp(status, "completed") == 0)
		return true;
	if (feeder_status != 0) {
		g_autofree char *why = feeder_failure(vm, feeder_status);

		vm->host->error_set(vm->host, err, NBX_ERROR_INVALID,
				    "memory snapshot %s: decompressing it failed with %s", memory, why);
	} else if (!alive) {
		g_autofree char *words = qemu_vm_last_words(vm);

		vm->host->error_set(vm->host, err, NBX_ERROR_HYPERVISOR,
				    "QEMU exited while loading memory snapshot %s: %s", memory, words);
	} else if (migration_ended(status)) {
		g_autofree char *words = qemu_vm_last_words(vm);

		vm->host->error_set(vm->host, err, NBX_ERROR_HYPERVISOR,
				    "loading memory snapshot %s %s: %s", memory, status, words);
	} else {
		vm->host->error_set(vm->host, err, NBX_ERROR_TIMEOUT,
				    "memory snapshot %s not loaded by the deadline (migration %s)",
				    memory, status != NULL ? status : "not started");
	}
	return false;
}

JsonObject *
qemu_vm_arguments(const char *first_key, ...)
{
	JsonObject *object = json_object_new();
	va_list args;

	va_start(args, first_key);
	for (const char *key = first_key; key != NULL; key = va_arg(args, const char *))
		json_object_set_string_member(object, key, va_arg(args, const char *));
	va_end(args);
	return object;
}

static void
add_capability(JsonArray *list, const char *name, bool state)
{
	JsonObject *capability = json_object_new();

	json_object_set_string_member(capability, "capability", name);
	json_object_set_boolean_member(capability, "state", state);
	json_array_add_object_element(list, capability);
}

bool
qemu_vm_migration_setup(QemuVm *vm, bool ignore_shared, int64_t deadline_us,
			struct nbx_error *err)
{
	g_autoptr(JsonObject) caps = json_object_new();
	JsonArray *list = json_array_new();

	add_capability(list, "events", true);
	add_capability(list, "x-ignore-shared", ignore_shared);
	json_object_set_array_member(caps, "capabilities", list);
	return qmp_client_execute(vm->qmp, "migrate-set-capabilities", caps, -1, deadline_us, NULL,
				  err);
}

bool
qemu_vm_migration_load(QemuVm *vm, int fd, ChildProcess *feeder, const char *what,
			int64_t deadline_us, struct nbx_error *err)
{
	g_autoptr(JsonObject) getfd = qemu_vm_arguments("fdname", "nbx-snapshot", NULL);
	g_autoptr(JsonObject) incoming = qemu_vm_arguments("uri", "fd:nbx-snapshot", NULL);
	bool ok = qmp_client_execute(vm->qmp, "getfd", getfd, fd, deadline_us, NULL, err);

	/* QEMU holds its own copy now; ours would keep the pipe open for nothing. */
	close(fd);
	if (feeder != NULL)
		child_process_notify(feeder, &vm->lock, &vm->cond);
	g_mutex_lock(&vm->lock);
	vm->feeder = feeder;
	g_mutex_unlock(&vm->lock);
	ok = ok &&
	     qmp_client_execute(vm->qmp, "migrate-incoming", incoming, -1, deadline_us, NULL,
				err) &&
	     wait_migration(vm, what, deadline_us, err);
	g_mutex_lock(&vm->lock);
	vm->feeder = NULL;
	g_mutex_unlock(&vm->lock);
	if (feeder != NULL)
		child_process_notify(feeder, NULL, NULL);
	return ok;
}


/* QEMU's own words on why the last migration failed, from query-migrate. */
static char *
migration_error(QemuVm *vm, int64_t deadline_us)
{
	g_autoptr(JsonNode) result = NULL;
	const char *desc = NULL;

	if (qmp_client_execute(vm->qmp, "query-migrate", NULL, -1, deadline_us, &result, NULL) &&
	    result != NULL && JSON_NODE_HOLDS_OBJECT(result))
		desc = qmp_string_member(json_node_get_object(result), "error-desc");
	return g_strdup(desc != NULL ? desc : "QEMU gave no reason");
}

bool
qemu_vm_save_memory(QemuVm *vm, int fd, bool ignore_shared, int64_t deadline_us,
		    struct nbx_error *err)
{
	g_autoptr(JsonObject) getfd = qemu_vm_arguments("fdname", "nbx-save", NULL);
	g_autoptr(JsonObject) migrate = qemu_vm_arguments("uri", "fd:nbx-save", NULL);
	g_autofree char *status = NULL;
	bool ok, alive;

	g_mutex_lock(&vm->lock);
	/* The restore's "completed" must not be taken for this migration's. */
	g_clear_pointer(&vm->migration_status, g_free);
	g_mutex_unlock(&vm->lock);
	ok = qemu_vm_running(vm) && qemu_vm_migration_setup(vm, ignore_shared, deadline_us, err) &&
	     qmp_client_execute(vm->qmp, "getfd", getfd, fd, deadline_us, NULL, err);
	/* QEMU holds its own copy; the reader sees the end of the stream only once ours is gone. */
	close(fd);
	if (!ok) {
		vm->host->error_set(vm->host, err, NBX_ERROR_INVALID,
				    "QEMU of machine %s is not running", vm->machine->name);
		return false;
	}
	if (!qmp_client_execute(vm->qmp, "migrate", migrate, -1, deadline_us, NULL, err))
		return false;
	status = wait_migration_end(vm, deadline_us, &alive, NULL);
	if (status != NULL && strcmp(status, "completed") == 0)
		return true;
	if (!alive) {
		g_autofree char *words = qemu_vm_last_words(vm);

		vm->host->error_set(vm->host, err, NBX_ERROR_HYPERVISOR,
				    "QEMU of machine %s exited while saving its memory: %s",
				    vm->machine->name, words);
	} else if (migration_ended(status)) {
		g_autofree char *why = migration_error(vm, deadline_us);

		vm->host->error_set(vm->host, err, NBX_ERROR_HYPERVISOR,
				    "saving the memory of machine %s %s: %s", vm->machine->name,
				    status, why);
	} else {
		int64_t grace = vm->host->monotonic_us(vm->host) + 5 * G_USEC_PER_SEC;

		/* A cancelled migration leaves the guest as it was, ready to resume. */
		qmp_client_execute(vm->qmp, "migrate_cancel", NULL, -1, grace, NULL, NULL);
		g_free(wait_migration_end(vm, grace, &alive, NULL));
		vm->host->error_set(vm->host, err, NBX_ERROR_TIMEOUT,
				    "the memory of machine %s was not saved by the deadline "
				    "(migration %s); cancelled",
				    vm->machine->name, status != NULL ? status : "not started");
	}
	return false;
}

