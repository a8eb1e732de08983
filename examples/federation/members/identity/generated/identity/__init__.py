"""identity: users by id. The published interface is `identity.api` (REQ-ID-1..3)."""
