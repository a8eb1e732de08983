"""Review: the change summary and the review panel of pull requests and releases."""
