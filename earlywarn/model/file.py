"""Model files: skops archives with reproducible bytes, loaded only if every type is on an allow-list.

Why not pickle: a model file is an input like any other, and unpickling runs
code. skops stores objects as a schema plus arrays; loading here first reads
the schema as JSON and refuses the file if it names any type outside
:data:`TRUSTED_TYPES` (skops' own default trust would accept any
scikit-learn estimator). Equal models get equal bytes (:func:`canonical_skops`),
so the file hash can be the model version.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import skops.io as sio

# Every type a saved model may contain. ``loads`` refuses a file holding any other type.
TRUSTED_TYPES: tuple[str, ...] = (
    "builtins.dict",
    "builtins.list",
    "builtins.tuple",
    "builtins.str",
    "builtins.int",
    "builtins.float",
    "builtins.bool",
    "builtins.NoneType",
    "numpy.dtype",
    "numpy.ndarray",
    "numpy.float64",
    "numpy.int64",
    "numpy.random.mtrand.RandomState",
    "numpy.random._mt19937.MT19937",
    "numpy.random._generator.Generator",
    "numpy.uint64",
    "sklearn._loss._loss.CyHalfPoissonLoss",
    "sklearn._loss.loss.HalfPoissonLoss",
    "sklearn._loss.link.Interval",
    "sklearn._loss.link.LogLink",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.linear_model._logistic.LogisticRegression",
)


class UntrustedModelError(ValueError):
    """A model file contains types that are not on the allow-list (or is not a model file)."""


class OutdatedModelError(UntrustedModelError):
    """A model file written by another version of earlywarn (its declared format is not one this code reads).

    Told apart from an untrusted file because the remedy differs: after an
    upgrade the mission simply trains a new model, and the analyst should not
    read "types outside the allow-list" as a sign of tampering.
    """


def declared_format(data: bytes) -> str | None:
    """The ``format`` string a model file declares, read from its schema as JSON (nothing constructed)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            node = json.loads(zf.read("schema.json"))["content"]["format"]
        value = json.loads(node["content"]) if node.get("is_json") else node.get("content")
    except (zipfile.BadZipFile, KeyError, TypeError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return value if isinstance(value, str) else None


def dumps(state: dict) -> bytes:
    """A model state as skops bytes, reproducible (see :func:`canonical_skops`)."""
    return canonical_skops(sio.dumps(state))


def loads(data: bytes, fmt: str | tuple[str, ...]) -> dict:
    """The state in a model file, refusing any type outside :data:`TRUSTED_TYPES` or another format."""
    formats = (fmt,) if isinstance(fmt, str) else fmt
    declared = declared_format(data)
    if declared is not None and declared.startswith("earlywarn-") and declared not in formats:
        raise OutdatedModelError(f"saved by another version of earlywarn (format {declared}; this version reads "
                                 f"{' or '.join(formats)})")
    state = sio.loads(data, trusted=_checked_types(data))
    if not isinstance(state, dict) or state.get("format") not in formats:
        raise UntrustedModelError(f"not an {' or '.join(formats)} file")
    return state


_CHECKED: dict[bytes, list[str]] = {}  # SHA-256 of a file already checked -> the types skops asks about


def _checked_types(data: bytes) -> list[str]:
    """The types skops asks to trust in ``data``, after checking *every* type the file names against
    :data:`TRUSTED_TYPES` (raises :class:`UntrustedModelError` otherwise).

    The check reads the whole schema twice and costs more than the load itself; its answer depends on the
    bytes alone, so a process that loads the same file again (a long-lived worker, the test suite) reuses
    it, keyed by the bytes' hash rather than the path (a changed file is checked afresh).
    """
    key = hashlib.sha256(data).digest()
    if key not in _CHECKED:
        untrusted = sio.get_untrusted_types(data=data)
        bad = sorted((types_in(data) | set(untrusted)) - set(TRUSTED_TYPES))
        if bad:
            raise UntrustedModelError(f"model file holds types outside the allow-list: {', '.join(bad)}")
        if len(_CHECKED) >= 32:
            _CHECKED.clear()
        _CHECKED[key] = list(untrusted)
    return list(_CHECKED[key])


def canonical_skops(data: bytes) -> bytes:
    """The same skops archive with reproducible bytes, so equal models get equal versions.

    skops names each stored array and object after its memory address
    (``__id__`` and ``<id>.npy``) and stamps the zip entries with the current
    time, so two identical trainings would give different files and versions.
    Here the ids are renumbered in order of first appearance (consistently in
    the schema and the entry names, so shared references stay shared) and
    every entry gets a fixed timestamp. Loading is unchanged.
    """
    zin = zipfile.ZipFile(io.BytesIO(data))
    entries = {i.filename: zin.read(i.filename) for i in zin.infolist()}
    ids: dict[int, int] = {}

    def renumber(v: int) -> int:
        return ids.setdefault(v, len(ids) + 1)

    def walk(node):
        if isinstance(node, dict):
            out = {}
            for k, v in node.items():
                if k == "__id__" and isinstance(v, int):
                    out[k] = renumber(v)
                elif k == "file" and isinstance(v, str) and v in entries:
                    stem, dot, ext = v.partition(".")
                    out[k] = f"{renumber(int(stem))}{dot}{ext}" if stem.isdigit() else v
                else:
                    out[k] = walk(v)
            return out
        if isinstance(node, list):
            return [walk(x) for x in node]
        return node

    schema = walk(json.loads(entries.pop("schema.json")))
    renamed = {"schema.json": json.dumps(schema, sort_keys=False).encode()}
    for name, blob in entries.items():
        stem, dot, ext = name.partition(".")
        renamed[f"{renumber(int(stem))}{dot}{ext}" if stem.isdigit() else name] = blob
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zout:
        for name in sorted(renamed):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(info, renamed[name])
    return buf.getvalue()


def types_in(data: bytes) -> set[str]:
    """Every ``module.Class`` named in a skops file's schema (read as JSON, nothing constructed)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            schema = json.loads(zf.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UntrustedModelError(f"not a readable skops file: {exc}") from None
    found: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "__class__" in node and "__module__" in node:
                found.add(f"{node['__module__']}.{node['__class__']}")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


