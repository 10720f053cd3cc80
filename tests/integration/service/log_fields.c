/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Logs, through the daemon's writer (structured_log.h), what journal.sh then
 * looks for: lines of two analyses with their fields, one of GLib's own API
 * with none, and one below log_level that must not appear anywhere.
 */
#include <glib.h>

#include "structured_log.h"

int
main(void)
{
	g_set_prgname("nestbox-log-fields");
	nbx_log_install();
	nbx_log_set_level("info");
	nbx_message(&(NbxLogFields){ .task_id = 12, .machine = "win10", .plugin = "qemu",
				     .step = "restore" },
		    "task 12: restored");
	nbx_warning(&(NbxLogFields){ .task_id = 12, .machine = "win10", .step = "agent" },
		    "task 12: the agent is late");
	nbx_message(&(NbxLogFields){ .task_id = 13, .machine = "win7" }, "task 13: started");
	g_message("a line of GLib's own API");
	nbx_debug(&(NbxLogFields){ .task_id = 12 }, "task 12: below log_level");
	return 0;
}
