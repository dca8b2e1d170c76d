// The journey editor without the noise: each step row shows only the fields of its type. Without this
// script every field is shown and the form works the same.
(function () {
  "use strict";
  function sync(row) {
    var type = row.querySelector("select.step-type").value;
    row.querySelectorAll(".group").forEach(function (group) {
      group.hidden = type !== "" && group.getAttribute("data-for").split(" ").indexOf(type) < 0;
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.documentElement.classList.add("js");
    document.querySelectorAll("#journey-form .step-row").forEach(function (row) {
      sync(row);
      row.querySelector("select.step-type").addEventListener("change", function () { sync(row); });
    });
  });
})();
