// Live preview of a template while it is typed: the server validates and renders it (no eval here).
(function () {
  "use strict";

  function show(box, preview) {
    box.textContent = "";
    if (!preview) {
      var hint = document.createElement("p");
      hint.className = "muted";
      hint.textContent = box.getAttribute("data-fix-hint");
      box.appendChild(hint);
      return;
    }
    var bubble = document.createElement("div");
    bubble.className = "bubble";
    if (preview.text !== undefined) {
      bubble.id = "preview-text";
      bubble.textContent = preview.text;
    } else if (preview.articles) {
      bubble.textContent = preview.articles.map(function (a) { return a.title + "\n" + a.description + "\n" + a.url; }).join("\n\n");
    } else if (preview.fields) {
      bubble.textContent = preview.fields.map(function (f) { return f[0] + ": " + f[1]; }).join("\n");
    } else {
      bubble.textContent = preview.summary;
    }
    box.appendChild(bubble);
  }

  function showIssues(list, issues) {
    list.textContent = "";
    issues.forEach(function (issue) {
      var item = document.createElement("li");
      item.textContent = issue;
      list.appendChild(item);
    });
    list.hidden = issues.length === 0;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("template-form");
    if (!form) { return; }
    var body = document.getElementById("template-body");
    var profile = document.getElementById("preview-profile");
    var name = document.getElementById("template-name");
    var box = document.getElementById("preview");
    var issues = document.getElementById("issues");
    var token = form.querySelector("input[name=csrf_token]").value;
    var timer = null;
    var sequence = 0;

    function refresh() {
      var mine = ++sequence;
      fetch(form.getAttribute("data-preview-url"), {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": token, Accept: "application/json" },
        body: JSON.stringify({ body: body.value, name: name ? name.value : "", profile_id: profile.value })
      })
        .then(function (answer) { return answer.json(); })
        .then(function (result) {
          if (mine !== sequence) { return; }  // an older answer arriving late must not win
          showIssues(issues, result.issues || []);
          show(box, result.preview);
        });
    }

    function soon() {
      window.clearTimeout(timer);
      timer = window.setTimeout(refresh, 300);
    }
    body.addEventListener("input", soon);
    profile.addEventListener("change", refresh);
  });
})();
