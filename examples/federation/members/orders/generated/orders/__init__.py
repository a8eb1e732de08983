"""orders: orders for existing users. The published interface is `orders.api` (REQ-ORD-1..3)."""
