-- Rogers' schema as release r0001 created it (a database from before migrations is adopted as version 1).
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY, owner TEXT, title TEXT, created REAL NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS participants (
    conversation_id TEXT NOT NULL, mad TEXT NOT NULL, PRIMARY KEY (conversation_id, mad));
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, conversation_id TEXT NOT NULL,
    topic TEXT NOT NULL, sender TEXT NOT NULL, recipient TEXT, kind TEXT NOT NULL, text TEXT NOT NULL,
    body TEXT NOT NULL, ts REAL NOT NULL, correlation_id TEXT);
CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages (conversation_id, seq);
