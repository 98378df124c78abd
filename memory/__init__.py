"""heron.memory: Chroma vector memory, embeddings, ingestion, hybrid retrieval and conversation memory.

The main entry points, each in its own module:

- :class:`~heron.memory.vector_memory.VectorMemory`: a Chroma collection with vector, BM25 and hybrid search;
- :class:`~heron.memory.ingest.Ingester`: incremental ingestion of files and folders;
- :class:`~heron.memory.conversation.ConversationMemory`: turns, facts and task outcomes;
- :class:`~heron.memory.embeddings.Embedder`: sentence-transformers embeddings (torch or ONNX).

Importing this package is cheap: Chroma and the embedding model load on first use.
"""

from heron.memory.conversation import ConversationMemory
from heron.memory.embeddings import Embedder
from heron.memory.ingest import Ingester, IngestReport, SkippedFile
from heron.memory.passages import Chunk, Location, Passage
from heron.memory.redaction import Redactor
from heron.memory.vector_memory import VectorMemory

__all__ = [
    "Chunk",
    "ConversationMemory",
    "Embedder",
    "IngestReport",
    "Ingester",
    "Location",
    "Passage",
    "Redactor",
    "SkippedFile",
    "VectorMemory",
]
