/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Which guest plugin a machine gets: its own `guest`, else nestbox.conf's
 * guest.PLATFORM. (Guest plugins' files, conf/guest/NAME.conf, are read
 * with the other plugin sections: setup/plugin_sections.c.)
 */
#include "config.h"

#include <string.h>

const char *
nbx_config_guest_name(const NbxConfig *config, const config_setting_t *machine_setting,
		      const char *platform)
{
	const char *name = NULL;
	g_autofree char *key = NULL;

	if (machine_setting != NULL &&
	    config_setting_lookup_string(machine_setting, "guest", &name) == CONFIG_TRUE)
		return *name != '\0' && strcmp(name, "none") != 0 ? name : NULL;
	key = g_strdup_printf("guest.%s", g_strcmp0(platform, "windows") == 0 ? "windows"
					  : g_strcmp0(platform, "linux") == 0   ? "linux"
										: "other");
	name = nbx_config_core_string(config, key, NULL);
	return name != NULL && strcmp(name, "none") != 0 ? name : NULL;
}
