"""The trial store: the one owner of the SQLite schema; registration, publishing, verification, exchange, pseudonym key, stored compliance weeks."""
