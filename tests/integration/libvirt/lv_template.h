/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A memory template restored through libvirt, the only way libvirt 9.0
 * lets one be (plugins/machinery/libvirt/README.md says
 * why): QEMU's arguments passed through the domain XML
 * (<qemu:commandline>) and QMP through libvirt-qemu's
 * virDomainQemuMonitorCommand[WithFiles], both of which libvirt marks the
 * domain "tainted" for. For the tests and the benchmark that measure what
 * libvirt can and cannot do; the machinery does not use it.
 *
 * The guest RAM is a memory-backend-file object of our own id (libvirt
 * always adds its own object "pc.ram", so that name is taken), made the
 * machine's memory with `-machine memory-backend=ID`.
 */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>
#include <stdbool.h>
#include <sys/types.h>

/* The id of the RAM object the passthrough arguments make. */
#define LV_TEMPLATE_RAM_ID "nbx.ram"

/*
 * Runs QMP @command on @dom's QEMU through libvirt, handing it @fd (-1:
 * none). True when QEMU answered with "return"; otherwise *@error (g_free)
 * holds QEMU's or libvirt's message.
 */
bool lv_qmp(virDomainPtr dom, const char *command, int fd, char **error);

/* Sets QEMU's migration capability x-ignore-shared on @dom; fails the test if it cannot. */
void lv_qmp_ignore_shared(virDomainPtr dom);

/* Migrates @dom's (paused) QEMU into @path, a raw migration stream, and waits until it is written. */
void lv_qmp_migrate_to_file(virDomainPtr dom, const char *path);

/* Starts loading @path into @dom's QEMU (started with -incoming defer); false with *@error if refused. */
bool lv_qmp_incoming_from_file(virDomainPtr dom, const char *path, char **error);

/*
 * Waits (up to @timeout_ms, a hang guard) until @dom's QEMU has left the
 * "inmigrate" state; its new state ("paused" after a load), or NULL when
 * the domain went away meanwhile (QEMU exited: a failed load).
 */
char *lv_qmp_wait_loaded(virDomainPtr dom, unsigned timeout_ms);

/*
 * The <qemu:commandline> arguments that make the guest RAM a file:
 * `-object memory-backend-file,id=@id,mem-path=@path,size=@size,share=on|off
 * -machine memory-backend=@id`, and `-incoming defer` when @incoming.
 * NULL-terminated; g_strfreev it.
 */
char **lv_template_ram_args(const char *id, const char *path, guint64 size, bool share,
			    bool incoming);

/* Where a template restore's time went, in seconds. */
typedef struct {
	/* virDomainCreateXML: libvirt starts QEMU, paused, waiting for its state. */
	double start;
	/* The capability, the fd and migrate-incoming, until QEMU has loaded the state. */
	double load;
	/* virDomainResume. */
	double resume;
	double total;
} LvTemplateTimes;

/*
 * Starts the domain of @xml (made with lv_template_ram_args(..., incoming
 * true)) paused, loads the device state @state into it and resumes it: a
 * restore from a template. *@times gets where the time went. Fails the
 * test when any step fails.
 */
virDomainPtr lv_template_restore(virConnectPtr conn, const char *xml, const char *state,
				 LvTemplateTimes *times);

/* Memory figures of /proc/PID/smaps, in KiB. */
typedef struct {
	guint64 rss;
	guint64 pss;
	guint64 shared_clean;
	guint64 shared_dirty;
	guint64 private_clean;
	guint64 private_dirty;
} LvSmaps;

/* Sums @pid's mappings of the file @path, or all its mappings when @path is NULL. */
LvSmaps lv_smaps_of(pid_t pid, const char *path);
