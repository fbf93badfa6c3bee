"""What to say when a file's header reads as if written in another encoding than it was read
in: "N\ufffd Oportunidad" (bytes the encoding has no character for), or a Russian Bitrix24
export in cp1251 read as cp1252, whose "Стадия сделки" reads "Ñòàäèÿ ñäåëêè" (every byte a
Latin-1 letter). Said after a missing column or a draft that matched nothing: the columns are
there, written in another encoding."""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable

from forecast.data.mapping import CsvOptions

#: Encodings tried for a header that reads garbled, most common first (Windows' Cyrillic,
#: Central European, Greek, Turkish; KOI8-R; UTF-8; Windows' and ISO's Western European).
OTHER_ENCODINGS = (
    "cp1251", "cp1250", "cp1253", "cp1254", "koi8-r", "utf-8", "cp1252", "latin-1",
)  # fmt: skip
#: Three Latin-1 letters in a row, À to ÿ: how text in another 8-bit encoding reads as cp1252.
_LATIN1_RUN = re.compile(r"[\u00c0-\u00ff]{3,}")
_LATIN1 = re.compile(r"[\u00c0-\u00ff]")
_LETTER = re.compile(r"[^\W\d_]")


def encoding_hint(
    names: Iterable[object], csv: CsvOptions | None = None, wanted: Iterable[str] = ()
) -> str:
    """What to say after "missing required column(s)" (`wanted`: the mapping's columns the
    file lacks) or a draft that found no column, when the header looks written in another
    encoding; empty when it reads cleanly."""
    header = [str(n) for n in names]
    encoding = (csv or CsvOptions()).encoding
    if any("\ufffd" in name for name in header):
        shown = "UTF-8" if codecs.lookup(encoding).name.startswith("utf-8") else encoding
        return (
            f"; the header is not {shown} text (\ufffd marks what could not be read): set the "
            "mapping's csv: encoding: cp1252 (or latin-1), as Excel on Windows writes"
        )
    for name in wanted:  # the mapping's own column, as the file's encoding reads its bytes
        for other in OTHER_ENCODINGS:
            try:
                garbled = name.encode(other).decode(encoding)
            except (UnicodeError, LookupError):
                continue
            if garbled != name and garbled in header:
                return (
                    f"; the file may be in another encoding: its {garbled!r} is {name!r} "
                    f"written in {other}: set the mapping's csv: encoding: {other}"
                )
    if not garbled_header(header):
        return ""
    example = next(n for n in header if _LATIN1_RUN.search(n))
    guess = other_reading(header, encoding)
    # the example as the guessed encoding reads it; none guessed ("" is no encoding): as it is
    read = (
        f" ({example!r} reads {example.encode(encoding).decode(guess)!r} in {guess})"
        if guess
        else f" ({example!r})"
    )
    return (
        f"; the header looks like text in another encoding read as {encoding}{read}: the file "
        f"may be in another encoding: set the mapping's csv: encoding: {guess or 'cp1251'} (or "
        "the right one)"
    )


def garbled_header(names: Iterable[object]) -> bool:
    """Whether a header reads as text in another 8-bit encoding read as a Western European one:
    runs of Latin-1 letters ("Ñòàäèÿ"), most of its letters such ("Qualité" has one)."""
    text = " ".join(str(n) for n in names)
    letters = len(_LETTER.findall(text))
    return bool(_LATIN1_RUN.search(text)) and len(_LATIN1.findall(text)) >= 0.3 * letters


def other_reading(header: list[str], encoding: str) -> str:
    """The first other encoding in which the header's bytes (as `encoding` writes them) are
    letters of one non-Latin alphabet (Cyrillic, Greek) for the most part; "" where none is."""
    text = " ".join(header)
    for other in ("cp1251", "cp1253", "koi8-r"):
        try:
            read = text.encode(encoding).decode(other)
        except (UnicodeError, LookupError):
            continue
        letters = _LETTER.findall(read)
        if letters and sum(ord(ch) > 0x24F for ch in letters) >= 0.5 * len(letters):
            return other
    return ""
