"""scoring: the library that turns a stored model and rows into logged predictions.

The safe model format (:mod:`scoring.model_format`: skops with an explicit trusted-type
list, the sha256 checked before anything is deserialized), batch scoring
(:mod:`scoring.batch`) and the prediction-log format with its index on a local or S3
store (:mod:`scoring.predlog`). The prediction server, the flows and monitoring import
it; it imports only the kernel and connectors.
"""
