"""Video through OpenCV: frames decoded, enhanced and encoded in a pipeline (decoding and
encoding run in their own threads, as OpenCV releases the GIL), written without audio at the
input's size and frame rate."""
import queue
import threading
from pathlib import Path

import numpy as np

# OpenCV's codecs per container that its PyPI wheels can write.
FOURCC = {".mp4": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "XVID"}
QUEUE_FRAMES = 4  # enough to keep the three stages busy; each 1080p frame is 6 MB
_END = object()


def _cv2():
    try:
        import cv2
    except ImportError as error:
        raise RuntimeError("video needs OpenCV: pip install opencv-python-headless") from error
    return cv2


def open_video(path):
    """(capture, frames per second, (width, height), frame count or 0 when unknown); raises
    ValueError when OpenCV cannot decode the file."""
    cv2 = _cv2()
    capture = cv2.VideoCapture(str(path))
    ok, first = capture.read() if capture.isOpened() else (False, None)
    if not ok:
        capture.release()
        raise ValueError(f"cannot decode {path} as a video")
    capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    count = max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
    return capture, fps, (first.shape[1], first.shape[0]), count


def transform_video(source, target, enhance_bgr, on_frame=None):
    """Decodes `source`, maps each (H, W, 3) uint8 frame, in OpenCV's BGR order, through
    `enhance_bgr` (same shape and dtype back) and encodes the result to `target` (a path whose
    suffix picks the container). Returns the number of frames. on_frame(index, count) reports
    progress."""
    cv2 = _cv2()
    capture, fps, size, count = open_video(source)
    suffix = Path(target).suffix.lower()
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*FOURCC[suffix]), fps, size)
    if not writer.isOpened():
        capture.release()
        raise RuntimeError(f"OpenCV cannot write {suffix} video ({FOURCC[suffix]}) to {target}")
    decoded, enhanced = queue.Queue(QUEUE_FRAMES), queue.Queue(QUEUE_FRAMES)
    errors = []

    def decode():
        try:
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                decoded.put(frame)
        except BaseException as error:  # handed to the main thread
            errors.append(error)
        finally:
            decoded.put(_END)

    def encode():
        try:
            while (frame := enhanced.get()) is not _END:
                writer.write(frame)
        except BaseException as error:
            errors.append(error)
            while enhanced.get() is not _END:  # keep draining so the main thread never blocks
                pass

    threads = [threading.Thread(target=decode, daemon=True),
               threading.Thread(target=encode, daemon=True)]
    for thread in threads:
        thread.start()
    frames = 0
    try:
        while (frame := decoded.get()) is not _END:
            enhanced.put(np.ascontiguousarray(enhance_bgr(frame)))
            frames += 1
            if on_frame:
                on_frame(frames, count)
    finally:
        if threads[0].is_alive():  # stop the decoder early (an error here): drain its queue
            while decoded.get() is not _END:
                pass
        enhanced.put(_END)
        for thread in threads:
            thread.join()
        capture.release()
        writer.release()
    if errors:
        raise errors[0]
    if frames == 0:
        raise ValueError(f"{source} has no frames that OpenCV can decode")
    return frames
