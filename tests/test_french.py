"""French (issue 25, item 7): ``language: fr`` renders the map, the brief, the alerts and the summary in French.

* The catalogue: every text the code marks has a French translation (none
  empty, none fuzzy, the same ``{placeholders}``), and the shipped ``.mo`` is
  the compiled ``.po`` (``make i18n`` keeps them in step).
* Numbers and dates follow French conventions (decimal comma, no-break space
  between thousands, ``2 décembre 2026``), through the same helpers as English.
* In Chromium, the French map and brief (HTML and the PDF's text) show no
  English word of the interface: the English vocabulary is every word of the
  catalogue's English texts that its French never uses, so a text added to the
  code without a translation is caught. Data is removed first (names of
  places and actors, see ``_data``), and must come through intact, accents
  included.

No pipeline run of its own: the map and brief are re-rendered in French from
the outputs of the session's trained mission (``trained_mission``), on a copy.
"""

from __future__ import annotations

import functools
import html
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import yaml

from earlywarn import i18n

REPO = Path(__file__).resolve().parent.parent
PO = i18n.LOCALE_DIR / "fr" / "LC_MESSAGES" / "earlywarn.po"
ACCENTED = ("Ndélé", "Dékoa", "Bossangoa-Kötö")  # data with accents, written into the copy's outputs
PLACEHOLDER = re.compile(r"\{(\w*)\}")
FRENCH_DATE = re.compile(r"\b\d{1,2} (janvier|février|mars|avril|mai|juin|juillet|août|septembre|octobre|"
                         r"novembre|décembre) \d{4}\b")
DECIMAL_COMMA = re.compile(r"\d,\d")


# ------------------------------------------------------------------ the catalogue
def _catalogue():
    from babel.messages.pofile import read_po

    with PO.open("rb") as fh:
        return read_po(fh, locale="fr")


def _marked_texts() -> dict[str, str]:
    """Every text the code marks (babel.cfg: Python through earlywarn.i18n.extract_python, ewmap.js), -> where."""
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg

    with (REPO / "babel.cfg").open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    out: dict[str, str] = {}
    for path, line, message, _comments, _context in extract_from_dir(
            str(REPO), method_map, options_map, keywords={**DEFAULT_KEYWORDS, "tr": None}):
        for text in message if isinstance(message, tuple) else (message,):
            if text:
                out.setdefault(text, f"{path}:{line}")
    return out


def test_every_marked_text_has_a_french_translation():
    cat = _catalogue()
    marked = _marked_texts()
    assert len(marked) > 300, "the extractor found suspiciously few texts"
    problems = []
    for text, where in sorted(marked.items()):
        msg = cat.get(text)
        forms = (msg.string if isinstance(msg.string, tuple) else (msg.string,)) if msg is not None else ()
        if msg is None:
            problems.append(f"{where}: not in the catalogue (run `make i18n`): {text!r}")
        elif not all(forms) or msg.fuzzy:
            problems.append(f"{where}: {'fuzzy' if msg.fuzzy else 'no'} French translation: {text!r}")
        elif any(set(PLACEHOLDER.findall(text)) != set(PLACEHOLDER.findall(f)) for f in forms):
            problems.append(f"{where}: placeholders differ: {text!r} -> {msg.string!r}")
    assert not problems, "\n".join(problems)


def test_shipped_mo_is_the_compiled_po():
    """``pybabel compile`` of the .po gives exactly the .mo in the package (so nobody ships a stale one)."""
    from babel.messages.mofile import write_mo

    buf = io.BytesIO()
    write_mo(buf, _catalogue(), use_fuzzy=False)
    assert PO.with_suffix(".mo").read_bytes() == buf.getvalue(), "the .mo is out of date: run `make i18n`"


def test_babel_is_pinned():
    import babel

    pinned = dict(line.strip().split("==") for line in (REPO / "constraints.txt").read_text().splitlines()
                  if "==" in line)
    assert pinned.get("babel") == babel.__version__


# ------------------------------------------------------------------ numbers, dates, words
def test_french_numbers_and_dates():
    from earlywarn.numbers import count_text, risk_text

    with i18n.language("fr"):
        assert i18n.decimal(1234567.891, 2) == "1\u202f234\u202f567,89"
        assert i18n.percent(59.64, 1) == "59,6\u00a0%" and i18n.signed_percent(-0.25) == "-25\u00a0%"
        assert i18n.date_text("2026-12-02") == "2 décembre 2026"
        assert i18n.date_text("2026-01-01 07:30", time=True) == "1 janvier 2026 07:30"
        assert risk_text(0.596, (0.15, 0.35, 0.6)) == "59,6\u00a0%"
        assert risk_text(0.9994) == ">99\u00a0%" and risk_text(0.004) == "<1\u00a0%" and risk_text(None) == "n.d."
        assert count_text(12345.4) == "12\u202f345" and count_text(float("nan")) == "n.d."
    assert i18n.current() == "en"
    assert risk_text(0.596, (0.15, 0.35, 0.6)) == "59.6%" and count_text(12345.4) == "12,345"
    assert i18n.date_text("2026-12-02") == "2026-12-02"


