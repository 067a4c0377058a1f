"""Deterministic synthetic IMDb-like movie CSVs with the seed file's header and quirks.

Rows are drawn with numpy from small pools of invented titles, people and values, each cell
CSV-encoded once by `csv.writer`; rows are written in fixed-size chunks, so the same (rows, seed)
always gives a byte-identical file and 10^7 rows stream in constant memory (about 1 s per 10^5
rows). No third-party data is used.
"""

import argparse
import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HEADER = [
    "Poster_Link",
    "Series_Title",
    "Released_Year",
    "Certificate",
    "Runtime",
    "Genre",
    "IMDB_Rating",
    "Overview",
    "Meta_score",
    "Director",
    "Star1",
    "Star2",
    "Star3",
    "Star4",
    "No_of_Votes",
    "Gross",
]

DEFAULT_OUT = Path("imdb_movies_sample.csv")
CHUNK_ROWS = 65_536
SEED_RULE_LOW_TENTHS = 85
SEED_RULE_HIGH_TENTHS = 103

# Ratings in tenths with relative weights: the bulk sits around the real data (7.6-8.6), with
# mass on and just around both bounds of the seed rule and values far outside it.
RATING_WEIGHTS_TENTHS = {
    **{t: 2 for t in range(70, 76)},
    **{t: 8 for t in range(76, 80)},
    80: 8,
    81: 7,
    82: 5,
    83: 4,
    84: 3,
    85: 4,
    86: 3,
    87: 2,
    88: 2,
    89: 2,
    **{t: 1 for t in range(90, 100)},
    100: 1,
    101: 1,
    102: 2,
    103: 2,
    104: 1,
    105: 1,
}
# Rows whose rating is fixed so the boundaries exist in any file of at least that many rows.
FORCED_RATINGS_TENTHS = {0: 85, 1: 103, 2: 86, 3: 102}
# Rows whose optional cells are forced blank, so even a tiny file has each blank quirk.
FORCED_BLANKS = {2: "Meta_score", 3: "Gross", 4: "Certificate"}
NON_NUMERIC_YEAR = "PG"


def _words(text: str) -> list[str]:
    return text.split()


_ADJECTIVES = _words(
    "Silent Crimson Hidden Last Golden Broken Endless Frozen Burning Lonely Wild Distant Quiet "
    "Secret Iron Paper Glass Midnight Northern Hollow Bright Fallen Lost Velvet Electric Savage "
    "Gentle Wandering Restless Scarlet"
)
_NOUNS = _words(
    "River Empire Garden Harbor Station Winter Kingdom Mirror Voyage Promise Shadow Horizon "
    "Orchard Lantern Frontier Symphony Island Citadel Desert Carnival Letter Bridge Machine "
    "Forest Tide Summer Witness Stranger Compass Signal Village Storm Castle Engine Portrait "
    "Harvest Circus Canyon Ballad Archive"
)
_FIRST_NAMES = _words(
    "Ada Bruno Clara Dmitri Elena Farid Greta Hugo Ines Jonas Kira Lars Mara Nico Olga Pablo "
    "Quinn Rosa Sami Tomas Uma Viktor Wren Xavi Yara Zeno Alma Bela Cyrus Dora Emil Fleur Gil "
    "Hana Ivo Juno Kai Lena Milo Nora"
)
_LAST_NAMES = _words(
    "Abbott Brandt Castellano Dufresne Eriksen Fontaine Galloway Hartmann Ivanova Jablonski "
    "Kowalczyk Lindqvist Moreau Nakamura Oyelaran Petrakis Quintero Rasmussen Sorensen Takahashi "
    "Umberto Vasquez Whitfield Xu Yilmaz Zielinski Amsel Bergstrom Carvalho Delacroix Esposito "
    "Falk Gutierrez Holloway Iwasaki Jovanovic Kessler Laurent Mbeki Novak"
)
_GENRES = _words(
    "Drama Crime Action Comedy Romance Thriller Mystery Biography History Adventure Animation "
    "Sci-Fi Fantasy War Western Family Music Horror Sport Film-Noir"
)
_CERTIFICATES = _words("U A UA R PG-13 PG Passed G Approved TV-PG GP U/A")
_VERBS = _words("protect escape confront uncover rebuild outwit survive betray rescue outrun")
_PLACES = [
    "a flooded city",
    "a remote island",
    "the old capital",
    "a mining town",
    "the last train",
    "a border post",
]


@dataclass(frozen=True)
class SampleStats:
    """What `write_sample` wrote, counted from the generated ratings, not by any rule engine.

    `rating_counts` maps each IMDB_Rating text written to its number of rows (the ratings list in
    constant memory: a 10^7-row file has only a few dozen distinct ratings).
    `expected_good` / `expected_bad` apply the seed rule `imdb_rating between 8.5 and 10.3`
    (exclusive at both ends, as in Glue) to the ratings in integer tenths.
    """

    path: Path
    rows: int
    expected_good: int
    expected_bad: int
    rating_counts: dict[str, int] = field(default_factory=dict)
    non_numeric_year_row: int | None = None


