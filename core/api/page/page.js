// SPDX-License-Identifier: LGPL-2.1-or-later
// The status page, live: every task and machine change from GET /events
// updates the server-rendered tables in place. Text goes in with
// textContent only, never as HTML.
//
// A task event carries the task, not its steps: when its step or state
// moves, the page reads the task's events (GET /api/v1/tasks/ID, which the
// session may read) and shows its ended steps as the server renders them.
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

// "analysis_dir, restore_start, failed: stop: ...": as api_page_render.c's steps_of().
function stepsOf(events) {
  return events
    .filter((e) => e.kind === "step.end" || e.kind === "step.failed")
    .map((e) => (e.kind === "step.failed" ? "failed: " : "") + (e.message || ""))
    .join(", ");
}

// Task id -> a read of its steps in flight ({again: true}: read once more after it).
const stepReads = new Map();

function readSteps(id) {
  const running = stepReads.get(id);
  if (running) {
    running.again = true;
    return;
  }
  const read = { again: false };
  stepReads.set(id, read);
  fetch("/api/v1/tasks/" + id, { credentials: "same-origin" })
    .then((response) => (response.ok ? response.json() : null))
    .then((task) => {
      const row = document.getElementById("task-" + id);
      if (task && row) setText(row, "steps", stepsOf(task.events || []));
    })
    .catch(() => {})
    .finally(() => {
      stepReads.delete(id);
      if (read.again) readSteps(id);
    });
}

function showTask(task) {
  const tasks = document.getElementById("tasks");
  let row = document.getElementById("task-" + task.id);
  if (!row) {
    row = newRow(tasks, "task-" + task.id,
                 ["id", "state", "machine", "step", "target", "reason", "steps"]);
    setText(row, "id", String(task.id));
  }
  const moved = cell(row, "step").textContent !== (task.step || "") ||
                cell(row, "state").textContent !== task.state;
  const state = cell(row, "state");
  state.className = "state state-" + task.state;
  setText(row, "state", task.state);
  setText(row, "machine", task.assigned_machine || "");
  setText(row, "step", task.step || "");
  setText(row, "target", task.target_name || "");
  setText(row, "reason", task.reason || "");
  if (moved) readSteps(task.id);

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
