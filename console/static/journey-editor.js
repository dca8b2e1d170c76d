// The journey editor, enhanced: each step row shows only the fields of its type, and the preview
// timeline follows the form as it is edited. Without this script every field is shown, and the
// Preview button redraws the timeline; the form works the same.
(function () {
  "use strict";
  function sync(row) {
    var type = row.querySelector("select.step-type").value;
    row.querySelectorAll(".group").forEach(function (group) {
      group.hidden = type !== "" && group.getAttribute("data-for").split(" ").indexOf(type) < 0;
    });
  }

  function livePreview(form) {
    var timer = null;
    var sequence = 0;
    function refresh() {
      var mine = ++sequence;
      var data = new FormData(form);
      data.set("action", "preview");
      fetch(form.getAttribute("action"), { method: "POST", credentials: "same-origin", body: data })
        .then(function (answer) { return answer.text(); })
        .then(function (html) {
          if (mine !== sequence) { return; }  // an older answer arriving late must not win
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("journey-preview");
          var shown = document.getElementById("journey-preview");
          if (fresh && shown) { shown.replaceWith(document.importNode(fresh, true)); }
        });
    }
    function soon() {
      window.clearTimeout(timer);
      timer = window.setTimeout(refresh, 400);
    }
    form.addEventListener("input", soon);
    form.addEventListener("change", soon);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("journey-form");
    if (!form) { return; }
    document.documentElement.classList.add("js");
    form.querySelectorAll(".step-row").forEach(function (row) {
      sync(row);
      row.querySelector("select.step-type").addEventListener("change", function () { sync(row); });
    });
    livePreview(form);
  });
})();
