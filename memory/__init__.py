"""heron.memory: Chroma vector memory, ingestion, embeddings and conversation memory."""
