"""Staff accounts, branches, teams and customers."""
