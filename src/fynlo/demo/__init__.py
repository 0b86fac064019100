"""Demo data for trying Fynlo out: rerunning it never duplicates anything."""
