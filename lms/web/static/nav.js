// The "Menu" of a narrow screen as a real button. The page is sent with a checkbox and its
// label, which open the menu without a script but read as a checkbox; this script puts in
// their place the button that ships hidden beside them: aria-expanded says whether the menu
// is open, aria-controls names it, and Escape inside the menu closes it and returns to the
// button. On a wide screen the button, like the checkbox, is not shown (style.css).
(function () {
  "use strict";
  var nav = document.querySelector(".site-nav");
  var box = document.getElementById("nav-toggle");
  var label = document.querySelector("label[for='nav-toggle']");
  var button = document.getElementById("nav-button");
  var menu = document.getElementById("nav-menu");
  if (!nav || !button || !menu) { return; }

  function show(open) {
    button.setAttribute("aria-expanded", open ? "true" : "false");
    nav.classList.toggle("nav-open", open);
  }
  show(Boolean(box && box.checked));  // a box ticked before the script ran stays open
  if (box) { box.parentNode.removeChild(box); }
  if (label) { label.parentNode.removeChild(label); }
  button.hidden = false;
  button.addEventListener("click", function () {
    show(button.getAttribute("aria-expanded") !== "true");
  });
  menu.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && button.getAttribute("aria-expanded") === "true" && button.offsetParent !== null) {
      show(false);
      button.focus();
    }
  });
})();
