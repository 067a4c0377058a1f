"""Which file versions have been processed, and who may process the rest (the ledger and the home lock)."""
