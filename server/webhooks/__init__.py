"""Signed webhooks (Standard Webhooks) carrying the field's events to the office CRM."""
