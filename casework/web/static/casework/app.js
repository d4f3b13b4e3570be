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
    if (row && !event.target.closest("a, button, input, select")) window.location.href = row.dataset.href;
  });

  // Warn before leaving a case with an unsent reply.
  window.addEventListener("beforeunload", function (event) {
    const text = document.querySelector("#composer textarea");
    if (text && text.value.trim() && !text.form.dataset.submitting) { event.preventDefault(); event.returnValue = ""; }
  });
  document.addEventListener("submit", function (event) { event.target.dataset.submitting = "1"; });
})();
