// Single sign-on: send the "Continue" form the provider's return leads to without a click
// (the sign-in is completed by that POST: a page view never writes).
(function () {
  var form = document.querySelector("form[data-autosubmit='true']");
  if (form) { form.submit(); }
})();
