/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Suspended requests: an answer that takes a while (a snapshot commit)
 * leaves its connection unpolled and without timeouts until it comes.
 */
#include "api_server_private.h"

NbxApiPending *
nbx_api_request_suspend(NbxApiRequest *request)
{
	NbxApiPending *pending = g_new0(NbxApiPending, 1);

	g_return_val_if_fail(request->stage == STAGE_COMPLETE && request->pending == NULL, NULL);
	pending->request = request;
	request->pending = pending;
	request->server->suspended = g_list_prepend(request->server->suspended, request);
	MHD_suspend_connection(request->mhd);
	return pending;
}

void
nbx_api_pending_resume(NbxApiRequest *request)
{
	request->pending->request = NULL;
	request->pending = NULL;
	request->server->suspended = g_list_remove(request->server->suspended, request);
	MHD_resume_connection(request->mhd);
	/*
	 * Without a thread of its own, libmicrohttpd takes a resumed
	 * connection back only when it next runs: run it now.
	 */
	g_source_set_ready_time(request->listener->timer, 0);
}

void
nbx_api_pending_respond(NbxApiPending *pending, guint status, JsonNode *body)
{
	NbxApiRequest *request = pending->request;

	if (request == NULL) {
		json_node_unref(body);
	} else {
		nbx_api_request_respond(request, status, body);
		nbx_api_pending_resume(request);
	}
	g_free(pending);
}

void
nbx_api_pending_respond_problem(NbxApiPending *pending, const NbxApiProblem *problem)
{
	nbx_api_pending_respond(pending, problem->status, nbx_api_problem_to_json(problem));
}
