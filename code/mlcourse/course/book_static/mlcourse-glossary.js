// mlcourse: show a glossary term's definition when the pointer rests on (or the keyboard focuses) a link to it.
// The definitions come from _static/mlcourse-glossary.json, written by mlcourse.course.site_glossary and
// fetched once, on the first hover. A click still follows the link to the glossary entry.
(function () {
  "use strict";
  var root = document.documentElement.dataset.content_root || "./";
  var data = null, loading = null, tip = null, hideTimer = null;

  function load() {
    if (!loading) {
      loading = fetch(root + "_static/mlcourse-glossary.json")
        .then(function (r) { return r.ok ? r.json() : {}; })
        .catch(function () { return {}; })
        .then(function (d) { data = d; return d; });
    }
    return loading;
  }

  function box() {
    if (!tip) {
      tip = document.createElement("div");
      tip.className = "mlcourse-term-tip mathjax_process";
      tip.setAttribute("role", "tooltip");
      tip.id = "mlcourse-term-tip";
      tip.addEventListener("mouseenter", function () { clearTimeout(hideTimer); });
      tip.addEventListener("mouseleave", hide);
      document.body.appendChild(tip);
    }
    return tip;
  }

  function show(link) {
    var id = decodeURIComponent(link.hash.slice(1));
    load().then(function (d) {
      var text = d[id];
      if (!text) return;
      clearTimeout(hideTimer);
      var t = box();
      t.textContent = text;
      var r = link.getBoundingClientRect();
      var width = Math.min(420, window.innerWidth - 16);
      t.style.width = width + "px";
      t.style.left = Math.max(8, Math.min(r.left + window.scrollX, window.scrollX + window.innerWidth - width - 8)) + "px";
      t.style.top = (r.bottom + window.scrollY + 6) + "px";
      t.hidden = false;
      link.setAttribute("aria-describedby", t.id);
      if (window.MathJax && window.MathJax.typesetPromise) { window.MathJax.typesetPromise([t]).catch(function () {}); }
    });
  }

  function hide() {
    clearTimeout(hideTimer);
    hideTimer = setTimeout(function () { if (tip) tip.hidden = true; }, 150);
  }

  function isTermLink(el) {
    return el && el.tagName === "A" && el.hash && el.hash.indexOf("#term-") === 0 && !el.closest("dl.glossary");
  }

  document.addEventListener("mouseover", function (e) {
    var a = e.target.closest && e.target.closest("a");
    if (isTermLink(a)) show(a);
  });
  document.addEventListener("mouseout", function (e) {
    var a = e.target.closest && e.target.closest("a");
    if (isTermLink(a)) hide();
  });
  document.addEventListener("focusin", function (e) { if (isTermLink(e.target)) show(e.target); });
  document.addEventListener("focusout", function (e) { if (isTermLink(e.target)) hide(); });
  document.addEventListener("keydown", function (e) { if (e.key === "Escape" && tip) tip.hidden = true; });
})();
