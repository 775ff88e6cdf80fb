"""The digital human: a drawn face whose mouth follows the voice it speaks with.

See README.md. Nothing here needs a GPU or an image library: the face is drawn with
numpy, pictures are decoded with PyAV, and speech comes through `media.speech`'s ports.
"""
