// chatport console: local times; live views by server-sent events: an import job's progress,
// a conversation's messages and a channel's chat list as they change.
"use strict";

function localTimes(root) {
  for (const node of root.querySelectorAll("time[datetime]")) {
    const value = node.getAttribute("datetime");
    if (!value) continue;
    const moment = new Date(value);
    if (Number.isNaN(moment.getTime())) continue;
    node.title = node.textContent;
    node.textContent = moment.toLocaleString(undefined, {
      year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
    });
  }
}

function duration(seconds) {
  const total = Math.max(0, Math.round(seconds));
  const h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
  if (h) return `${h} h ${m} min`;
  if (m) return `${m} min ${s} s`;
  return `${s} s`;
}

function followImport(section) {
  const bar = section.querySelector("#bar");
  const field = (name) => section.querySelector(`[data-field="${name}"]`);
  const set = (name, text) => { const node = field(name); if (node) node.textContent = text; };
  const number = (value) => Number(value || 0).toLocaleString();
  const events = new EventSource(section.dataset.events);

  events.addEventListener("progress", (message) => {
    const p = JSON.parse(message.data);
    const finished = p.chats_done + p.chats_failed;
    const about = p.chats_planned_estimated ? "~" : "";  // the listing has not ended yet
    set("chats", p.chats_planned ? `${number(finished)} / ${about}${number(p.chats_planned)}` : `${number(finished)} / …`);
    set("failed", number(p.chats_failed));
    set("messages", number(p.messages));
    set("created", number(p.created));
    set("rate", `${number(Math.round(p.messages_per_second))} msg/s`);
    set("eta", p.eta_seconds === null ? "—" : `${about}${duration(p.eta_seconds)}`);
    if (p.percent === null) {
      bar.removeAttribute("value");
      set("percent", "listing chats…");
    } else {
      bar.value = p.percent;
      set("percent", `${about}${Math.floor(p.percent)}%`);
    }
  });

  events.addEventListener("end", (message) => {
    events.close();
    const job = JSON.parse(message.data);
    const done = job.status === "completed" || job.status === "failed_chats";
    bar.value = done ? 100 : (bar.value || 0);
    set("percent", done ? "100%" : job.status.replace("_", " "));
    set("status", job.status.replace("_", " "));
    set("eta", "—");
    section.dataset.running = "false";
    section.dataset.ended = job.status;
    // the page as the server renders it now: counters, failed chats, retry and resume
    window.setTimeout(() => window.location.reload(), 1500);
  });
}

function fragment(html) {
  const template = document.createElement("template");
  template.innerHTML = html.trim();
  return template.content.firstElementChild;
}

function followConversation(sessions) {
  const events = new EventSource(sessions.dataset.events);
  events.addEventListener("open", () => { sessions.dataset.live = "open"; });
  events.addEventListener("message", (message) => {
    const { row, html } = JSON.parse(message.data);
    const node = fragment(html);
    const old = sessions.querySelector(`[data-row="${row}"]`);
    if (old) {
      old.replaceWith(node);
    } else {
      let lists = sessions.querySelectorAll("ol.messages");
      if (!lists.length) {
        const item = document.createElement("li");
        item.className = "session";
        item.appendChild(document.createElement("ol")).className = "messages";
        sessions.appendChild(item);
        lists = sessions.querySelectorAll("ol.messages");
      }
      lists[lists.length - 1].appendChild(node);
    }
    localTimes(node);
    sessions.dataset.seen = String(Number(sessions.dataset.seen || 0) + 1);
  });
}

function followChats(body) {
  const events = new EventSource(body.dataset.events);
  events.addEventListener("open", () => { body.dataset.live = "open"; });
  events.addEventListener("chat", (message) => {
    const { chat, html } = JSON.parse(message.data);
    const node = fragment(html);
    for (const old of body.querySelectorAll("tr[data-chat]")) {
      if (old.dataset.chat === chat) old.remove();
    }
    body.prepend(node);
    localTimes(node);
    body.dataset.seen = String(Number(body.dataset.seen || 0) + 1);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes(document);
  const sessions = document.querySelector("ol.sessions[data-events]");
  if (sessions) followConversation(sessions);
  const chats = document.querySelector("tbody[data-events]");
  if (chats) followChats(chats);
  const section = document.querySelector('#progress[data-running="true"]');
  if (section) followImport(section);
  const elsewhere = document.querySelector("[data-refresh-seconds]");
  if (elsewhere) {
    window.setTimeout(() => window.location.reload(), 1000 * Number(elsewhere.dataset.refreshSeconds));
  }
});
