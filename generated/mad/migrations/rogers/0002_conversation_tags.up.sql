-- REQ-ROGERS-6: conversation tags, in their own table (no existing row changes).
CREATE TABLE conversation_tags (
    conversation_id TEXT NOT NULL REFERENCES conversations (id), tag TEXT NOT NULL,
    PRIMARY KEY (conversation_id, tag));
CREATE INDEX conversation_tags_by_tag ON conversation_tags (tag, conversation_id);
