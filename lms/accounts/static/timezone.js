// The browser's time zone, for a time-zone select marked data-zone-from-browser (no script: the
// server's default stands, and the person picks).
//   "choose": select it, unless the person already chose (the page came back with an error); a
//             sentence of the field's help marked data-zone-default then names it as preselected.
//   "offer":  leave the saved zone selected; when the browser's differs, say so beside the
//             select with a button that selects it (saved with the form, never on its own).
(function () {
  "use strict";
  var zone;
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  if (!zone) { return; }
  document.querySelectorAll("select[data-zone-from-browser]").forEach(function (select) {
    var option = Array.prototype.find.call(select.options, function (o) { return o.value === zone; });
    if (!option || select.value === zone) { return; }
    if (select.getAttribute("data-zone-from-browser") === "choose") {
      if (select.getAttribute("aria-invalid") !== "true" && !select.form.querySelector("[aria-invalid=true]")) {
        select.value = zone;
        // The form may say which zone it preselected (data-zone-default in the field's help): now this one.
        var said = document.querySelector("#" + select.id + "-help [data-zone-default]");
        if (said) { said.textContent = "Preselected: " + zone + ", the time zone of this device."; }
      }
      return;
    }
    var note = document.createElement("p");
    note.className = "muted small zone-offer";
    note.setAttribute("role", "status");
    note.textContent = "This device's clock is on " + zone + ". ";
    var use = document.createElement("button");
    use.type = "button";
    use.className = "button secondary";
    use.textContent = "Use " + zone;
    use.addEventListener("click", function () {
      select.value = zone;
      note.textContent = zone + " is selected: save to keep it.";
      select.focus();
    });
    note.appendChild(use);
    select.insertAdjacentElement("afterend", note);
  });
}());
