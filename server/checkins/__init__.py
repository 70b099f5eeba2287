"""GPS check-ins and check-outs at the job's address."""
