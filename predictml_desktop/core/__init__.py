"""The Qt-free core: data home, records, ingestion, training, governance and prediction."""
