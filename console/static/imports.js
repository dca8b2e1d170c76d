// Upload with a progress bar, then follow the background import until its report is ready.
// Every word shown comes from the page's data-text-* attributes, translated on the server.
(function () {
  "use strict";

  function say(element, name, values) {
    var text = element.getAttribute("data-text-" + name) || "";
    Object.keys(values || {}).forEach(function (key) { text = text.split("{" + key + "}").join(values[key]); });
    return text;
  }

  function grouped(number) {
    return Number(number).toLocaleString(document.documentElement.lang || undefined);
  }

  function follow(panel) {
    var url = panel.getAttribute("data-progress-url");
    var reportBase = panel.getAttribute("data-report-base");
    var bar = document.getElementById("job-bar");
    var status = document.getElementById("job-status");
    var error = document.getElementById("job-error");
    function poll() {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (answer) { return answer.json(); })
        .then(function (job) {
          bar.value = job.percent;
          if (job.state === "done") {
            status.textContent = say(panel, "done", { rows: grouped(job.rows_done) });
            window.location.assign(reportBase + job.run_id);
          } else if (job.state === "failed") {
            status.textContent = say(panel, "failed");
            error.textContent = job.error;
            error.hidden = false;
          } else {
            status.textContent = say(panel, "rows", { rows: grouped(job.rows_done), percent: job.percent });
            window.setTimeout(poll, 500);
          }
        })
        .catch(function () { window.setTimeout(poll, 2000); });
    }
    poll();
  }

  function upload(form) {
    form.addEventListener("submit", function (event) {
      var file = form.querySelector("input[type=file]");
      if (!file.files.length) { return; }
      event.preventDefault();
      var token = form.querySelector("input[name=csrf_token]").value;
      var box = document.getElementById("upload-progress");
      var bar = document.getElementById("upload-bar");
      var status = document.getElementById("upload-status");
      box.hidden = false;
      var request = new XMLHttpRequest();
      request.open("POST", form.action);
      request.setRequestHeader("X-CSRF-Token", token);
      request.setRequestHeader("Accept", "application/json");
      request.upload.onprogress = function (progress) {
        if (progress.lengthComputable) { bar.value = Math.round(100 * progress.loaded / progress.total); }
      };
      request.onload = function () {
        var answer = {};
        try { answer = JSON.parse(request.responseText); } catch (ignored) { answer = { error: say(form, "unexpected") }; }
        if (request.status === 202) {
          window.location.assign(answer.progress_url);
        } else {
          status.textContent = say(form, "refused", { reason: answer.error || request.status });
        }
      };
      request.onerror = function () { status.textContent = say(form, "offline"); };
      request.send(new FormData(form));
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var panel = document.getElementById("job");
    if (panel) { follow(panel); }
    var form = document.getElementById("upload-form");
    if (form) { upload(form); }
  });
})();
