// mailroom: a little vanilla JavaScript, no external files (production has no internet).
"use strict";

// Leitstand: replace the live part every few seconds with the server-rendered fragment.
function startLiveRefresh() {
  const live = document.querySelector("[data-refresh]");
  if (!live) return;
  const interval = parseInt(live.dataset.interval || "10000", 10);
  const refresh = async () => {
    // Do not swap the table away while someone types a quarantine reason or a note on a
    // paper original, nor once something is typed (the click on the button comes later).
    if (live.contains(document.activeElement) && document.activeElement.tagName === "INPUT") return;
    const typed = live.querySelectorAll("input:not([type=hidden])");
    if (Array.from(typed).some((input) => input.value.trim() !== "")) return;
    try {
      const response = await fetch(live.dataset.refresh, { credentials: "same-origin" });
      if (response.ok) live.innerHTML = await response.text();
      else if (response.status === 401 || response.redirected) window.location.reload();
    } catch (err) {
      /* network hiccup: try again next time */
    }
  };
  window.setInterval(refresh, interval);
}

// Document view: zoom the page images and toggle the low-confidence and handwriting marks.
function startZoom() {
  const scroller = document.querySelector(".page-scroll");
  if (!scroller) return;
  let zoom = 1;
  document.querySelectorAll("[data-zoom]").forEach((button) => {
    button.addEventListener("click", () => {
      const step = parseInt(button.dataset.zoom, 10);
      zoom = step === 0 ? 1 : Math.min(4, Math.max(0.5, zoom + step * 0.25));
      scroller.style.setProperty("--zoom", String(zoom));
    });
  });
  scroller.querySelectorAll(".page-frame img").forEach((img) => {
    img.addEventListener("dblclick", () => {
      zoom = zoom === 1 ? 2 : 1;
      scroller.style.setProperty("--zoom", String(zoom));
    });
  });
  // Low-confidence marks and handwritten regions each have their own checkbox.
  [["[data-toggle-regions]", "hide-regions"], ["[data-toggle-hand]", "hide-hand"]].forEach(([selector, hidden]) => {
    const toggle = document.querySelector(selector);
    if (toggle) {
      toggle.addEventListener("change", () => scroller.classList.toggle(hidden, !toggle.checked));
    }
  });
}

// Department picker submits its form when changed.
function startAutosubmit() {
  document.querySelectorAll("select[data-autosubmit]").forEach((select) => {
    select.addEventListener("change", () => select.form && select.form.submit());
  });
}

// Model page: reload while a background job is waiting or running.
function reloadWhileBusy() {
  if (document.querySelector('#jobs tr[data-status="läuft"], #jobs tr[data-status="wartet"]')) {
    window.setTimeout(() => window.location.reload(), 2000);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  startLiveRefresh();
  startZoom();
  startAutosubmit();
  reloadWhileBusy();
});