def rating_text(tenths: int) -> str:
    """Format a rating like the seed file: one decimal, but whole numbers without `.0` (`9`)."""
    whole, tenth = divmod(tenths, 10)
    return str(whole) if tenth == 0 else f"{whole}.{tenth}"


def passes_seed_rule(tenths: int) -> bool:
    """`imdb_rating between 8.5 and 10.3` with Glue's exclusive bounds, in integer tenths."""
    return SEED_RULE_LOW_TENTHS < tenths < SEED_RULE_HIGH_TENTHS


def non_numeric_year_row(rows: int) -> int | None:
    """Index of the single row whose Released_Year is "PG" (row 966 of 1000 in the seed file)."""
    return rows * 966 // 1000 if rows >= 2 else None


@dataclass(frozen=True)
class _Pools:
    """Precomputed cell values per column; rows pick from them by index."""

    titles: np.ndarray
    encoded: dict[str, np.ndarray]
    rating_tenths: np.ndarray
    rating_probabilities: np.ndarray
    rating_texts: np.ndarray


def _object_array(values: list[str]) -> np.ndarray:
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def _encode_cells(values: list[str]) -> list[str]:
    """CSV-encode single cells with `csv.writer` (QUOTE_MINIMAL): quoted only when needed."""
    buffer = io.StringIO()
    # A second, empty field keeps a lone empty cell unquoted; it is cut off again below.
    csv.writer(buffer, lineterminator="\n").writerows([value, ""] for value in values)
    lines = buffer.getvalue().split("\n")[:-1]
    if len(lines) != len(values):
        raise ValueError("sample cells must not contain line breaks")
    return [line[:-1] for line in lines]


def _build_pools(seed: int) -> _Pools:
    rng = np.random.default_rng([seed, 0xC0FFEE])
    alphabet = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"))
    posters = [
        "https://m.media-amazon.com/images/M/MV5B"
        + "".join(rng.choice(alphabet, size=12))
        + "._V1_UX67_CR0,0,67,98_AL_.jpg"
        for _ in range(997)
    ]
    titles = [f"The {adjective} {noun}" for adjective in _ADJECTIVES for noun in _NOUNS]
    titles += [
        f"{noun} of the {adjective} {other}"
        for adjective, noun, other in zip(
            rng.choice(_ADJECTIVES, 300),
            rng.choice(_NOUNS, 300),
            rng.choice(_NOUNS, 300),
            strict=True,
        )
    ]
    people = [f"{first} {last}" for first in _FIRST_NAMES for last in _LAST_NAMES]
    genres = []
    for _ in range(400):
        count = int(rng.choice([1, 2, 3], p=[0.15, 0.35, 0.5]))
        picked = sorted(set(rng.choice(_GENRES, size=count).tolist()))
        genres.append(", ".join(picked))
    overviews = [
        f"A {str(rng.choice(_FIRST_NAMES)).lower()}-hearted {noun.lower()} keeper must "
        f"{rng.choice(_VERBS)} {rng.choice(_PLACES)}, before the {noun2.lower()} is lost."
        for noun, noun2 in zip(rng.choice(_NOUNS, 500), rng.choice(_NOUNS, 500), strict=True)
    ]
    votes = [str(v) for v in rng.integers(25_000, 2_500_000, size=4999)]
    gross = [f"{g:,}" for g in rng.integers(1_000, 900_000_000, size=4999)]
    columns = {
        "Poster_Link": posters,
        "Series_Title": titles,
        "Released_Year": [str(y) for y in range(1920, 2025)],
        # About 10 % blank, as in the seed file.
        "Certificate": _CERTIFICATES * 9 + [""] * 12,
        "Runtime": [f"{minutes} min" for minutes in range(64, 242)],
        "Genre": genres,
        "Overview": overviews,
        # About 16 % blank.
        "Meta_score": [str(score) for score in range(28, 101)] + [""] * 14,
        "Director": people,
        "Star1": people,
        "Star2": people,
        "Star3": people,
        "Star4": people,
        "No_of_Votes": votes,
        # About 17 % blank.
        "Gross": gross + [""] * 1000,
    }
    tenths = np.array(sorted(RATING_WEIGHTS_TENTHS), dtype=np.int64)
    weights = np.array([RATING_WEIGHTS_TENTHS[t] for t in tenths], dtype=np.float64)
    return _Pools(
        titles=_object_array(titles),
        encoded={name: _object_array(_encode_cells(values)) for name, values in columns.items()},
        rating_tenths=tenths,
        rating_probabilities=weights / weights.sum(),
        rating_texts=_object_array(_encode_cells([rating_text(int(t)) for t in tenths])),
    )


