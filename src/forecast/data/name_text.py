"""A name as every reader of one takes it (the import's text columns, the API's pushes and
scores), written once so both agree: the same rep, team or account typed on two systems is one
name, not two rows of KPIs that look alike.

Unicode lets one name be written several ways that print the same: "Zoë" as one character (NFC,
what most keyboards send) or as "e" and a combining diaeresis (NFD, what macOS file names and
some CRMs send); "Team Fischer" with a no-break space copied from a web page; a zero-width space
left behind by a rich-text editor. Each is read as its composed form, no-break spaces as spaces
and zero-width characters dropped, then trimmed.
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


def clean_name(text: str) -> str:
    """`text` as a name: composed (NFC), no-break spaces as spaces, no zero-width characters,
    no spaces around it ("" where nothing else is left)."""
    if text.isascii():  # the usual name: nothing to compose or fold
        return text.strip()
    text = _ZERO_WIDTH.sub("", _NO_BREAK.sub(" ", text))  # first: "e\u200b\u0308" is "ë"
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    return text.strip()


def clean_names(values: pd.Series) -> pd.Series:
    """A column of names, each as `clean_name` reads it (missing ones stay missing): ASCII
    names need only the strip, done at pandas speed; each distinct other name is cleaned once
    (names repeat: owners, teams, accounts)."""
    text = values.astype("str").str.strip()
    odd = text.str.contains(_NOT_ASCII, regex=True, na=False)
    if not odd.any():
        return text
    codes, distinct = pd.factorize(text[odd])
    cleaned = np.array([clean_name(name) for name in distinct], dtype=object)
    return text.mask(odd, pd.Series(cleaned[codes], index=odd.index[odd], dtype="str"))
