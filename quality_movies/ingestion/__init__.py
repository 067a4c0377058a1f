"""Raw files landing in the lake and the catalog table the crawler keeps over them."""
