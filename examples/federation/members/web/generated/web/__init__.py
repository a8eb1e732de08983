"""web: orders as HTML (REQ-WEB-1, REQ-WEB-2)."""
