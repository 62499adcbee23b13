// A conversation's page read with scripts on: its Mark read form (carrying the last message the
// page shows) is sent at once, so the conversation and its notices in the notification centre
// are read without a click. The answer (JSON, asked for by the Accept header) gives the new
// unread counts, which replace the navigation's badges (Inbox, Notifications) on this page.
// No script: the button stays, nothing is marked until it is pressed (loading a page never
// writes), and the badges change on the next page.
(function () {
  "use strict";
  var form = document.querySelector("form[data-mark-read-on-open]");
  if (!form || !window.fetch || !window.FormData) { return; }

  function showCount(name, count) {
    var link = document.querySelector("a[data-unread-badge='" + name + "']");
    if (!link || typeof count !== "number") { return; }
    var old = link.querySelector(".notification-count");
    if (old) {
      var before = old.previousSibling;  // the label's text, with the space before the count
      if (before && before.nodeType === 3) { before.nodeValue = before.nodeValue.replace(/\s+$/, ""); }
      old.remove();
    }
    if (count > 0) {
      var badge = document.createElement("span");
      badge.className = "notification-count";
      badge.textContent = String(count);
      var hidden = document.createElement("span");
      hidden.className = "visually-hidden";
      hidden.textContent = " unread";
      badge.appendChild(hidden);
      link.appendChild(document.createTextNode(" "));
      link.appendChild(badge);
    }
  }

  fetch(form.action, {method: "POST", body: new FormData(form), credentials: "same-origin", redirect: "manual",
                      headers: {"Accept": "application/json"}})
    .then(function (response) {
      if (response.type !== "opaqueredirect" && !response.ok) { return; }
      var button = form.querySelector("button[type=submit]");
      if (button) {
        var said = document.createElement("span");
        said.className = "muted";
        said.setAttribute("role", "status");
        said.textContent = "Marked read.";
        button.replaceWith(said);
      }
      if (response.ok && (response.headers.get("Content-Type") || "").indexOf("application/json") === 0) {
        return response.json().then(function (answer) {
          var unread = answer && answer.unread;
          if (!unread) { return; }
          showCount("inbox", unread.inbox);
          showCount("notifications", unread.notifications);
        });
      }
    })
    .catch(function () { /* the button stays, or the badges wait for the next page */ });
}());
