/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A machine as the API shows it: GET /machines lists it so, and the event
 * stream sends it so when it changes. Below both, so that neither calls the
 * other for it.
 */
#pragma once

#include <json-glib/json-glib.h>

#include "scheduler.h"

/* A machine as GET /machines lists it. */
JsonNode *nbx_api_machine_to_json(const NbxMachineStatus *machine);
