// A timed attempt's clock. The server keeps the time (an answer saved after the deadline is
// refused whatever this script does); this only shows what is left, warns at five minutes
// and at one, and, a few seconds before the end, sends the page as it stands so that what the
// learner typed on it is saved and the attempt submitted. Without JavaScript nothing changes.
// A page that opens with a warning's time already passed (the next question, five minutes
// from the end) says it too, whether or not an earlier page did: the warning region is in
// the page empty, and its text is put in a moment after load, as a screen reader announces
// a live region's change but not text that was there when the page was read. The five-minute
// warning goes in a polite region (read when the screen reader pauses); only the final one,
// the last minute, goes in the assertive region, which interrupts.
(function () {
  "use strict";
  var timer = document.querySelector("[data-seconds-left]");
  if (!timer) { return; }
  var SEND_BEFORE = 5;          // seconds before the deadline: the request must arrive in time
  var WARNINGS = [300, 60];     // seconds left at which a warning is read out, once an attempt
  var ANNOUNCE_AFTER = 750;     // ms after load: the (empty) live region is in the accessibility tree by then
  var endsAt = Date.now() + Number(timer.getAttribute("data-seconds-left")) * 1000;
  var clock = timer.querySelector("[data-clock]");
  var warning = document.getElementById(timer.getAttribute("data-warning"));
  var finalWarning = document.getElementById(timer.getAttribute("data-final-warning"));
  var FINAL = WARNINGS[WARNINGS.length - 1];  // the last warning: the only one said assertively
  var form = document.getElementById(timer.getAttribute("data-form"));
  var always = timer.getAttribute("data-show") === "always";
  var storeKey = "attempt-timer-warned:" + timer.getAttribute("data-attempt");
  var sent = false;
  var pending = null;

  function warned() {
    try { return (window.sessionStorage.getItem(storeKey) || "").split(",").filter(Boolean).map(Number); }
    catch (e) { return []; }
  }
  function remember(mark) {
    try { window.sessionStorage.setItem(storeKey, warned().concat([mark]).join(",")); } catch (e) { /* private mode */ }
  }
  function shown(seconds) {
    var h = Math.floor(seconds / 3600), m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
    var mm = (h && m < 10 ? "0" : "") + m, ss = (s < 10 ? "0" : "") + s;
    return (h ? h + ":" : "") + mm + ":" + ss;
  }
  function spoken(seconds) {
    if (seconds < 60) { return "Less than a minute"; }
    var minutes = Math.round(seconds / 60);
    return minutes === 1 ? "1 minute" : minutes + " minutes";
  }
  function secondsLeft() { return Math.max(0, Math.ceil((endsAt - Date.now()) / 1000)); }
  function warningText(seconds) {
    return spoken(seconds) + " left. When time runs out, the answers on this page are saved and the attempt is submitted.";
  }
  // Put the warning for ``seconds`` left in its region (the final one's when it is the last
  // minute) after ``delay`` ms, and empty the other, so one warning shows at a time.
  function say(seconds, delay) {
    var region = seconds <= FINAL && finalWarning ? finalWarning : warning;
    if (!region) { return; }
    var other = region === warning ? finalWarning : warning;
    var text = warningText(seconds);
    if (pending !== null) { window.clearTimeout(pending); }
    pending = window.setTimeout(function () {
      pending = null;
      if (other) { other.textContent = ""; }
      region.textContent = text;
    }, delay);
  }
  function warnOnLoad() {
    var left = secondsLeft();
    var passed = WARNINGS.filter(function (m) { return left <= m; });
    if (!passed.length || left <= SEND_BEFORE) { return; }
    var done = warned();
    passed.filter(function (m) { return done.indexOf(m) < 0; }).forEach(remember);  // tick() says them no more
    say(left, ANNOUNCE_AFTER);
  }
  function send() {
    sent = true;
    if (!form) { window.location.reload(); return; }
    var go = document.createElement("input");
    go.type = "hidden";
    go.name = "go";
    go.value = "finish";
    form.appendChild(go);
    form.submit();  // no submit event, no button's value: "finish" is the only "go" sent
  }
  function tick() {
    if (sent) { return; }
    var left = secondsLeft();
    if (always || left <= 3600) {
      timer.hidden = false;
      clock.textContent = shown(left);
    }
    timer.classList.toggle("attempt-timer-low", left <= FINAL);
    var done = warned();
    for (var i = 0; i < WARNINGS.length; i++) {
      var mark = WARNINGS[i];
      if (left <= mark && left > SEND_BEFORE && done.indexOf(mark) < 0) {
        var later = WARNINGS.slice(i + 1).filter(function (m) { return left <= m; });
        later.concat([mark]).forEach(remember);  // a page opened with 50 s left warns once, not twice
        say(Math.min(left, mark), 0);
        break;
      }
    }
    if (left <= SEND_BEFORE) { send(); }
  }
  warnOnLoad();
  tick();
  window.setInterval(tick, 1000);
  document.addEventListener("visibilitychange", tick);  // a tab the browser slowed catches up
})();
