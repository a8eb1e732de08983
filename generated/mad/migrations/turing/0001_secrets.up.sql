-- Turing's schema as release r0001 created it (a database from before migrations is adopted as version 1).
CREATE TABLE IF NOT EXISTS secrets (
    name TEXT NOT NULL, version INTEGER NOT NULL, ciphertext BLOB NOT NULL,
    created REAL NOT NULL, PRIMARY KEY (name, version));
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, actor TEXT NOT NULL,
    secret TEXT NOT NULL, action TEXT NOT NULL, outcome TEXT NOT NULL, correlation_id TEXT);
