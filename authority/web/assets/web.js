// mandate web: a little plain JavaScript, no framework. Everything works
// without it; it only adds conveniences.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // Mark the current navigation entry.
  var page = document.body.getAttribute("data-page");
  document.querySelectorAll("header.top nav a[data-page]").forEach(function (a) {
    if (a.getAttribute("data-page") === page) a.classList.add("current");
  });
  // Tree: expand or collapse every hop's details at once.
  document.querySelectorAll("[data-toggle-details]").forEach(function (b) {
    b.addEventListener("click", function () {
      var scope = document.getElementById(b.getAttribute("data-toggle-details"));
      if (!scope) return;
      var ds = scope.querySelectorAll("details");
      var open = !Array.prototype.every.call(ds, function (d) { return d.open; });
      ds.forEach(function (d) { d.open = open; });
    });
  });
});
