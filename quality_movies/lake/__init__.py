"""The lake (where files land and outputs go) and the catalog (what the crawler infers over them).

Interfaces in ``base``, the embedded implementations in ``local``, the AWS ones in ``aws``.
"""

from quality_movies.lake.aws import (
    ANY_CRAWL,
    CrawlerFailed,
    GlueCrawlerCatalog,
    S3Lake,
    aws_client,
    catalog_table_from_glue,
)
from quality_movies.lake.base import (
    Catalog,
    CatalogTable,
    Lake,
    LakeObject,
    glue_type,
    infer_csv_columns,
    merge_columns,
)
from quality_movies.lake.local import EtagCache, LocalCatalog, LocalLake, crawl_file

__all__ = [
    "ANY_CRAWL",
    "Catalog",
    "CatalogTable",
    "CrawlerFailed",
    "EtagCache",
    "GlueCrawlerCatalog",
    "Lake",
    "LakeObject",
    "LocalCatalog",
    "LocalLake",
    "S3Lake",
    "aws_client",
    "catalog_table_from_glue",
    "crawl_file",
    "glue_type",
    "infer_csv_columns",
    "merge_columns",
]
