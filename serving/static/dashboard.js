// Draws each chart from the JSON figure placed beside it by the server, and re-applies the
// filters when one changes. No inline script: the page's CSP allows scripts from this site only.
(function () {
  "use strict";
  function draw() {
    document.querySelectorAll("[data-figure]").forEach(function (el) {
      var src = document.getElementById(el.getAttribute("data-figure"));
      if (!src || !window.Plotly) { return; }
      var fig = JSON.parse(src.textContent);
      window.Plotly.newPlot(el, fig.data, fig.layout,
        { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["toImage"] })
        .then(function () {
          el.setAttribute("data-drawn", "true");
          drill(el);
        });
    });
  }
  // A chart with data-drill="prefix": clicking a bar opens the list with id prefix + the bar's
  // customdata (the deals behind it) and scrolls to it.
  function drill(el) {
    var prefix = el.getAttribute("data-drill");
    if (!prefix || !el.on) { return; }
    el.on("plotly_click", function (ev) {
      var point = ev && ev.points && ev.points[0];
      var list = point && document.getElementById(prefix + point.customdata);
      if (!list) { return; }
      list.open = true;
      list.scrollIntoView({ block: "nearest" });
    });
  }
  function filters() {
    var form = document.getElementById("filters");
    if (!form) { return; }
    form.querySelectorAll("select").forEach(function (s) {
      s.addEventListener("change", function () {
        if (s.name === "freq") {  // a period of the other frequency: let the server pick
          var p = document.getElementById("period");
          if (p) { p.disabled = true; }
        }
        form.submit();
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { draw(); filters(); });
})();
