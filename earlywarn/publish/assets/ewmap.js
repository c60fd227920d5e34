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
  EW.stats = { localities: 0, incidents: 0, bases: 0, idpSites: 0, fd: 0, ha: 0, context: {} };
  EW.ready = false;

  /* Same mapping as earlywarn.publish.safety.esc (html.escape plus "/" and braces). */
  EW.escape = function (s) {
    return String(s)
      .replace(/&/g, "&amp;")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;")
      .replace(/\x22/g, "&quot;") // \x22 is the double quote: a bare one here throws Babel's extractor off
      .replace(/'/g, "&#x27;")
      .replace(/\//g, "&#x2F;")
      .replace(/\{/g, "&#123;")
      .replace(/\}/g, "&#125;");
  };

  function decodeRing(c, s, from, to) {
    var ring = [], x = 0, y = 0;
    for (var k = from; k < to; k++) {
      x += c[2 * k];
      y += c[2 * k + 1];
      ring.push([y / s, x / s]);
    }
    return ring;
  }

  /* Flat delta-encoded multipolygons -> Leaflet latlng arrays (one per locality).
   * A payload without "p" holds lines: one array of polylines per feature. */
  EW.decode = function (enc) {
    var c = enc.c, ro = enc.r, po = enc.p, go = enc.g, s = enc.s, out = [];
    if (!po) {
      for (var f = 0; f + 1 < go.length; f++) {
        var lines = [];
        for (var l = go[f]; l < go[f + 1]; l++) {
          var line = decodeRing(c, s, ro[l], ro[l + 1]);
          if (line.length >= 2) lines.push(line);
        }
        out.push(lines);
      }
      return out;
    }
    for (var g = 0; g + 1 < go.length; g++) {
      var parts = [];
      for (var p = go[g]; p < go[g + 1]; p++) {
        var rings = [];
        for (var r = po[p]; r < po[p + 1]; r++) {
          var ring = decodeRing(c, s, ro[r], ro[r + 1]);
          if (ring.length >= 3) rings.push(ring);
        }
        if (rings.length) parts.push(rings);
      }
      out.push(parts.length === 1 ? parts[0] : parts);
    }
    return out;
  };

  /* The page's own texts in the map's language: EW.T is {English: translation}, given by the Python side
   * (earlywarn/publish/assets.py js_messages) for every tr("...") text here; "{name}" is filled from v.
   * Translations come from the project's catalogue, never from data, so they are HTML as written. */
  function tr(s, v) {
    var t = (EW.T && EW.T[s]) || s;
    return v ? t.replace(/\{(\w+)\}/g, function (m, k) { return k in v ? v[k] : m; }) : t;
  }
  EW.tr = tr;

  /* A count with the language's thousands separator (French: narrow no-break space). */
  function count(n) {
    return Number(n).toLocaleString(EW.lang || "en");
  }

  function row(label, value) {
    return value || value === 0 ? "<tr><th>" + label + "</th><td>" + value + "</td></tr>" : "";
  }

  /* A probability as people read it: the rule of earlywarn/numbers.py (risk_text_tenths), line for line.
   * t: tenths of a percent (0-1000, null/negative = no score); k: the class printed beside it (-1 = none);
   * cuts: the class cut-offs in tenths [moderate, high, very high] or null. "<1%" and ">99%" at the ends
 * (HTML-escaped, as Python's figures are before they are embedded);
   * a whole percent unless it lands on the other side of a cut-off from the class, then one decimal,
   * and "<cut" if even that reaches the cut-off from below. */
  function pctOfTenths(t) {
    var pc = EW.pct || "%";
    return t % 10 === 0 ? t / 10 + pc : Math.floor(t / 10) + (EW.dec || ".") + (t % 10) + pc;
  }

  EW.fmtRisk = function (t, k, cuts) {
    if (t === null || t === undefined || t < 0) return (EW.T && EW.T["n/a"]) || "n/a"; // self-contained: see test_numbers
    if (t < 10) return "&lt;" + pctOfTenths(10);
    if (t > 990) return "&gt;" + pctOfTenths(990);
    var lo = -1, hi = 1001;
    if (cuts && k >= 0 && k <= cuts.length) {
      lo = k >= 1 ? cuts[k - 1] : -1;
      hi = k < cuts.length ? cuts[k] : 1001;
    }
    var whole = Math.floor((t + 5) / 10) * 10;
    if (lo <= whole && whole < hi) return pctOfTenths(whole);
    if (lo <= t && t < hi) return pctOfTenths(t);
    if (t >= hi) return "&lt;" + pctOfTenths(hi);
    return pctOfTenths(lo);
  };

  function rangeText(lo, hi) {
    if (lo === hi) return lo;
    var plain = /^[0-9]/.test(lo) && /^[0-9]/.test(hi), pc = EW.pct || "%";
    return (plain && lo.slice(-pc.length) === pc ? lo.slice(0, -pc.length) : lo) + "&ndash;" + hi;
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
    var label = k >= 0 ? EW.loc.classes[k] : tr("no score");
    var h = '<div class="ew-popup"><div class="ew-popup-title">' + P.name[i] + "</div>";
    var adm1 = P.adm1n && P.adm1n[i] ? P.adm1n[i] + (P.adm1[i] ? " (" + P.adm1[i] + ")" : "") : P.adm1[i];
    // a grid cell's admin-2 unit, "Name (p-code)" like the admin-1; an admin locality's is itself
    var own = !P.adm2 || !P.adm2[i] || P.adm2[i] === P.pcode[i];
    var adm2 = own ? "" : P.adm2n && P.adm2n[i] ? P.adm2n[i] + " (" + P.adm2[i] + ")" : P.adm2[i];
    h += '<div class="ew-popup-sub">' + (own ? tr("P-code") + " " : "") + P.pcode[i] + (adm2 ? " &middot; " + adm2 : "") +
      (adm1 ? " &middot; " + adm1 : "") + "</div><table>";
    var Z = EW.loc.hz, at = Z ? " (" + Z.label[EW.hzShown] + ")" : "";
    h += row(tr("Risk") + at, '<span class="ew-chip ew-c' + (k >= 0 ? k : "na") + '">' + label + "</span> " + P.risk[i]);
    if (Z && EW.hzShown !== Z.p) h += row(tr("Flags, rank, change"), tr("from the {horizon} horizon", { horizon: Z.adj[Z.p] }));
    h += row(tr("Change since last run"), P.chg[i]);
    var H = EW.loc.hist;
    if (H && EW.run !== H.dates.length - 1) h += row(tr("Run shown"), tr("as of {date} (earlier run)", { date: H.dates[EW.run] }));
    h += row(tr("Priority"), P.rank[i] ? "#" + P.rank[i] : "");
    var drv = [P.d1[i], P.d2[i], P.d3[i]].filter(Boolean);
    if (drv.length) h += row(tr("Top drivers") + at, "<ol><li>" + drv.join("</li><li>") + "</li></ol>");
    if (P.fd[i]) h += row(tr("Forward deployment"), '<span class="ew-badge ew-badge-fd">' + tr("FD") + "</span> " + P.fdr[i]);
    if (P.ha[i]) h += row(tr("Humanitarian access"), '<span class="ew-badge ew-badge-ha">' + tr("HA") + "</span> " + P.har[i]);
    if (P.tl) h += EW.teamRows(P, i, k);
    var est = P.popest && P.popest[i] && P.pop[i] !== tr("n/a");
    h += row(tr("Population"), P.pop[i] + (est ? ' <span class="ew-note">' + tr("estimated from the gazetteer") + "</span>" : ""));
    if (P.ear) h += row(tr("Expected civilians at risk"), P.ear[i]);
    h += row(tr("Towns inside"), P.aka ? P.aka[i].join("; ") : "");
    h += row(tr("IDPs"), P.idp[i]);
    var cov = P.cov[i] === 1 ? " " + tr("(within patrol radius)") : P.cov[i] === 0 ? " " + tr("(outside patrol radii)") : "";
    h += row(tr("Nearest base"), P.km[i] ? P.km[i] + " km" + cov : "");
    return h + "</table></div>";
  };

  /* The joint team's assessment in force beside the model's class (earlywarn/assessments): level, a DISAGREE
   * mark in words (not colour alone) where they are two classes apart or more, date, author, rationale, end. */
  EW.teamRows = function (P, i, k) {
    var t = P.tl[i];
    if (t < 0) return row(tr("Team assessment"), '<span class="ew-note">' + tr("none in force") + "</span>");
    var m = P.tm ? P.tm[i] : k, Z = EW.loc.hz, H = EW.loc.hist;
    var other = (Z && EW.hzShown !== Z.p) || (H && EW.run !== H.dates.length - 1);
    var judged = m >= 0 ? EW.loc.classes[m] : tr("no score");
    var primary = Z ? Z.label[Z.p] : tr("primary horizon");
    if (other) judged += ", " + tr("latest run, {horizon}", { horizon: primary });
    var h = row(tr("Team assessment"), '<span class="ew-chip ew-c' + t + '">' + EW.loc.classes[t] + "</span>" +
      (P.dis[i] ? ' <span class="ew-badge ew-badge-dis">&ne; ' + tr("DISAGREE") + "</span> " +
        tr("with the model ({level})", { level: judged }) : ""));
    var when = P.tdate[i] + (P.tauth[i] ? " " + tr("by {author}", { author: P.tauth[i] }) : "") +
      (P.tuntil[i] ? "; " + tr("holds until {date}", { date: P.tuntil[i] }) : "");
    h += row(tr("Assessed"), when);
    return h + row(tr("Team's rationale"), P.trat[i]);
  };

  EW.teamLayer = function (map, D) {
    var group = L.featureGroup();
    for (var j = 0; j < D.i.length; j++) {
      var dis = D.dis[j] === 1, k = D.k[j];
      var icon = L.divIcon({
        className: "ew-team-icon",
        html: '<span class="ew-team ew-c' + k + (dis ? " ew-team-dis" : "") + '">' + (dis ? "&ne;" : tr("T")) + "</span>",
        iconSize: [18, 18],
      });
      var m = L.marker([D.lat[j], D.lon[j]], {
        icon: icon, keyboard: false,
        title: tr("Team: {level}", { level: EW.loc.classes[k] }) + (dis ? " " + tr("(DISAGREES with the model)") : ""),
      });
      m.ewIndex = D.i[j];
      group.addLayer(m);
    }
    group.on("click", function (e) {
      EW.openLocality(e.layer.ewIndex, null, false);
    });
    return group;
  };

  /* Priority list order: rank, model risk (primary horizon) or team level then model risk; the first rows show. */
  EW.sortPriority = function (by) {
    var body = document.querySelector("#ew-priority tbody");
    if (!body) return;
    var rows = Array.prototype.slice.call(body.querySelectorAll("tr[data-rank]"));
    function num(r, a) { return parseInt(r.getAttribute(a), 10); }
    rows.sort(function (a, b) {
      if (by === "risk") return num(b, "data-risk") - num(a, "data-risk") || num(a, "data-rank") - num(b, "data-rank");
      if (by === "team") {
        return num(b, "data-team") - num(a, "data-team") || num(b, "data-risk") - num(a, "data-risk") ||
          num(a, "data-rank") - num(b, "data-rank");
      }
      return num(a, "data-rank") - num(b, "data-rank");
    });
    for (var j = 0; j < rows.length; j++) {
      body.appendChild(rows[j]);
      var keep = j < EW.PRIORITY_ROWS && (by !== "team" || num(rows[j], "data-team") >= 0) &&
        (by !== "rank" || num(rows[j], "data-rank") < 999999);
      if (keep) rows[j].removeAttribute("hidden"); else rows[j].setAttribute("hidden", "");
    }
  };
  EW.PRIORITY_ROWS = 15;

  EW.localityLayer = function (map, data) {
    var group = L.featureGroup(), geoms = EW.decode(data.geom), P = data.props;
    var renderer = data.canvas ? L.canvas({ padding: 0.3 }) : L.svg({ padding: 0.3 });
    EW.map = map;
    // Fit first, without animation, so the polygons are drawn once at the final zoom.
    if (data.bounds) map.fitBounds(data.bounds, { animate: false, padding: [8, 8] });
    EW.loc = {
      layers: [], props: P, classes: data.classes, colors: data.colors, noData: data.noData,
      fdColor: data.fdColor, haColor: data.haColor, flags: data.flags, flagMinZoom: data.flagMinZoom, group: group,
      hist: data.hist || null, hz: data.hz || null, renderer: renderer,
    };
    if (EW.loc.hist) EW.run = EW.loc.hist.dates.length - 1;
    EW.hzShown = EW.loc.hz ? EW.loc.hz.p : 0;
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
        l.bindTooltip(P.name[l.ewIndex] + " &middot; " + (k >= 0 ? EW.loc.classes[k] : tr("no score")) + " " + P.risk[l.ewIndex], { sticky: true });
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
    var popup = L.popup({ maxWidth: 360 }).setLatLng(latlng || b.getCenter()).setContent(EW.localityPopup(i));
    popup.openOn(EW.map);
    EW._locPopup = { popup: popup, i: i };
    EW.highlight(l);
    return true;
  };

  /* Restyle every locality from EW.loc.props (after a run or horizon change); tooltips are rebuilt on hover. */
  EW.repaint = function () {
    var layers = EW.loc.layers;
    for (var j = 0; j < layers.length; j++) {
      var l = layers[j];
      if (!l) continue;
      l.setStyle(EW.localityStyle(j, EW.loc.renderer));
      if (l.getTooltip()) l.unbindTooltip();
      if (l._path) l._path.setAttribute("class", EW.localityStyle(j).className + " leaflet-interactive");
    }
  };

  /* Flag badges at each flagged locality's representative point. kind: "fd" | "ha". */
  EW.flagLayer = function (map, kind) {
    var group = L.featureGroup(), P = EW.loc.props, pts = EW.loc.flags;
    for (var j = 0; j < pts.length; j++) {
      var i = pts[j][0];
      if (!P[kind][i]) continue;
      var m = L.marker([pts[j][1], pts[j][2]], {
        icon: L.divIcon({ className: "ew-flag ew-flag-" + kind, html: tr(kind.toUpperCase()), iconSize: [24, 16] }),
        keyboard: false,
      });
      m.ewIndex = i;
      m.ewKind = kind;
      (EW.flagMarkers = EW.flagMarkers || []).push(m);
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
    h += row(tr("Date"), D.date[i]);
    h += row(tr("Events"), D.count ? D.count[i] : "");
    h += row(tr("Fatalities"), D.fat[i]);
    h += row(tr("Location"), D.loc[i]);
    h += row(tr("Notes"), D.notes ? D.notes[i] : "");
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
          row(tr("Type"), D.type[i]) + row(tr("Patrol radius"), D.km[i] > 0 ? D.km[i] + " km" : "") + "</table></div>"
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
      m.bindTooltip(D.name[i] + (D.n[i] ? ": " + tr("{n} IDPs", { n: D.n[i] }) : ""));
      group.addLayer(m);
      EW.stats.idpSites++;
    }
    return group;
  };

  /* Actions and their impact (earlywarn/publish/impact.py): one marker per place an action stood, coloured by
   * the measured change in REPORTED attacks after its newest estimated action; the popup lists every action
   * there, newest first, and always carries the whole caveat. Every string arrives escaped. */
  EW.impactPopup = function (D, k) {
    var acts = D.acts[k], n = acts.length;
    var h = '<div class="ew-popup ew-impact-popup"><div class="ew-popup-title">' + (D.name[k] || tr("Action")) + "</div>";
    h += '<div class="ew-popup-sub">' + (n === 1 ? tr("{n} action here, newest first", { n: n }) : tr("{n} actions here, newest first", { n: n })) +
      " &middot; " + D.source + "</div>";
    for (var j = 0; j < n && j < D.max; j++) {
      var i = acts[j];
      var eff = D.eff[i]
        ? '<span class="ew-act-chip" style="background:' + D.colors[D.acls[i]] + '">' + D.eff[i] + "</span>" +
          (D.ci[i] ? " (" + D.ci[i] + ")" : "")
        : tr("no estimate") + (D.note[i] ? ": " + D.note[i] : "");
      h += '<div class="ew-impact-act"><b>' + D.what[i] + "</b><table>";
      h += row(tr("Dates"), D.dates[i]);
      h += row(tr("Change in reported attacks"), eff);
      h += row(tr("Compared with"), D.ncmp[i] ? tr("{n} comparable localities", { n: D.ncmp[i] }) : "");
      h += row(tr("Reached"), (D.nloc[i] === 1 ? tr("{n} locality", { n: 1 }) : tr("{n} localities", { n: D.nloc[i] })) + (D.reached[i] ? ": " + D.reached[i] : ""));
      h += row(tr("Reported attacks there"), D.att[i]);
      h += "</table></div>";
    }
    if (n > D.max) h += '<div class="ew-note">' + tr("and {n} more in impact.csv", { n: n - D.max }) + "</div>";
    h += '<div class="ew-impact-caveat">' + D.caveat + "</div>";
    return h + "</div>";
  };

  EW.impactLayer = function (map, D) {
    var group = L.featureGroup();
    EW.stats.actions = 0;
    EW.stats.actionPlaces = 0;
    for (var k = 0; k < D.lat.length; k++) {
      var c = D.cls[k], first = D.acts[k][0];
      var m = L.marker([D.lat[k], D.lon[k]], {
        icon: L.divIcon({
          className: "ew-act ew-act-" + c, iconSize: [16, 16],
          html: '<span style="background:' + D.colors[c] + '"></span>',
        }),
        keyboard: false,
      });
      m.ewIndex = k;
      m.bindTooltip((D.name[k] ? D.name[k] + " &middot; " : "") + D.what[first] + (D.eff[first] ? " " + D.eff[first] : "") +
        (D.acts[k].length > 1 ? " " + tr("(+{n} earlier)", { n: D.acts[k].length - 1 }) : ""));
      group.addLayer(m);
      EW.stats.actionPlaces++;
      EW.stats.actions += D.acts[k].length;
    }
    group.on("click", function (e) {
      var m = target(e);
      if (m.ewIndex === undefined) return;
      L.popup({ maxWidth: 380, maxHeight: 380 }).setLatLng(m.getLatLng()).setContent(EW.impactPopup(D, m.ewIndex)).openOn(map);
    });
    EW.impact = { data: D, group: group };
    return group;
  };

  /* Case- and accent-insensitive key: "Ségou" and "SEGOU" both give "segou".
   * Data strings are HTML-escaped; queries are escaped the same way first. */
  EW.fold = function (s) {
    var t = String(s).toLowerCase();
    return t.normalize ? t.normalize("NFD").replace(/[\u0300-\u036f]/g, "") : t;
  };

  function searchIndex() {
    if (EW._index) return EW._index;
    var P = EW.loc.props, aka = [];
    for (var i = 0; i < P.name.length; i++) {
      aka.push(P.aka ? P.aka[i].map(EW.fold) : []);
    }
    EW._index = { names: P.name.map(EW.fold), ids: P.pcode.map(EW.fold), aka: aka };
    return EW._index;
  }

  function anyAlias(list, test) {
    for (var j = 0; j < list.length; j++) if (test(list[j])) return list[j];
    return null;
  }

  /* Search by locality name / p-code, then by a town inside it (alias):
   * exact, then prefix, then substring; names before aliases at each step. */
  EW.search = function (q) {
    var status = document.getElementById("ew-search-status");
    var raw = String(q).trim(), key = EW.fold(EW.escape(raw));
    if (!key || !EW.loc) return -1;
    var X = searchIndex(), hit = -1, via = null;
    var tests = [
      function (n) { return n === key; },
      function (n) { return n.indexOf(key) === 0; },
      function (n) { return n.indexOf(key) >= 0; },
    ];
    for (var t = 0; t < tests.length && hit < 0; t++) {
      for (var i = 0; i < X.names.length; i++) {
        if (EW.loc.layers[i] && (tests[t](X.names[i]) || tests[t](X.ids[i]))) { hit = i; break; }
      }
      for (var k = 0; k < X.aka.length && hit < 0; k++) {
        if (EW.loc.layers[k] && anyAlias(X.aka[k], tests[t]) !== null) { hit = k; via = raw; }
      }
    }
    if (status) {
      status.textContent = hit < 0 ? tr("No locality matches \u201c{query}\u201d", { query: raw }) : "";
      // Names are pre-escaped HTML; the query is escaped here.
      if (via !== null) status.innerHTML = '<span class="ew-found">' + tr("\u201c{query}\u201d is in {name}", { query: EW.escape(via), name: EW.loc.props.name[hit] }) + "</span>";
    }
    if (hit >= 0) EW.openLocality(hit, null, true);
    return hit;
  };

  /* Alias names join the search suggestions on first use (no duplicate bytes in the file). */
  function addAliasOptions() {
    var list = document.getElementById("ew-names"), P = EW.loc && EW.loc.props;
    if (!list || !P || !P.aka || EW._aliasOptions) return;
    EW._aliasOptions = true;
    var seen = {}, html = [];
    for (var i = 0; i < P.aka.length; i++) {
      var a = P.aka[i];
      for (var j = 0; j < a.length; j++) {
        if (a[j] && !seen[a[j]]) {
          seen[a[j]] = 1;
          html.push('<option value="' + a[j] + '">' + P.name[i] + "</option>");
        }
      }
    }
    list.insertAdjacentHTML("beforeend", html.join(""));
  }

  /* ---- Context: borders, mission area, rivers, towns, mission layers ----
   * Drawn in panes above the risk fills (so lines stay visible) whose
   * pointer-events are off: only a labelled line's own stroke or a dot takes
   * the mouse, so clicks anywhere else reach the risk polygons below. */
  EW.CONTEXT_STYLE = {
    border: { color: "#444444", weight: 1.2, opacity: 0.9, dashArray: "7 3 2 3" },
    area: { color: "#111111", weight: 3.2, opacity: 0.95 },
    river: { color: "#2b7bb9", weight: 1.8, opacity: 0.9 },
    line: { weight: 2, opacity: 0.95 },
    polygon: { weight: 2, opacity: 0.95, dashArray: "5 3" },
  };

  EW.contextPanes = function (map) {
    if (map.getPane("ewContext")) return;
    var panes = [["ewContext", 450], ["ewContextPoints", 460], ["ewTownLabels", 470]];
    for (var i = 0; i < panes.length; i++) {
      var pane = map.createPane(panes[i][0]);
      pane.style.zIndex = String(panes[i][1]);
      pane.style.pointerEvents = "none";
    }
  };

  function inRing(ll, ring) {
    var inside = false;
    for (var a = 0, b = ring.length - 1; a < ring.length; b = a++) {
      var ya = ring[a].lat, yb = ring[b].lat, xa = ring[a].lng, xb = ring[b].lng;
      if (ya > ll.lat !== yb > ll.lat && ll.lng < ((xb - xa) * (ll.lat - ya)) / (yb - ya) + xa) inside = !inside;
    }
    return inside;
  }

  /* Index of the locality containing latlng (outer ring in, holes out), or -1. */
  EW.localityAt = function (ll) {
    var layers = EW.loc ? EW.loc.layers : [];
    for (var i = 0; i < layers.length; i++) {
      var l = layers[i];
      if (!l || !l.getBounds().contains(ll)) continue;
      var lls = l.getLatLngs(), parts = L.LineUtil.isFlat(lls[0]) ? [lls] : lls;
      for (var p = 0; p < parts.length; p++) {
        if (!inRing(ll, parts[p][0])) continue;
        var hole = false;
        for (var h = 1; h < parts[p].length && !hole; h++) hole = inRing(ll, parts[p][h]);
        if (!hole) return i;
      }
    }
    return -1;
  };

  /* A click on a labelled line or a dot still opens the locality beneath it. */
  function clickThrough(group) {
    group.on("click", function (e) {
      if (!EW.loc || !EW.map.hasLayer(EW.loc.group)) return; // risk layer switched off: nothing beneath
      var i = EW.localityAt(e.latlng);
      if (i >= 0) EW.openLocality(i, e.latlng, false);
    });
  }

  function countContext(key, n) {
    EW.stats.context[key] = (EW.stats.context[key] || 0) + n;
  }

  /* Lines (and polygon outlines, never filled: a fill would take the clicks). */
  EW.contextLines = function (map, D) {
    EW.contextPanes(map);
    var group = L.featureGroup(), geoms = EW.decode(D.geom), labels = D.label, n = 0;
    var style = L.extend({}, EW.CONTEXT_STYLE[D.style] || EW.CONTEXT_STYLE.line);
    if (D.color) style.color = D.color;
    for (var i = 0; i < geoms.length; i++) {
      if (!geoms[i].length) continue;
      var label = labels && labels[i];
      var opts = L.extend({ pane: "ewContext", fill: false, interactive: !!label, className: "ew-ctx ew-ctx-" + D.style }, style);
      var lyr = D.style === "polygon" ? L.polygon(geoms[i], opts) : L.polyline(geoms[i], opts);
      if (label) lyr.bindTooltip(label, { sticky: true });
      group.addLayer(lyr);
      n++;
    }
    countContext(D.style, n);
    clickThrough(group);
    return group;
  };

  EW.contextPoints = function (map, D) {
    EW.contextPanes(map);
    var group = L.featureGroup();
    for (var i = 0; i < D.lat.length; i++) {
      var m = L.circleMarker([D.lat[i], D.lon[i]], {
        pane: "ewContextPoints", radius: 4.5, color: "#ffffff", weight: 1.5, fillColor: D.color, fillOpacity: 1,
        className: "ew-ctx ew-ctx-point", interactive: !!(D.label && D.label[i]),
      });
      if (D.label && D.label[i]) m.bindTooltip(D.label[i]);
      group.addLayer(m);
    }
    countContext("point", D.lat.length);
    clickThrough(group);
    return group;
  };

  /* Towns: a dot and a label each, both shown from a zoom computed in Python
   * (labels.py) so labels never overprint: a town's label from its min zoom,
   * its dot from DOT_LEAD zooms earlier (towns never labelled: from the last
   * DOT_LEAD zooms), so the overview is not a fog of dots over the risk colours.
   * Thousands of dots go on one non-interactive canvas (SVG would slow the
   * first paint; their names are in the labels). Markers are built lazily. */
  EW.TOWN_SVG_MAX = 2000;
  EW.TOWN_DOT_LEAD = 1;
  EW.townLayer = function (map, D) {
    EW.contextPanes(map);
    var group = L.featureGroup(), dots = L.featureGroup(), labels = L.layerGroup(), byZoom = {}, built = {};
    var many = D.lat.length > EW.TOWN_SVG_MAX, top = D.maxZoom;
    var renderer = many ? L.canvas({ pane: "ewContextPoints", padding: 0.3 }) : undefined;
    for (var i = 0; i < D.lat.length; i++) (byZoom[D.z[i]] = byZoom[D.z[i]] || []).push(i);
    function dot(i) {
      var m = L.circleMarker([D.lat[i], D.lon[i]], {
        pane: "ewContextPoints", radius: 2.6, color: "#1a1a1a", weight: 1, fillColor: "#ffffff", fillOpacity: 1,
        className: "ew-town", renderer: renderer, interactive: !many,
      });
      if (!many) m.bindTooltip(D.name[i] + (D.pop[i] ? " &middot; " + tr("pop.") + " " + D.pop[i] : "") + (D.adm1[i] ? " &middot; " + D.adm1[i] : ""));
      return m;
    }
    function label(i) {
      return L.marker([D.lat[i], D.lon[i]], {
        pane: "ewTownLabels", interactive: false, keyboard: false,
        icon: L.divIcon({ className: "ew-town-label", html: D.name[i], iconSize: null, iconAnchor: [-5, 8] }),
      });
    }
    function sync(target, key, items, want, make) {
      if (!want && !built[key]) return;
      var ms = built[key] || (built[key] = items.map(make));
      for (var j = 0; j < ms.length; j++) {
        if (want && !target.hasLayer(ms[j])) target.addLayer(ms[j]);
        else if (!want && target.hasLayer(ms[j])) target.removeLayer(ms[j]);
      }
    }
    var update = function () {
      var z = Math.floor(map.getZoom() + 1e-9);
      for (var k in byZoom) {
        var lz = Number(k);
        sync(dots, "d" + k, byZoom[k], Math.min(lz, top + 1) - EW.TOWN_DOT_LEAD <= z, dot);
        sync(labels, "l" + k, byZoom[k], lz <= z, label);
      }
      EW.stats.townDots = dots.getLayers().length;
    };
    group.addLayer(dots);
    group.addLayer(labels);
    map.on("zoomend", update);
    update();
    EW.towns = { data: D, group: group, dots: dots, labels: labels };
    countContext("towns", D.lat.length);
    clickThrough(group);
    return group;
  };

  /* ---- Recent history: repaint risk and flags as an earlier run published them ----
   * EW.loc.hist (earlywarn/publish/history.py): per run, base64 bytes, one per
   * locality in map order: risk % (255 = no score) and a state byte (class + 1
   * in bits 0-2, FD flag bit 3, HA flag bit 4), and per run its class cut-offs
 * (cuts, tenths; null when unknown) for EW.fmtRisk. The latest run's own arrays are
   * kept aside and put back when it is selected again. */
  function bytes(b64) {
    var s = atob(b64), out = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }

  function pts(d) {
    if (d > 0) return "&#9650; +" + d + " " + tr("pts");
    if (d < 0) return "&#9660; &minus;" + -d + " " + tr("pts");
    return "&#9679; 0 " + tr("pts");
  }

  /* Legend counts and risk ranges per class for the run shown (the latest run's text is kept and put back). */
  function legendFor(last, P, r, cuts) {
    var ns = document.querySelectorAll(".ew-cls-n"), rs = document.querySelectorAll(".ew-cls-r"), j;
    if (!EW._legend0) {
      EW._legend0 = { n: [], r: [] };
      for (j = 0; j < ns.length; j++) EW._legend0.n.push(ns[j].innerHTML);
      for (j = 0; j < rs.length; j++) EW._legend0.r.push(rs[j].innerHTML);
    }
    if (last) {
      for (j = 0; j < ns.length; j++) ns[j].innerHTML = EW._legend0.n[j];
      for (j = 0; j < rs.length; j++) rs[j].innerHTML = EW._legend0.r[j];
      return;
    }
    var n = [0, 0, 0, 0], lo = [101, 101, 101, 101], hi = [-1, -1, -1, -1];
    for (var i = 0; i < P.cls.length; i++) {
      var c = P.cls[i];
      if (c < 0 || c > 3 || !EW.loc.layers[i]) continue;
      n[c]++;
      if (r[i] !== 255) { lo[c] = Math.min(lo[c], r[i]); hi[c] = Math.max(hi[c], r[i]); }
    }
    for (j = 0; j < ns.length; j++) ns[j].textContent = count(n[+ns[j].getAttribute("data-k")]);
    for (j = 0; j < rs.length; j++) {
      var k = +rs[j].getAttribute("data-k");
      rs[j].innerHTML = hi[k] < 0 ? tr("none") : rangeText(EW.fmtRisk(lo[k] * 10, k, cuts), EW.fmtRisk(hi[k] * 10, k, cuts));
    }
  }

  EW.showRun = function (k) {
    var H = EW.loc && EW.loc.hist, P = EW.loc && EW.loc.props, Z = EW.loc && EW.loc.hz;
    if (!H || k < 0 || k >= H.dates.length) return false;
    // Earlier runs are stored for the primary horizon only: go back to it first.
    if (Z && EW.hzShown !== Z.p) EW.showHorizon(Z.p);
    if (!EW.loc.latest) {
      EW.loc.latest = { cls: P.cls.slice(), risk: P.risk.slice(), fd: P.fd.slice(), ha: P.ha.slice(), chg: P.chg.slice() };
    }
    var last = k === H.dates.length - 1, L0 = EW.loc.latest;
    var r = bytes(H.risk[k]), s = bytes(H.state[k]), rp = k > 0 ? bytes(H.risk[k - 1]) : null;
    var cuts = H.cuts ? H.cuts[k] : null;
    for (var i = 0; i < P.cls.length; i++) {
      if (last) {
        P.cls[i] = L0.cls[i]; P.risk[i] = L0.risk[i]; P.fd[i] = L0.fd[i]; P.ha[i] = L0.ha[i]; P.chg[i] = L0.chg[i];
        continue;
      }
      P.cls[i] = (s[i] & 7) - 1;
      P.fd[i] = (s[i] >> 3) & 1;
      P.ha[i] = (s[i] >> 4) & 1;
      P.risk[i] = r[i] === 255 ? tr("n/a") : EW.fmtRisk(r[i] * 10, P.cls[i], cuts); // that run's cut-offs
      P.chg[i] = rp && r[i] !== 255 && rp[i] !== 255 ? pts(r[i] - rp[i]) : tr("n/a (no earlier run)");
    }
    EW.run = k;
    legendFor(last, P, r, cuts);
    EW.repaint();
    var ms = EW.flagMarkers || [];
    for (var f = 0; f < ms.length; f++) ms[f].setOpacity(P[ms[f].ewKind][ms[f].ewIndex] ? 1 : 0);
    if (EW.map) EW.map.closePopup();
    var sel = document.getElementById("ew-run");
    if (sel && sel.value !== String(k)) sel.value = String(k);
    var note = document.getElementById("ew-run-note");
    if (note) note.textContent = last ? tr("latest") : tr("earlier run: risk and flags as published then");
    document.body.setAttribute("data-ew-run", H.dates[k]);
    L.DomUtil[last ? "removeClass" : "addClass"](document.body, "ew-past-run");
    horizonLock(!last);
    return true;
  };

  /* ---- Forecast horizons: repaint risk for another horizon (earlywarn/publish/horizons.py) ----
   * EW.loc.hz: h (weeks), p (index of the primary horizon), label/adj texts, and
   * per horizon risk (integer tenths of a percent, null = no score), cls (one
   * character per locality, "-" = no score) and d (three arrays of indices into
   * dv, the escaped driver texts); null for the primary, whose arrays are the
   * locality arrays themselves (kept aside on the first switch). Legends and
   * scorer texts are escaped in Python. Flags, rank and change stay the primary's. */
  function setHTML(sel, html) {
    var els = document.querySelectorAll(sel);
    for (var j = 0; j < els.length; j++) els[j].innerHTML = html;
  }

  function horizonLegend(Z, k) {
    var G = Z.legend[k], j;
    var ns = document.querySelectorAll(".ew-cls-n"), rs = document.querySelectorAll(".ew-cls-r");
    for (j = 0; j < ns.length; j++) ns[j].textContent = count(G.n[+ns[j].getAttribute("data-k")]);
    for (j = 0; j < rs.length; j++) rs[j].innerHTML = G.r[+rs[j].getAttribute("data-k")];
    var na = document.getElementById("ew-cls-na"), naRow = document.getElementById("ew-cls-na-row");
    if (na) na.textContent = count(G.n[4]);
    if (naRow) naRow.hidden = !G.n[4];
    var schemes = document.querySelectorAll(".ew-scheme");
    for (j = 0; j < schemes.length; j++) {
      schemes[j].innerHTML = G.s;
      schemes[j].hidden = !G.s;
    }
    EW._legend0 = null; // the time control's copy of the latest run's legend is this horizon's now
  }

  EW.showHorizon = function (k) {
    var Z = EW.loc && EW.loc.hz, P = EW.loc && EW.loc.props, H = EW.loc && EW.loc.hist;
    if (!Z || k < 0 || k >= Z.h.length) return false;
    if (H && EW.run !== H.dates.length - 1) return false; // an earlier run is shown: primary horizon only
    if (!Z.prim) Z.prim = { cls: P.cls.slice(), risk: P.risk.slice(), d1: P.d1.slice(), d2: P.d2.slice(), d3: P.d3.slice() };
    var n = P.cls.length, i;
    if (k === Z.p) {
      for (i = 0; i < n; i++) {
        P.cls[i] = Z.prim.cls[i]; P.risk[i] = Z.prim.risk[i];
        P.d1[i] = Z.prim.d1[i]; P.d2[i] = Z.prim.d2[i]; P.d3[i] = Z.prim.d3[i];
      }
    } else {
      var c = Z.cls[k], r = Z.risk[k], d = Z.d[k], V = Z.dv;
      for (i = 0; i < n; i++) {
        var ch = c.charCodeAt(i) - 48;
        P.cls[i] = ch >= 0 && ch <= 3 ? ch : -1;
        P.risk[i] = EW.fmtRisk(r[i], P.cls[i], Z.cuts ? Z.cuts[k] : null);
        P.d1[i] = V[d[0][i]]; P.d2[i] = V[d[1][i]]; P.d3[i] = V[d[2][i]];
      }
    }
    EW.hzShown = k;
    horizonLegend(Z, k);
    var names = document.querySelectorAll(".ew-hz-name");
    for (i = 0; i < names.length; i++) names[i].textContent = Z.label[k];
    setHTML("#ew-scorer", Z.scorer[k]);
    var sc = document.querySelector(".ew-scorer");
    if (sc) sc.hidden = !Z.scorer[k];
    var cells = document.querySelectorAll("td.ew-prio-risk[data-ew-row]");
    for (i = 0; i < cells.length; i++) {
      var row = +cells[i].getAttribute("data-ew-row"), kk = P.cls[row];
      cells[i].innerHTML = '<span class="ew-chip ew-c' + (kk >= 0 ? kk : "na") + '">' +
        (kk >= 0 ? EW.loc.classes[kk] : tr("no score")) + "</span> " + P.risk[row];
    }
    var whys = document.querySelectorAll(".ew-why[data-ew-row]");
    for (i = 0; i < whys.length; i++) {
      var w = +whys[i].getAttribute("data-ew-row");
      whys[i].innerHTML = [P.d1[w], P.d2[w], P.d3[w]].filter(Boolean).join("; ");
    }
    var btns = document.querySelectorAll(".ew-hz-btn");
    for (i = 0; i < btns.length; i++) btns[i].setAttribute("aria-pressed", String(+btns[i].getAttribute("data-ew-hz") === k));
    EW.repaint();
    var open = EW._locPopup;
    if (open && EW.map.hasLayer(open.popup)) {
      open.popup.setContent(EW.localityPopup(open.i));
      if (EW.loc.layers[open.i]) EW.highlight(EW.loc.layers[open.i]);
    }
    document.body.setAttribute("data-ew-horizon", String(Z.h[k]));
    return true;
  };

  /* While an earlier run is shown the switch is off (that run is stored for the primary horizon only). */
  function horizonLock(locked) {
    var Z = EW.loc && EW.loc.hz, box = document.getElementById("ew-hz");
    if (!Z || !box) return;
    var btns = box.querySelectorAll(".ew-hz-btn"), note = document.getElementById("ew-hz-note");
    var why = tr("Earlier runs are stored for the {horizon} horizon only: choose the latest run to switch horizon", { horizon: Z.adj[Z.p] });
    for (var i = 0; i < btns.length; i++) {
      btns[i].disabled = locked;
      if (locked) btns[i].title = why;
      else btns[i].removeAttribute("title");
    }
    if (!box.getAttribute("data-title")) box.setAttribute("data-title", box.title);
    box.title = locked ? why : box.getAttribute("data-title");
    if (note) note.textContent = locked ? tr("earlier run: {horizon} horizon only", { horizon: Z.adj[Z.p] }) : tr("flags: {horizon} horizon", { horizon: Z.adj[Z.p] });
    L.DomUtil[locked ? "addClass" : "removeClass"](box, "ew-hz-locked");
  }

  // A page element (already in the document) shown as a Leaflet control that keeps clicks to itself.
  EW.boxControl = function (map, box, position) {
    var Box = L.Control.extend({
      onAdd: function () {
        L.DomEvent.disableClickPropagation(box);
        L.DomEvent.disableScrollPropagation(box);
        return box;
      },
    });
    new Box({ position: position || "topleft" }).addTo(map);
  };

  EW.horizonControl = function (map) {
    var box = document.getElementById("ew-hz"), Z = EW.loc && EW.loc.hz;
    if (!box || !Z) return;
    EW.boxControl(map, box);
    box.addEventListener("click", function (ev) {
      var b = ev.target.closest ? ev.target.closest(".ew-hz-btn") : null;
      if (b && !b.disabled) EW.showHorizon(parseInt(b.getAttribute("data-ew-hz"), 10));
    });
    document.body.setAttribute("data-ew-horizon", String(Z.h[Z.p]));
  };

  EW.timeControl = function (map) {
    var box = document.getElementById("ew-time"), H = EW.loc && EW.loc.hist;
    if (!box || !H) return;
    EW.boxControl(map, box);
    var sel = document.getElementById("ew-run");
    sel.addEventListener("change", function () { EW.showRun(parseInt(sel.value, 10)); });
    document.getElementById("ew-run-prev").addEventListener("click", function () { EW.showRun(Math.max(0, EW.run - 1)); });
    document.getElementById("ew-run-next").addEventListener("click", function () {
      EW.showRun(Math.min(H.dates.length - 1, EW.run + 1));
    });
    document.getElementById("ew-run-note").textContent = tr("latest");
    document.body.setAttribute("data-ew-run", H.dates[H.dates.length - 1]);
  };

  EW.finish = function (map) {
    if (map.attributionControl) {
      map.attributionControl.setPrefix('<span title="' + tr("A JavaScript library for interactive maps") + '">Leaflet</span>');
    }
    var lt = document.querySelector(".leaflet-control-layers-toggle");
    if (lt) { lt.title = tr("Layers"); lt.setAttribute("aria-label", tr("Layers")); }
    var zc = map.zoomControl; // Leaflet's own button titles, in the map's language
    if (zc && zc._zoomInButton) {
      zc._zoomInButton.title = tr("Zoom in");
      zc._zoomInButton.setAttribute("aria-label", tr("Zoom in"));
      zc._zoomOutButton.title = tr("Zoom out");
      zc._zoomOutButton.setAttribute("aria-label", tr("Zoom out"));
    }
    var legend = document.getElementById("ew-legend");
    if (legend) EW.boxControl(map, legend, "bottomleft");
    EW.timeControl(map);
    EW.horizonControl(map);
    var form = document.getElementById("ew-search-form");
    if (form) {
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        EW.search(document.getElementById("ew-search").value);
      });
      document.getElementById("ew-search").addEventListener("change", function (ev) {
        EW.search(ev.target.value);
      });
      document.getElementById("ew-search").addEventListener("focus", addAliasOptions);
    }
    var sortSel = document.getElementById("ew-prio-sort");
    if (sortSel) sortSel.addEventListener("change", function () { EW.sortPriority(sortSel.value); });
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
