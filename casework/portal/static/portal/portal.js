// Knowledge-base suggestions while typing on the web form (casework/portal/webform.py::suggestions for
// the JSON contract). The form's hidden deflection session goes with every request, so the articles
// shown and the one opened (its URL carries the session) are recorded; the form posts it too, so a
// request sent anyway is recorded against the same session. No framework, no CDN.
(function () {
  "use strict";
  var box = document.getElementById("kb-suggestions");
  if (!box) return;
  var list = box.querySelector("ul");
  var url = box.getAttribute("data-url");
  var session = document.querySelector('input[name="suggestion_session"]');
  var fields = ["id_subject", "id_description"].map(function (id) { return document.getElementById(id); });
  var timer = null, last = "";
  function query() { return fields.map(function (f) { return f ? f.value : ""; }).join(" ").trim(); }
  function show(items) {
    list.textContent = "";
    items.slice(0, 5).forEach(function (item) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.setAttribute("data-testid", "kb-suggestion");
      a.href = item.url; a.textContent = item.title; a.target = "_blank"; a.rel = "noopener";
      li.appendChild(a);
      if (item.excerpt) { var p = document.createElement("div"); p.className = "small muted"; p.textContent = item.excerpt; li.appendChild(p); }
      list.appendChild(li);
    });
    box.hidden = items.length === 0;
  }
  function ask() {
    var q = query();
    if (q.length < 12 || q === last) return;
    last = q;
    var s = session && session.value ? "&s=" + encodeURIComponent(session.value) : "";
    fetch(url + "?q=" + encodeURIComponent(q) + s, { headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : { suggestions: [] }; })
      .then(function (data) { if (data.query !== undefined) show(data.suggestions || []); })
      .catch(function () { /* suggestions are a help, never a blocker */ });
  }
  fields.forEach(function (f) {
    if (!f) return;
    f.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(ask, 400); });
  });
})();
