"""Alerts for the office: late starts, check-ins away from the job, gaps at completion,
problems reported and changes refused, raised once and acknowledged by dispatchers."""
