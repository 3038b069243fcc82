// Keyboard shortcuts (as paperless-ngx and HotCRP have them), "select all", and confirmations.
// No inline scripts anywhere: the Content-Security-Policy allows only files from this folder.
(function () {
  "use strict";

  function typing(event) {
    var t = event.target;
    return t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
  }

  function choose(value) {
    var radio = document.getElementById("decision-" + value);
    if (!radio) return;
    radio.checked = true;
    var note = document.getElementById("note");
    if (note) { note.scrollIntoView({block: "center"}); note.focus(); }
  }

  function go(key) {
    var link = document.querySelector('a[data-shortcut="' + key + '"]');
    if (link) window.location.href = link.href;
  }

  function help() {
    var dialog = document.getElementById("shortcuts");
    if (!dialog) return;
    if (dialog.open) dialog.close(); else dialog.showModal();
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event)) return;
    switch (event.key) {
      case "j": case "k": go(event.key); break;
      case "a": choose("accept"); break;
      case "r": choose("reject"); break;
      case "e": {
        var edit = document.querySelector("details.edit");
        if (edit) { edit.open = true; var input = edit.querySelector("input[name=value]"); if (input) input.focus(); }
        break;
      }
      case "?": help(); break;
      default: return;
    }
    event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    var t = event.target;
    if (t.matches && t.matches("[data-help]")) { event.preventDefault(); help(); }
    if (t.id === "pick-all") {
      document.querySelectorAll('input[name="keys"]').forEach(function (box) { box.checked = t.checked; });
    }
    if (t.matches && t.matches("[data-confirm]") && !window.confirm(t.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });
})();
