"""Extract, update and compile the translations: ``make i18n`` (or ``python scripts/i18n.py``).

1. Extract every marked text (``_()``, ``N_()``, ``ngettext()`` in Python, ``tr()`` in the map's
   JavaScript; ``babel.cfg``) into ``earlywarn/locale/earlywarn.pot``.
2. Update each language's ``earlywarn.po`` from it: new texts arrive with an empty translation, texts no
   longer used are kept as obsolete (``#~``) so a translation is not lost when a text moves.
3. Compile each ``.po`` to the ``.mo`` the package ships.

Then fill in the empty ``msgstr`` entries (any PO editor, or a text editor) and run it again to compile.
``tests/test_french.py`` fails while a text has no translation or the ``.mo`` is older than its ``.po``.
Without fuzzy matching: a guessed translation of a new text would ship unseen.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from babel.messages.frontend import CommandLineInterface

REPO = Path(__file__).resolve().parent.parent
LOCALE = REPO / "earlywarn" / "locale"
POT = LOCALE / "earlywarn.pot"


def main() -> int:
    """Run the three steps; returns a process exit code."""
    version = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    cli = CommandLineInterface()
    base = ["pybabel", "-q"]
    cli.run([*base, "extract", "-F", str(REPO / "babel.cfg"), "-k", "tr", "--no-location", "--sort-output",
             "--project", "earlywarn", "--version", version, "--copyright-holder", "earlywarn contributors",
             "-o", str(POT), str(REPO)])
    for po in sorted(LOCALE.glob("*/LC_MESSAGES/earlywarn.po")):
        lang = po.parent.parent.name
        cli.run([*base, "update", "-i", str(POT), "-d", str(LOCALE), "-D", "earlywarn", "-l", lang,
                 "--no-fuzzy-matching", "--ignore-obsolete" if "--drop-obsolete" in sys.argv else "--previous"])
    cli.run([*base, "compile", "-d", str(LOCALE), "-D", "earlywarn", "--statistics"])
    return 0



if __name__ == "__main__":
    raise SystemExit(main())
