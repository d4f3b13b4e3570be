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
})();
