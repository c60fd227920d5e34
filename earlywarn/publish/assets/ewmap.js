/* earlywarn map runtime (inlined into every published map).
 *
 * Safety contract with the Python side (earlywarn/publish): every string in
 * the data objects handed to these functions is already HTML-escaped, so it
 * may be concatenated into popup/tooltip HTML as is. Numbers and flags are
 * plain JSON numbers. Nothing here builds HTML from user input except through
 * EW.escape, and nothing is fetched: the page works from a file:// URL.
 */
(function () {
  "use strict";
  var EW = (window.EW = window.EW || {});
  EW.stats = { localities: 0, incidents: 0, bases: 0, idpSites: 0, fd: 0, ha: 0 };
  EW.ready = false;

  /* Same mapping as earlywarn.publish.safety.esc (html.escape plus "/" and braces). */
  EW.escape = function (s) {
    return String(s)
      .replace(/&/g, "&amp;")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;")
      .replace(/'/g, "&#x27;")
      .replace(/\//g, "&#x2F;")
      .replace(/\{/g, "&#123;")
      .replace(/\}/g, "&#125;");
  };

  /* Flat delta-encoded multipolygons -> Leaflet latlng arrays (one per locality). */
  EW.decode = function (enc) {
    var c = enc.c, ro = enc.r, po = enc.p, go = enc.g, s = enc.s, out = [];
    for (var g = 0; g + 1 < go.length; g++) {
      var parts = [];
      for (var p = go[g]; p < go[g + 1]; p++) {
        var rings = [];
        for (var r = po[p]; r < po[p + 1]; r++) {
          var ring = [], x = 0, y = 0;
          for (var k = ro[r]; k < ro[r + 1]; k++) {
            x += c[2 * k];
            y += c[2 * k + 1];
            ring.push([y / s, x / s]);
          }
          if (ring.length >= 3) rings.push(ring);
        }
        if (rings.length) parts.push(rings);
      }
      out.push(parts.length === 1 ? parts[0] : parts);
    }
    return out;
  };

  function row(label, value) {
    return value || value === 0 ? "<tr><th>" + label + "</th><td>" + value + "</td></tr>" : "";
  }

  function target(e) {
    return e.propagatedFrom || e.layer;
  }

  EW.localityStyle = function (i, renderer) {
    var P = EW.loc.props, k = P.cls[i];
    var s = {
      renderer: renderer,
      className: "ew-locality ew-risk-" + (k >= 0 ? k : "na"),
      fillColor: k >= 0 ? EW.loc.colors[k] : EW.loc.noData,
      fillOpacity: 0.72,
      color: "#707070",
      weight: 0.6,
      opacity: 0.9,
    };
    if (P.fd[i]) {
      s.color = EW.loc.fdColor;
      s.weight = 2.6;
      s.opacity = 1;
      s.className += " ew-fd";
    }
    if (P.ha[i]) {
      s.color = P.fd[i] ? EW.loc.fdColor : EW.loc.haColor;
      s.weight = 2.6;
      s.opacity = 1;
      s.dashArray = "6 4";
      s.className += " ew-ha";
    }
    return s;
  };

  EW.localityPopup = function (i) {
    var P = EW.loc.props, k = P.cls[i];
    var label = k >= 0 ? EW.loc.classes[k] : "no score";
    var h = '<div class="ew-popup"><div class="ew-popup-title">' + P.name[i] + "</div>";
    h += '<div class="ew-popup-sub">P-code ' + P.pcode[i] + (P.adm1[i] ? " &middot; " + P.adm1[i] : "") + "</div><table>";
    h += row("Risk", '<span class="ew-chip ew-c' + (k >= 0 ? k : "na") + '">' + label + "</span> " + P.risk[i]);
    h += row("Change since last run", P.chg[i]);
    h += row("Priority", P.rank[i] ? "#" + P.rank[i] : "");
    var drv = [P.d1[i], P.d2[i], P.d3[i]].filter(Boolean);
    if (drv.length) h += row("Top drivers", "<ol><li>" + drv.join("</li><li>") + "</li></ol>");
    if (P.fd[i]) h += row("Forward deployment", '<span class="ew-badge ew-badge-fd">FD</span> ' + P.fdr[i]);
    if (P.ha[i]) h += row("Humanitarian access", '<span class="ew-badge ew-badge-ha">HA</span> ' + P.har[i]);
    h += row("Population", P.pop[i]);
    h += row("IDPs", P.idp[i]);
    var cov = P.cov[i] === 1 ? " (within patrol radius)" : P.cov[i] === 0 ? " (outside patrol radii)" : "";
    h += row("Nearest base", P.km[i] ? P.km[i] + " km" + cov : "");
    return h + "</table></div>";
  };

  EW.localityLayer = function (map, data) {
    var group = L.featureGroup(), geoms = EW.decode(data.geom), P = data.props;
    var renderer = data.canvas ? L.canvas({ padding: 0.3 }) : L.svg({ padding: 0.3 });
    EW.map = map;
    // Fit first, without animation, so the polygons are drawn once at the final zoom.
    if (data.bounds) map.fitBounds(data.bounds, { animate: false, padding: [8, 8] });
    EW.loc = {
      layers: [], props: P, classes: data.classes, colors: data.colors, noData: data.noData,
      fdColor: data.fdColor, haColor: data.haColor, flags: data.flags, flagMinZoom: data.flagMinZoom, group: group,
    };
    for (var i = 0; i < geoms.length; i++) {
      EW.loc.layers.push(null);
      if (!geoms[i].length) continue;
      var lyr = L.polygon(geoms[i], EW.localityStyle(i, renderer));
      lyr.ewIndex = i;
      EW.loc.layers[i] = lyr;
      group.addLayer(lyr);
      EW.stats.localities++;
    }
    group.on("click", function (e) {
      EW.openLocality(target(e).ewIndex, e.latlng, false);
    });
    group.on("mouseover", function (e) {
      var l = target(e);
      if (!l.getTooltip()) {
        var k = P.cls[l.ewIndex];
        l.bindTooltip(P.name[l.ewIndex] + " &middot; " + (k >= 0 ? EW.loc.classes[k] : "no score") + " " + P.risk[l.ewIndex], { sticky: true });
        l.openTooltip(e.latlng);
      }
    });
    return group;
  };

  EW.highlight = function (l) {
    if (EW._hl && EW._hl !== l) EW._hl.setStyle(EW.localityStyle(EW._hl.ewIndex, EW._hl.options.renderer));
    EW._hl = l;
    l.setStyle({ color: "#000", weight: 4, opacity: 1, dashArray: null });
    if (l.bringToFront && EW.map.hasLayer(l)) l.bringToFront();
  };

  EW.openLocality = function (i, latlng, zoom) {
    var l = EW.loc && EW.loc.layers[i];
    if (!l) return false;
    var b = l.getBounds();
    if (zoom) {
      if (!EW.map.hasLayer(EW.loc.group)) EW.map.addLayer(EW.loc.group);
      EW.map.fitBounds(b, { maxZoom: 11, padding: [40, 40] });
    }
    L.popup({ maxWidth: 360 }).setLatLng(latlng || b.getCenter()).setContent(EW.localityPopup(i)).openOn(EW.map);
    EW.highlight(l);
    return true;
  };

  /* Flag badges at each flagged locality's representative point. kind: "fd" | "ha". */
  EW.flagLayer = function (map, kind) {
    var group = L.featureGroup(), P = EW.loc.props, pts = EW.loc.flags;
    for (var j = 0; j < pts.length; j++) {
      var i = pts[j][0];
      if (!P[kind][i]) continue;
      var m = L.marker([pts[j][1], pts[j][2]], {
        icon: L.divIcon({ className: "ew-flag ew-flag-" + kind, html: kind.toUpperCase(), iconSize: [24, 16] }),
        keyboard: false,
      });
      m.ewIndex = i;
      group.addLayer(m);
      EW.stats[kind]++;
    }
    group.on("click", function (e) {
      EW.openLocality(target(e).ewIndex, null, false);
    });
    EW.watchFlagZoom(map);
    return group;
  };

  /* Badges only once localities are big enough on screen; outlines always show flags. */
  EW.watchFlagZoom = function (map) {
    if (EW._flagZoomWatched) return;
    EW._flagZoomWatched = true;
    var update = function () {
      L.DomUtil[map.getZoom() < EW.loc.flagMinZoom ? "addClass" : "removeClass"](map.getContainer(), "ew-flags-hidden");
    };
    map.on("zoomend", update);
    update();
  };

  EW.incidentPopup = function (D, i) {
    var h = '<div class="ew-popup"><div class="ew-popup-title">' + D.kind[i] + "</div><table>";
    h += row("Date", D.date[i]);
    h += row("Events", D.count ? D.count[i] : "");
    h += row("Fatalities", D.fat[i]);
    h += row("Location", D.loc[i]);
    h += row("Notes", D.notes ? D.notes[i] : "");
    return h + "</table></div>";
  };

  EW.incidentLayer = function (map, D) {
    var group = L.markerClusterGroup({ chunkedLoading: true, showCoverageOnHover: false, maxClusterRadius: 45 });
    var markers = [];
    for (var i = 0; i < D.lat.length; i++) {
      var m = L.circleMarker([D.lat[i], D.lon[i]], {
        radius: D.r[i], color: "#ffffff", weight: 1, fillColor: D.civ[i] ? "#1a1a1a" : "#6b6b6b",
        fillOpacity: 0.9, className: "ew-incident",
      });
      m.ewIndex = i;
      markers.push(m);
    }
    group.addLayers(markers);
    EW.incidents = { data: D, group: group };
    EW.stats.incidents = markers.length;
    group.on("click", function (e) {
      var m = target(e);
      if (m.ewIndex === undefined) return;
      L.popup({ maxWidth: 360 }).setLatLng(m.getLatLng()).setContent(EW.incidentPopup(D, m.ewIndex)).openOn(map);
    });
    return group;
  };

  EW.baseLayer = function (map, D) {
    var group = L.featureGroup();
    for (var i = 0; i < D.lat.length; i++) {
      if (D.km[i] > 0) {
        L.circle([D.lat[i], D.lon[i]], {
          radius: D.km[i] * 1000, color: "#111111", weight: 1.5, dashArray: "5 5", fillColor: "#111111",
          fillOpacity: 0.03, interactive: false, className: "ew-patrol",
        }).addTo(group);
      }
      var m = L.marker([D.lat[i], D.lon[i]], {
        icon: L.divIcon({ className: "ew-base", html: "", iconSize: [12, 12] }), keyboard: false,
      });
      m.bindTooltip(D.name[i] + (D.type[i] ? " (" + D.type[i] + ")" : ""));
      m.bindPopup(
        '<div class="ew-popup"><div class="ew-popup-title">' + D.name[i] + "</div><table>" +
          row("Type", D.type[i]) + row("Patrol radius", D.km[i] > 0 ? D.km[i] + " km" : "") + "</table></div>"
      );
      group.addLayer(m);
      EW.stats.bases++;
    }
    return group;
  };

  EW.idpLayer = function (map, D) {
    var group = L.featureGroup();
    for (var i = 0; i < D.lat.length; i++) {
      var m = L.circleMarker([D.lat[i], D.lon[i]], {
        radius: D.r[i], color: "#01665e", weight: 1.5, fillColor: "#35978f", fillOpacity: 0.35, className: "ew-idp",
      });
      m.bindTooltip(D.name[i] + (D.n[i] ? ": " + D.n[i] + " IDPs" : ""));
      group.addLayer(m);
      EW.stats.idpSites++;
    }
    return group;
  };

  /* Search by locality name / p-code: exact, then prefix, then substring. */
  EW.search = function (q) {
    var status = document.getElementById("ew-search-status");
    var key = EW.escape(String(q).trim()).toLowerCase();
    if (!key || !EW.loc) return -1;
    var P = EW.loc.props;
    if (!EW._keys) {
      EW._keys = P.name.map(function (n) { return n.toLowerCase(); });
      EW._ids = P.pcode.map(function (n) { return n.toLowerCase(); });
    }
    var hit = -1, tests = [
      function (n, id) { return n === key || id === key; },
      function (n) { return n.indexOf(key) === 0; },
      function (n, id) { return n.indexOf(key) >= 0 || id.indexOf(key) >= 0; },
    ];
    for (var t = 0; t < tests.length && hit < 0; t++) {
      for (var i = 0; i < EW._keys.length; i++) {
        if (EW.loc.layers[i] && tests[t](EW._keys[i], EW._ids[i])) { hit = i; break; }
      }
    }
    if (status) status.textContent = hit < 0 ? "No locality matches \u201c" + String(q).trim() + "\u201d" : "";
    if (hit >= 0) EW.openLocality(hit, null, true);
    return hit;
  };

  EW.finish = function (map) {
    var legend = document.getElementById("ew-legend");
    if (legend) {
      var Legend = L.Control.extend({
        onAdd: function () {
          L.DomEvent.disableClickPropagation(legend);
          L.DomEvent.disableScrollPropagation(legend);
          return legend;
        },
      });
      new Legend({ position: "bottomright" }).addTo(map);
    }
    var form = document.getElementById("ew-search-form");
    if (form) {
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        EW.search(document.getElementById("ew-search").value);
      });
      document.getElementById("ew-search").addEventListener("change", function (ev) {
        EW.search(ev.target.value);
      });
    }
    var rows = document.querySelectorAll("[data-ew-idx]");
    for (var r = 0; r < rows.length; r++) {
      rows[r].addEventListener("click", function (ev) {
        EW.openLocality(parseInt(ev.currentTarget.getAttribute("data-ew-idx"), 10), null, true);
      });
      rows[r].addEventListener("keydown", function (ev) {
        if (ev.key === "Enter" || ev.key === " ") {
          ev.preventDefault();
          EW.openLocality(parseInt(ev.currentTarget.getAttribute("data-ew-idx"), 10), null, true);
        }
      });
    }
    EW.ready = true;
    document.body.setAttribute("data-ew-localities", String(EW.stats.localities));
    document.body.setAttribute("data-ew-ready", "1");
    if (window.performance && performance.mark) {
      performance.mark("ew-ready");
      // The frame after "ready" is the first one with the polygons drawn.
      requestAnimationFrame(function () {
        setTimeout(function () {
          performance.mark("ew-painted");
          EW.painted = true;
        }, 0);
      });
    }
  };
})();