def test_the_map_script_formats_french_exactly_as_python():
    """The page's EW.fmtRisk, given the French decimal sign and percent suffix the renderer hands it, prints
    what Python prints (the English case is tests/test_numbers.py)."""
    from earlywarn.numbers import risk_text_tenths
    from earlywarn.publish.render import _page_language

    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("no node.js to run the map's formatting function")
    js = (REPO / "earlywarn/publish/assets/ewmap.js").read_text(encoding="utf-8")
    start, end = js.index("  function pctOfTenths"), js.index("  function rangeText")
    cases = [(t, k, c) for c in (None, [150, 350, 600]) for k in (-1, 1, 2)
             for t in (-1, 4, 10, 149, 150, 349, 350, 596, 599, 600, 991)]
    with i18n.language("fr"):
        setup = _page_language()
        want = [risk_text_tenths(t, k, c).replace("<", "&lt;").replace(">", "&gt;") for t, k, c in cases]
    script = ("var EW = {};\n" + setup + js[start:end] + "\nvar cases = " + json.dumps(cases) + ";\n"
              "console.log(JSON.stringify(cases.map(function (x) { return EW.fmtRisk(x[0], x[1], x[2]); })));")
    out = subprocess.run([node, "-e", script], capture_output=True, text=True, check=True, timeout=60).stdout
    assert json.loads(out) == want and "59,6\u00a0%" in want and "n.d." in want


def test_class_and_status_labels_in_french():
    from earlywarn.publish.panels import class_label, status_label

    with i18n.language("fr"):
        assert [class_label(c) for c in ("low", "moderate", "high", "very high")] == [
            "faible", "modéré", "élevé", "très élevé"]
        assert status_label("stale since 2026-03-01") == "périmé depuis le 1 mars 2026"
        assert i18n._("n/a") == "n.d."
    with pytest.raises(ValueError, match="not supported"), i18n.language("de"):
        pass


def test_config_language_defaults_to_english_and_refuses_others():
    from earlywarn.config import MissionConfig

    base = {"mission": "M", "sources": [{"name": "a", "path": "a.csv", "format": "acled"}],
            "localities": {"unit": "priogrid"}}
    assert MissionConfig.model_validate(base).language == "en"
    assert MissionConfig.model_validate(base | {"language": "fr"}).language == "fr"
    with pytest.raises(ValueError, match="language"):
        MissionConfig.model_validate(base | {"language": "de"})


def test_risk_scheme_and_flag_reasons_in_french():
    from earlywarn.config import ThresholdConfig
    from earlywarn.decide.flags import forward_deployment_flags, humanitarian_access_flags
    from earlywarn.decide.risk import class_thresholds

    th = ThresholdConfig(high=0.35, top_k=1, idp_many=5000)
    table = pd.DataFrame({"locality_id": ["A", "B"], "risk": [0.5, 0.4], "population": [1000, 2000],
                          "covered": [True, False], "km_to_nearest_base": [0.0, 22.3], "nearest_base": ["Kaga"] * 2,
                          "idp_individuals": [40000, 0], "idp_change_pct": [0.0, 0.0], "access_incidents": [0, 2]})
    with i18n.language("fr"):
        scheme = class_thresholds(ThresholdConfig(), 0.031).text
        fd = forward_deployment_flags(table, th)["forward_reason"].iloc[1]
        ha = humanitarian_access_flags(table, th)["access_reason"].tolist()
    assert scheme.startswith("Modéré à partir de 6,2\u00a0%") and "3,1\u00a0% par localité" in scheme
    assert fd.startswith("menace 40\u00a0% dans les semaines à venir") and "Kaga" in fd and "800 civils" in fd
    assert ha[0] == "menace 50\u00a0%\u00a0: 40\u202f000 déplacés présents"


