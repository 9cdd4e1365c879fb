"""torch's intra-op thread count for the length of a block, with nothing else imported: the
video path and the tests' thread-count cases share it."""
import contextlib

import torch


@contextlib.contextmanager
def torch_threads(count):
    """torch's intra-op thread count set to `count` inside the block, restored after it.
    Videos use it because decoding and encoding run in threads of their own beside the model:
    on the CPU the model then runs best on one thread, the stages overlapping on the cores
    (with more, its parallel loops wait for cores the codecs hold)."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
