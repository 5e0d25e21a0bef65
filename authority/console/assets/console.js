// mandate console: plain JavaScript, no framework; the pages work without it.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // The tree: clicking a hop's title toggles its decisions.
  document.querySelectorAll(".hop header h3").forEach(function (h) {
    h.style.cursor = "pointer";
    h.addEventListener("click", function () {
      var d = h.closest(".hop").querySelector("details");
      if (d) d.open = !d.open;
    });
  });

  // The decisions timeline: new decisions arrive live (Server-Sent
  // Events) and are put on top. Text only: nothing is parsed as HTML.
  var status = document.getElementById("stream-status");
  var rows = document.getElementById("decision-rows");
  if (!status || !rows || !window.EventSource) return;
  var src = new EventSource(status.getAttribute("data-stream"));
  var cell = function (tr, text, cls) {
    var td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text;
    tr.appendChild(td);
    return td;
  };
  src.addEventListener("open", function () { status.textContent = "live: on"; });
  src.addEventListener("error", function () { status.textContent = "live: reconnecting…"; });
  src.addEventListener("decision", function (ev) {
    var d;
    try { d = JSON.parse(ev.data); } catch (e) { return; }
    var tr = document.createElement("tr");
    tr.className = "decision live " + (d.allowed ? "allowed" : "denied");
    tr.setAttribute("data-decision", d.id);
    cell(tr, new Date(d.time).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC"));
    var badge = document.createElement("span");
    badge.className = "badge " + (d.allowed ? "allowed" : "denied");
    badge.textContent = d.allowed ? "allowed" : "denied";
    cell(tr, "").appendChild(badge);
    cell(tr, d.call, "mono");
    cell(tr, (d.session || "") + " · " + (d.agent || "") + (d.holder ? " → " + d.holder : ""));
    cell(tr, d.allowed ? "" : (d.reason || "") + (d.check_text ? " " + d.check_text : ""));
    rows.insertBefore(tr, rows.firstChild);
    var none = document.getElementById("no-decisions");
    if (none) none.remove();
  });
});
