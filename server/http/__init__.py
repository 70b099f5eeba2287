"""HTTP plumbing shared by the routes: content negotiation, validators, cached bodies, JSON I/O."""
