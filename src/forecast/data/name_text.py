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

import unicodedata

#: No-break spaces (U+00A0, the figure space U+2007, the narrow U+202F) read as a space, and
#: zero-width characters (space, non-joiner, joiner, the byte-order mark) dropped.
_FOLDED = str.maketrans(
    {
        "\u00a0": " ",
        "\u2007": " ",
        "\u202f": " ",
        "\u200b": None,
        "\u200c": None,
        "\u200d": None,
        "\ufeff": None,
    }
)


def clean_name(text: str) -> str:
    """`text` as a name: composed (NFC), no-break spaces as spaces, no zero-width characters,
    no spaces around it ("" where nothing else is left)."""
    if text.isascii():  # the usual name: nothing to compose or fold
        return text.strip()
    return unicodedata.normalize("NFC", text.translate(_FOLDED)).strip()
