// casework keyboard shortcuts and small conveniences. No framework; htmx does the partial updates.
(function () {
  "use strict";
  let pendingG = false;

  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  function rows() {
    return Array.from(document.querySelectorAll("table[data-keynav] tbody tr, table.queue tbody tr[data-href]"));
  }

  function select(delta) {
    const all = rows();
    if (!all.length) return;
    let index = all.findIndex((r) => r.classList.contains("selected"));
    if (index >= 0) all[index].classList.remove("selected");
    index = Math.min(Math.max(index + delta, 0), all.length - 1);
    all[index].classList.add("selected");
    all[index].scrollIntoView({ block: "nearest" });
  }

  function focusComposer(internal) {
    const composer = document.getElementById("composer");
    if (!composer) return false;
    const radio = composer.querySelector('input[name="internal"][value="' + (internal ? "on" : "") + '"]');
    if (radio) radio.checked = true;
    composer.querySelector("textarea").focus();
    return true;
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && typing(event.target)) {
      const form = event.target.closest("form");
      if (form) { event.preventDefault(); form.requestSubmit(); }
      return;
    }
    if (event.key === "Escape" && typing(event.target)) { event.target.blur(); return; }
    if (typing(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key;
    if (pendingG) {
      pendingG = false;
      if (key === "q") { window.location.href = "/"; event.preventDefault(); }
      return;
    }
    if (key === "/") { const s = document.getElementById("global-search"); if (s) { s.focus(); s.select(); event.preventDefault(); } }
    else if (key === "j") { select(1); event.preventDefault(); }
    else if (key === "k") { select(-1); event.preventDefault(); }
    else if (key === "Enter") { const r = document.querySelector("tr.selected[data-href]"); if (r) window.location.href = r.dataset.href; }
    else if (key === "g") { pendingG = true; setTimeout(() => { pendingG = false; }, 1000); }
    else if (key === "r") { if (focusComposer(false)) event.preventDefault(); }
    else if (key === "i") { if (focusComposer(true)) event.preventDefault(); }
    else if ((key === "1" || key === "2") && document.querySelector("tr.selected form[data-choice]")) {
      // Triage queue: accept the first or second guess for the selected case with one key.
      const form = document.querySelector('tr.selected form[data-choice="' + key + '"]');
      if (form) { form.requestSubmit(); event.preventDefault(); }
    }
    else if (key === "?") { const d = document.getElementById("shortcuts"); if (d) d.showModal(); }
    else {
      const link = document.querySelector('[data-key="' + key + '"]');
      if (link) { window.location.href = link.href; event.preventDefault(); }
    }
  });

  // Clicking anywhere on a queue row opens the case (links inside still work normally).
  document.addEventListener("click", function (event) {
    const row = event.target.closest("tr[data-href]");
    if (row && !event.target.closest("a, button, input, select, label, td.select")) window.location.href = row.dataset.href;
  });

  // Queue selection for bulk actions: x toggles the row under the j/k cursor; the bar shows the count.
  function updateBulk() {
    const bar = document.querySelector("[data-bulk-bar]");
    if (!bar) return;
    const n = document.querySelectorAll('#bulk input[name="refs"]:checked').length;
    bar.hidden = n === 0;
    bar.querySelector("[data-bulk-count]").textContent = n;
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-select-all]")) {
      document.querySelectorAll('#bulk input[name="refs"]').forEach((box) => { box.checked = event.target.checked; });
    }
    if (event.target.closest("#bulk")) updateBulk();
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "x" || typing(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
    const row = document.querySelector("tr.selected");
    const box = row && row.querySelector('input[name="refs"]');
    if (box) { box.checked = !box.checked; updateBulk(); event.preventDefault(); }
  });
  document.addEventListener("htmx:afterSwap", updateBulk);

  // Hand-off form: choosing a tier selects the team that serves it (the agent can still pick another).
  document.addEventListener("change", function (event) {
    if (!event.target.matches("[data-handoff-tier]")) return;
    const team = event.target.form.querySelector("[data-handoff-team]");
    if (!team) return;
    const match = team.querySelector('option[data-tier="' + event.target.value + '"]');
    team.value = match ? match.value : "";
  });

  // Warn before leaving a case with an unsent reply.
  window.addEventListener("beforeunload", function (event) {
    const text = document.querySelector("#composer textarea");
    if (text && text.value.trim() && !text.form.dataset.submitting) { event.preventDefault(); event.returnValue = ""; }
  });
  document.addEventListener("submit", function (event) {
    // data-confirm="question": ask before a destructive post (inline onsubmit handlers break the CSP).
    const question = event.target.dataset && event.target.dataset.confirm;
    if (question && !window.confirm(question)) { event.preventDefault(); return; }
    event.target.dataset.submitting = "1";
  });
  // data-autosubmit on a field: changing it submits its form (a toggle without a save button).
  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-autosubmit]") && event.target.form) event.target.form.requestSubmit();
  });

  // Elements with data-refresh-seconds reload themselves (htmx "timeline-refresh") while the tab is visible.
  // This lives here rather than in an hx-trigger filter, which htmx would have to eval (the CSP forbids it).
  document.querySelectorAll("[data-refresh-seconds]").forEach((el) => {
    const seconds = parseInt(el.dataset.refreshSeconds, 10) || 30;
    setInterval(() => {
      if (document.visibilityState === "visible" && window.htmx) window.htmx.trigger(el, "timeline-refresh");
    }, seconds * 1000);
  });
})();
