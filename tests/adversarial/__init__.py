"""Property-based and adversarial tests: bad, extreme and degenerate input (issue 10)."""
