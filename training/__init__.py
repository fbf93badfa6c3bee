"""Command-line entry points a data scientist or operator runs (`forecast ...`)."""
