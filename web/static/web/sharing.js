/*
 * Sharing with the care team (issue 17), kept apart from chat.js:
 *  - a patient's "Share" dialog for the open conversation (/c/<session_id>): share or stop sharing;
 *  - a clinician's "Shared with me" list in the sidebar, each entry opening /shared/<session_id>.
 * Text from the server reaches the page through textContent only.
 */
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrfToken = csrfMeta ? csrfMeta.getAttribute("content") : "";

  async function call(path, method = "GET") {
    const headers = { Accept: "application/json" };
    if (method !== "GET") headers["X-CSRFToken"] = csrfToken;
    const response = await fetch(path, { method, headers, credentials: "same-origin" });
    if (response.status === 401) {
      window.location.assign(`/login/?next=${encodeURIComponent(window.location.pathname)}`);
    }
    let data = null;
    if (response.status !== 204) {
      try {
        data = await response.json();
      } catch (error) {
        data = null;
      }
    }
    return { response, data };
  }

  function detailOf(data, fallback) {
    return data && typeof data.detail === "string" ? data.detail : fallback;
  }

  function formatDate(value) {
    const date = value ? new Date(value) : null;
    if (!date || Number.isNaN(date.getTime())) return "";
    return date.toLocaleString(undefined, { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" });
  }

  function personName(person) {
    if (!person) return "";
    return person.name ? `${person.name} (${person.username})` : person.username;
  }

  // --- the patient: share the open conversation ---------------------------------------------------

  const share = {
    button: $("share-button"),
    dialog: $("share-dialog"),
    status: $("share-status"),
    team: $("share-team"),
    error: $("share-error"),
    toggle: $("share-toggle"),
    close: $("share-close"),
    sessionId: null,
    shared: false,
  };

  function openSessionId() {
    const match = /^\/c\/([^/]+)\/?$/.exec(window.location.pathname);
    return match ? decodeURIComponent(match[1]) : null;
  }

  function sharePath(sessionId) {
    return `/api/chat/sessions/${encodeURIComponent(sessionId)}/share`;
  }

  function showShareError(text) {
    share.error.textContent = text;
    share.error.hidden = !text;
  }

  function renderShareStatus(data) {
    share.shared = Boolean(data.shared);
    const team = Array.isArray(data.care_team) ? data.care_team : [];
    share.team.replaceChildren(...team.map((member) => {
      const item = document.createElement("li");
      item.textContent = personName(member);
      return item;
    }));
    if (share.shared) {
      share.status.textContent = `Shared with your care team since ${formatDate(data.shared_at)}.`;
    } else if (team.length) {
      share.status.textContent = "Not shared. Your care team:";
    } else {
      share.status.textContent = "No clinician is assigned to you yet, so there is no one to share with.";
    }
    share.toggle.textContent = share.shared ? "Stop sharing" : "Share with my care team";
    share.toggle.classList.toggle("button--danger", share.shared);
    share.toggle.classList.toggle("button--primary", !share.shared);
    share.toggle.disabled = !share.shared && !team.length;
  }

  async function openShareDialog() {
    share.sessionId = openSessionId();
    if (!share.sessionId) return;
    share.status.textContent = "Loading…";
    share.team.replaceChildren();
    share.toggle.disabled = true;
    showShareError("");
    share.dialog.showModal();
    try {
      const { response, data } = await call(sharePath(share.sessionId));
      if (!response.ok) throw new Error(detailOf(data, "The sharing status could not be loaded."));
      renderShareStatus(data);
    } catch (error) {
      share.status.textContent = "";
      showShareError(error instanceof Error && error.message ? error.message : "Medibot cannot be reached.");
    }
  }

  async function toggleShare() {
    if (!share.sessionId) return;
    share.toggle.disabled = true;
    showShareError("");
    try {
      const { response, data } = await call(sharePath(share.sessionId), share.shared ? "DELETE" : "POST");
      if (!response.ok) throw new Error(detailOf(data, "That did not work. Please try again."));
      if (response.status === 204) {
        const again = await call(sharePath(share.sessionId));
        renderShareStatus(again.data || { shared: false, care_team: [] });
      } else {
        renderShareStatus(data);
      }
    } catch (error) {
      share.toggle.disabled = false;
      showShareError(error instanceof Error && error.message ? error.message : "Medibot cannot be reached.");
    }
  }

  if (share.button && share.dialog) {
    share.button.addEventListener("click", openShareDialog);
    share.toggle.addEventListener("click", toggleShare);
    share.close.addEventListener("click", () => {
      share.dialog.close();
      share.button.focus();
    });
  }

  // --- the clinician: conversations shared with me --------------------------------------------------

  const shared = { list: $("shared-list"), status: $("shared-status") };

  function sharedItem(entry, current) {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.className = "session-link shared-link";
    link.href = `/shared/${encodeURIComponent(entry.session_id)}`;
    if (entry.session_id === current) link.setAttribute("aria-current", "true");
    const title = document.createElement("span");
    title.className = "session-title";
    title.textContent = entry.title || "Untitled conversation";
    const meta = document.createElement("span");
    meta.className = "session-meta";
    meta.textContent = `${personName(entry.patient)} · shared ${formatDate(entry.shared_at)}`;
    link.append(title, meta);
    item.append(link);
    return item;
  }

  async function loadShared() {
    const current = document.body.dataset.sessionId || "";
    try {
      const { response, data } = await call("/api/chat/shared?limit=50");
      if (!response.ok) throw new Error(detailOf(data, "The shared conversations could not be loaded."));
      const results = Array.isArray(data.results) ? data.results : [];
      shared.list.replaceChildren(...results.map((entry) => sharedItem(entry, current)));
      shared.status.textContent = results.length ? "" : "Nothing has been shared with you yet.";
      shared.status.hidden = Boolean(results.length);
    } catch (error) {
      shared.status.textContent = error instanceof Error && error.message ? error.message : "Medibot cannot be reached.";
      shared.status.hidden = false;
    }
  }

  if (shared.list) loadShared();
})();
