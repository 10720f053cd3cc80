/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "agent_body_stream.h"

struct _NbxAgentBodyStream {
	GInputStream parent;
	GPtrArray *parts;
	guint current;
	/* Written by the reading thread, read by the same one for messages. */
	goffset consumed;
};

G_DEFINE_FINAL_TYPE(NbxAgentBodyStream, nbx_agent_body_stream, G_TYPE_INPUT_STREAM)

static gssize
body_read(GInputStream *base, void *buffer, gsize count, GCancellable *cancellable,
	  GError **error)
{
	NbxAgentBodyStream *self = NBX_AGENT_BODY_STREAM(base);

	while (self->current < self->parts->len) {
		GInputStream *part = g_ptr_array_index(self->parts, self->current);
		gssize n = g_input_stream_read(part, buffer, count, cancellable, error);

		if (n != 0) {
			if (n > 0)
				self->consumed += n;
			return n;
		}
		self->current++;
	}
	return 0;
}

static gboolean
body_close(GInputStream *base, GCancellable *cancellable, GError **error)
{
	NbxAgentBodyStream *self = NBX_AGENT_BODY_STREAM(base);
	gboolean ok = TRUE;

	for (guint i = 0; i < self->parts->len; i++)
		ok &= g_input_stream_close(g_ptr_array_index(self->parts, i), cancellable,
					   ok ? error : NULL);
	return ok;
}

static void
body_finalize(GObject *object)
{
	g_ptr_array_unref(NBX_AGENT_BODY_STREAM(object)->parts);
	G_OBJECT_CLASS(nbx_agent_body_stream_parent_class)->finalize(object);
}

static void
nbx_agent_body_stream_class_init(NbxAgentBodyStreamClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = body_finalize;
	G_INPUT_STREAM_CLASS(klass)->read_fn = body_read;
	G_INPUT_STREAM_CLASS(klass)->close_fn = body_close;
}

static void
nbx_agent_body_stream_init(NbxAgentBodyStream *self)
{
	self->parts = g_ptr_array_new_with_free_func(g_object_unref);
}

GInputStream *
agent_body_stream_new(GInputStream *const *parts)
{
	NbxAgentBodyStream *self = g_object_new(NBX_AGENT_TYPE_BODY_STREAM, NULL);

	for (GInputStream *const *part = parts; *part != NULL; part++)
		g_ptr_array_add(self->parts, g_object_ref(*part));
	return G_INPUT_STREAM(self);
}

goffset
agent_body_stream_consumed(NbxAgentBodyStream *stream)
{
	return stream->consumed;
}
