"""Every database query lives here, one module per concern; services call these, never SQL."""
