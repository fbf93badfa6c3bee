"""A name as every reader of one takes it (the import's text columns, the API's pushes and
scores), written once so both agree: the same rep, team or account typed on two systems is one
name, not two rows of KPIs that look alike.

Unicode lets one name be written several ways that print the same: "Zoë" as one character (NFC,
what most keyboards send) or as "e" and a combining diaeresis (NFD, what macOS file names and
some CRMs send); "Team Fischer" with a no-break space copied from a web page; a zero-width space
left behind by a rich-text editor; "Ana  García" with two spaces (a blank middle name joined in),
which a web page shows as "Ana García". Each is read as its composed form, no-break spaces as
spaces and zero-width characters dropped, trimmed, each run of spaces or tabs inside one space.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd

#: No-break spaces (U+00A0, the figure space U+2007, the narrow U+202F), read as a space, and
#: zero-width characters (space, non-joiner, joiner, the byte-order mark), dropped.
_NO_BREAK = re.compile("[\u00a0\u2007\u202f]")
_ZERO_WIDTH = re.compile("[\u200b-\u200d\ufeff]")
_NOT_ASCII = r"[^\x00-\x7f]"
#: Whitespace a name holds more of than one space between words: two in a row, or a tab.
_RUN = re.compile(r"\s\s|[^\S ]")


def clean_name(text: str) -> str:
    """`text` as a name: composed (NFC), no-break spaces as spaces, no zero-width characters,
    no spaces around it ("" where nothing else is left)."""
    if text.isascii():  # the usual name: nothing to compose or fold
        return _single_spaced(text.strip())
    text = _ZERO_WIDTH.sub("", _NO_BREAK.sub(" ", text))  # first: "e\u200b\u0308" is "ë"
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    return _single_spaced(text.strip())


def _single_spaced(text: str) -> str:
    """`text` with each run of whitespace inside it one space ("Ana  García" "Ana García")."""
    return " ".join(text.split()) if _RUN.search(text) else text


def clean_names(values: pd.Series) -> pd.Series:
    """A column of names, each as `clean_name` reads it (missing ones stay missing): ASCII
    names need only the strip (and the rare run of spaces made one), done at pandas speed;
    each distinct other name is cleaned once (names repeat: owners, teams, accounts)."""
    text = values.astype("str").str.strip()
    runs = text.str.contains(_RUN.pattern, regex=True, na=False)
    if runs.any():
        text = text.mask(runs, text[runs].map(_single_spaced))
    odd = text.str.contains(_NOT_ASCII, regex=True, na=False)
    if not odd.any():
        return text
    codes, distinct = pd.factorize(text[odd])
    cleaned = np.array([clean_name(name) for name in distinct], dtype=object)
    return text.mask(odd, pd.Series(cleaned[codes], index=odd.index[odd], dtype="str"))