def _forced_rating_position(pools: _Pools, tenths: int) -> int:
    return int(np.searchsorted(pools.rating_tenths, tenths))


def _chunk_text(
    pools: _Pools,
    seed: int,
    chunk_index: int,
    start: int,
    count: int,
    total_rows: int,
    title_suffix: str,
    unique_titles: bool,
    rating_tally: np.ndarray,
) -> str:
    """CSV text of rows `start .. start+count`; the rng depends only on (seed, chunk_index)."""
    rng = np.random.default_rng([seed, chunk_index])
    cells: dict[str, list[str]] = {}
    picks: dict[str, np.ndarray] = {}
    for name in HEADER:
        if name == "IMDB_Rating":
            continue
        pool = pools.encoded[name]
        picks[name] = rng.integers(0, len(pool), size=count)
        cells[name] = pool[picks[name]].tolist()
    rating_index = rng.choice(len(pools.rating_tenths), size=count, p=pools.rating_probabilities)
    for row, tenths in FORCED_RATINGS_TENTHS.items():
        if start <= row < start + count and row < total_rows:
            rating_index[row - start] = _forced_rating_position(pools, tenths)
    rating_tally += np.bincount(rating_index, minlength=len(pools.rating_tenths))
    cells["IMDB_Rating"] = pools.rating_texts[rating_index].tolist()
    for row, column in FORCED_BLANKS.items():
        if start <= row < start + count:
            cells[column][row - start] = ""
    year_row = non_numeric_year_row(total_rows)
    if year_row is not None and start <= year_row < start + count:
        cells["Released_Year"][year_row - start] = NON_NUMERIC_YEAR
    if unique_titles or title_suffix:
        titles = pools.titles[picks["Series_Title"]].tolist()
        if unique_titles:
            titles = [f"{t}{title_suffix} #{start + i + 1}" for i, t in enumerate(titles)]
        else:
            titles = [f"{title}{title_suffix}" for title in titles]
        cells["Series_Title"] = _encode_cells(titles)
    lines = map(",".join, zip(*(cells[name] for name in HEADER), strict=True))
    return "\n".join(lines) + "\n"


def write_sample(
    path: Path,
    rows: int = 200,
    seed: int = 7,
    *,
    title_suffix: str = "",
    unique_titles: bool = False,
) -> SampleStats:
    """Write `rows` synthetic movies to `path` (CSV, seed header) and say what was written.

    `title_suffix` (e.g. " (part 3)") is appended to every title so partitions differ;
    `unique_titles` also appends the 1-based row number, making every title distinct.
    """
    if rows < 0:
        raise ValueError(f"rows must be >= 0, got {rows}")
    pools = _build_pools(seed)
    rating_tally = np.zeros(len(pools.rating_tenths), dtype=np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        handle.write(",".join(_encode_cells(HEADER)) + "\n")
        for chunk_index, start in enumerate(range(0, rows, CHUNK_ROWS)):
            count = min(CHUNK_ROWS, rows - start)
            handle.write(
                _chunk_text(
                    pools,
                    seed,
                    chunk_index,
                    start,
                    count,
                    rows,
                    title_suffix,
                    unique_titles,
                    rating_tally,
                )
            )
    rating_counts: Counter[str] = Counter()
    expected_good = 0
    for tenths, text, written in zip(
        pools.rating_tenths.tolist(),
        pools.rating_texts.tolist(),
        rating_tally.tolist(),
        strict=True,
    ):
        if written:
            rating_counts[text] += written
            if passes_seed_rule(tenths):
                expected_good += written
    return SampleStats(
        path=path,
        rows=rows,
        expected_good=expected_good,
        expected_bad=rows - expected_good,
        rating_counts=dict(rating_counts),
        non_numeric_year_row=non_numeric_year_row(rows),
    )


def main(argv: list[str]) -> int:
    """`quality-movies sample [--rows N] [--seed S] [--out FILE]`: write a synthetic movie CSV."""
    parser = argparse.ArgumentParser(
        prog="quality-movies sample", description="Write a deterministic synthetic movie CSV."
    )
    parser.add_argument("--rows", type=int, default=200, help="data rows to write (default 200)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"output CSV (default ./{DEFAULT_OUT})"
    )
    parser.add_argument("--title-suffix", default="", help="text appended to every title")
    parser.add_argument(
        "--unique-titles", action="store_true", help="append the row number to every title"
    )
    args = parser.parse_args(argv)
    if args.rows < 0:
        parser.error(f"--rows must be >= 0, got {args.rows}")
    stats = write_sample(
        args.out,
        rows=args.rows,
        seed=args.seed,
        title_suffix=args.title_suffix,
        unique_titles=args.unique_titles,
    )
    print(
        f'wrote {stats.rows} rows to {stats.path}: for \'ColumnValues "imdb_rating" between 8.5 '
        f"and 10.3' expect {stats.expected_good} good and {stats.expected_bad} bad rows"
    )
    return 0
