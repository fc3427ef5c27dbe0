"""The archive database: models, migrations, the single write path, reads and search.

Knows nothing of Scrapy. Start from `storage.archive.Archive.open()`.
"""
