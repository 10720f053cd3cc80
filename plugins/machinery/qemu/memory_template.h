/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A generation's memory as a template: the guest RAM as a plain file that
 * each restore maps private (memory-backend-file share=off: the guest's
 * writes never reach the file, and clones of one base share every page
 * they have not written), and the device state alone as a small migration
 * stream saved with x-ignore-shared. A restore then loads kilobytes, not
 * the guest's memory, whatever its size.
 *
 * A template is made from the generation's classic stream (which stays the
 * generation's portable form, for exports) by a QEMU of the plugin's own:
 * the stream loaded into a RAM file mapped shared, the guest never run
 * (-S), the device state saved. It is made where generations are made
 * (snapshot_commit, snapshot_import) and, for generation 0, once, at its
 * first restore or prepare. Its files live apart from the generation, per
 * base and per stream (the stream file's identity names its directory, so
 * a generation directory renamed by the core keeps its template), in a
 * directory only the daemon's user can enter (a contained QEMU gets the
 * RAM file as a descriptor, and its ACL names who may reopen it:
 * template_access.h):
 *   TEMPLATES/BASE/KEY/template.ram    the RAM (sparse)
 *   TEMPLATES/BASE/KEY/template.state  the device state
 *   TEMPLATES/BASE/KEY/template.json   the record
 *
 * Poisoning: on QEMU 7.2 a share=off RAM file is still opened read-write,
 * so a QEMU taken over by its guest could write into the template that
 * every later clone starts from. The record holds each file's inode, size
 * and ctime when it was made (ctime cannot be set back without root); a
 * template whose files differ is rebuilt before anything restores from it.
 * A template made by another QEMU version, for another machine type, RAM
 * size or accelerator than this host would run is rebuilt too.
 */
#pragma once

#include <nestbox/plugin.h>
#include <stdbool.h>
#include <sys/types.h>

#include "machine_info.h"
#include "qemu_binary.h"
#include "qemu_vm.h"

#define TEMPLATE_RAM "template.ram"
#define TEMPLATE_STATE "template.state"
#define TEMPLATE_RECORD "template.json"

/* What a file was when the template was made. */
typedef struct {
	ino_t inode;
	off_t size;
	int64_t ctime_ns;
} FileIdentity;

typedef struct {
	char *dir;
	char *ram;
	char *state;
	int64_t memory_mb;
	/* From the record: what made it. */
	char *qemu_version;
	char *machine_type;
	char *accelerator;
	FileIdentity ram_identity;
	FileIdentity state_identity;
} MemoryTemplate;

/* What making a template needs; templates live in settings->template_dir. */
typedef struct {
	const QemuSettings *settings;
	QemuBinary *binary;
	/*
	 * The QEMU users of the machines that restore from the base: the only
	 * ones its RAM file lets open it (template_access.h). None: no QEMU
	 * runs contained.
	 */
	const uint32_t *readers;
	guint n_readers;
} TemplateMaker;

/*
 * The directory the template of the stream @info names lives in, for the
 * machines of @base; NULL with @error when @info has no memory_snapshot or
 * it cannot be read.
 */
char *memory_template_dir(const char *root, const char *base, const MachineInfo *info,
			  GError **error);

/*
 * The template of @info's stream for @base, made now if there is none,
 * rebuilt if it changed since it was made or was made by another QEMU,
 * machine type, RAM size or accelerator (the reason logged). @machine
 * names the conversion's QEMU in messages. NULL with @err when it cannot
 * be made (the stream still can be restored).
 */
MemoryTemplate *memory_template_ensure(const TemplateMaker *maker, struct nbx_machine *machine,
				       const char *base, MachineInfo *info, int64_t deadline_us,
				       struct nbx_error *err);

/* Whether @template's files are still those it recorded; false with *@why (g_free). */
bool memory_template_intact(const MemoryTemplate *template, char **why);

/* The guest RAM in MiB that a template of @info holds (QEMU's 128 without -m). */
int64_t memory_template_memory_mb(const MachineInfo *info);

/* Removes the template of @info's stream for @base, if there is one. */
void memory_template_remove(const struct nbx_host *host, const char *root, const char *base,
			    const MachineInfo *info);

/*
 * Removes what conversions that did not finish left under @root (a daemon
 * killed with -9 meanwhile), but for those running now. At init, once the
 * orphan clean-up has ended their QEMUs.
 */
void memory_template_clean(const struct nbx_host *host, const char *root);

void memory_template_free(MemoryTemplate *template);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MemoryTemplate, memory_template_free)
