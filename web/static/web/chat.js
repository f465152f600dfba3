/*
 * Medibot chat page. Talks to the JSON API with the session cookie and the CSRF token.
 * Message text reaches the page through textContent / text nodes, except assistant replies,
 * which are markdown rendered by markdown.js (raw HTML off, DOMPurify allow-list). The only
 * other markup taken from the server is <mark> in search snippets, rebuilt element by element.
 * The open conversation is in the address (/c/<session_id>), so reload and back/forward work.
 */
(function () {
  "use strict";

  const SESSION_PAGE_SIZE = 20;
  const MESSAGE_PAGE_SIZE = 30;
  const SEARCH_DELAY_MS = 300;
  const SEARCH_OLDER_PAGES = 20;
  const NARROW_QUERY = window.matchMedia("(max-width: 760px)");

  const $ = (id) => document.getElementById(id);
  const ui = {
    toggle: $("sidebar-toggle"),
    sidebar: $("sidebar"),
    newChat: $("new-chat"),
    searchForm: $("search-form"),
    searchInput: $("search-input"),
    searchResults: $("search-results"),
    searchStatus: $("search-status"),
    searchSessions: $("search-session-list"),
    searchMessages: $("search-message-list"),
    searchSessionsHeading: $("search-sessions-heading"),
    searchMessagesHeading: $("search-messages-heading"),
    showArchived: $("show-archived"),
    sidebarScroll: $("sidebar-scroll"),
    sessionSection: $("session-section"),
    sessionsHeading: $("sessions-heading"),
    sessionList: $("session-list"),
    sessionsEmpty: $("sessions-empty"),
    sessionsLoading: $("sessions-loading"),
    sessionsMore: $("sessions-more"),
    layout: $("layout"),
    main: $("main"),
    title: $("chat-title"),
    tools: $("conversation-tools"),
    rename: $("rename-button"),
    pin: $("pin-button"),
    archive: $("archive-button"),
    exportMenu: $("export-menu"),
    remove: $("delete-button"),
    tokenUsage: $("token-usage"),
    actionsToggle: $("actions-toggle"),
    detailsMenu: $("details-menu"),
    detailsMessages: $("details-messages"),
    detailsStarted: $("details-started"),
    historyState: $("history-unavailable"),
    historyText: $("history-unavailable-text"),
    historyRetry: $("history-retry"),
    banner: $("banner"),
    bannerText: $("banner-text"),
    bannerAction: $("banner-action"),
    bannerClose: $("banner-close"),
    announcer: $("announcer"),
    messageScroll: $("message-scroll"),
    loadOlder: $("load-older"),
    chatEmpty: $("chat-empty"),
    messages: $("message-list"),
    composer: $("composer"),
    whatsappNote: $("whatsapp-note"),
    channelBadge: $("channel-badge"),
    input: $("message-input"),
    send: $("send-button"),
    renameDialog: $("rename-dialog"),
    renameForm: $("rename-form"),
    renameInput: $("rename-input"),
    renameError: $("rename-error"),
    renameCancel: $("rename-cancel"),
    deleteDialog: $("delete-dialog"),
    deleteTitle: $("delete-title"),
    deleteCancel: $("delete-cancel"),
    deleteConfirm: $("delete-confirm"),
    voteTemplate: $("vote-template"),
  };
  const csrfToken = document.querySelector('meta[name="csrf-token"]').getAttribute("content");

  const state = {
    session: null, // the open conversation: {session_id, title, is_pinned, is_archived, ...}
    openGeneration: 0,
    olderCursor: null,
    olderLoading: false,
    opening: null, // the promise of the conversation being loaded, if any
    sending: false,
    stream: null, // the reply streaming in: {controller, sessionId, stopping} (see "stopping a reply")
    sessions: new Map(),
    sessionsCursor: null,
    sessionsDone: false,
    sessionsLoading: false,
    sessionsGeneration: 0,
    searchGeneration: 0,
    searchTimer: null,
    bannerAction: null,
    // message_id -> "up" | "down": votes given in this page view, and the caller's earlier votes
    // when the message API reports them (my_vote).
    votes: new Map(),
  };

  // --- HTTP -------------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message, retryAfter) {
      super(message);
      this.status = status;
      this.retryAfter = retryAfter || null; // seconds, from Retry-After on a 429 or 503
    }
  }

  /* Retry-After in seconds (delta or HTTP date), or null. */
  function retryAfterSeconds(response) {
    const value = response.headers.get("Retry-After");
    if (!value) return null;
    if (/^\d+$/.test(value.trim())) return Number(value.trim());
    const when = Date.parse(value);
    return Number.isNaN(when) ? null : Math.max(0, Math.ceil((when - Date.now()) / 1000));
  }

  function waitText(seconds) {
    if (seconds < 60) return `${seconds} second${seconds === 1 ? "" : "s"}`;
    const minutes = Math.ceil(seconds / 60);
    return `${minutes} minute${minutes === 1 ? "" : "s"}`;
  }

  /* The ApiError of a failed response, with a message that says what to do next. */
  function failure(response, data) {
    const retryAfter = retryAfterSeconds(response);
    let message = errorText(data, response);
    if (response.status === 429) {
      message = retryAfter !== null
        ? `You are sending messages too quickly. You can try again in ${waitText(retryAfter)}.`
        : "You are sending messages too quickly. Please wait a moment and try again.";
    } else if (response.status >= 500 && !(data && typeof data.detail === "string")) {
      message = `Medibot had a problem (${response.status}). Please try again.`;
    }
    return new ApiError(response.status, message, retryAfter);
  }

  function request(path, { method = "GET", body, accept = "application/json", signal } = {}) {
    const headers = { Accept: accept };
    if (method !== "GET") headers["X-CSRFToken"] = csrfToken;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  }

  async function readJson(response) {
    try {
      return JSON.parse(await response.text());
    } catch (error) {
      return null;
    }
  }

  function errorText(data, response) {
    if (data && typeof data.detail === "string" && data.detail.startsWith("CSRF Failed")) {
      return "This page is out of date (you signed in or out in another tab). Please reload it.";
    }
    if (data && typeof data.detail === "string") return data.detail;
    if (data && typeof data === "object") {
      for (const value of Object.values(data)) {
        if (Array.isArray(value) && typeof value[0] === "string") return value[0];
        if (typeof value === "string") return value;
      }
    }
    return `The request failed (${response.status}). Please try again.`;
  }

  function checkSignedIn(response) {
    if (response.status === 401) {
      window.location.assign(`/login/?next=${encodeURIComponent(window.location.pathname)}`);
      throw new ApiError(401, "Your session has ended. Please sign in again.");
    }
  }

  async function api(path, options) {
    let response;
    try {
      response = await request(path, options);
    } catch (error) {
      throw new ApiError(0, "Medibot cannot be reached. Check your connection and try again.");
    }
    checkSignedIn(response);
    if (response.status === 204) return { response, data: null };
    const data = await readJson(response);
    if (!response.ok) throw failure(response, data);
    return { response, data };
  }

  const sessionPath = (id) => `/api/chat/sessions/${encodeURIComponent(id)}`;

  // --- small DOM helpers ------------------------------------------------------------------------

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function announce(text) {
    ui.announcer.textContent = "";
    window.setTimeout(() => {
      ui.announcer.textContent = text;
    }, 50);
  }

  /* kind: "warning" | "error" | "info"; action: optional {label, run} offered as a button. */
  function showBanner(text, kind, action) {
    ui.banner.className = `banner banner--${kind}`;
    ui.bannerText.textContent = text;
    state.bannerAction = action || null;
    ui.bannerAction.hidden = !action;
    ui.bannerAction.textContent = action ? action.label : "";
    ui.banner.hidden = false;
  }

  function hideBanner() {
    ui.banner.hidden = true;
    ui.bannerText.textContent = "";
    state.bannerAction = null;
    ui.bannerAction.hidden = true;
  }

  /* MongoDB is down and the API answered from its recent-history cache ("degraded"): say so
     instead of showing an error or an empty conversation. */
  const DEGRADED_TEXT = "Showing your recent messages; the full history is temporarily unavailable";

  function noteDegraded(data) {
    if (data && data.degraded) showBanner(DEGRADED_TEXT, "warning");
  }

  function reportError(error) {
    showBanner(error instanceof ApiError ? error.message : "Something went wrong. Please try again.", "error");
  }

  function formatDate(value) {
    if (!value) return "";
    const date = new Date(value);
    if (Number.isNaN(date.getTime())) return "";
    return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  }

  function sessionTitle(session) {
    return (session && session.title) || "Untitled conversation";
  }

  const nearBottom = () =>
    ui.messageScroll.scrollHeight - ui.messageScroll.scrollTop - ui.messageScroll.clientHeight < 80;

  function scrollToBottom() {
    ui.messageScroll.scrollTop = ui.messageScroll.scrollHeight;
  }

  // --- search snippets: escaped text from the server, with <mark> as the only element ------------

  const ENTITIES = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

  function decodeEntities(text) {
    return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, name) => {
      if (name[0] === "#") {
        const code = name[1] === "x" || name[1] === "X" ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
        return Number.isFinite(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
      }
      return Object.prototype.hasOwnProperty.call(ENTITIES, name.toLowerCase()) ? ENTITIES[name.toLowerCase()] : whole;
    });
  }

  function snippetFragment(snippet) {
    const fragment = document.createDocumentFragment();
    let mark = null;
    for (const part of String(snippet).split(/(<mark>|<\/mark>)/)) {
      if (part === "<mark>") {
        mark = mark || document.createElement("mark");
      } else if (part === "</mark>") {
        if (mark) fragment.append(mark);
        mark = null;
      } else if (part) {
        (mark || fragment).append(document.createTextNode(decodeEntities(part)));
      }
    }
    if (mark) fragment.append(mark);
    return fragment;
  }

  // --- sidebar: the user's conversations ------------------------------------------------------

  function sessionItem(session) {
    const item = element("li", "session-item");
    item.dataset.sessionId = session.session_id;
    const button = element("button", "session-link");
    button.type = "button";
    button.append(element("span", "session-title", sessionTitle(session)));
    const meta = element("span", "session-meta");
    if (session.is_pinned) meta.append(element("span", "session-badge", "Pinned"));
    if (session.is_archived) meta.append(element("span", "session-badge", "Archived"));
    if (isWhatsApp(session)) meta.append(element("span", "session-badge session-badge--whatsapp", "WhatsApp"));
    meta.append(element("span", "session-date", formatDate(session.last_message_at || session.updated_at)));
    button.append(meta);
    if (state.session && state.session.session_id === session.session_id) {
      button.setAttribute("aria-current", "true");
    }
    button.addEventListener("click", () => openSession(session.session_id));
    item.append(button);
    return item;
  }

  function updateSessionControls() {
    ui.sessionsLoading.hidden = !state.sessionsLoading;
    ui.sessionsMore.hidden = state.sessionsDone || state.sessionsLoading;
    ui.sessionsEmpty.hidden = !(state.sessionsDone && ui.sessionList.children.length === 0);
    ui.sessionsEmpty.textContent = state.sessionsFailed
      ? "Your conversations could not be loaded just now."
      : ui.showArchived.checked
        ? "No archived conversations."
        : "No conversations yet.";
    ui.sessionsHeading.textContent = ui.showArchived.checked ? "Archived conversations" : "Your conversations";
  }

  function sessionListItem(sessionId) {
    return ui.sessionList.querySelector(`[data-session-id="${CSS.escape(sessionId)}"]`);
  }

  /* Puts a conversation where the server would list it after a new turn: it is now the newest,
     so it goes first among its peers (pinned ones before the rest); other views drop it. */
  function placeSession(session) {
    const existing = sessionListItem(session.session_id);
    if (existing) existing.remove();
    if (Boolean(session.is_archived) !== ui.showArchived.checked) {
      updateSessionControls();
      return;
    }
    state.sessions.set(session.session_id, session);
    const before = Array.from(ui.sessionList.children).find((item) => {
      const listed = state.sessions.get(item.dataset.sessionId);
      return session.is_pinned || !(listed && listed.is_pinned);
    });
    ui.sessionList.insertBefore(sessionItem(session), before || null);
    updateSessionControls();
  }

  function markCurrentSession() {
    for (const button of ui.sessionList.querySelectorAll(".session-link")) {
      const current = state.session && button.parentElement.dataset.sessionId === state.session.session_id;
      if (current) button.setAttribute("aria-current", "true");
      else button.removeAttribute("aria-current");
    }
  }

  async function loadSessions({ reset = false } = {}) {
    if (reset) {
      state.sessionsGeneration += 1;
      state.sessionsCursor = null;
      state.sessionsDone = false;
      state.sessionsLoading = false;
    }
    if (state.sessionsLoading || state.sessionsDone) return;
    const generation = state.sessionsGeneration;
    state.sessionsLoading = true;
    updateSessionControls();
    const params = new URLSearchParams({
      page_size: String(SESSION_PAGE_SIZE),
      archived: ui.showArchived.checked ? "true" : "false",
    });
    if (state.sessionsCursor) params.set("cursor", state.sessionsCursor);
    try {
      const { data } = await api(`/api/chat/sessions?${params}`);
      if (generation !== state.sessionsGeneration) return;
      noteDegraded(data);
      if (reset) {
        ui.sessionList.replaceChildren();
        state.sessions.clear();
      }
      for (const session of data.results) {
        if (sessionListItem(session.session_id)) continue; // already placed here after a new turn
        state.sessions.set(session.session_id, session);
        ui.sessionList.append(sessionItem(session));
      }
      state.sessionsCursor = data.next_cursor;
      state.sessionsDone = !data.next_cursor;
      state.sessionsFailed = false;
    } catch (error) {
      if (generation === state.sessionsGeneration) {
        state.sessionsDone = true;
        state.sessionsFailed = true;
        reportError(error);
      }
    } finally {
      if (generation === state.sessionsGeneration) {
        state.sessionsLoading = false;
        updateSessionControls();
        window.requestAnimationFrame(loadMoreIfVisible);
      }
    }
  }

  function loadMoreIfVisible() {
    if (state.sessionsDone || state.sessionsLoading || !ui.searchResults.hidden) return;
    const scroller = ui.sidebarScroll;
    if (scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 120) loadSessions();
  }

  // --- the open conversation --------------------------------------------------------------------

  function voteControls(messageId) {
    const group = ui.voteTemplate.content.firstElementChild.cloneNode(true);
    const current = state.votes.get(messageId);
    for (const button of group.querySelectorAll(".vote")) {
      button.setAttribute("aria-pressed", String(button.dataset.vote === current));
      button.addEventListener("click", () => vote(messageId, button.dataset.vote, group));
    }
    return group;
  }

  // --- copying ------------------------------------------------------------------------------------

  async function copyText(text) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (error) {
      const scratch = element("textarea", "visually-hidden");
      scratch.value = text;
      document.body.append(scratch);
      scratch.select();
      const copied = document.execCommand("copy");
      scratch.remove();
      return copied;
    }
  }

  function copyButton(label, className, getText) {
    const button = element("button", `button button--quiet copy-button ${className}`, label);
    button.type = "button";
    button.addEventListener("click", async () => {
      const copied = await copyText(getText());
      button.textContent = copied ? "Copied" : "Copy failed";
      announce(copied ? "Copied to the clipboard." : "Could not copy to the clipboard.");
      window.setTimeout(() => {
        button.textContent = label;
      }, 2000);
    });
    return button;
  }

  // --- message bodies -----------------------------------------------------------------------------

  /* The sanitised markdown of a reply, each code block with its own copy button. */
  function renderMarkdown(body, text, streaming) {
    body.replaceChildren(window.MedibotMarkdown.render(text, { streaming }));
    for (const pre of body.querySelectorAll("pre")) {
      const block = element("div", "code-block");
      pre.replaceWith(block);
      block.append(copyButton("Copy code", "code-copy", () => pre.textContent), pre);
    }
  }

  function setMessageText(item, text) {
    const body = item.querySelector(".message-text");
    item.dataset.content = text;
    if (item.classList.contains("message--assistant") && !item.classList.contains("message--failed")) {
      body.classList.add("markdown");
      renderMarkdown(body, text, item.classList.contains("message--streaming"));
    } else {
      body.classList.remove("markdown");
      body.textContent = text;
    }
  }

  function setMessageTime(item, createdAt) {
    const when = formatDate(createdAt);
    if (!when) return;
    const header = item.querySelector(".message-author");
    let time = header.querySelector(".message-time");
    if (!time) {
      time = element("time", "message-time");
      header.querySelector(".message-who").after(time);
    }
    time.textContent = when;
    time.dateTime = createdAt;
  }

  /* A name for a stored citation or attachment, whatever its source's shape: {title, url},
     {pdf, page, quote}, {type, name}, or a ChatGPT export part {content_type, width, height}. */
  function sourceLabel(entry) {
    if (typeof entry === "string") return entry;
    if (!entry || typeof entry !== "object") return "";
    const text = (value) => (typeof value === "string" || typeof value === "number" ? String(value) : "");
    let name = [entry.title, entry.name, entry.pdf, entry.filename, entry.source, entry.url].map(text).find(Boolean);
    if (!name) {
      const kind = text(entry.content_type) || text(entry.type);
      const size = entry.width && entry.height ? ` (${text(entry.width)} × ${text(entry.height)})` : "";
      name = kind ? `${/image/i.test(kind) ? "Image" : kind.replace(/_/g, " ")}${size}` : "Attachment";
    }
    const page = text(entry.page) ? `, page ${text(entry.page)}` : "";
    return `${name}${page}`;
  }

  function safeLink(url) {
    return typeof url === "string" && /^https?:\/\//i.test(url) ? url : null;
  }

  /* Citations (source_documents) and attachments stored with a message, shown as text or links. */
  function messageSources(message) {
    const groups = [
      ["Sources", Array.isArray(message.source_documents) ? message.source_documents : []],
      ["Attachments", Array.isArray(message.attachments) ? message.attachments : []],
    ];
    const container = element("div", "message-sources");
    for (const [heading, entries] of groups) {
      const items = entries
        .map((entry) => ({ label: sourceLabel(entry), url: safeLink(entry && entry.url), quote: entry && entry.quote }))
        .filter((entry) => entry.label);
      if (!items.length) continue;
      const section = element("section", `sources sources--${heading.toLowerCase()}`);
      section.append(element("h3", "sources-heading", heading));
      const list = element("ul", "sources-list");
      for (const entry of items) {
        const li = element("li", "sources-item");
        if (entry.url) {
          const link = element("a", "sources-link", entry.label);
          link.href = entry.url;
          link.target = "_blank";
          link.rel = "noopener noreferrer";
          li.append(link);
        } else {
          li.append(element("span", "sources-name", entry.label));
        }
        if (typeof entry.quote === "string" && entry.quote) li.append(element("q", "sources-quote", entry.quote));
        list.append(li);
      }
      section.append(list);
      container.append(section);
    }
    return container.children.length ? container : null;
  }

  /* Copy (and, for stored replies, rating) under a message. */
  function messageActions(item, messageId) {
    const actions = element("div", "message-actions");
    actions.append(copyButton("Copy", "message-copy", () => item.dataset.content || ""));
    if (item.classList.contains("message--assistant") && messageId) actions.append(voteControls(messageId));
    item.append(actions);
  }

  function messageItem(message, { queued = false } = {}) {
    const role = message.role || "assistant";
    const item = element("li", `message message--${role}`);
    if (message.message_id) item.dataset.messageId = message.message_id;
    if (message.order) item.dataset.order = String(message.order);
    if (message.my_vote && !state.votes.has(message.message_id)) state.votes.set(message.message_id, message.my_vote);
    const header = element("p", "message-author");
    header.append(element("span", "message-who", role === "user" ? "You" : role === "assistant" ? "Medibot" : "System"));
    if (queued) header.append(element("span", "message-badge", "Queued"));
    const body = element("div", "message-text");
    item.append(header, body);
    setMessageTime(item, message.created_at);
    if (message.status === "stopped") markStopped(item);
    if (message.status === "failed") {
      item.classList.add("message--failed");
      setMessageText(item, message.content || "Medibot could not answer this message. Please try again.");
    } else {
      setMessageText(item, message.content || "");
    }
    const sources = messageSources(message);
    if (sources) item.append(sources);
    const stored = message.message_id && !queued && message.status !== "failed";
    if (message.content && (stored || queued)) messageActions(item, stored ? message.message_id : null);
    if (message.message_id && !queued) addBranchControls(item, message);
    return item;
  }

  /* WhatsApp conversations are shown read-only: the patient continues them on WhatsApp. */
  function isWhatsApp(session) {
    return Boolean(session && session.channel === "whatsapp");
  }

  function renderConversationHeader() {
    const session = state.session;
    const open = Boolean(session && session.saved);
    const whatsapp = isWhatsApp(session);
    ui.composer.hidden = whatsapp;
    ui.whatsappNote.hidden = !whatsapp;
    ui.channelBadge.hidden = !whatsapp;
    ui.title.textContent = session ? (session.saved || session.title ? sessionTitle(session) : "Conversation") : "New conversation";
    ui.title.title = ui.title.textContent; // the whole title on hover when it is ellipsised
    ui.tools.hidden = !open;
    ui.actionsToggle.hidden = !open;
    if (!open) {
      setActionsOpen(false);
      return;
    }
    ui.detailsMessages.textContent = Number(session.message_count || 0).toLocaleString();
    ui.detailsStarted.textContent = formatDate(session.created_at) || "–";
    ui.pin.textContent = session.is_pinned ? "Unpin" : "Pin";
    ui.pin.setAttribute("aria-pressed", String(Boolean(session.is_pinned)));
    ui.archive.textContent = session.is_archived ? "Unarchive" : "Archive";
    for (const link of ui.exportMenu.querySelectorAll("a[data-format]")) {
      link.href = `${sessionPath(session.session_id)}/export?format=${link.dataset.format}`;
    }
    document.title = `${sessionTitle(session)} · Medibot`;
  }

  function updateEmptyState() {
    ui.chatEmpty.hidden = ui.messages.children.length > 0 || !ui.historyState.hidden;
  }

  /* Opening a conversation failed: say so where its messages would be (never an empty conversation). */
  function showHistoryProblem(text, retry) {
    ui.historyText.textContent = text;
    ui.historyRetry.hidden = !retry;
    state.historyRetry = retry || null;
    ui.historyState.hidden = false;
    updateEmptyState();
  }

  function hideHistoryProblem() {
    ui.historyState.hidden = true;
    state.historyRetry = null;
  }

  // --- the address: / for a new conversation, /c/<session_id> for an open one ---------------------

  const conversationPath = (sessionId) => `/c/${encodeURIComponent(sessionId)}`;

  function sessionIdFromPath(pathname) {
    const match = /^\/c\/([^/]+)\/?$/.exec(pathname);
    return match ? decodeURIComponent(match[1]) : null;
  }

  /* Moves the address to the conversation (or to / for none); one history entry per change. */
  function showInAddressBar(sessionId, { replace = false } = {}) {
    const path = sessionId ? conversationPath(sessionId) : "/";
    if (window.location.pathname === path) return;
    const entry = { sessionId: sessionId || null };
    if (replace) window.history.replaceState(entry, "", path);
    else window.history.pushState(entry, "", path);
  }

  function resetConversation() {
    state.openGeneration += 1;
    state.session = null;
    state.olderCursor = null;
    ui.messages.replaceChildren();
    ui.loadOlder.hidden = true;
    hideHistoryProblem();
    ui.tokenUsage.textContent = "–";
    delete ui.tokenUsage.dataset.loaded;
    ui.exportMenu.open = false;
    ui.detailsMenu.open = false;
    document.title = "Medibot";
    renderConversationHeader();
    updateEmptyState();
    markCurrentSession();
  }

  async function loadTokenUsage() {
    if (!state.session || !state.session.saved) return;
    const generation = state.openGeneration;
    try {
      const { data } = await api(`${sessionPath(state.session.session_id)}/token-usage`);
      if (generation !== state.openGeneration) return;
      const tokens = Number(data.total_tokens || 0).toLocaleString();
      const cost = Number(data.total_cost || 0);
      ui.tokenUsage.textContent = cost > 0 ? `${tokens} (cost $${cost.toFixed(4)})` : tokens;
      ui.tokenUsage.dataset.loaded = "true";
    } catch (error) {
      ui.tokenUsage.textContent = "–";
    }
  }

  /* Shows one conversation. A message typed meanwhile is sent once it has loaded (sendMessage
     waits for state.opening), and focus moves to the title only if the user has not moved it. */
  function openSession(sessionId, { focus = "title", address = "push" } = {}) {
    closeSidebarOnNarrow();
    resetConversation();
    if (address !== "keep") showInAddressBar(sessionId, { replace: address === "replace" });
    const generation = state.openGeneration;
    const focusBefore = document.activeElement;
    const known = state.sessions.get(sessionId);
    state.session = Object.assign({ session_id: sessionId }, known || {}, { saved: Boolean(known) });
    renderConversationHeader();
    markCurrentSession();
    ui.chatEmpty.hidden = true; // until the history is here: never "start a conversation" over one
    const opening = (async () => {
      try {
        const { data } = await api(`${sessionPath(sessionId)}/full?limit=${MESSAGE_PAGE_SIZE}`);
        if (generation !== state.openGeneration) return false;
        state.session = Object.assign({}, data.session, { saved: true });
        renderConversationHeader();
        markCurrentSession();
        ui.messages.replaceChildren(...data.messages.map((message) => messageItem(message)));
        setOlder(data);
        updateEmptyState();
        noteDegraded(data);
        scrollToBottom();
        if (!data.degraded) loadTokenUsage();
        const untouched = [focusBefore, document.body, null].includes(document.activeElement);
        if (focus === "title" && untouched) ui.title.focus();
        return true;
      } catch (error) {
        if (generation === state.openGeneration) openFailed(sessionId, error);
        return false;
      } finally {
        if (state.opening === opening) state.opening = null;
      }
    })();
    state.opening = opening;
    return opening;
  }

  function openFailed(sessionId, error) {
    const retry = () => openSession(sessionId, { address: "keep" });
    if (error.status === 404) {
      state.session = null;
      ui.title.textContent = "Conversation not found";
      document.title = "Not found · Medibot";
      showHistoryProblem("This conversation does not exist or is not yours. Start a new conversation instead.");
    } else if (error.status === 503) {
      showHistoryProblem(
        "The history of this conversation is temporarily unavailable. Nothing is lost: try again in a moment.",
        retry
      );
    } else {
      showHistoryProblem(`This conversation could not be opened. ${error.message}`, retry);
    }
  }

  function setOlder(page) {
    state.olderCursor = page.has_older ? page.older_cursor : null;
    ui.loadOlder.hidden = !state.olderCursor;
  }

  async function loadOlder() {
    if (!state.session || !state.olderCursor || state.olderLoading) return false;
    const generation = state.openGeneration;
    const hadFocus = document.activeElement === ui.loadOlder;
    state.olderLoading = true;
    ui.loadOlder.setAttribute("aria-disabled", "true");
    try {
      const params = new URLSearchParams({ limit: String(MESSAGE_PAGE_SIZE), before: String(state.olderCursor) });
      const { data } = await api(`${sessionPath(state.session.session_id)}/messages?${params}`);
      if (generation !== state.openGeneration) return false;
      const distanceFromBottom = ui.messageScroll.scrollHeight - ui.messageScroll.scrollTop;
      ui.messages.prepend(...data.results.map((message) => messageItem(message)));
      ui.messageScroll.scrollTop = ui.messageScroll.scrollHeight - distanceFromBottom;
      setOlder(data);
      announce(`${data.results.length} older messages loaded.`);
      if (ui.loadOlder.hidden && hadFocus) ui.messageScroll.focus();
      return true;
    } catch (error) {
      reportError(error);
      return false;
    } finally {
      state.olderLoading = false;
      ui.loadOlder.removeAttribute("aria-disabled");
    }
  }

  // --- sending, with the reply streamed in --------------------------------------------------------

  function parseEvent(raw) {
    let name = "message";
    const data = [];
    for (const line of raw.split(/\r?\n/)) {
      if (line.startsWith("event:")) name = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    try {
      return { name, data: data.length ? JSON.parse(data.join("\n")) : {} };
    } catch (error) {
      return { name: "error", data: { detail: "The reply could not be read." } };
    }
  }

  async function readEvents(response, onEvent) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    const separator = /\r?\n\r?\n/;
    for (;;) {
      const { value, done } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      let match;
      while ((match = separator.exec(buffer)) !== null) {
        const raw = buffer.slice(0, match.index);
        buffer = buffer.slice(match.index + match[0].length);
        if (raw.trim()) onEvent(parseEvent(raw));
      }
      if (done) break;
    }
    if (buffer.trim()) onEvent(parseEvent(buffer));
  }

  function setSending(sending) {
    state.sending = sending;
    ui.send.disabled = sending;
    ui.composer.setAttribute("aria-busy", String(sending));
    showStopButton(sending);
  }

  function failReply(item, text) {
    item.classList.add("message--failed");
    item.classList.remove("message--streaming");
    item.removeAttribute("aria-busy");
    setMessageText(item, text);
  }

  function typingIndicator() {
    const typing = element("span", "typing");
    const dots = element("span", "typing-dots");
    dots.setAttribute("aria-hidden", "true");
    dots.append(element("span"), element("span"), element("span"));
    typing.append(element("span", "typing-label", "Medibot is typing"), dots);
    return typing;
  }

  /* The text goes back into the box (unless something new was typed there) with a Retry action. */
  function keepTyped(text, message) {
    if (!ui.input.value.trim()) ui.input.value = text;
    fitComposer();
    showBanner(message, "error", {
      label: "Retry",
      run: () => {
        hideBanner();
        sendMessage(ui.input.value);
      },
    });
  }

  /* A turn was stored: fetch the conversation (title, counters) and move it up the sidebar. */
  async function turnStored(sessionId) {
    try {
      const { data } = await api(sessionPath(sessionId));
      placeSession(data);
      if (!state.session || state.session.session_id !== sessionId) return;
      state.session = Object.assign({}, data, { saved: true });
      renderConversationHeader();
      markCurrentSession();
      loadTokenUsage();
    } catch (error) {
      reportError(error);
    }
  }

  /* The streamed turn's stored times (the done event carries ids only): the newest two messages. */
  async function stampStreamedTurn(sessionId, items) {
    try {
      const { data } = await api(`${sessionPath(sessionId)}/messages?limit=2`);
      for (const message of data.results) {
        const item = items.find((candidate) => candidate.dataset.messageId === message.message_id);
        if (!item) continue;
        setMessageTime(item, message.created_at);
        if (message.order) item.dataset.order = String(message.order);
        addBranchControls(item, message);
        const sources = messageSources(message);
        if (sources && !item.querySelector(".message-sources")) {
          item.querySelector(".message-actions").before(sources);
        }
      }
    } catch (error) {
      // the times show after a reload; the reply itself is stored and on screen
    }
  }

  function newConversationStarted(sessionId, generation) {
    if (!sessionId || generation !== state.openGeneration) return;
    if (!state.session) state.session = { session_id: sessionId, title: "", saved: false };
    showInAddressBar(sessionId);
  }

  function showJsonReply(data, userItem, botItem, generation) {
    const queued = Boolean(data.queued);
    userItem.replaceWith(messageItem(data.user_message, { queued }));
    botItem.replaceWith(messageItem(data.assistant_message, { queued }));
    if (data.session_id) newConversationStarted(data.session_id, generation);
    if (queued) {
      showBanner(data.detail || "Chat storage is temporarily unavailable; your message was queued.", "warning");
      renderConversationHeader();
    } else {
      turnStored(data.session_id);
    }
    scrollToBottom(); // after the banner, which takes room from the conversation
  }

  async function sendMessage(text) {
    if (state.sending || !text.trim() || isWhatsApp(state.session)) return;
    setSending(true);
    ui.input.value = "";
    fitComposer();
    if (state.opening) await state.opening;
    if (!ui.banner.hidden && !ui.banner.classList.contains("banner--warning")) hideBanner();
    const generation = state.openGeneration;
    const userItem = messageItem({ role: "user", content: text });
    const botItem = messageItem({ role: "assistant", content: "" });
    botItem.classList.add("message--streaming");
    botItem.setAttribute("aria-busy", "true");
    botItem.querySelector(".message-text").append(typingIndicator());
    announce("Medibot is typing…");
    ui.messages.append(userItem, botItem);
    hideHistoryProblem();
    updateEmptyState();
    scrollToBottom();
    const body = { message: text };
    if (state.session) body.session_id = state.session.session_id;
    const stream = startStream();
    let response;
    try {
      response = await request("/api/chat/send?stream=true", {
        method: "POST",
        body,
        accept: "application/json, text/event-stream", // errors and queued turns come as JSON
        signal: stream.controller.signal,
      });
      checkSignedIn(response);
    } catch (error) {
      userItem.remove();
      botItem.remove();
      updateEmptyState();
      const network = !(error instanceof ApiError);
      keepTyped(text, network ? "Medibot cannot be reached. Check your connection; your message is still in the box." : error.message);
      setSending(false);
      ui.input.focus();
      return;
    }
    try {
      const type = response.headers.get("Content-Type") || "";
      if (response.status === 200 && type.startsWith("text/event-stream")) {
        newConversationStarted(response.headers.get("X-Session-Id"), generation);
        streamHasSession(stream, response.headers.get("X-Session-Id"));
        await streamReply(response, text, userItem, botItem, generation);
      } else {
        const data = await readJson(response);
        if (!response.ok) throw failure(response, data);
        if (generation === state.openGeneration) showJsonReply(data, userItem, botItem, generation);
      }
    } catch (error) {
      userItem.remove();
      botItem.remove();
      updateEmptyState();
      const message = error instanceof ApiError ? error.message : "Something went wrong. Please try again.";
      keepTyped(text, `${message}${/\.$/.test(message) ? "" : "."} Your message is still in the box.`);
    } finally {
      state.stream = null;
      setSending(false);
      ui.input.focus();
    }
  }

  async function streamReply(response, typed, userItem, botItem, generation) {
    let content = "";
    let finished = false;
    try {
      await readEvents(response, ({ name, data }) => {
        if (name === "token") {
          const follow = nearBottom();
          content += String(data.text || "");
          setMessageText(botItem, content);
          if (follow) scrollToBottom();
        } else if (name === "done") {
          finished = true;
          botItem.classList.remove("message--streaming");
          botItem.removeAttribute("aria-busy");
          setMessageText(botItem, content);
          userItem.dataset.messageId = data.user_message_id;
          botItem.dataset.messageId = data.assistant_message_id;
          messageActions(userItem, null);
          messageActions(botItem, data.assistant_message_id);
          announce("Medibot replied.");
          turnStored(data.session_id);
          stampStreamedTurn(data.session_id, [userItem, botItem]);
        } else if (name === "error") {
          finished = true;
          const detail = data.detail || "Medibot could not answer.";
          failReply(botItem, detail);
          keepTyped(typed, `${detail} Your message is still in the box.`);
          if (data.session_id) turnStored(data.session_id);
        } else if (name === "stopped") {
          finished = true;
          replyStopped(userItem, botItem, content, data);
        }
      });
    } catch (error) {
      // the connection dropped mid-reply: handled below like an unfinished stream
    }
    if (!finished && state.stream && state.stream.stopping) {
      replyStopped(userItem, botItem, content, null); // the stop request failed: we hung up instead
    } else if (!finished) {
      failReply(botItem, "The reply was interrupted. Reload the conversation to see whether it was saved.");
      keepTyped(typed, "The connection was lost before the reply finished. Your message is still in the box.");
    }
  }

  // --- stopping a reply ---------------------------------------------------------------------------
  /* While a reply streams the Send button is a Stop button. Stop asks the server to stop
   * (POST .../stop: works behind proxies that never report a client leaving); if that request
   * fails the page hangs up, and the server stores the text so far as stopped either way. */

  function startStream() {
    state.stream = { controller: new AbortController(), sessionId: null, stopping: false };
    return state.stream;
  }

  function streamHasSession(stream, sessionId) {
    stream.sessionId = sessionId;
    if (stream.stopping) requestStop(stream); // Stop was pressed before the reply began
  }

  function showStopButton(streaming) {
    ui.send.textContent = streaming ? "Stop" : "Send";
    ui.send.classList.toggle("composer-send--stop", streaming);
    ui.send.dataset.mode = streaming ? "stop" : "send";
    ui.send.disabled = false;
  }

  function stopReply() {
    const stream = state.stream;
    if (!stream || stream.stopping) return;
    stream.stopping = true;
    ui.send.disabled = true;
    announce("Stopping the reply…");
    if (stream.sessionId) requestStop(stream);
  }

  async function requestStop(stream) {
    try {
      await api(`${sessionPath(stream.sessionId)}/stop`, { method: "POST" });
    } catch (error) {
      stream.controller.abort();
    }
  }

  function markStopped(item) {
    item.classList.add("message--stopped");
    const header = item.querySelector(".message-author");
    if (header && !header.querySelector(".message-badge--stopped")) {
      header.append(element("span", "message-badge message-badge--stopped", "Stopped"));
    }
  }

  function replyStopped(userItem, botItem, content, data) {
    botItem.classList.remove("message--streaming");
    botItem.removeAttribute("aria-busy");
    setMessageText(botItem, content || "(no reply)");
    markStopped(botItem);
    announce("The reply was stopped.");
    if (!data) return;
    userItem.dataset.messageId = data.user_message_id;
    botItem.dataset.messageId = data.assistant_message_id;
    messageActions(userItem, null);
    messageActions(botItem, data.assistant_message_id);
    turnStored(data.session_id);
    stampStreamedTurn(data.session_id, [userItem, botItem]);
  }

  // --- votes, rename, pin, archive, delete ----------------------------------------------------------

  async function vote(messageId, voteType, group) {
    const current = state.votes.get(messageId);
    const path = `/api/chat/messages/${encodeURIComponent(messageId)}/vote`;
    try {
      if (current === voteType) {
        await api(path, { method: "DELETE" });
        state.votes.delete(messageId);
        announce("Your rating was removed.");
      } else {
        const { response, data } = await api(path, { method: "POST", body: { vote_type: voteType } });
        state.votes.set(messageId, voteType);
        if (response.status === 202) showBanner(data.detail, "warning");
        announce("Thank you for rating this reply.");
      }
    } catch (error) {
      reportError(error);
    }
    const now = state.votes.get(messageId);
    for (const button of group.querySelectorAll(".vote")) {
      button.setAttribute("aria-pressed", String(button.dataset.vote === now));
    }
  }

  async function updateSession(changes) {
    if (state.opening) await state.opening; // else the page being loaded would overwrite the change
    const { data } = await api(sessionPath(state.session.session_id), { method: "PATCH", body: changes });
    state.session = Object.assign({}, data, { saved: true });
    renderConversationHeader();
    return data;
  }

  function openRename() {
    ui.renameInput.value = state.session.title || "";
    ui.renameError.hidden = true;
    ui.renameDialog.showModal();
    ui.renameInput.select();
  }

  async function submitRename(event) {
    event.preventDefault();
    const title = ui.renameInput.value.trim();
    if (!title) {
      ui.renameError.textContent = "Enter a title.";
      ui.renameError.hidden = false;
      ui.renameInput.focus();
      return;
    }
    try {
      await updateSession({ title });
      ui.renameDialog.close();
      ui.rename.focus();
      announce("Conversation renamed.");
      const item = sessionListItem(state.session.session_id);
      if (item) item.replaceWith(sessionItem(state.session));
      state.sessions.set(state.session.session_id, state.session);
    } catch (error) {
      ui.renameError.textContent = error.message;
      ui.renameError.hidden = false;
    }
  }

  async function togglePin() {
    try {
      const data = await updateSession({ is_pinned: !state.session.is_pinned });
      announce(data.is_pinned ? "Conversation pinned." : "Conversation unpinned.");
      await loadSessions({ reset: true });
    } catch (error) {
      reportError(error);
    }
  }

  async function toggleArchive() {
    try {
      const data = await updateSession({ is_archived: !state.session.is_archived });
      announce(data.is_archived ? "Conversation archived." : "Conversation restored from the archive.");
      await loadSessions({ reset: true });
    } catch (error) {
      reportError(error);
    }
  }

  function openDelete() {
    ui.deleteTitle.textContent = sessionTitle(state.session);
    ui.deleteDialog.showModal();
    ui.deleteCancel.focus();
  }

  async function confirmDelete() {
    ui.deleteConfirm.disabled = true;
    if (state.opening) await state.opening;
    const sessionId = state.session.session_id;
    const title = sessionTitle(state.session);
    try {
      await api(sessionPath(sessionId), { method: "DELETE" });
      ui.deleteDialog.close();
      const item = sessionListItem(sessionId);
      if (item) item.remove();
      state.sessions.delete(sessionId);
      resetConversation();
      showInAddressBar(null, { replace: true });
      updateSessionControls();
      showBanner(`“${title}” was deleted.`, "info", { label: "Undo", run: () => restoreSession(sessionId) });
      ui.input.focus();
    } catch (error) {
      ui.deleteDialog.close();
      reportError(error);
    } finally {
      ui.deleteConfirm.disabled = false;
    }
  }

  async function restoreSession(sessionId) {
    try {
      await api(`${sessionPath(sessionId)}/restore`, { method: "POST" });
      hideBanner();
      announce("Conversation restored.");
      await loadSessions({ reset: true });
      await openSession(sessionId);
    } catch (error) {
      reportError(error);
    }
  }

  // --- search -----------------------------------------------------------------------------------

  function clearSearch() {
    state.searchGeneration += 1;
    window.clearTimeout(state.searchTimer);
    ui.searchResults.hidden = true;
    ui.sessionSection.hidden = false;
    ui.searchSessions.replaceChildren();
    ui.searchMessages.replaceChildren();
    ui.searchSessionsHeading.hidden = true;
    ui.searchMessagesHeading.hidden = true;
  }

  function resultButton(label, onClick) {
    const button = element("button", "result-link");
    button.type = "button";
    button.append(label);
    button.addEventListener("click", onClick);
    return button;
  }

  function searchHitItem(hit) {
    const item = element("li", "result-item");
    const label = document.createDocumentFragment();
    label.append(element("span", "result-title", sessionTitle({ title: hit.session_title })));
    const snippet = element("span", "result-snippet");
    snippet.append(snippetFragment(hit.snippet));
    label.append(snippet);
    item.append(resultButton(label, () => openSearchHit(hit)));
    return item;
  }

  // "More results" pages with the search's cursor (newest first), appending below the shown hits.
  function moreResultsItem(query, cursor, generation) {
    const item = element("li", "result-item");
    item.append(
      resultButton("More results", async () => {
        item.remove();
        try {
          const params = new URLSearchParams({ q: query, limit: "20", cursor });
          const { data } = await api(`/api/chat/search?${params}`);
          if (generation !== state.searchGeneration) return;
          const { messages, has_more: hasMore, next_cursor: next } = data.data;
          ui.searchMessages.append(...messages.map(searchHitItem));
          if (hasMore && next) ui.searchMessages.append(moreResultsItem(query, next, generation));
          ui.searchMessagesHeading.hidden = ui.searchMessages.children.length === 0;
        } catch (error) {
          if (generation === state.searchGeneration) ui.searchStatus.textContent = error.message;
        }
      })
    );
    return item;
  }

  async function runSearch(query) {
    const generation = ++state.searchGeneration;
    ui.searchResults.hidden = false;
    ui.sessionSection.hidden = true;
    ui.searchStatus.textContent = "Searching…";
    try {
      const { data } = await api(`/api/chat/search?${new URLSearchParams({ q: query, limit: "20" })}`);
      if (generation !== state.searchGeneration) return;
      const { sessions, messages, has_more: hasMore, next_cursor: next } = data.data;
      ui.searchSessions.replaceChildren(
        ...sessions.map((session) => {
          const item = element("li", "result-item");
          const label = document.createDocumentFragment();
          label.append(element("span", "result-title", sessionTitle(session)));
          item.append(resultButton(label, () => openSession(session.session_id)));
          return item;
        })
      );
      ui.searchMessages.replaceChildren(...messages.map(searchHitItem));
      if (hasMore && next) {
        ui.searchMessages.append(moreResultsItem(query, next, generation));
      }
      ui.searchSessionsHeading.hidden = sessions.length === 0;
      ui.searchMessagesHeading.hidden = messages.length === 0;
      const count = sessions.length + messages.length;
      const more = hasMore ? "+" : "";
      ui.searchStatus.textContent = count
        ? `${count}${more} ${count === 1 && !more ? "match" : "matches"} for “${query}”.`
        : `Nothing found for “${query}”.`;
    } catch (error) {
      if (generation === state.searchGeneration) ui.searchStatus.textContent = error.message;
    }
  }

  async function openSearchHit(hit) {
    await showBranchOf(hit.message_id);
    if (!(await openSession(hit.session_id, { focus: "none" }))) return;
    const selector = `[data-message-id="${CSS.escape(hit.message_id)}"]`;
    let target = ui.messages.querySelector(selector);
    for (let page = 0; !target && page < SEARCH_OLDER_PAGES && state.olderCursor; page += 1) {
      if (!(await loadOlder())) break;
      target = ui.messages.querySelector(selector);
    }
    if (!target) {
      ui.title.focus();
      return;
    }
    target.classList.add("message--found");
    target.tabIndex = -1;
    // Only the conversation scrolls (scrollIntoView would move the whole page as well).
    const offset = target.getBoundingClientRect().top - ui.messageScroll.getBoundingClientRect().top;
    ui.messageScroll.scrollTop += offset - (ui.messageScroll.clientHeight - target.offsetHeight) / 2;
    target.focus({ preventScroll: true });
  }

  // --- branches (issue 17): regenerate the last reply, edit and resend, "‹ 2/3 ›" at every fork -------
  // The server keeps the active branch, so after any of these the conversation is simply opened
  // again: it shows the active path, and a reload of /c/<id> shows the same.

  function branchButton(label, className, onClick) {
    const button = element("button", `button button--quiet ${className}`, label);
    button.type = "button";
    button.addEventListener("click", onClick);
    return button;
  }

  /* A stored message's branch controls: its place among its versions, Regenerate on replies (shown
     on the last one only, see chat.css), Edit on the patient's own messages. */
  function addBranchControls(item, message) {
    if (!message.message_id || isWhatsApp(state.session) || item.querySelector(".branch-controls")) return;
    if (message.role !== "user" && message.role !== "assistant") return;
    let actions = item.querySelector(".message-actions");
    if (!actions) {
      actions = element("div", "message-actions");
      item.append(actions);
    }
    const controls = element("span", "branch-controls");
    if (message.sibling_count > 1) controls.append(siblingNavigation(message));
    if (message.role === "assistant") {
      controls.append(branchButton("Regenerate", "message-regenerate", () => regenerateReply(item, message)));
    } else {
      controls.append(branchButton("Edit", "message-edit", () => startEdit(item, message)));
    }
    actions.append(controls);
  }

  function siblingNavigation(message) {
    const nav = element("span", "sibling-nav");
    nav.setAttribute("role", "group");
    nav.setAttribute("aria-label", "Versions of this message");
    const previous = branchButton("‹", "sibling-previous", () => showSibling(message, -1));
    previous.setAttribute("aria-label", "Previous version");
    previous.disabled = message.sibling_index <= 1;
    const next = branchButton("›", "sibling-next", () => showSibling(message, 1));
    next.setAttribute("aria-label", "Next version");
    next.disabled = message.sibling_index >= message.sibling_count;
    const place = element("span", "sibling-place", `${message.sibling_index}/${message.sibling_count}`);
    nav.append(previous, place, next);
    return nav;
  }

  const messagePath = (id) => `/api/chat/messages/${encodeURIComponent(id)}`;

  function reopenConversation() {
    return openSession(state.session.session_id, { address: "keep", focus: "none" });
  }

  async function showSibling(message, step) {
    try {
      const { data } = await api(`${messagePath(message.message_id)}/siblings`);
      const target = data.results[message.sibling_index - 1 + step];
      if (!target) return;
      await api(`${messagePath(target.message_id)}/activate`, { method: "POST" });
      await reopenConversation();
      announce(`Version ${message.sibling_index + step} of ${message.sibling_count} shown.`);
    } catch (error) {
      reportError(error);
    }
  }

  async function reviseAndReopen(item, path, body) {
    if (state.sending) return;
    setSending(true);
    item.setAttribute("aria-busy", "true");
    announce("Medibot is typing…");
    try {
      await api(path, { method: "POST", body });
      await reopenConversation();
      announce("Medibot replied.");
    } catch (error) {
      item.removeAttribute("aria-busy");
      reportError(error);
    } finally {
      setSending(false);
    }
  }

  /* A search hit on another branch: that branch becomes the shown one (no change when the hit is
     on the shown path already). Opening the conversation reports any failure itself. */
  async function showBranchOf(messageId) {
    try {
      await api(`${messagePath(messageId)}/activate`, { method: "POST" });
    } catch (error) {
      // the conversation opens on its current branch
    }
  }

  function regenerateReply(item, message) {
    return reviseAndReopen(item, `${messagePath(message.message_id)}/regenerate`, {});
  }

  /* The message's text becomes an editor in place; sending makes a new version of it, answered. */
  function startEdit(item, message) {
    if (item.querySelector(".message-editor")) return;
    const body = item.querySelector(".message-text");
    const form = element("form", "message-editor");
    const label = element("label", "visually-hidden", "Edit your message");
    const box = element("textarea", "message-editor-input");
    box.id = `edit-${message.message_id}`;
    label.htmlFor = box.id;
    box.value = message.content || "";
    const buttons = element("div", "message-editor-buttons");
    const save = element("button", "button", "Send");
    save.type = "submit";
    const cancel = branchButton("Cancel", "message-editor-cancel", () => {
      form.remove();
      body.hidden = false;
    });
    buttons.append(save, cancel);
    form.append(label, box, buttons);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = box.value;
      if (!text.trim()) return;
      reviseAndReopen(item, `${messagePath(message.message_id)}/edit`, { message: text });
    });
    body.hidden = true;
    body.after(form);
    box.focus();
  }

  // --- narrow screens: the sidebar is a panel over the conversation ------------------------------

  function setSidebarOpen(open) {
    document.body.classList.toggle("sidebar-open", open);
    ui.toggle.setAttribute("aria-expanded", String(open));
    ui.main.inert = open && NARROW_QUERY.matches; // the panel covers it: keep focus out of it
    if (open) ui.newChat.focus();
  }

  const sidebarIsPanel = () => NARROW_QUERY.matches && document.body.classList.contains("sidebar-open");

  function closeSidebarOnNarrow() {
    if (sidebarIsPanel()) setSidebarOpen(false);
  }

  // --- narrow screens: the conversation actions are one overflow menu ----------------------------

  /* On a phone the box is one row and grows with what is typed (up to 40% of the screen). */
  function fitComposer() {
    ui.input.style.height = "";
    if (!NARROW_QUERY.matches || !ui.input.value.includes("\n")) return;
    ui.input.style.height = `${Math.min(ui.input.scrollHeight + 2, Math.round(window.innerHeight * 0.4))}px`;
  }

  function setActionsOpen(open) {
    document.body.classList.toggle("actions-open", open);
    ui.actionsToggle.setAttribute("aria-expanded", String(open));
    if (open) ui.rename.focus();
    if (!open) {
      ui.exportMenu.open = false;
      ui.detailsMenu.open = false;
    }
  }

  // --- wiring -----------------------------------------------------------------------------------

  ui.toggle.addEventListener("click", () => setSidebarOpen(!document.body.classList.contains("sidebar-open")));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !event.defaultPrevented && sidebarIsPanel()) {
      setSidebarOpen(false);
      ui.toggle.focus();
    }
  });
  ui.layout.addEventListener("click", (event) => {
    if (sidebarIsPanel() && !ui.sidebar.contains(event.target)) setSidebarOpen(false);
  });
  NARROW_QUERY.addEventListener("change", () => setSidebarOpen(false));

  ui.newChat.addEventListener("click", () => {
    closeSidebarOnNarrow();
    resetConversation();
    showInAddressBar(null);
    hideBanner();
    ui.input.focus();
  });

  ui.historyRetry.addEventListener("click", () => {
    if (state.historyRetry) state.historyRetry();
    if (state.sessionsFailed) {
      hideBanner();
      loadSessions({ reset: true });
    }
  });
  ui.actionsToggle.addEventListener("click", () => setActionsOpen(!document.body.classList.contains("actions-open")));
  ui.tools.addEventListener("click", (event) => {
    if (event.target.closest("button")) setActionsOpen(false); // the chosen action takes over
  });
  ui.tools.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && document.body.classList.contains("actions-open") && !event.defaultPrevented) {
      setActionsOpen(false);
      ui.actionsToggle.focus();
    }
  });

  window.addEventListener("popstate", () => {
    const sessionId = sessionIdFromPath(window.location.pathname);
    hideBanner();
    if (sessionId) openSession(sessionId, { address: "keep" });
    else resetConversation();
  });

  ui.composer.addEventListener("submit", (event) => {
    event.preventDefault();
    sendMessage(ui.input.value);
  });
  ui.send.addEventListener("click", (event) => {
    if (ui.send.dataset.mode !== "stop") return;
    event.preventDefault(); // Stop, not a submit
    stopReply();
  });
  ui.input.addEventListener("input", fitComposer);
  ui.input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      ui.composer.requestSubmit();
    }
  });

  ui.loadOlder.addEventListener("click", loadOlder);
  ui.bannerAction.addEventListener("click", () => {
    if (state.bannerAction) state.bannerAction.run();
  });
  ui.bannerClose.addEventListener("click", () => {
    hideBanner();
    ui.input.focus();
  });

  ui.sessionsMore.addEventListener("click", () => loadSessions());
  ui.sidebarScroll.addEventListener("scroll", loadMoreIfVisible, { passive: true });
  ui.showArchived.addEventListener("change", () => {
    clearSearch();
    ui.searchInput.value = "";
    loadSessions({ reset: true });
  });

  ui.searchForm.addEventListener("submit", (event) => {
    event.preventDefault();
    window.clearTimeout(state.searchTimer);
    const query = ui.searchInput.value.trim();
    if (query) runSearch(query);
    else clearSearch();
  });
  ui.searchInput.addEventListener("input", () => {
    window.clearTimeout(state.searchTimer);
    const query = ui.searchInput.value.trim();
    if (!query) {
      clearSearch();
      return;
    }
    state.searchTimer = window.setTimeout(() => runSearch(query), SEARCH_DELAY_MS);
  });
  ui.searchInput.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && ui.searchInput.value) {
      event.stopPropagation();
      ui.searchInput.value = "";
      clearSearch();
    }
  });

  ui.rename.addEventListener("click", openRename);
  ui.renameForm.addEventListener("submit", submitRename);
  ui.renameCancel.addEventListener("click", () => {
    ui.renameDialog.close();
    ui.rename.focus();
  });
  ui.pin.addEventListener("click", togglePin);
  ui.archive.addEventListener("click", toggleArchive);
  ui.remove.addEventListener("click", openDelete);
  ui.deleteCancel.addEventListener("click", () => {
    ui.deleteDialog.close();
    ui.remove.focus();
  });
  ui.deleteConfirm.addEventListener("click", confirmDelete);
  ui.exportMenu.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && ui.exportMenu.open) {
      event.preventDefault();
      ui.exportMenu.open = false;
      ui.exportMenu.querySelector("summary").focus();
    }
  });
  ui.detailsMenu.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && ui.detailsMenu.open) {
      event.preventDefault();
      ui.detailsMenu.open = false;
      ui.detailsMenu.querySelector("summary").focus();
    }
  });
  ui.detailsMenu.addEventListener("toggle", () => {
    if (ui.detailsMenu.open && !ui.tokenUsage.dataset.loaded) loadTokenUsage();
  });
  document.addEventListener("click", (event) => {
    if (ui.exportMenu.open && !ui.exportMenu.contains(event.target)) ui.exportMenu.open = false;
    if (ui.detailsMenu.open && !ui.detailsMenu.contains(event.target)) ui.detailsMenu.open = false;
    const inMenu = ui.tools.contains(event.target) || ui.actionsToggle.contains(event.target);
    if (document.body.classList.contains("actions-open") && !inMenu) setActionsOpen(false);
  });

  // transfers.js (import from the page) says when conversations were added: reload the list.
  document.addEventListener("medibot:sessions-changed", () => loadSessions({ reset: true }));

  resetConversation();
  const initialSession = document.body.dataset.sessionId || sessionIdFromPath(window.location.pathname);
  if (initialSession) openSession(initialSession, { address: "replace" });
  else window.history.replaceState({ sessionId: null }, "", window.location.pathname);
  loadSessions({ reset: true });
  // Every handler is bound: the composer sends on Enter from now on (browser tests wait for this;
  // the deferred script runs after the page is shown, so a fast typist could beat it).
  document.body.dataset.ready = "true";
})();
