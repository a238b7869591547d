"""serving: the online prediction server of one project's production model."""
