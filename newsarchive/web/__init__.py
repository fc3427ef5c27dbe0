"""The read-only web interface and JSON API (`newsarchive serve`): newsarchive.web.app."""
