"""One folder per paper: its cohorts, jobs and claim statistics. Shared floors never import from here."""
