"""CloneDesk backend: storage, importer, jobs, connectors and (later) the Flask app."""
