"""The installable app: shell, manifest and service worker, rendered per user."""
