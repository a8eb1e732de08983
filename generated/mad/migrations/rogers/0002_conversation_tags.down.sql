DROP INDEX conversation_tags_by_tag;
DROP TABLE conversation_tags;
