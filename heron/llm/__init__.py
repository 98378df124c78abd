"""heron.llm: the local LLM runtime (llama.cpp in-process), an HTTP backend and a scripted fake."""
