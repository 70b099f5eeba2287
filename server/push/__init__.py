"""Web Push: subscriptions, preferences, messages, plans and the sending worker."""
