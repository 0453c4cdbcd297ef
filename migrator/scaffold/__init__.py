"""`migrator init`: a starting plan read off a database (survey -> proposals -> commented YAML)."""
