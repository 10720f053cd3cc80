/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What one QMP object is: the greeting, an event, or the reply to a
 * command. The peer may send any JSON object, so nothing here assumes a
 * member has the type QEMU's schema gives it: a member of the wrong type
 * reads as absent.
 */
#pragma once

#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
	QMP_MESSAGE_OTHER = 0,
	QMP_MESSAGE_GREETING,
	QMP_MESSAGE_EVENT,
	QMP_MESSAGE_REPLY,
} QmpMessageKind;

/* Borrowed from the object it was classified from. */
typedef struct {
	QmpMessageKind kind;
	/* EVENT: the event's name, never NULL. */
	const char *event;
	/* EVENT: its "data" when that is an object, else NULL. */
	JsonObject *data;
	/* REPLY: the id, a non-negative integer (anything else is no reply of ours). */
	uint64_t id;
	/* REPLY: true for an "error" reply; @error_desc is its text, never NULL then. */
	bool is_error;
	const char *error_desc;
	/* REPLY: the "return" member, or NULL. */
	JsonNode *result;
} QmpMessage;

void qmp_message_classify(JsonObject *object, QmpMessage *message);

/* @name's value when it is a JSON string, else NULL; @object may be NULL. */
const char *qmp_string_member(JsonObject *object, const char *name);

/* @name's value when it is a JSON boolean, else @fallback; @object may be NULL. */
bool qmp_boolean_member(JsonObject *object, const char *name, bool fallback);