def test_drivers_are_written_in_the_run_language():
    """A French run stores its drivers in French (they are sentences for people, written at scoring time)."""
    from earlywarn.features.panel import describe

    cases = [("nbr_clash_count", {"nbr_clash_count_4w": 9.0}),
             ("clash_count", {"clash_count_4w": 1.0, "weeks_since_clash": 2}),
             ("vac_count", {"vac_count_4w": 0.0, "vac_count_12w": 0.0}),
             ("idp", {"idp_level": 2909.0, "idp_change_pct": -20.0})]
    english = [describe(g, v) for g, v in cases]
    with i18n.language("fr"):
        french = [describe(g, v) for g, v in cases]
    assert english[0] == "9 armed clashes in neighbouring areas in the last 4 weeks"
    assert french == [
        "9 affrontements armés dans les zones voisines au cours des 4 dernières semaines",
        "1 affrontement armé ici au cours des 4 dernières semaines (dernier cas il y a 2 semaines)",
        "attaques contre des civils ici au cours des 12 dernières semaines\u00a0: néant",
        "déplacés en baisse de 20\u00a0% depuis le dernier cycle DTM (2\u202f909 personnes déplacées sur place)"]
    _assert_no_english(french, data=["DTM"])
    from earlywarn.model.selection import scorer_label

    with i18n.language("fr"):
        assert scorer_label("stacked") == "le modèle combiné aux références"
        assert scorer_label("baseline:conflictology").startswith("référence seule\u00a0: conflictologie")
    # the reason a scorer was chosen names the scorers it weighed, in French too (it heads the map)
    import numpy as np

    from earlywarn.model.selection import choose_on

    rng = np.random.default_rng(0)
    week = np.repeat(np.arange(30), 40)
    y = (rng.random(len(week)) < 0.3).astype(float)
    noise = rng.normal(0, 0.25, (2, len(y)))
    scores = {"spatial_lag_logistic": np.clip(0.3 + 0.45 * (y - 0.3) + noise[0], 0.01, 0.99),
              "model": np.clip(0.3 + 0.46 * (y - 0.3) + noise[1], 0.01, 0.99)}
    with i18n.language("fr"):
        why = choose_on(y, scores, np.full(len(y), 0.3), week, week // 8, np.ones(len(y), bool)).why
    assert "logistique à décalage spatial" in why and "modèle" in why, why
    _assert_no_english([why], data=[])


# ------------------------------------------------------------------ alerts and the summary
def _changes():
    from earlywarn.publish.alerts import FlagAlert, LocalityAlert, RunChanges, StaleFeed

    return RunChanges(
        mission="MINUSCA", as_of="2026-12-02", run_id="r-1", previous_as_of="2026-11-25",
        new_high=(LocalityAlert("CF1", "Ndélé", 0.596, "high", "moderate", 0.123, "12 attaques"),),
        new_flags=(FlagAlert("CF2", "Dékoa", "forward deployment", 0.41, ""),),
        stale_feeds=(StaleFeed("acled", "2026-11-30", "HTTP 503"),),
        map_path="/maps/latest.html", horizon_weeks=4, cutoffs=(0.15, 0.35, 0.6))


def test_alerts_in_french():
    from earlywarn.publish.alerts import render_subject, render_text

    ch = _changes()
    text = render_text(ch, language="fr")
    subject = render_subject(ch, ch.events, language="fr")
    assert "Ndélé : élevé, 59,6 %" in text.replace("\u00a0", " ")
    assert "en hausse de 12 points depuis la dernière exécution, auparavant modéré" in text
    assert "Nouvelles alertes de déploiement avancé (1)" in text and "menace 41\u00a0%" in text
    assert "acled en échec aujourd’hui (HTTP 503)" in text and "1 décembre 2026" not in text
    assert "30 novembre 2026" in text and "au 2 décembre 2026" in text
    assert subject.replace("\u00a0", " ") == ("[earlywarn] MINUSCA : 1 localité désormais en menace élevée, "
                                              "1 nouvelle alerte, 1 flux périmé (au 2 décembre 2026)")
    _assert_no_english([text, subject], data=["MINUSCA", "Ndélé", "Dékoa", "acled", "HTTP", "/maps/latest.html",
                                              "earlywarn", "r-1"])
    english = render_text(ch)  # the default stays English, word for word as before
    assert "Ndélé: high, 59.6% (up 12 points since the last run, was moderate)" in english


def test_run_summary_in_french():
    from earlywarn.publish.summary import missions_summary_lines, summary_lines

    table = pd.DataFrame({
        "locality_id": ["CF1", "CF2"], "name": ["Ndélé", "Dékoa"], "priority_rank": [1, 2],
        "risk": [0.596, 0.2], "risk_class": ["high", "moderate"], "population": [12345.0, np.nan],
        "expected_at_risk": [7357.6, np.nan], "forward_deploy": [True, False], "humanitarian_access": [False, True],
        "as_of": pd.Timestamp("2026-12-02")})
    manifest = {"mission": "MINUSCA", "as_of": "2026-12-02", "warnings": ["w"],
                "counts": {"risk_cutoffs": [0.15, 0.35, 0.6]}}
    lines = summary_lines(table, None, manifest, language="fr")
    text = "\n".join(lines).replace("\u00a0", " ").replace("\u202f", " ")
    assert lines[0].startswith("MINUSCA au 2 décembre 2026")
    assert "1. Ndélé [CF1] : risque 59,6 % (élevé) ; civils exposés attendus 7 358 ; alertes : déploiement avancé" \
        in text
    assert "civils exposés attendus n.d." in text
    many, failed = missions_summary_lines([("a", table, manifest, None, None, "fr"), ("b", None, None, None, "boom")])
    assert failed == 1 and many[-1] == "2 missions : 1 exécutée(s), 1 en échec".replace(" :", "\u00a0:")
    _assert_no_english(lines, data=["MINUSCA", "Ndélé", "Dékoa", "CF1", "CF2", "w"])


# ------------------------------------------------------------------ run warnings and quarantine reasons
def _warning_data(manifest: dict) -> list[str]:
    """The parameters of a manifest's warnings: names of feeds and files, error texts (data, never translated)."""
    return [str(v) for w in manifest.get("warnings_i18n") or [] for v in (w.get("params") or {}).values()
            if isinstance(v, str)]


@pytest.fixture
def warned_manifest(monkeypatch, tmp_path):
    """A run manifest with warnings from the code that writes them: a stale feed, quarantined rows, a failed fetch,
    incidents beyond the margin and a model trained because none was usable (its training stubbed out)."""
    from types import SimpleNamespace

    from earlywarn.ingest.fetch import record_fetch
    from earlywarn.ingest.fetch.base import FetchReport
    from earlywarn.manifest import RunManifest
    from earlywarn.model import registry
    from earlywarn.pipeline import OUTSIDE_REASON, SourceOutcome, count_outside_area, resolve_sources

    m = RunManifest("MINUSCA", "h")
    tiny = pd.DataFrame({"date_end": pd.to_datetime(["2026-11-30"])})
    reasons = {"missing date": 1200, "future date (after 2026-12-02)": 30, OUTSIDE_REASON: 4}
    outcomes = [SourceOutcome("acled", "acled", tiny, {"rows_quarantined": 1234, "by_reason": reasons}),
                SourceOutcome("ucdp-ged", "ucdp-ged", tiny, {}, stale_since="2026-11-25", error="HTTP 503")]
    resolve_sources(outcomes, m)
    record_fetch(m, FetchReport("dtm", "dtm", "https://example.org", str(tmp_path / "dtm.csv"),
                                latest_event="2026-11-20", error="ConnectError: timed out"))
    count_outside_area(outcomes, tiny, pd.Series([None]), SimpleNamespace(margin=[1]),
                       SimpleNamespace(area_buffer_km=2.5), m)
    monkeypatch.setattr(registry, "load_champion", lambda cfg, manifest: None)
    monkeypatch.setattr(registry, "train_challenger", lambda cfg, panel: SimpleNamespace(version="m-7", model=None))
    monkeypatch.setattr(registry, "promote", lambda *a, **k: None)
    monkeypatch.setattr(registry, "_card", lambda cfg, version: {})
    registry.ensure_model(SimpleNamespace(), pd.DataFrame(), m)
    return m


def test_the_manifest_keeps_warnings_in_english_with_their_templates(warned_manifest):
    from dataclasses import asdict

    record = json.loads(json.dumps(asdict(warned_manifest)))
    assert record["warnings"] == [
        "source acled: 1,234 row(s) quarantined (see quarantine/acled.csv)",
        "source ucdp-ged failed today (HTTP 503); using its last good data, stale since 2026-11-25",
        "fetch of dtm failed (ConnectError: timed out); the run uses its last local copy, newest event 2026-11-20",
        "4 incident(s) lie beyond the mission area and its 2.5 km margin: not used (listed in quarantine with "
        "reason 'point outside mission area')",
        "1 incident(s) in the 2.5 km margin around the mission area: they feed neighbourhood features only and are "
        "not scored",
        "trained a new model m-7 (no usable model existed)"]
    kept = record["warnings_i18n"]
    assert len(kept) == len(record["warnings"])
    assert kept[1] == {"msgid": "source {name} failed today ({error}); using its last good data, stale since {date}",
                       "params": {"name": "ucdp-ged", "error": "HTTP 503", "date": "2026-11-25"}}
    assert record["inputs"][0]["by_reason"] == {"missing date": 1200, "future date (after 2026-12-02)": 30,
                                                "point outside mission area": 4}  # as the quarantine file has them


def test_run_warnings_in_french_on_the_map_in_the_summary_and_in_the_brief(warned_manifest):
    from dataclasses import asdict

    from earlywarn.manifest import warning_texts
    from earlywarn.publish.panels import header_html
    from earlywarn.publish.summary import summary_lines

    record = json.loads(json.dumps(asdict(warned_manifest)))
    with i18n.language("fr"):
        french = warning_texts(record)
        live = warning_texts(asdict(warned_manifest))  # the manifest in memory (the nightly run's summary)
        header = header_html({"mission": "MINUSCA", "warnings": warned_manifest.warnings})
    text = [t.replace("\u00a0", " ").replace("\u202f", " ") for t in french]
    assert live == french
    assert text[0] == "source acled : 1 234 ligne(s) mise(s) en quarantaine (voir quarantine/acled.csv)"
    assert text[1] == ("échec de la source ucdp-ged aujourd’hui (HTTP 503) ; utilisation de ses dernières données "
                       "valides, périmées depuis le 25 novembre 2026")
    assert "événement le plus récent le 20 novembre 2026" in text[2] and "ConnectError: timed out" in text[2]
    assert "marge de 2,5 km" in text[3] and "« point outside mission area »" in text[3]
    assert text[5] == "nouveau modèle m-7 entraîné (aucun modèle utilisable n’existait)"
    assert all(f"<li>{esc_html(w)}</li>" in header for w in french)
    table = pd.DataFrame({"locality_id": ["CF1"], "name": ["Ndélé"], "priority_rank": [1], "risk": [0.5],
                          "risk_class": ["high"], "population": [100.0], "expected_at_risk": [50.0],
                          "forward_deploy": [False], "humanitarian_access": [False],
                          "as_of": pd.Timestamp("2026-12-02")})
    lines = summary_lines(table, None, record, language="fr")
    assert lines[-1].endswith(french[0]) and lines[-1].startswith("6 avertissement(s)")
    assert summary_lines(table, None, record)[-1].endswith(record["warnings"][0])  # English stays English
    data = _warning_data(record) + ["MINUSCA", "Ndélé", "CF1"]
    _assert_no_english(french + [html.unescape(re.sub(r"<[^>]+>", " ", header))] + lines, data)


def test_old_or_edited_manifests_show_their_warnings_as_they_are():
    from earlywarn.manifest import RunManifest, warning_texts

    m = RunManifest("M", "h")
    m.warn("plain text, {braces} kept")  # no template: shown as it is
    m.warn(i18n.N_("trained a new model {version} (no usable model existed)"), version="v1")
    m.warn(i18n.N_("trained a new model {version} (no usable model existed)"), version="v1")  # once only
    assert m.warnings_i18n == [{"msgid": "plain text, {braces} kept", "params": {}},
                               {"msgid": "trained a new model {version} (no usable model existed)",
                                "params": {"version": "v1"}}]
    with i18n.language("fr"):
        assert warning_texts({"warnings": ["written by an older earlywarn"]}) == ["written by an older earlywarn"]
        edited = {"warnings": ["plain text, {braces} kept", "edited by hand"], "warnings_i18n": m.warnings_i18n}
        assert warning_texts(edited) == ["plain text, {braces} kept", "edited by hand"]  # record and text disagree
        bad = {"warnings": ["x"], "warnings_i18n": [{"msgid": "{missing}", "params": {}}, "junk"]}
        assert warning_texts(bad) == ["x"]


def test_quarantine_reasons_in_french_on_the_brief_data_page(warned_manifest, tmp_path):
    from earlywarn.brief import data as bd
    from earlywarn.ingest.common import REASON_TEMPLATES, reason_text

    record = json.loads(json.dumps(__import__("dataclasses").asdict(warned_manifest)))
    with i18n.language("fr"):
        feeds = bd.feed_status(record, tmp_path, None)
        every = [reason_text(t.format(n=3, expected=5, date="2026-12-02", known="low, high"))
                 for t in REASON_TEMPLATES]
    reasons = feeds.set_index("source")["reasons"]["acled"].replace("\u00a0", " ").replace("\u202f", " ")
    assert reasons == ("date manquante : 1 200 ; date future (après le 2 décembre 2026) : 30 ; "
                       "point hors de la zone de la mission : 4")
    assert every[0].replace("\u00a0", " ") == ("nombre de champs incorrect (3 au lieu de 5) : ligne tronquée ou "
                                               "mal formée")
    assert bd.feed_status(record, tmp_path, None).set_index("source")["reasons"]["acled"].startswith(
        "missing date: 1,200; future date (after 2026-12-02): 30")  # English stays English
    _assert_no_english([reasons, *every], ["low, high"])


def test_every_fixed_quarantine_reason_is_marked_for_translation():
    """The reasons readers write (``chk.flag(..., reason)``) are N_() texts or templates of REASON_TEMPLATES."""
    import ast

    from earlywarn.ingest.common import REASON_TEMPLATES

    problems = []
    for path in sorted((REPO / "earlywarn").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "flag"
                    and len(node.args) == 4):
                reason = node.args[3]
                marked = (isinstance(reason, ast.Call) and isinstance(reason.func, ast.Name)
                          and reason.func.id == "N_")
                templated = (isinstance(reason, ast.Call) and isinstance(reason.func, ast.Attribute)
                             and reason.func.attr == "format" and isinstance(reason.func.value, ast.Name)
                             and reason.func.value.id.startswith("REASON_"))
                if not (marked or templated):
                    problems.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not problems, "quarantine reasons not marked for translation: " + ", ".join(problems)
    assert len(REASON_TEMPLATES) == len(set(REASON_TEMPLATES))


def esc_html(text: str) -> str:
    from earlywarn.publish.safety import esc

    return esc(text)


# ------------------------------------------------------------------ the English vocabulary
def _words(text: str) -> set[str]:
    text = re.sub(r"\{\w*\}|&\w+;|<[^>]+>", " ", text)
    return {w.lower() for w in re.findall(r"[^\W\d_]+", text)}


@functools.cache
def english_vocabulary() -> frozenset[str]:
    """Words of the catalogue's English texts that none of its French texts uses (``pts``, ``ok`` are both)."""
    english, french = set(), set()
    for msg in _catalogue():
        if not msg.id:  # the header: its words ("generated by", "date") are no translation
            continue
        for text in (msg.id if isinstance(msg.id, tuple) else (msg.id,)):
            english |= _words(text)
        for text in (msg.string if isinstance(msg.string, tuple) else (msg.string,)):
            french |= _words(text)
    return frozenset(w for w in english - french if len(w) > 1)


def _assert_no_english(texts: list[str], data: list[str]) -> None:
    """No word of the English vocabulary in ``texts`` once the ``data`` strings (names, ...) are taken out.

    Only lines with a suspect word are cleaned of data (a data string is taken
    out whole, never from inside a word), so thousands of popups stay cheap.
    """
    vocab = english_vocabulary()
    remove = sorted({d.strip() for d in data if len(d.strip()) > 1}, key=len, reverse=True)
    hits: dict[str, str] = {}
    lines = {line for text in texts for line in text.splitlines()}
    for line in lines:
        if not _words(line) & vocab:
            continue
        clean = line
        for d in remove:
            if d in clean:
                clean = re.sub(rf"(?<![^\W\d_]){re.escape(d)}(?![^\W\d_])", " ", clean)  # not inside a word
        for w in _words(clean) & vocab:
            at = re.search(rf"(?<![^\W\d_]){re.escape(w)}(?![^\W\d_])", clean, re.IGNORECASE)
            start = max(0, at.start() - 80) if at else 0
            hits.setdefault(w, " ".join(clean[start:start + 160].split()))  # the words around it, data taken out
    assert not hits, "English interface text in the French output:\n" + "\n".join(
        f"  {w!r} in: {line}" for w, line in sorted(hits.items()))


# ------------------------------------------------------------------ map and brief in Chromium
STORED = "\u2014"  # what the copy's stored English sentences are replaced with (see french_mission)


@pytest.fixture(scope="module")
def french_mission(trained_mission, chromium_and_poppler, tmp_path_factory) -> Path:
    """A copy of the trained mission set to ``language: fr``, with accented names in its outputs.

    The trained run was English, and a run stores some sentences for people
    in its language: the drivers and flag reasons (scores), the scorer's
    reason (model card). A French run writes the drivers, the reasons, the
    scorer's reason and the impact notes in French (unit-tested here); in
    this English run's copy they are replaced by a dash, so that every
    remaining word is the interface's, rendered now. The run's warnings and
    quarantine reasons are kept as they are: the manifest stores them in
    English with their templates and parameters, and the brief shows them in
    French (their parameters are data, see ``_data``).
    """
    root = tmp_path_factory.mktemp("french") / "mission"
    shutil.copytree(trained_mission.parent, root)
    config = root / trained_mission.name
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    raw["language"] = "fr"
    config.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8")
    from earlywarn.config import load_config

    cfg = load_config(config)
    scores = gpd.read_parquet(cfg.tables_dir / "scores.parquet")
    top = scores.sort_values("priority_rank").index[: len(ACCENTED)]
    scores.loc[top, "name"] = list(ACCENTED)
    for c in scores.columns:
        if c.startswith("driver_") or c in ("forward_reason", "access_reason"):
            scores[c] = scores[c].where(scores[c].isna() | (scores[c].astype("string") == ""), STORED)
    scores.to_parquet(cfg.tables_dir / "scores.parquet")
    for card_path in cfg.models_dir.glob("model-card-*.json"):
        card = json.loads(card_path.read_text(encoding="utf-8"))
        for sel in [card.get("selection") or {}] + [(v or {}).get("selection") or {}
                                                    for v in (card.get("by_horizon") or {}).values()]:
            if "why" in sel:
                sel["why"] = STORED
        card_path.write_text(json.dumps(card), encoding="utf-8")
    from earlywarn.actions import read_impact, write_impact

    impact = read_impact(cfg)
    if impact is not None:
        impact["note"] = impact["note"].where(impact["note"].isna(), STORED)
        write_impact(cfg, impact, cfg.impact.level)
    return config


def _data(cfg, inp) -> list[str]:
    """The data on the pages, to take out before looking for English: never translated, whatever its language.

    Names of places, actors, sources, feeds and bases, ids, the mission's own
    labels (classification, indicator names it chose) and the impact table's
    kinds of action; and the notes the (English) actions estimate stored.
    """
    t = inp.table
    cols = [c for c in t.columns if c in ("name", "locality_id", "admin1_name", "admin1_pcode", "admin2_name",
                                           "admin2_pcode", "nearest_base", "quickest_base")]
    out = [str(v) for c in cols for v in t[c].dropna().astype(str)]
    out += [a.strip() for v in t.get("aliases", pd.Series(dtype=str)).dropna() for a in str(v).split(";")]
    for c in ("team_author", "team_rationale"):  # the joint team's own words, as it wrote them
        values = t[c].dropna().astype(str).drop_duplicates() if c in t else pd.Series(dtype=str)
        out += values.tolist() + [v[:k].rstrip() for v in values for k in (59, 79, 159, 299)]  # as esc() cuts them
    if inp.incidents is not None:
        for c in ("source", "location", "actor1", "actor2", "notes"):
            if c in inp.incidents:
                values = inp.incidents[c].dropna().astype(str).drop_duplicates()
                out += values.tolist() + [v[:k].rstrip() for v in values for k in (29, 39)]  # as esc() cuts them
    if inp.bases is not None:
        out += [str(v) for c in ("name", "base_id", "base_type") if c in inp.bases for v in inp.bases[c].dropna()]
    if inp.impact is not None:
        it = inp.impact.table
        out += [str(v) for c in ("kind", "change", "names", "action_id") if c in it for v in it[c].dropna()]
        notes = it["note"].dropna().astype(str) if "note" in it else pd.Series(dtype=str)
        out += notes.tolist() + [n.split(" (")[0] for n in notes]
    from earlywarn.brief import data as bd

    m = inp.manifest
    out += [str(m.get("run_id")), str(m.get("model_version"))]
    out += _warning_data(m)
    feeds = bd.feed_status(m, cfg.tables_dir / "state", inp.as_of)
    out += feeds["source"].astype(str).tolist() + feeds["format"].astype(str).tolist()
    names = inp.indicators["name"].dropna().astype(str) if "name" in inp.indicators else pd.Series(dtype=str)
    out += [n.partition(" - ")[2] for n in names]  # per-sector rows: the sector's name
    out += [cfg.mission, cfg.output.classification, "earlywarn", "UTC"]
    return out


def _render_french_map(cfg, inp, path: Path) -> str:
    """The trained run's map drawn again in French from its files (the nightly run draws it from memory)."""
    from earlywarn.decide.risk import class_thresholds
    from earlywarn.numbers import cutoffs_of
    from earlywarn.publish import render_map
    from earlywarn.publish.header import map_header
    from earlywarn.publish.history import load_history

    counts = inp.manifest.get("counts") or {}
    rate = counts.get("base_rate")
    horizons = [int(h) for h in counts.get("risk_cutoffs_by_horizon") or {}] or [cfg.primary_horizon]
    with i18n.language("fr"):
        scheme = class_thresholds(cfg.thresholds, rate).text
        feeds = [{"source": "acled", "latest_date": str(inp.as_of.date()), "status": "ok", "rows": 1234},
                 {"source": "dtm", "latest_date": "2026-01-01", "status": "stale since 2026-02-01", "rows": 56}]
        header = map_header(mission=cfg.mission, as_of=inp.as_of, primary=cfg.primary_horizon, horizons=cfg.horizons,
                            model_version=inp.manifest.get("model_version"), run_id=inp.manifest.get("run_id"),
                            model_card=inp.card or {}, schemes={h: scheme for h in horizons}, primary_scheme=scheme,
                            freshness=feeds,  # the warnings as the nightly run hands them over (with templates)
                            warnings=[i18n.Message.from_dict(r) for r in inp.manifest.get("warnings_i18n") or []])
    from earlywarn.brief import data as bd
    from earlywarn.publish.redact import incidents_for_publication

    indicators = bd.indicator_series(inp.indicators, inp.as_of)
    incidents, _notes = incidents_for_publication(inp.incidents, inp.incidents["locality_id"], inp.table, cfg.redaction,
                                                  since=inp.as_of - pd.Timedelta(days=90))
    html = render_map(inp.table, incidents=incidents, bases=inp.bases, idp_sites=None, header=header,
                      indicators=indicators[["name", "value", "unit", "status", "change"]] if len(indicators) else None,
                      history=load_history(cfg.tables_dir / "history", inp.as_of, 5, before=True),
                      cutoffs={int(h): tuple(c) for h, c in (counts.get("risk_cutoffs_by_horizon") or {}).items()}
                      or cutoffs_of(counts.get("risk_cutoffs")), impact=inp.impact, language="fr")
    path.write_text(html, encoding="utf-8")
    return html


def _render_french_sample_map(path: Path) -> list[str]:
    """A small map with every layer, a history and three horizons, in French; returns its data strings."""
    from earlywarn.publish import render_map, sample
    from earlywarn.publish.header import map_header

    locs = sample.grid_localities(nx=5, ny=4)
    locs.loc[0, "name"], locs.loc[1, "name"] = ACCENTED[0], ACCENTED[1]
    locs, hz = sample.with_horizons(locs)
    inputs = sample.render_inputs(locs)
    with i18n.language("fr"):
        header = map_header(mission="MINUSCA", as_of=pd.Timestamp("2024-05-01"), primary=4, horizons=[1, 4, 12],
                            model_version="m-1", run_id="r-1", model_card={}, schemes={1: "", 4: "", 12: ""},
                            freshness=[{"source": "ucdp-ged", "latest_date": "2024-04-30", "status": "ok",
                                        "rows": 1234}])
    inputs["header"] = header
    html = render_map(locs, **inputs, history=sample.history(locs), language="fr")
    path.write_text(html, encoding="utf-8")
    data = [str(v) for c in ("name", "locality_id", "admin1_name", "admin1_pcode") for v in locs[c]]
    data += [a.strip() for v in locs["aliases"] for a in str(v).split(";")]
    data += [str(v) for c in locs.columns if c.startswith("driver_") for v in locs[c].dropna()]
    data += [str(v) for c in ("forward_reason", "access_reason") if c in locs for v in locs[c].dropna()]
    for key in ("incidents", "bases", "idp_sites"):
        df = inputs[key]
        data += [str(v) for c in ("name", "site_name", "base_type", "location", "notes", "source") if c in df
                 for v in df[c].dropna()]
    ind = inputs["indicators"]
    data += [str(v) for c in ("name", "unit") for v in ind[c]]
    ctx = inputs.get("context")
    if ctx is not None:
        for frame in (ctx.towns, ctx.rivers):
            if frame is not None and "name" in frame:
                data += frame["name"].dropna().astype(str).tolist()
        data += [ly.name for ly in ctx.layers] + [ctx.attribution]
        for ly in ctx.layers:
            if ly.label_field and ly.label_field in ly.gdf:
                data += ly.gdf[ly.label_field].dropna().astype(str).tolist()
    data += ["MINUSCA", "ucdp-ged", "m-1", "r-1", "Natural Earth", "GeoNames", "Made with", "CC BY", "Leaflet"]
    return data


MAP_TEXTS = """() => {
  const out = [], d = document.createElement('div');
  const txt = h => { d.innerHTML = String(h).replace(/</g, ' <'); return d.textContent; };  // cells stay apart
  const page = () => {
    out.push(document.body.innerText);
    for (const e of document.querySelectorAll('[title],[aria-label],[placeholder]'))
      for (const a of ['title', 'aria-label', 'placeholder']) if (e.getAttribute(a)) out.push(e.getAttribute(a));
    for (const e of document.querySelectorAll('#ew-legend, #ew-side, header')) out.push(txt(e.innerHTML));
    const P = EW.loc.props;
    for (let i = 0; i < P.name.length; i++) out.push(txt(EW.localityPopup(i)));
  };
  page();
  const I = EW.incidents && EW.incidents.data, A = EW.impact && EW.impact.data;
  if (I) for (let i = 0; i < I.lat.length; i++) out.push(txt(EW.incidentPopup(I, i)));
  if (A) for (let k = 0; k < A.lat.length; k++) out.push(txt(EW.impactPopup(A, k)));
  EW.map.eachLayer(l => {
    for (const x of [l.getPopup && l.getPopup(), l.getTooltip && l.getTooltip()])
      if (x && typeof x.getContent() === 'string') out.push(txt(x.getContent()));
  });
  EW.search('zzzqqqxx'); out.push(document.getElementById('ew-search-status').textContent);
  const Z = EW.loc.hz, H = EW.loc.hist;
  if (Z) { EW.showHorizon(Z.p === 0 ? 1 : 0); page(); EW.showHorizon(Z.p); }
  if (H) { EW.showRun(0); page(); EW.showRun(H.dates.length - 1); }
  return out;
}"""


def _map_texts(path: Path) -> list[str]:
    from earlywarn.publish.browser import inspect_map

    def act(page, rep):
        rep.extra["texts"] = page.evaluate(MAP_TEXTS)
        rep.extra["lang"] = page.evaluate("() => document.documentElement.lang")

    report = inspect_map(path, actions=act)
    assert report.console_errors == [] and report.page_errors == [] and report.dialogs == [] and report.external == []
    assert report.extra["lang"] == "fr"
    return report.extra["texts"]


@pytest.mark.browser
@pytest.mark.slow
def test_french_map_and_brief_in_chromium_show_no_english(french_mission, tmp_path):
    from earlywarn.brief import data as bd
    from earlywarn.brief import load_inputs, make_brief
    from earlywarn.config import load_config

    cfg = load_config(french_mission)
    assert cfg.language == "fr"
    with i18n.language("fr"):  # as make_brief does: the labels load_inputs writes
        inp = load_inputs(cfg)
    data = _data(cfg, inp)

    # The map, from the run's files, and a small one with every layer, the time control and the horizon switch.
    html = _render_french_map(cfg, inp, tmp_path / "carte.html")
    assert '<html lang="fr">' in html
    texts = _map_texts(tmp_path / "carte.html")
    with i18n.language("fr"):
        warned = [i18n.Message.from_dict(r).text() for r in inp.manifest.get("warnings_i18n") or []]
    assert warned and all(any(w in t for t in texts) for w in warned), warned  # the header's warnings, in French
    sample_data = _render_french_sample_map(tmp_path / "echantillon.html")
    sample_texts = _map_texts(tmp_path / "echantillon.html")

    # The brief, as `earlywarn brief` makes it from the files: HTML in Chromium, and the PDF's text.
    res = make_brief(cfg)
    assert res.pdf is not None, res.warning
    brief_html = res.html.read_text(encoding="utf-8")
    assert '<html lang="fr">' in brief_html

    def brief_text(page, rep):
        rep.extra["cut"] = page.evaluate(  # French runs longer than English: still nothing past a page's bottom
            """() => Array.from(document.querySelectorAll('.page .body')).map((b, k) => {
                 const bottom = b.getBoundingClientRect().bottom + 1;
                 return Array.from(b.querySelectorAll('*')).filter(e => e.getBoundingClientRect().bottom > bottom)
                   .map(e => `page ${k + 1}: ${e.tagName} ${(e.textContent || '').slice(0, 60)}`); }).flat()""")
        rep.extra["text"] = page.evaluate(
            """() => [document.body.innerText, document.title,
                      ...[...document.querySelectorAll('svg text, [aria-label], [title], meta[content]')].map(
                          e => e.getAttribute('aria-label') || e.getAttribute('title') || e.getAttribute('content')
                               || e.textContent)]""")

    from earlywarn.publish.browser import inspect_map

    report = inspect_map(res.html, ready=None, actions=brief_text)
    assert report.console_errors == [] and report.page_errors == [] and report.external == []
    assert report.extra["cut"] == []
    pdf_text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(res.pdf), "-"], capture_output=True, text=True,
                              check=True).stdout
    info = subprocess.run(["pdfinfo", str(res.pdf)], capture_output=True, text=True, check=True).stdout

    # The PDF's lines are joined: a name wrapped over two lines of a table cell is still one name.
    everything = [*texts, *report.extra["text"], " ".join(pdf_text.split()), info.split("Creator:")[0]]
    _assert_no_english(everything, data)
    _assert_no_english(sample_texts, sample_data)

    # French conventions, and the data intact.
    for name in ACCENTED:
        assert any(name in t for t in texts) and name in pdf_text and name in " ".join(report.extra["text"])
    assert any(ACCENTED[0] in t for t in sample_texts)
    for t in ("\n".join(texts), "\n".join(report.extra["text"]), pdf_text):
        assert FRENCH_DATE.search(t), "no date written the French way"
        assert DECIMAL_COMMA.search(t), "no decimal comma"
        assert not re.search(r"\d\.\d\s?%", t), "a percentage with a decimal point"
    assert "Note hebdomadaire PdC" in info and "protection des civils" in info
    # The run's warnings and quarantine reasons, stored in English, read in French on the brief's data page.
    from earlywarn.manifest import warning_texts

    with i18n.language("fr"):
        warned = warning_texts(inp.manifest)[:8]
        reasons = [r for r in bd.feed_status(inp.manifest, cfg.tables_dir / "state", inp.as_of)["reasons"] if r]
    page = " ".join(" ".join(report.extra["text"]).split())
    assert all(" ".join(w.split())[:60] in page for w in warned), (warned, inp.manifest.get("warnings"))
    assert all(" ".join(r.split())[:40] in page for r in reasons), reasons
    assert "Carte de situation" in pdf_text and "Matrice des menaces PdC" in pdf_text
    assert any("très élevé" in t for t in texts) and "faible" in "\n".join(sample_texts)
