"""The office CRM's way in: API keys, upserts by the CRM's own ids, bulk import, the event feed."""
