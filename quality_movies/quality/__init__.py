"""The quality gate: DQDL rules split each input file into validated movies and bad records."""
