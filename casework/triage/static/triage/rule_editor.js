// Rule editor: narrow each row's operator list and value suggestions to its field or action type.
// The form works without this (the server checks every row); this only saves wrong turns.
(function () {
  "use strict";
  const form = document.getElementById("rule-editor");
  if (!form) return;
  const operators = JSON.parse(document.getElementById("rule-operators").textContent);
  const noValueActions = JSON.parse(document.getElementById("rule-no-value-actions").textContent);
  const noValueOps = ["is_true", "is_false"];

  function conditionRow(row, changed) {
    const field = row.querySelector(".c-field").value;
    const op = row.querySelector(".c-op");
    const value = row.querySelector(".c-value");
    const allowed = operators[field] || [];
    Array.from(op.options).forEach(function (o) {
      o.hidden = o.value !== "" && field !== "" && allowed.indexOf(o.value) < 0;
    });
    if (changed && field && op.value && allowed.indexOf(op.value) < 0) op.value = allowed[0] || "";
    // Also on load: a field picked before this deferred script ran (a fast hand, a slow static file)
    // fired its change event with nobody listening.
    if (field && !op.value && allowed.length) op.value = allowed[0];
    value.setAttribute("list", "values-" + (field || "none"));
    value.hidden = noValueOps.indexOf(op.value) >= 0;
  }

  function actionRow(row) {
    const type = row.querySelector(".a-type").value;
    row.querySelector(".a-value").setAttribute("list", "actions-" + (type || "none"));
    row.querySelector(".a-value").hidden = noValueActions.indexOf(type) >= 0;
    row.querySelector(".a-message").hidden = type !== "notify";
  }

  function refresh(row, changed) {
    if (row.dataset.row === "condition") conditionRow(row, changed); else actionRow(row);
  }

  form.querySelectorAll("li.rule-row").forEach(function (row) { refresh(row, false); });
  form.addEventListener("change", function (event) {
    const row = event.target.closest("li.rule-row");
    if (row) refresh(row, true);
  });
})();
