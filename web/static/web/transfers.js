/*
 * Import and export of all of one's conversations (issues 17 and 21). Both run as Celery tasks:
 * this script starts one, polls /api/chat/transfers/<id> for its progress and result, and can
 * cancel it. A reload keeps showing the transfer it started (sessionStorage). When an import adds
 * conversations it dispatches "medibot:sessions-changed" so chat.js reloads the list.
 */
(function () {
  "use strict";

  const POLL_MS = 500;
  const STORAGE_KEY = "medibot-transfer";
  const QUARANTINE_SHOWN = 10;
  const SOURCE_NAMES = { chatgpt: "ChatGPT", medibot: "Medibot export" };

  const $ = (id) => document.getElementById(id);
  const ui = {
    panel: $("transfer-panel"),
    exportAll: $("export-all"),
    form: $("import-form"),
    source: $("import-source"),
    file: $("import-file"),
    hint: $("import-hint"),
    start: $("import-start"),
    status: $("transfer-status"),
    label: $("transfer-label"),
    progress: $("transfer-progress"),
    text: $("transfer-text"),
    quarantine: $("transfer-quarantine"),
    download: $("transfer-download"),
    cancel: $("transfer-cancel"),
  };
  if (!ui.panel) return;

  const csrfToken = document.querySelector('meta[name="csrf-token"]').content;
  const state = { transfer: null, timer: null, descriptions: {}, maxBytes: null };

  async function call(path, { method = "GET", body } = {}) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") headers["X-CSRFToken"] = csrfToken;
    let response;
    try {
      response = await fetch(path, { method, headers, body, credentials: "same-origin" });
    } catch (error) {
      throw new Error("Medibot cannot be reached. Check your connection and try again.");
    }
    if (response.status === 401) {
      window.location.assign(`/login/?next=${encodeURIComponent(window.location.pathname)}`);
      throw new Error("Your session has ended. Please sign in again.");
    }
    let data = null;
    try {
      data = JSON.parse(await response.text());
    } catch (error) {
      data = null;
    }
    if (!response.ok) {
      const detail = data && typeof data.detail === "string" ? data.detail : null;
      if (response.status === 413) throw new Error(detail || "The file is too large to import.");
      if (response.status === 429) throw new Error("Too many imports and exports at once. Please wait a minute.");
      throw new Error(detail || `The request failed (${response.status}). Please try again.`);
    }
    return data;
  }

  function sourceName(kind) {
    return SOURCE_NAMES[kind] || kind.charAt(0).toUpperCase() + kind.slice(1);
  }

  async function loadSources() {
    try {
      const data = await call("/api/chat/imports/sources");
      state.descriptions = data.descriptions || {};
      state.maxBytes = data.max_bytes;
      ui.source.replaceChildren(
        ...data.sources.map((kind) => {
          const option = document.createElement("option");
          option.value = kind;
          option.textContent = sourceName(kind);
          option.selected = kind === data.default;
          return option;
        }),
      );
      showHint();
    } catch (error) {
      // The ChatGPT option in the page stays usable.
    }
  }

  function showHint() {
    const description = state.descriptions[ui.source.value];
    if (description) ui.hint.textContent = `${description.charAt(0).toUpperCase()}${description.slice(1)}.`;
  }

  function plural(count, word) {
    return `${count} ${word}${count === 1 ? "" : "s"}`;
  }

  function setBusy(busy) {
    ui.start.disabled = busy;
    ui.exportAll.disabled = busy;
  }

  function remember(transfer) {
    try {
      if (transfer) window.sessionStorage.setItem(STORAGE_KEY, transfer.status_url);
      else window.sessionStorage.removeItem(STORAGE_KEY);
    } catch (error) {
      // Private browsing without storage: a reload simply forgets the transfer.
    }
  }

  function showQuarantine(items) {
    ui.quarantine.replaceChildren(
      ...items.slice(0, QUARANTINE_SHOWN).map((item) => {
        const entry = document.createElement("li");
        entry.textContent = `${item.reason} (${item.unit})`;
        return entry;
      }),
    );
    ui.quarantine.hidden = items.length === 0;
  }

  function showImport(transfer) {
    const progress = transfer.progress || {};
    const result = transfer.result || {};
    ui.label.textContent = `Import from ${sourceName(transfer.source)}`;
    if (transfer.state === "queued") {
      ui.progress.removeAttribute("value");
      ui.text.textContent = "Waiting to start…";
    } else if (transfer.state === "running") {
      const read = progress.read || 0;
      if (!transfer.progress) {
        ui.progress.removeAttribute("value");
        ui.text.textContent = "Reading the file…";
      } else if (progress.total) {
        ui.progress.max = progress.total;
        ui.progress.value = Math.min(read, progress.total);
        ui.text.textContent = `${read} of ${progress.total} messages read, ${progress.inserted || 0} added`;
      } else {
        ui.progress.removeAttribute("value");
        ui.text.textContent = `${read} messages read, ${progress.inserted || 0} added`;
      }
    } else {
      const done = result.read || 0;
      ui.progress.max = Math.max(done, 1);
      ui.progress.value = transfer.state === "finished" ? ui.progress.max : done;
      const added = `${plural(result.messages_inserted || 0, "message")} in ${plural(result.sessions_inserted || 0, "new conversation")} added`;
      const rest = `${result.already_present || 0} already there, ${result.quarantined || 0} set aside`;
      if (transfer.state === "finished") ui.text.textContent = `Import finished: ${added}, ${rest}.`;
      else if (transfer.state === "cancelled") ui.text.textContent = `Import cancelled: ${added} before it stopped.`;
      else ui.text.textContent = `Import failed: ${transfer.error || "unknown error"} (${added}).`;
      showQuarantine(result.quarantine || []);
    }
  }

  function showExport(transfer) {
    const progress = transfer.progress || {};
    const result = transfer.result || {};
    ui.label.textContent = "Export of all conversations";
    if (transfer.state === "queued" || transfer.state === "running") {
      ui.progress.removeAttribute("value");
      ui.text.textContent = transfer.state === "queued"
        ? "Waiting to start…"
        : `${plural(progress.sessions || 0, "conversation")} written`;
      return;
    }
    ui.progress.max = 1;
    ui.progress.value = transfer.state === "finished" ? 1 : 0;
    if (transfer.state === "finished") {
      ui.text.textContent = `Your export is ready: ${plural(result.sessions || 0, "conversation")}.`;
      ui.download.href = transfer.download_url;
      ui.download.hidden = !transfer.download_url;
    } else if (transfer.state === "cancelled") {
      ui.text.textContent = "Export cancelled.";
    } else {
      ui.text.textContent = `Export failed: ${transfer.error || "unknown error"}.`;
    }
  }

  function show(transfer) {
    const previous = state.transfer;
    state.transfer = transfer;
    ui.status.hidden = false;
    ui.download.hidden = true;
    ui.quarantine.hidden = true;
    const running = transfer.state === "queued" || transfer.state === "running";
    ui.cancel.hidden = !running;
    ui.cancel.disabled = transfer.cancel_requested;
    ui.cancel.textContent = transfer.cancel_requested ? "Cancelling…" : "Cancel";
    ui.status.dataset.state = transfer.state;
    if (transfer.kind === "import") showImport(transfer);
    else showExport(transfer);
    setBusy(running);
    if (!running) {
      remember(null);
      const added = (transfer.result || {}).inserted || 0;
      const shownEnded = previous && previous.transfer_id === transfer.transfer_id
        && ["finished", "failed", "cancelled"].includes(previous.state);
      const justEnded = !shownEnded; // also after a reload that finds it ended: the list may predate it
      if (transfer.kind === "import" && added > 0 && justEnded) {
        document.dispatchEvent(new CustomEvent("medibot:sessions-changed"));
      }
    }
  }

  function showProblem(message) {
    ui.status.hidden = false;
    ui.status.dataset.state = "refused";
    ui.label.textContent = "Import and export";
    ui.progress.max = 1;
    ui.progress.value = 0;
    ui.text.textContent = message;
    ui.cancel.hidden = true;
    ui.download.hidden = true;
    ui.quarantine.hidden = true;
    setBusy(false);
  }

  function poll(statusUrl) {
    window.clearTimeout(state.timer);
    state.timer = window.setTimeout(async () => {
      try {
        const transfer = await call(statusUrl);
        show(transfer);
        if (transfer.state === "queued" || transfer.state === "running") poll(statusUrl);
      } catch (error) {
        remember(null);
        showProblem(error.message);
      }
    }, POLL_MS);
  }

  function started(transfer) {
    remember(transfer);
    show(transfer);
    poll(transfer.status_url);
  }

  async function startImport(event) {
    event.preventDefault();
    const file = ui.file.files[0];
    if (!file) {
      showProblem("Choose the export file first.");
      return;
    }
    if (state.maxBytes && file.size > state.maxBytes) {
      showProblem(`The file is larger than the ${Math.floor(state.maxBytes / 1048576)} MB an import may be.`);
      return;
    }
    const body = new FormData();
    body.append("file", file);
    body.append("source", ui.source.value);
    setBusy(true);
    try {
      started(await call("/api/chat/imports", { method: "POST", body }));
      ui.form.reset();
      showHint();
    } catch (error) {
      showProblem(error.message);
    }
  }

  async function startExport() {
    setBusy(true);
    try {
      started(await call("/api/chat/exports", { method: "POST" }));
    } catch (error) {
      showProblem(error.message);
    }
  }

  async function cancel() {
    if (!state.transfer) return;
    ui.cancel.disabled = true;
    try {
      show(await call(state.transfer.cancel_url, { method: "POST" }));
    } catch (error) {
      showProblem(error.message);
    }
  }

  ui.form.addEventListener("submit", startImport);
  ui.exportAll.addEventListener("click", startExport);
  ui.cancel.addEventListener("click", cancel);
  ui.source.addEventListener("change", showHint);

  loadSources();
  let remembered = null;
  try {
    remembered = window.sessionStorage.getItem(STORAGE_KEY);
  } catch (error) {
    remembered = null;
  }
  if (remembered && remembered.startsWith("/api/chat/transfers/")) {
    ui.panel.open = true;
    poll(remembered);
  }
})();
