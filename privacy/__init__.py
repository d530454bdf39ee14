"""Privacy guarantees of the app: loopback-only server, network guard, content-free logs, self-check."""
