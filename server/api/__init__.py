"""HTTP routes: parse, authorise, call a service, serialise. One module per URL family."""
