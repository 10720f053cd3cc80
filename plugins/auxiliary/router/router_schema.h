/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The router's settings (auxiliary.conf group `router`) and its per-task option `route`. */
#pragma once

#include <nestbox/plugin.h>

extern const struct nbx_config_schema router_schema;
extern const struct nbx_config_schema router_task_schema;
