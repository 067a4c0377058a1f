-- Warehouse contract for the embedded DuckDB warehouse: same columns and types as redshift.sql.
CREATE SCHEMA IF NOT EXISTS movies;

CREATE TABLE IF NOT EXISTS movies.imdb_movies_rating (
    poster_link   VARCHAR,
    series_title  VARCHAR,
    released_year VARCHAR,
    certificate   VARCHAR,
    runtime       VARCHAR,
    genre         VARCHAR,
    imdb_rating   DOUBLE,
    overview      VARCHAR,
    meta_score    BIGINT,
    director      VARCHAR,
    star1         VARCHAR,
    star2         VARCHAR,
    star3         VARCHAR,
    star4         VARCHAR,
    no_of_votes   BIGINT,
    gross         VARCHAR,
    source_file   VARCHAR NOT NULL,
    loaded_at     TIMESTAMP NOT NULL
);
