// Redraws the console from /ui/cluster.json every pulse. The page works
// without it: the server renders the same tables.
(function () {
  "use strict";
  var script = document.currentScript;
  var pulse = Math.max(1000, parseInt(script.getAttribute("data-pulse"), 10) || 5000);

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) { e.setAttribute(k, attrs[k]); }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function bytes(n) {
    if (n < 1024) { return n + " B"; }
    var u = "KMGTPE", i = -1;
    do { n /= 1024; i++; } while (n >= 1024 && i < u.length - 1);
    return n.toFixed(1) + " " + u[i] + "iB";
  }
  function row(tbody, cells, cls) {
    var tr = el("tr");
    cells.forEach(function (c, i) { tr.appendChild(el("td", cls && cls[i] ? {"class": cls[i]} : {}, String(c))); });
    tbody.appendChild(tr);
  }
  function replaceBody(id) {
    var t = document.getElementById(id), old = t.querySelector("tbody"), b = el("tbody");
    t.replaceChild(b, old);
    return b;
  }

  var redraws = 0;
  function draw(v) {
    redraws++;
    document.body.setAttribute("data-redraws", String(redraws));
    document.getElementById("updated").textContent = new Date().toISOString().replace("T", " ").slice(0, 19) + " UTC";
    document.getElementById("leader").textContent = v.leader || "none";
    document.getElementById("term").textContent = v.term;
    document.getElementById("free").textContent = v.free;
    document.getElementById("max").textContent = v.max;
    var members = document.getElementById("members");
    members.textContent = "";
    v.members.forEach(function (m) {
      var li = el("li", {"class": "member" + (m === v.leader ? " leader" : "")}, m);
      if (m === v.leader) { li.appendChild(document.createTextNode(" ")); li.appendChild(el("span", {"class": "tag"}, "leader")); }
      members.appendChild(li);
    });
    Object.keys(v.states).forEach(function (s) {
      var b = document.querySelector('#states b[data-state="' + s + '"]');
      if (b) { b.textContent = v.states[s]; }
    });
    var dcs = document.getElementById("dcs");
    dcs.textContent = "";
    if (!v.dataCenters.length) { dcs.appendChild(el("p", {}, "no volume servers")); }
    var copies = replaceBody("copies");
    v.dataCenters.forEach(function (dc) {
      var d = el("div", {"class": "dc", "data-dc": dc.id});
      d.appendChild(el("h3", {}, "data center " + dc.id));
      dc.racks.forEach(function (rk) {
        var r = el("div", {"class": "rack", "data-rack": rk.id});
        r.appendChild(el("h4", {}, "rack " + rk.id));
        rk.nodes.forEach(function (n) {
          var nd = el("div", {"class": "node", "data-node": n.url});
          nd.appendChild(el("h5", {}, n.url));
          var meta = "slots " + n.free + " free of " + n.max;
          if (n.diskTotal) { meta += " · disk " + bytes(n.diskFree) + " free of " + bytes(n.diskTotal); }
          nd.appendChild(el("p", {"class": "meta"}, meta));
          if (n.diskTotal) {
            var bar = el("div", {"class": "bar", title: "disk used"}), fill = el("span");
            fill.style.width = Math.floor((n.diskTotal - n.diskFree) * 100 / n.diskTotal) + "%";
            bar.appendChild(fill);
            nd.appendChild(bar);
          }
          var cells = el("div", {"class": "cells"});
          n.volumes.forEach(function (c) {
            cells.appendChild(el("span", {"class": "cell " + c.state, "data-volume": c.id, "data-state": c.state,
              title: "volume " + c.id + " " + c.state + " · " + bytes(c.size) + " · garbage " + bytes(c.garbage) + " · " + c.files + " files" + (c.collection ? " · collection " + c.collection : "")}, String(c.id)));
            row(copies, [c.id, n.url, c.state, c.collection, c.replication, bytes(c.size), bytes(c.garbage), c.files], [null, null, "state " + c.state]);
          });
          nd.appendChild(cells);
          r.appendChild(nd);
        });
        d.appendChild(r);
      });
      dcs.appendChild(d);
    });
    var colls = replaceBody("colls");
    v.collections.forEach(function (c) { row(colls, [c.name || "(default)", c.volumes, bytes(c.size), c.files]); });
    var repairs = replaceBody("repair-table");
    if (!v.repairs.length) { var tr = el("tr"); tr.appendChild(el("td", {colspan: "5"}, "none")); repairs.appendChild(tr); }
    v.repairs.forEach(function (j) { row(repairs, [j.volume, j.source, j.target, j.started.slice(11, 19), j.copied ? "copied, syncing" : "copying"]); });
  }

  function refresh() {
    fetch("/ui/cluster.json", {cache: "no-store"})
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(draw)
      .catch(function () { /* keep the last view; try again next pulse */ })
      .then(function () { setTimeout(refresh, pulse); });
  }
  setTimeout(refresh, pulse);
})();
