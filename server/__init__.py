"""Tinedy CRM field-operations mobile backend."""
