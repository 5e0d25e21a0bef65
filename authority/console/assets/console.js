// mandate console: plain JavaScript, no framework; the pages work without it.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // The tree: clicking a hop's header toggles its decisions.
  document.querySelectorAll(".hop header h3").forEach(function (h) {
    h.style.cursor = "pointer";
    h.addEventListener("click", function () {
      var d = h.closest(".hop").querySelector("details");
      if (d) d.open = !d.open;
    });
  });
});
