// LTI deep linking: post the signed answer back to the platform without a click.
(function () {
  var form = document.querySelector("form[data-autosubmit='true']");
  if (form) { form.submit(); }
})();
