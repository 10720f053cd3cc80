/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The keys the core owns, declared with the same field tables plugins use,
 * so they are validated, defaulted and templated by the same code.
 */
#pragma once

#include <nestbox/schema.h>

/* conf/nestbox.conf */
extern const struct nbx_config_field nbx_core_fields[];

/* Every machine, whatever its machinery: name, label, ip, platform, ... */
extern const struct nbx_config_field nbx_core_machine_fields[];

/* Every auxiliary's group in conf/auxiliary.conf: enabled, order. */
extern const struct nbx_config_field nbx_core_auxiliary_fields[];

/* Every guest plugin's conf/guest/NAME.conf: enabled. */
extern const struct nbx_config_field nbx_core_guest_fields[];

/* Keys a plugin may not declare: NULL-terminated. */
extern const char *const nbx_reserved_plugin_keys[];
extern const char *const nbx_reserved_machine_keys[];
