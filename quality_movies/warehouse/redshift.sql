-- Warehouse contract for Amazon Redshift: the table the good rows load into and the seed's analytic view.
CREATE SCHEMA IF NOT EXISTS movies;

CREATE TABLE IF NOT EXISTS movies.imdb_movies_rating (
    poster_link   VARCHAR(MAX),
    series_title  VARCHAR(MAX),
    released_year VARCHAR(MAX),
    certificate   VARCHAR(MAX),
    runtime       VARCHAR(MAX),
    genre         VARCHAR(MAX),
    imdb_rating   DOUBLE PRECISION,
    overview      VARCHAR(MAX),
    meta_score    BIGINT,
    director      VARCHAR(MAX),
    star1         VARCHAR(MAX),
    star2         VARCHAR(MAX),
    star3         VARCHAR(MAX),
    star4         VARCHAR(MAX),
    no_of_votes   BIGINT,
    gross         VARCHAR(MAX),
    source_file   VARCHAR(1024) NOT NULL,
    loaded_at     TIMESTAMP NOT NULL
)
DISTSTYLE AUTO
SORTKEY (source_file);

CREATE MATERIALIZED VIEW movies.year_aggregated AS
SELECT released_year, genre, COUNT(*) AS movie_count, AVG(imdb_rating) AS avg_imdb_rating
FROM movies.imdb_movies_rating
GROUP BY released_year, genre;
