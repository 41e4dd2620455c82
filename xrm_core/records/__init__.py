"""Records: the record service, the query language and its compilation to SQL."""
