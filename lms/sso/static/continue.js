// Single sign-on: send the "Continue" form the provider's return leads to without a click
// (the sign-in is completed by that POST: a page view never writes).
(function () {
  var form = document.querySelector("form[data-autosubmit='true']");
  // The form's button is named "submit", which hides the form's own submit(): call the prototype's.
  if (form) { HTMLFormElement.prototype.submit.call(form); }
})();
