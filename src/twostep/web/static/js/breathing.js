// twostep: guided paced-breathing timer (progressive enhancement; the page explains the
// exercise in text without this file).
//
// Markup: <section data-paced-breathing data-inhale="4" data-hold="0" data-exhale="6"
//   data-pause="0" data-minutes="3"> with [data-pb-toggle], [data-pb-stop],
//   [data-pb-minutes], [data-pb-phase] (aria-live), [data-pb-count], [data-pb-left],
//   [data-pb-bar] and .bs-js-only parts (hidden until this script runs).
// Keyboard: the controls are native buttons and a select; Escape stops the timer.
// prefers-reduced-motion: the circle does not grow and shrink (CSS); the count and
// the phase text carry the guidance.
(function () {
  "use strict";

  function num(root, name, fallback) {
    var v = parseFloat(root.getAttribute("data-" + name));
    return isFinite(v) && v >= 0 ? v : fallback;
  }

  function phasesOf(root) {
    var all = [
      { key: "in", label: "Breathe in", seconds: num(root, "inhale", 4) },
      { key: "hold", label: "Hold", seconds: num(root, "hold", 0) },
      { key: "out", label: "Breathe out", seconds: num(root, "exhale", 6) },
      { key: "pause", label: "Rest", seconds: num(root, "pause", 0) }
    ];
    return all.filter(function (p) { return p.seconds > 0; });
  }

  function setup(root) {
    var toggle = root.querySelector("[data-pb-toggle]");
    var stopButton = root.querySelector("[data-pb-stop]");
    var minutesSelect = root.querySelector("[data-pb-minutes]");
    var phaseText = root.querySelector("[data-pb-phase]");
    var countText = root.querySelector("[data-pb-count]");
    var leftText = root.querySelector("[data-pb-left]");
    var bar = root.querySelector("[data-pb-bar]");
    var phases = phasesOf(root);
    if (!toggle || !stopButton || !phaseText || !countText || phases.length === 0) {
      return;
    }
    root.querySelectorAll(".bs-js-only").forEach(function (el) { el.hidden = false; });
    var reduced = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)");
    function applyMotion() {
      root.classList.toggle("bs-reduced-motion", !!(reduced && reduced.matches));
    }
    applyMotion();
    if (reduced && reduced.addEventListener) {
      reduced.addEventListener("change", applyMotion);
    }

    var state = "idle"; // idle | running | paused
    var timer = null;
    var phaseIndex = 0;
    var phaseLeft = 0;   // whole seconds left in the current phase
    var totalLeft = 0;   // whole seconds left in the session
    var nextTick = 0;    // when the next second is due (ms, performance clock)

    function now() {
      return window.performance && performance.now ? performance.now() : Date.now();
    }

    function formatLeft(seconds) {
      var m = Math.floor(seconds / 60);
      var s = seconds % 60;
      return m + ":" + (s < 10 ? "0" : "") + s + " left";
    }

    function showPhase() {
      var p = phases[phaseIndex];
      phaseText.textContent = p.label;
      phases.forEach(function (q) { root.classList.toggle("bs-phase-" + q.key, q === p); });
      // the circle animates over the whole phase (CSS uses this duration)
      root.style.setProperty("--pb-phase-seconds", p.seconds + "s");
    }

    function render() {
      countText.textContent = String(phaseLeft);
      if (leftText) {
        leftText.textContent = formatLeft(totalLeft);
      }
      if (bar) {
        var total = sessionSeconds();
        var done = total > 0 ? (total - totalLeft) / total : 0;
        bar.style.width = Math.round(done * 100) + "%";
      }
    }

    function sessionSeconds() {
      var minutes = parseInt(minutesSelect ? minutesSelect.value : root.getAttribute("data-minutes"), 10);
      return (isFinite(minutes) && minutes > 0 ? minutes : 3) * 60;
    }

    function schedule() {
      var delay = Math.max(0, nextTick - now());
      timer = window.setTimeout(tick, delay);
    }

    function tick() {
      timer = null;
      nextTick += 1000;
      totalLeft -= 1;
      phaseLeft -= 1;
      if (totalLeft <= 0) {
        finish();
        return;
      }
      if (phaseLeft <= 0) {
        phaseIndex = (phaseIndex + 1) % phases.length;
        phaseLeft = Math.round(phases[phaseIndex].seconds);
        showPhase();
      }
      render();
      schedule();
    }

    function start() {
      if (state === "idle") {
        phaseIndex = 0;
        phaseLeft = Math.round(phases[0].seconds);
        totalLeft = sessionSeconds();
        showPhase();
      } else {
        phaseText.textContent = phases[phaseIndex].label;
      }
      state = "running";
      root.classList.add("bs-running");
      toggle.textContent = "Pause";
      toggle.setAttribute("aria-pressed", "true");
      stopButton.disabled = false;
      if (minutesSelect) {
        minutesSelect.disabled = true;
      }
      render();
      nextTick = now() + 1000;
      schedule();
    }

    function pause() {
      window.clearTimeout(timer);
      timer = null;
      state = "paused";
      root.classList.remove("bs-running");
      toggle.textContent = "Continue";
      toggle.setAttribute("aria-pressed", "false");
      phaseText.textContent = "Paused. Breathe in your usual way.";
    }

    function reset(message) {
      window.clearTimeout(timer);
      timer = null;
      state = "idle";
      root.classList.remove("bs-running");
      phases.forEach(function (q) { root.classList.remove("bs-phase-" + q.key); });
      toggle.textContent = "Start";
      toggle.setAttribute("aria-pressed", "false");
      stopButton.disabled = true;
      if (minutesSelect) {
        minutesSelect.disabled = false;
      }
      countText.textContent = "";
      if (leftText) {
        leftText.textContent = "";
      }
      if (bar) {
        bar.style.width = "0%";
      }
      phaseText.textContent = message;
    }

    function finish() {
      reset("Well done. Take a moment to notice how you feel.");
      toggle.focus();
    }

    toggle.addEventListener("click", function () {
      if (state === "running") {
        pause();
      } else {
        start();
      }
    });
    stopButton.addEventListener("click", function () {
      reset("Stopped. You can start again whenever you like.");
      toggle.focus();
    });
    root.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && state !== "idle") {
        event.preventDefault();
        reset("Stopped. You can start again whenever you like.");
        toggle.focus();
      }
    });
    document.addEventListener("visibilitychange", function () {
      if (document.hidden && state === "running") {
        pause();
      }
    });
  }

  function init() {
    document.querySelectorAll("[data-paced-breathing]").forEach(setup);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
