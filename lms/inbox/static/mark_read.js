// A conversation's page read with scripts on: its Mark read form (carrying the last message the
// page shows) is sent at once, so the conversation and its notices in the notification centre
// are read without a click. No script: the button stays, and nothing is marked until it is
// pressed (loading a page never writes).
(function () {
  "use strict";
  var form = document.querySelector("form[data-mark-read-on-open]");
  if (!form || !window.fetch || !window.FormData) { return; }
  fetch(form.action, {method: "POST", body: new FormData(form), credentials: "same-origin", redirect: "manual"})
    .then(function (response) {
      if (response.type !== "opaqueredirect" && !response.ok) { return; }
      var button = form.querySelector("button[type=submit]");
      if (!button) { return; }
      var said = document.createElement("span");
      said.className = "muted";
      said.setAttribute("role", "status");
      said.textContent = "Marked read.";
      button.replaceWith(said);
    })
    .catch(function () { /* the button stays */ });
}());
