"""Image generation on a local diffusers model: the ``generate_image`` tool and PNG provenance.

Needs the ``image`` extra (diffusers, transformers, accelerate) and a model folder in settings::

    [image]
    model_path = "~/models/sd-turbo"

>>> from heron import Agent
>>> from heron.tools.image import generate_image
>>> Agent(tools=[generate_image]).run("Draw a lighthouse at dusk")
"""

from heron.tools.image.pipeline import DiffusionModel, ImageRequest
from heron.tools.image.provenance import AI_STATEMENT, GenerationRecord, read_provenance
from heron.tools.image.tool import GenerateImageTool

# One instance per process, like the other built-in tools: the model it loads is shared by every
# agent that uses it and freed by ``generate_image.close()``.
generate_image = GenerateImageTool()

__all__ = [
    "AI_STATEMENT",
    "DiffusionModel",
    "GenerateImageTool",
    "GenerationRecord",
    "ImageRequest",
    "generate_image",
    "read_provenance",
]
