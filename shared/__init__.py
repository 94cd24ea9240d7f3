"""tradehub's common library: settings, events, streams, storage, metrics, health."""
