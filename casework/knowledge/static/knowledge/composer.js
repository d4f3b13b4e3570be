// Composer helpers on the case page: the macro picker (shortcut m) fills the reply with the macro's text
// and marks the form so sending applies its field changes in the same write; "insert" buttons put an
// article or a past answer into the reply. No framework, no CDN.
(function () {
  "use strict";
  var picker = document.getElementById("macro-picker");
  var composer = document.getElementById("composer");
  if (!composer) return;
  var text = composer.querySelector("textarea[name=body]");
  var hidden = composer.querySelector("input[name=macro]");
  var info = document.getElementById("composer-macro-info");

  function insert(value) {
    if (!text) return;
    var start = text.selectionStart || text.value.length;
    var before = text.value.slice(0, start), after = text.value.slice(start);
    var glue = before && !before.endsWith("\n") ? "\n\n" : "";
    text.value = before + glue + value + after;
    text.focus();
  }

  if (picker) {
    picker.addEventListener("change", function () {
      var id = picker.value;
      if (!id) { if (hidden) hidden.value = ""; if (info) info.hidden = true; return; }
      var url = picker.dataset.previewUrl.replace(/\/0\/$/, "/" + id + "/");
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (m) {
          text.value = m.text;
          var radio = composer.querySelector('input[name="internal"][value="' + (m.internal ? "on" : "") + '"]');
          if (radio) radio.checked = true;
          if (hidden) hidden.value = m.id;
          if (info) {
            info.textContent = "Macro “" + m.name + "”" + (m.changes.length ? " will also set: " + m.changes.join("; ") : "");
            info.hidden = false;
          }
          text.focus();
        });
    });
  }

  // "Draft a reply": a proposal in the composer, with its sources; never sent by itself. The HTTP
  // provider finishes in the worker: poll until ready, and replace the text only if it was not edited.
  var draftButton = document.getElementById("draft-reply");
  var draftInfo = document.getElementById("composer-draft-info");
  var draftField = composer.querySelector("input[name=draft]");
  function csrf() { var t = document.querySelector("input[name=csrfmiddlewaretoken]"); return t ? t.value : ""; }
  function showDraft(d, proposedText) {
    if (!draftInfo) return;
    draftInfo.textContent = "";
    var head = document.createElement("span");
    head.textContent = d.ready ? "Drafted reply (" + d.provider + ") — edit it, then send. Sources: "
                               : "Drafting with the configured provider… (the offline draft is shown meanwhile) Sources: ";
    draftInfo.appendChild(head);
    (d.sources || []).forEach(function (s, i) {
      var el = document.createElement(s.url ? "a" : "span");
      if (s.url) { el.href = s.url; el.target = "_blank"; el.rel = "noopener"; }
      el.textContent = (i ? "; " : "") + s.title;
      el.setAttribute("data-testid", "draft-source");
      draftInfo.appendChild(el);
    });
    if (!(d.sources || []).length) draftInfo.appendChild(document.createTextNode("none found."));
    if (d.error) { var e = document.createElement("div"); e.textContent = "The provider failed (" + d.error + "); this is the offline draft."; draftInfo.appendChild(e); }
    var discard = document.createElement("button");
    discard.type = "button"; discard.className = "linklike"; discard.textContent = "Discard draft";
    draftInfo.appendChild(document.createTextNode(" · "));
    discard.setAttribute("data-testid", "draft-discard");
    discard.addEventListener("click", function () {
      fetch(draftButton.dataset.discardUrl.replace(/\/0\/discard\/$/, "/" + d.id + "/discard/"),
            { method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrf() } });
      if (text.value === proposedText) text.value = "";
      if (draftField) draftField.value = "";
      draftInfo.hidden = true;
      text.focus();
    });
    draftInfo.appendChild(discard);
    draftInfo.hidden = false;
  }
  function poll(d, proposedText, tries) {
    if (d.ready || tries <= 0) return;
    setTimeout(function () {
      fetch(draftButton.dataset.showUrl.replace(/\/0\/$/, "/" + d.id + "/"), { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (n) {
          if (n.ready && text.value === proposedText) { text.value = n.text; proposedText = n.text; }
          showDraft(n, proposedText); poll(n, proposedText, tries - 1);
        });
    }, 1500);
  }
  if (draftButton) {
    draftButton.addEventListener("click", function () {
      draftButton.disabled = true;
      fetch(draftButton.dataset.url, { method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrf(), Accept: "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
        .then(function (d) {
          text.value = d.text;
          if (draftField) draftField.value = d.id;
          showDraft(d, d.text);
          poll(d, d.text, 40);
          text.focus();
        })
        .catch(function (err) {
          if (draftInfo) { draftInfo.textContent = "Could not draft a reply (" + err.message + "); write it yourself."; draftInfo.hidden = false; }
        })
        .finally(function () { draftButton.disabled = false; });
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest(".kb-insert");
    if (!button) return;
    insert(button.dataset.insert);
    if (button.dataset.linkUrl) {
      var token = document.querySelector("input[name=csrfmiddlewaretoken]");
      fetch(button.dataset.linkUrl, { method: "POST", credentials: "same-origin",
        headers: { "X-CSRFToken": token ? token.value : "" } })
        .then(function (r) { if (r.ok) { button.textContent = "inserted · linked to the case"; } })
        .catch(function () {});
    } else {
      button.textContent = "inserted";
    }
  });

  document.addEventListener("keydown", function (event) {
    var t = event.target;
    var typing = t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "m" && picker) { picker.focus(); if (picker.showPicker) { try { picker.showPicker(); } catch (e) {} } event.preventDefault(); }
  });
  // The panel is fetched after the page (deferred panel): say when its controls work.
  var panel = document.querySelector("[data-testid=kb-panel]");
  if (panel) panel.dataset.ready = "true";
})();
