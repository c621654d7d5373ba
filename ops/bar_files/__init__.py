"""Bar files: reading the formats, and importing them into the store."""
