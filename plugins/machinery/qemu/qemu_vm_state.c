/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What QemuVm is while it runs, read under its lock: its state, whether
 * QEMU runs, its files, QEMU's last words, and QMP commands to it. Below
 * the process's life (qemu_vm.c) and its migrations (qemu_vm_migration.c),
 * which both ask it.
 */
#include <string.h>

#include "qemu_vm_state.h"

int32_t
qemu_vm_state(QemuVm *vm, char **reason)
{
	int32_t state;

	g_mutex_lock(&vm->lock);
	state = vm->state;
	if (reason != NULL)
		*reason = g_strdup(vm->state_reason);
	g_mutex_unlock(&vm->lock);
	return state;
}

bool
qemu_vm_pause_is_foreign(QemuVm *vm)
{
	bool foreign;

	g_mutex_lock(&vm->lock);
	foreign = vm->foreign_pause;
	g_mutex_unlock(&vm->lock);
	return foreign;
}

char *
qemu_vm_last_words(QemuVm *vm)
{
	g_autofree char *text = NULL;
	g_auto(GStrv) lines = NULL;
	size_t n;

	if (vm->log_path == NULL || !g_file_get_contents(vm->log_path, &text, NULL, NULL))
		return g_strdup("(no output)");
	g_strstrip(text);
	lines = g_strsplit(text, "\n", -1);
	n = g_strv_length(lines);
	return g_strdup(n > 0 && *lines[n - 1] != '\0' ? lines[n - 1] : "(no output)");
}

const QemuSettings *
qemu_vm_settings(QemuVm *vm)
{
	return vm->settings;
}

struct nbx_machine *
qemu_vm_machine(QemuVm *vm)
{
	return vm->machine;
}

bool
qemu_vm_running(QemuVm *vm)
{
	bool running;

	g_mutex_lock(&vm->lock);
	running = vm->alive && vm->qmp != NULL;
	g_mutex_unlock(&vm->lock);
	return running;
}

const char *
qemu_vm_session_dir(QemuVm *vm)
{
	return vm->session_dir;
}

const char *
qemu_vm_overlay(QemuVm *vm)
{
	return vm->overlay;
}

bool
qemu_vm_execute_fd(QemuVm *vm, const char *command, JsonObject *arguments, int pass_fd,
		   int64_t deadline_us, JsonNode **result, struct nbx_error *err)
{
	if (!qemu_vm_running(vm)) {
		vm->host->error_set(vm->host, err, NBX_ERROR_INVALID,
				    "QEMU is not running; restore the machine first");
		return false;
	}
	return qmp_client_execute(vm->qmp, command, arguments, pass_fd, deadline_us, result, err);
}

bool
qemu_vm_execute(QemuVm *vm, const char *command, JsonObject *arguments, int64_t deadline_us,
		JsonNode **result, struct nbx_error *err)
{
	return qemu_vm_execute_fd(vm, command, arguments, -1, deadline_us, result, err);
}

bool
qemu_vm_wait_device_deleted(QemuVm *vm, const char *id, int64_t deadline_us)
{
	bool deleted = false;

	g_mutex_lock(&vm->lock);
	for (;;) {
		for (guint i = 0; i < vm->deleted_devices->len && !deleted; i++)
			deleted = strcmp(g_ptr_array_index(vm->deleted_devices, i), id) == 0;
		if (deleted || !vm->alive)
			break;
		if (deadline_us == 0)
			g_cond_wait(&vm->cond, &vm->lock);
		else if (!g_cond_wait_until(&vm->cond, &vm->lock, deadline_us))
			break;
	}
	g_mutex_unlock(&vm->lock);
	return deleted;
}
