"""`homeroom bench …`: benchmarks that print figures. Speed targets live here, not in tests."""
