// SPDX-License-Identifier: LGPL-2.1-or-later
// The status page, live: every task and machine change from GET /events
// updates the server-rendered tables in place. Text goes in with
// textContent only, never as HTML.
"use strict";

function cell(row, name) {
  return row.querySelector("[data-field='" + name + "']");
}

function setText(row, name, text) {
  const target = cell(row, name);
  if (target && target.textContent !== text) target.textContent = text;
}

function newRow(table, id, fields) {
  const row = document.createElement("tr");
  row.id = id;
  for (const name of fields) {
    const td = document.createElement("td");
    td.dataset.field = name;
    row.appendChild(td);
  }
  table.tBodies[0].prepend(row);
  return row;
}

function showTask(task) {
  const tasks = document.getElementById("tasks");
  let row = document.getElementById("task-" + task.id);
  if (!row) {
    row = newRow(tasks, "task-" + task.id, ["id", "state", "machine", "step", "target", "reason"]);
    setText(row, "id", String(task.id));
  }
  const state = cell(row, "state");
  state.className = "state state-" + task.state;
  setText(row, "state", task.state);
  setText(row, "machine", task.assigned_machine || "");
  setText(row, "step", task.step || "");
  setText(row, "target", task.target_name || "");
  setText(row, "reason", task.reason || "");

  const queue = document.getElementById("queue");
  let queued = document.getElementById("queued-" + task.id);
  if (task.state === "queued" && !queued) {
    queued = newRow(queue, "queued-" + task.id, ["id", "platform", "tags", "priority", "reason"]);
    setText(queued, "id", String(task.id));
  }
  if (queued && task.state !== "queued") {
    queued.remove();
  } else if (queued) {
    setText(queued, "platform", task.platform || "any");
    setText(queued, "tags", (task.tags || []).join(", "));
    setText(queued, "priority", String(task.priority));
    setText(queued, "reason", task.reason || "");
  }
}

function showMachine(machine) {
  let row = document.getElementById("machine-" + machine.name);
  if (!row) {
    row = newRow(document.getElementById("machines"), "machine-" + machine.name,
                 ["name", "activity", "state", "task", "disabled"]);
    setText(row, "name", machine.name);
  }
  setText(row, "activity", machine.activity || "");
  setText(row, "state", machine.state || "");
  setText(row, "task", machine.task_id ? String(machine.task_id) : "");
  setText(row, "disabled", machine.disabled_reason || "");
}

function listen() {
  const live = document.getElementById("live");
  const source = new EventSource("/events");
  source.addEventListener("open", () => { live.textContent = "live"; });
  source.addEventListener("error", () => { live.textContent = "reconnecting"; });
  source.addEventListener("task", (e) => showTask(JSON.parse(e.data)));
  source.addEventListener("machine", (e) => showMachine(JSON.parse(e.data)));
}

document.addEventListener("DOMContentLoaded", listen);
