"""Fictional place and actor names, built from syllables, deterministic from a seed.

Names are invented so that nobody mistakes the demo for a real place or a real
armed group. A few deliberately awkward names (an apostrophe, accented
letters, a two-word name) are planted so that every consumer downstream
(CSV quoting, HTML escaping, GeoPackage text, file names) is exercised by the
demo itself rather than first by a real mission's data.
"""

from __future__ import annotations

import numpy as np

_ONSETS = ("b", "d", "g", "k", "l", "m", "n", "ny", "r", "t", "w", "y", "j", "p", "th", "dh", "ch", "")
_VOWELS = ("a", "a", "e", "i", "o", "u", "ai", "ie", "uo", "ua")
_CODAS = ("", "", "", "k", "l", "n", "ng", "r", "t", "m", "p")
_ACCENTS = str.maketrans({"a": "ä", "e": "ë", "o": "ö", "i": "ï", "u": "ü"})


class Namer:
    """Hands out unique syllable names from one random stream."""

    def __init__(self, rng: np.random.Generator):
        self._rng = rng
        self._used: set[str] = set()

    def _syllable(self, first: bool) -> str:
        r = self._rng
        onsets = _ONSETS if first else _ONSETS[:-1]  # no vowel clashes inside a word
        return (
            onsets[r.integers(len(onsets))]
            + _VOWELS[r.integers(len(_VOWELS))]
            + _CODAS[r.integers(len(_CODAS))]
        )

    def name(self, min_syll: int = 2, max_syll: int = 3) -> str:
        """A new capitalised name of ``min_syll``..``max_syll`` syllables, never handed out before."""
        while True:
            n = int(self._rng.integers(min_syll, max_syll + 1))
            word = "".join(self._syllable(i == 0) for i in range(n))
            if 4 <= len(word) <= 11 and word not in self._used:
                self._used.add(word)
                return word.capitalize()

    def names(self, k: int, min_syll: int = 2, max_syll: int = 3) -> list[str]:
        """``k`` new names (see :meth:`name`), e.g. for all the towns of a county."""
        return [self.name(min_syll, max_syll) for _ in range(k)]


def with_apostrophe(name: str) -> str:
    """``Pakuol`` -> ``Pa'kuol``: an apostrophe after the first vowel (tests quoting and escaping)."""
    for i, ch in enumerate(name):
        if ch in "aeiou" and 0 < i < len(name) - 2:
            return name[: i + 1] + "'" + name[i + 1 :]
    return name[:2] + "'" + name[2:]


def with_accents(name: str) -> str:
    """``Bentiu`` -> ``Bëntiu``-like: accents every vowel of the first syllable group (non-ASCII text)."""
    head, tail = name[:3], name[3:]
    out = head.translate(_ACCENTS) + tail
    if out == name:  # no lowercase vowel in the first three letters
        out = name + " Mëër"
    return out
