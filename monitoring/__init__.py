"""monitoring: drift, data quality and live quality of a production model (Evidently)."""
