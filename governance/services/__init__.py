"""Units of work: each public function is one transaction that also appends its audit event."""
