"""What an operator sees of a running server: structured logs, repeating-failure summaries,
Prometheus metrics."""
