/*
 * A conversation a patient shared with their care team (issue 17), read-only, for a clinician:
 * /api/chat/shared/<id> and its message pages (each read audited for the patient). No composer,
 * no votes. Patient text is set through textContent; replies are markdown rendered by markdown.js.
 */
(function () {
  "use strict";

  const PAGE_SIZE = 30;
  const $ = (id) => document.getElementById(id);
  const ui = {
    title: $("chat-title"),
    sharedBy: $("shared-by"),
    problem: $("shared-problem"),
    problemText: $("shared-problem-text"),
    loadOlder: $("load-older"),
    messages: $("message-list"),
    scroll: $("message-scroll"),
  };
  const sessionId = document.body.dataset.sessionId;
  const base = `/api/chat/shared/${encodeURIComponent(sessionId)}`;
  const state = { olderCursor: null, patient: "Patient" };

  class Gone extends Error {}

  async function getJson(path) {
    const response = await fetch(path, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (response.status === 401) {
      window.location.assign(`/login/?next=${encodeURIComponent(window.location.pathname)}`);
    }
    if (response.status === 404) throw new Gone("This conversation is no longer shared with you.");
    if (!response.ok) throw new Error("The conversation could not be loaded. Please try again later.");
    return response.json();
  }

  function formatDate(value) {
    const date = value ? new Date(value) : null;
    if (!date || Number.isNaN(date.getTime())) return "";
    return date.toLocaleString(undefined, { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" });
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function messageItem(message) {
    const role = message.role || "assistant";
    const item = element("li", `message message--${role}`);
    item.dataset.messageId = message.message_id;
    const header = element("p", "message-author");
    header.append(element("span", "message-who", role === "user" ? state.patient : role === "assistant" ? "Medibot" : "System"));
    const when = formatDate(message.created_at);
    if (when) {
      const time = element("time", "message-time", when);
      time.dateTime = message.created_at;
      header.append(time);
    }
    if (message.status === "stopped") header.append(element("span", "message-badge message-badge--stopped", "Stopped"));
    if (message.status === "failed") item.classList.add("message--failed");
    const body = element("div", "message-text");
    if (role === "assistant" && message.status !== "failed" && window.MedibotMarkdown) {
      body.classList.add("markdown");
      body.replaceChildren(window.MedibotMarkdown.render(message.content || "", { streaming: false }));
    } else {
      body.textContent = message.content || "";
    }
    item.append(header, body);
    return item;
  }

  function showProblem(error) {
    ui.problemText.textContent = error.message;
    ui.problem.hidden = false;
    if (error instanceof Gone) {
      ui.messages.replaceChildren();
      ui.loadOlder.hidden = true;
      ui.sharedBy.textContent = "";
    }
  }

  function setOlder(page) {
    state.olderCursor = page.has_older ? page.older_cursor : null;
    ui.loadOlder.hidden = state.olderCursor === null;
  }

  async function loadOlder() {
    if (state.olderCursor === null) return;
    ui.loadOlder.disabled = true;
    try {
      const page = await getJson(`${base}/messages?limit=${PAGE_SIZE}&before=${state.olderCursor}`);
      ui.messages.prepend(...page.results.map(messageItem));
      setOlder(page);
    } catch (error) {
      showProblem(error);
    } finally {
      ui.loadOlder.disabled = false;
    }
  }

  async function open() {
    try {
      const conversation = await getJson(base);
      const patient = conversation.patient || {};
      state.patient = patient.name || patient.username || "Patient";
      ui.title.textContent = conversation.title || "Untitled conversation";
      document.title = `${ui.title.textContent} · Medibot`;
      ui.sharedBy.textContent = `Shared by ${state.patient} on ${formatDate(conversation.shared_at)}`;
      const page = await getJson(`${base}/messages?limit=${PAGE_SIZE}`);
      ui.messages.replaceChildren(...page.results.map(messageItem));
      setOlder(page);
      ui.scroll.scrollTop = ui.scroll.scrollHeight;
    } catch (error) {
      showProblem(error);
    }
  }

  ui.loadOlder.addEventListener("click", loadOlder);
  open();
})();
