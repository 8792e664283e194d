// twostep: small progressive enhancements. The pages work without this file.
(function () {
  "use strict";

  // Paced breathing timer: <div data-breathing data-in="4" data-out="6">
  function startBreathing(root) {
    var phase = root.querySelector("[data-phase]");
    var count = root.querySelector("[data-count]");
    var button = root.querySelector("button[data-toggle]");
    var inhale = parseInt(root.getAttribute("data-in") || "4", 10);
    var exhale = parseInt(root.getAttribute("data-out") || "6", 10);
    var timer = null;
    var left = 0;
    var breathingIn = true;

    function tick() {
      if (left <= 0) {
        breathingIn = !breathingIn;
        left = breathingIn ? inhale : exhale;
        phase.textContent = breathingIn ? "Breathe in" : "Breathe out";
        root.classList.toggle("breathing-in", breathingIn);
        root.classList.toggle("breathing-out", !breathingIn);
      }
      count.textContent = String(left);
      left -= 1;
    }

    button.addEventListener("click", function () {
      if (timer) {
        clearInterval(timer);
        timer = null;
        button.textContent = "Start";
        phase.textContent = "Paused";
        return;
      }
      breathingIn = false;
      left = 0;
      tick();
      timer = setInterval(tick, 1000);
      button.textContent = "Pause";
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-breathing]").forEach(startBreathing);
  });
})();
