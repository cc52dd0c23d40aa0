// Live inbox: replace the table's rows with the HTML the server pushes over SSE.
(function () {
  "use strict";
  var rows = document.getElementById("inbox-rows");
  if (!rows || !window.EventSource) { return; }
  var source = new EventSource(rows.getAttribute("data-events"));
  source.addEventListener("inbox", function (event) {
    rows.innerHTML = event.data;
  });
})();
