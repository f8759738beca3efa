// pytest-mlbugs' HTML report: the filters by status and by category. The page is whole without
// this script; it hides the cards and the marks that the checked boxes leave out, recolours the
// source lines from what is left, and keeps the choice in the URL's hash
// (#status=survived,timeout&category=shapes) so that a view can be linked to.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  var severity = JSON.parse(document.body.getAttribute("data-severity"));
  var noun = document.body.getAttribute("data-noun");
  var cards = Array.prototype.slice.call(document.querySelectorAll("article.mutant"));
  var statusOf = {};
  var categoriesOf = {};
  cards.forEach(function (card) {
    statusOf[card.dataset.m] = card.dataset.status;
    categoriesOf[card.dataset.m] = JSON.parse(card.dataset.categories);
  });

  function boxes(name) {
    return Array.prototype.slice.call(document.querySelectorAll('#filters input[name="' + name + '"]'));
  }

  function checked(name) {
    var values = new Set();
    boxes(name).forEach(function (box) {
      if (box.checked) values.add(box.value);
    });
    return values;
  }

  function cls(status) {
    return "st-" + status.replace(/ /g, "-");
  }

  // "#status=a,b&category=c": filters; "#" or "#all": everything; any other hash is an anchor
  // (a card, a line) and leaves the filters as they are.
  function readHash() {
    var raw = location.hash.replace(/^#/, "");
    if (raw !== "" && raw !== "all" && raw.indexOf("=") < 0) return false;
    var wanted = {};
    raw.split("&").forEach(function (part) {
      var at = part.indexOf("=");
      if (at > 0) {
        wanted[part.slice(0, at)] = part.slice(at + 1).split(",").filter(Boolean).map(decodeURIComponent);
      }
    });
    ["status", "category"].forEach(function (name) {
      boxes(name).forEach(function (box) {
        box.checked = !wanted[name] || wanted[name].length === 0 || wanted[name].indexOf(box.value) >= 0;
      });
    });
    return true;
  }

  function writeHash() {
    var parts = [];
    ["status", "category"].forEach(function (name) {
      var all = boxes(name);
      var on = all.filter(function (box) { return box.checked; });
      if (on.length < all.length) {
        parts.push(name + "=" + on.map(function (box) { return encodeURIComponent(box.value); }).join(","));
      }
    });
    var hash = parts.length ? "#" + parts.join("&") : "#all";
    if (location.hash !== hash) history.replaceState(null, "", hash);
  }

  function apply() {
    var statuses = checked("status");
    var categories = checked("category");
    var visible = {};
    var shown = 0;
    cards.forEach(function (card) {
      var m = card.dataset.m;
      var ok = statuses.has(statusOf[m]) && categoriesOf[m].some(function (c) { return categories.has(c); });
      visible[m] = ok;
      card.hidden = !ok;
      if (ok) shown += 1;
    });
    document.querySelectorAll("a.mark").forEach(function (mark) {
      mark.hidden = !visible[mark.dataset.m];
    });
    document.querySelectorAll(".line[data-m]").forEach(function (line) {
      var left = line.dataset.m.split(" ").filter(function (m) { return visible[m]; });
      severity.forEach(function (status) { line.classList.remove(cls(status)); });
      if (left.length) {
        var worst = left.map(function (m) { return statusOf[m]; }).sort(function (a, b) {
          return severity.indexOf(a) - severity.indexOf(b);
        })[0];
        line.classList.add(cls(worst));
      }
    });
    var filtering = shown < cards.length;
    document.querySelectorAll("section.file").forEach(function (section) {
      var inside = section.querySelectorAll("article.mutant:not([hidden])").length;
      section.hidden = filtering && inside === 0;
    });
    document.getElementById("shown").textContent =
      shown + " of " + cards.length + " " + noun + (cards.length === 1 ? "" : "s") + " shown";
  }

  document.getElementById("filters").addEventListener("change", function () {
    apply();
    writeHash();
  });
  window.addEventListener("hashchange", function () {
    if (readHash()) apply();
  });
  readHash();
  apply();
})();
