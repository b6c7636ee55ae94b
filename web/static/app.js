// The page's own script: actions through /api/<command>, live updates from /live (SSE).
// Every HTML fragment it inserts was rendered (and escaped) by the server.
"use strict";
(() => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const page = document.body.dataset.page;
  const $ = (id) => document.getElementById(id);

  async function call(cmd, args) {
    const response = await fetch("/api/" + encodeURIComponent(cmd), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(args),
    });
    return response.json();
  }

  function fragment(html) {
    const holder = document.createElement("template");
    holder.innerHTML = html.trim();
    return holder.content.firstElementChild;
  }

  function working(slot) {
    if (slot) slot.innerHTML = '<div class="answer working">' + (slot.dataset.working || "…") + "</div>";
  }

  // --- fleet: filter by state, search by id, counts -----------------------------------
  let stateFilter = "";
  function applyFilter() {
    const rows = $("rows");
    if (!rows || page !== "fleet") return;
    const needle = ($("search").value || "").trim().toLowerCase();
    let shown = 0;
    for (const tr of rows.rows) {
      const visible = (!stateFilter || tr.dataset.state === stateFilter) &&
        (!needle || tr.dataset.id.toLowerCase().includes(needle));
      tr.hidden = !visible;
      if (visible) shown += 1;
    }
    $("shown").textContent = shown;
    $("count-all").textContent = rows.rows.length;
    $("fleet-empty").hidden = rows.rows.length > 0;
  }
  if (page === "fleet") {
    for (const button of document.querySelectorAll("#counts button[data-filter]")) {
      button.addEventListener("click", () => {
        stateFilter = button.dataset.filter;
        for (const b of document.querySelectorAll("#counts button")) b.classList.toggle("active", b === button);
        applyFilter();
      });
    }
    $("search").addEventListener("input", applyFilter);
    const wanted = new URLSearchParams(location.search);
    if (wanted.get("q")) $("search").value = wanted.get("q");
    applyFilter();
  }

  // --- live updates --------------------------------------------------------------------
  function applyRows(change) {
    const rows = $("rows");
    if (!rows) return;
    for (const row of change.rows || []) {
      const fresh = fragment(row.html);
      const old = document.getElementById("account-" + row.id);
      if (old) old.replaceWith(fresh);
      else if (page === "fleet") rows.appendChild(fresh);
    }
    for (const id of change.removed || []) {
      const old = document.getElementById("account-" + id);
      if (old) old.remove();
      if (page === "account") $("account-gone").hidden = false;
    }
    if (change.counts && page === "fleet") {
      for (const cell of document.querySelectorAll("[data-count]")) {
        cell.textContent = change.counts[cell.dataset.count] || 0;
      }
    }
    applyFilter();
  }

  function applyEvents(change) {
    const body = $("event-rows");
    if (!body || !(change.events || []).length) return;
    for (const event of change.events) body.insertBefore(fragment(event.html), body.firstChild);
    $("events-empty").hidden = true;
    if (page === "account") refreshHistory();
  }

  function connectLive() {
    const params = new URLSearchParams();
    const events = $("events");
    if (page === "account") params.set("account", $("account-title").dataset.account);
    else if (events && events.dataset.account) params.set("account", events.dataset.account);
    if (events && events.dataset.kind) params.set("kind", events.dataset.kind);
    const source = new EventSource("/live?" + params.toString());
    const status = $("live-status");
    source.addEventListener("open", () => {
      document.body.dataset.live = "on";
      status.hidden = true;
    });
    source.addEventListener("error", () => {
      document.body.dataset.live = "off";
      status.textContent = status.dataset.lost;
      status.hidden = false;
    });
    source.addEventListener("change", (message) => {
      const change = JSON.parse(message.data);
      applyRows(change);
      applyEvents(change);
    });
    source.addEventListener("reload", () => {
      source.close();
      status.textContent = status.dataset.reload;
      status.hidden = false;
      location.reload();
    });
  }
  if (page === "fleet" || page === "account" || page === "events") connectLive();

  // --- account page: actions -----------------------------------------------------------
  let historyTimer = null;
  function refreshHistory() {
    const slot = $("history-slot");
    if (!slot) return;
    clearTimeout(historyTimer);
    historyTimer = setTimeout(async () => {
      const response = await fetch(slot.dataset.src, { credentials: "same-origin" });
      if (!response.ok) return;
      const chosen = $("rollback-to") ? $("rollback-to").value : "";
      slot.innerHTML = await response.text();
      // keep the version the user picked, if it can still be chosen
      const select = $("rollback-to");
      if (select && [...select.options].some((o) => o.value === chosen)) select.value = chosen;
    }, 200);
  }

  const account = page === "account" ? $("account-title").dataset.account : null;

  function formArgs(form) {
    const args = { account };
    for (const input of form.querySelectorAll("[name]")) {
      if (input.dataset.type === "int") {
        if (input.value !== "") args[input.name] = parseInt(input.value, 10);
      } else {
        args[input.name] = input.value;
      }
    }
    const secret = form.querySelector("[data-secret]");
    if (secret) {
      args[secret.dataset.secret] = secret.value;
      secret.value = ""; // sent once, never kept in the page
    }
    return args;
  }

  // delegated: the history fragment (with its rollback form) is replaced on refresh
  document.addEventListener("submit", async (submit) => {
    const form = submit.target.closest("form[data-cmd]");
    if (!form) return;
    submit.preventDefault();
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    const slot = $(form.dataset.answer || "action-answer");
    const args = formArgs(form);
    working(slot);
    const answer = await call(form.dataset.cmd, args);
    slot.innerHTML = answer.html;
    refreshHistory();
    if (answer.ok && form.dataset.then) location.href = form.dataset.then;
  });

  // --- rules editor ----------------------------------------------------------------------
  const editor = $("rules-editor");
  function renumber() {
    [...document.querySelectorAll("#rule-rows tr.rule")].forEach((tr, i) => {
      tr.querySelector(".n").textContent = i + 1;
    });
  }
  function draft() {
    const rules = [];
    const problems = [];
    [...document.querySelectorAll("#rule-rows tr.rule")].forEach((tr, i) => {
      const keyword = tr.querySelector(".keyword").value;
      const reply = tr.querySelector(".reply").value;
      const item = tr.querySelector(".item").value.trim();
      if (!keyword.trim() && !reply.trim() && !item) return; // a blank row is no rule
      if (!keyword.trim()) problems.push(editor.dataset.keywordMissing.replace("{n}", i + 1));
      // an empty reply is a rule too: "matched, stay silent"
      rules.push({ keyword, reply, item_id: item || null });
    });
    const text = $("default-text").value;
    const defaultReply = text.trim() ? { text, once_per_chat: $("default-once").checked } : null;
    return { rules, default_reply: defaultReply, problems };
  }
  function problemsHtml(problems) {
    const box = document.createElement("div");
    box.className = "answer failed";
    box.dataset.code = "invalid";
    for (const p of problems) {
      const line = document.createElement("div");
      line.textContent = p;
      box.appendChild(line);
    }
    return box.outerHTML;
  }
  if (editor) {
    document.addEventListener("click", (click) => {
      if (click.target.classList.contains("delete-rule")) {
        click.target.closest("tr").remove();
        renumber();
      }
    });
    $("add-rule").addEventListener("click", () => {
      $("rule-rows").appendChild($("rule-template").content.firstElementChild.cloneNode(true));
      renumber();
    });
    $("save-rules").addEventListener("click", async () => {
      const d = draft();
      if (d.problems.length) { $("rules-answer").innerHTML = problemsHtml(d.problems); return; }
      // nothing left in the editor: saving it means "remove every reply", said explicitly
      const clear = !d.rules.length && !d.default_reply;
      const answer = await call("set_rules", { account, rules: d.rules, default_reply: d.default_reply, clear });
      $("rules-answer").innerHTML = answer.html;
    });
    $("preview-go").addEventListener("click", async () => {
      const d = draft();
      if (d.problems.length) { $("preview-answer").innerHTML = problemsHtml(d.problems); return; }
      const item = $("preview-item").value.trim();
      const answer = await call("rules_preview", {
        account, text: $("preview-text").value, item_id: item || null,
        rules: d.rules, default_reply: d.default_reply,
      });
      $("preview-answer").innerHTML = answer.html;
    });
  }

  // --- QR login (an account's page: its new cookie; the fleet page: a new account) -------
  const qr = $("qr");
  if (qr && qr.dataset.available === "yes") {
    let loginId = null;
    let timer = null;
    const stateLine = $("qr-state");
    // "confirmed" is final only with its result (the update that follows the login)
    const finished = new Set(["expired", "cancelled", "verification_required", "error"]);
    function showState(state, message) {
      stateLine.dataset.state = state;
      const key = "text" + state.split("_").map((w) => w[0].toUpperCase() + w.slice(1)).join("");
      stateLine.textContent = (stateLine.dataset[key] || state) + (message ? " — " + message : "");
    }
    function stop() {
      clearInterval(timer);
      timer = null;
      loginId = null;
      $("qr-cancel").hidden = true;
      $("qr-image").innerHTML = ""; // a used or dead code is no use to anyone
    }
    async function poll() {
      const answer = await call("login_poll", { login_id: loginId });
      if (!answer.ok) { $("qr-answer").innerHTML = answer.html; return stop(); }
      showState(answer.result.state, answer.result.message);
      const done = answer.result.state === "confirmed" ? answer.result.result != null : finished.has(answer.result.state);
      if (done) {
        $("qr-answer").innerHTML = answer.html;
        stop();
        refreshHistory();
      }
    }
    $("qr-start").addEventListener("click", async () => {
      const input = $("qr-account");
      const args = input ? { account: input.value.trim(), new: true } : { account: qr.dataset.account };
      if (timer) stop();
      const answer = await call("login_start", args);
      if (!answer.ok) { $("qr-answer").innerHTML = answer.html; return; }
      loginId = answer.result.login_id;
      const image = document.createElement("img");
      image.src = answer.qr;
      image.alt = "QR";
      image.id = "qr-img";
      $("qr-image").replaceChildren(image);
      $("qr-answer").innerHTML = "";
      $("qr-cancel").hidden = false;
      showState("waiting", "");
      timer = setInterval(poll, 1000);
    });
    $("qr-cancel").addEventListener("click", async () => {
      if (loginId) await call("login_cancel", { login_id: loginId });
    });
  }
})();
