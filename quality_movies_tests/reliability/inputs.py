"""The corpus of the reliability suite: small hand-written movie CSVs whose fate is known by hand.

The ruleset in force (quality_movies/dq/rulesets/movies.dqdl) keeps a row when IMDB_Rating is strictly
between 8.5 and 10.3 (Glue's ``between`` is exclusive) and Series_Title is not empty; the warehouse
contract also wants Meta_score a whole number in 0..100.
"""

import gzip
import random
from dataclasses import dataclass

HEADER = [
    "Poster_Link", "Series_Title", "Released_Year", "Certificate", "Runtime", "Genre",
    "IMDB_Rating", "Overview", "Meta_score", "Director", "Star1", "Star2", "Star3", "Star4",
    "No_of_Votes", "Gross",
]  # fmt: skip


def movie(title: str, rating: str, meta_score: str = "80", overview: str = "A story.") -> list[str]:
    return [
        "https://example.org/poster.jpg", title, "1999", "A", "120 min", "Drama", rating,
        overview, meta_score, "Ada Abbott", "Bruno Brandt", "Clara Castellano", "Dora Delacroix",
        "Emil Eriksen", "123456", "1,234,567",
    ]  # fmt: skip


def csv_line(fields: list[str]) -> str:
    """One CSV record, quoting fields as csv.writer's QUOTE_MINIMAL would."""
    out = []
    for f in fields:
        if any(c in f for c in ',"\r\n'):
            f = '"' + f.replace('"', '""') + '"'
        out.append(f)
    return ",".join(out)


def csv_text(rows: list[list[str]], header: list[str] = HEADER, newline: str = "\n") -> str:
    return "".join(csv_line(r) + newline for r in [header, *rows])


@dataclass(frozen=True)
class MovieFile:
    """A CSV with the number of data rows in it and how many of them the gate must keep."""

    name: str
    content: bytes
    rows: int
    good: int
    good_titles: tuple[str, ...] = ()


def good_file(name: str = "good.csv", tag: str = "") -> MovieFile:
    """Six rows, two good: 9.0 and 8.6 pass; 8.5 and 10.3 are outside (exclusive), 7.0 is low,
    and the 9.5 row has no title."""
    rows = [
        movie(f"Harbor Lights{tag}", "9.0"),
        movie(f"Paper Moon{tag}", "8.6"),
        movie(f"Edge Case Low{tag}", "8.5"),
        movie(f"Edge Case High{tag}", "10.3"),
        movie(f"Weak Film{tag}", "7.0"),
        movie("", "9.5"),
    ]
    return MovieFile(
        name,
        csv_text(rows).encode(),
        rows=6,
        good=2,
        good_titles=(f"Harbor Lights{tag}", f"Paper Moon{tag}"),
    )


def contract_breaking_file(name: str = "contract.csv") -> MovieFile:
    """Four rows that all pass or fail the rules as written, two of which the contract rejects:
    line 3 has Meta_score "eighty", line 4 has 150 (outside 0..100); line 5 fails the rating rule."""
    rows = [
        movie("Kept Film", "9.0", meta_score="80"),
        movie("Wordy Score", "9.1", meta_score="eighty"),
        movie("Too High Score", "9.2", meta_score="150"),
        movie("Low Rated", "7.0", meta_score="50"),
    ]
    return MovieFile(name, csv_text(rows).encode(), rows=4, good=1, good_titles=("Kept Film",))


def unreadable_files() -> dict[str, tuple[bytes, tuple[str, ...]]]:
    """Files that are not a usable CSV: name -> (content, words the message must carry).

    Lines count from 1 at the header, as an editor shows them.
    """
    good = csv_text([movie("Fine One", "9.0"), movie("Fine Two", "9.1")])
    rng = random.Random(11)
    binary = bytes(rng.randrange(256) for _ in range(4096)) + b"\x00\x00PK\x03\x04"
    latin1 = csv_text([movie("Fine One", "9.0"), movie("Amélie", "9.1")]).encode("latin-1")
    ragged_rows = [csv_line(r) for r in [HEADER, movie("Fine One", "9.0")]]
    ragged_rows.append(csv_line([*movie("Too Many", "9.1"), "extra", "fields"]))
    ragged_rows.append(csv_line(movie("Fine Three", "9.2")))
    unterminated = (
        csv_line(HEADER)
        + "\n"
        + csv_line(movie("Fine One", "9.0"))
        + "\n"
        + csv_line(movie("Open Quote", "9.1")).replace("Open Quote", '"Open Quote, never closed')
        + "\n"
        + csv_line(movie("Fine Three", "9.2"))
        + "\n"
    )
    duplicate = csv_text(
        [movie("Fine One", "9.0")],
        header=[*HEADER[:8], "IMDB_Rating", *HEADER[9:]],
    )
    huge = csv_text([movie("Fine One", "9.0"), movie("Huge", "9.1", overview="x" * 5_000_000)])
    return {
        "binary.csv": (binary, ()),
        "gzipped.csv": (gzip.compress(good.encode()), ()),
        "latin1.csv": (latin1, ("line 3",)),
        "cr_only.csv": (good.replace("\n", "\r").encode(), ()),
        "ragged.csv": (("\n".join(ragged_rows) + "\n").encode(), ("line 3",)),
        "unterminated.csv": (unterminated.encode(), ("line 3",)),
        "duplicate_header.csv": (duplicate.encode(), ("imdb_rating",)),
        "huge_field.csv": (huge.encode(), ("line 3",)),
    }
