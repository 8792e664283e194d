// twostep: small progressive enhancements shared by every page. The pages work without it.
// (Page-specific behaviour lives in its own file, e.g. breathing.js for the paced-breathing timer.)
(function () {
  "use strict";

  // Move focus to the first error summary after a refused form, so keyboard and
  // screen-reader users hear what to fix.
  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.querySelector(".error-summary, .bs-error-summary");
    if (summary) {
      summary.setAttribute("tabindex", "-1");
      summary.focus();
    }
  });
})();
