"""Video in, video out: frames decoded, enhanced and encoded in a pipeline (decoding and
encoding in threads of their own beside the model).

Through FFmpeg's libraries (PyAV, the ``video`` extra) whenever ``av`` is importable: H.264
output (yuv420p, CRF 18, preset veryfast by default), every audio and subtitle stream copied
packet for packet, each frame at its source frame's timestamp (variable frame rates stay as
they were), the display rotation written as metadata with the pixels kept as decoded, the
input's colour matrix, range, primaries and transfer tagged on the output. Otherwise through
OpenCV: no sound, MPEG-4 Part 2, a constant frame rate.
"""
import importlib.util
import queue
import threading
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

# OpenCV's codecs per container that its PyPI wheels can write.
FOURCC = {".mp4": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "XVID"}
QUEUE_FRAMES = 4  # enough to keep the three stages busy; each 1080p frame is 6 MB
_END = object()
OPENCV_NOTE = ("PyAV is not installed (pip install 'sgz_fast[video]'): written with OpenCV, "
               "without sound, as MPEG-4 Part 2 at a constant frame rate")


@dataclass
class VideoResult:
    frames: int
    notes: list = field(default_factory=list)  # what the output differs in, in words


def have_pyav():
    return importlib.util.find_spec("av") is not None


def transform_video(source, target, enhance, on_frame=None, crf=18, preset="veryfast"):
    """Decodes `source`, maps each (H, W, 3) uint8 frame through enhance(frame, channels)
    (channels "rgb" or "bgr": the frame's order; same shape and dtype back) and encodes the
    result to `target`, whose suffix picks the container. Returns a VideoResult.
    on_frame(index, count) reports progress. Raises ValueError for a file that is not a
    video, has no video stream, fails to decode or ends before its stated duration."""
    if have_pyav():
        return _transform_pyav(source, target, enhance, on_frame, crf, preset)
    result = _transform_opencv(source, target, enhance, on_frame)
    result.notes.append(OPENCV_NOTE)
    return result


# ---- The pipeline ---------------------------------------------------------------------------

def _pipeline(produce, process, consume):
    """Runs produce(put) in a thread, process(item) here and consume(item) in a thread, items
    passed in order through bounded queues; the first error of any stage is raised here after
    every stage has stopped."""
    decoded, processed = queue.Queue(QUEUE_FRAMES), queue.Queue(QUEUE_FRAMES)
    errors = []

    def run_producer():
        try:
            produce(decoded.put)
        except BaseException as error:  # handed to the main thread
            errors.append(error)
        finally:
            decoded.put(_END)

    def run_consumer():
        try:
            while (item := processed.get()) is not _END:
                consume(item)
        except BaseException as error:
            errors.append(error)
            while processed.get() is not _END:  # keep draining so the main thread never blocks
                pass

    threads = [threading.Thread(target=run_producer, daemon=True),
               threading.Thread(target=run_consumer, daemon=True)]
    for thread in threads:
        thread.start()
    try:
        while (item := decoded.get()) is not _END and not errors:
            processed.put(process(item))
    finally:
        if item is not _END:  # stopped early: let the producer finish into the void
            while decoded.get() is not _END:
                pass
        processed.put(_END)
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]


# ---- PyAV -----------------------------------------------------------------------------------

CODEC = "libx264"
PIXEL_FORMAT = "yuv420p"


def _rgb(frame):
    """(H, W, 3) uint8 RGB of a decoded frame, read with _colour's tags. swscale's fast path
    rounds YUV to RGB low, about one level (measured: luma 1.04 levels low on an H.264 clip):
    with accurate rounding and full chroma interpolation it is exact to 0.004, at ~4 ms a
    1080p frame on the decoding thread where the fast one takes 0.4."""
    from av.video.reformatter import Interpolation
    space, color_range = _colour(frame)
    exact = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT
    return frame.reformat(format="rgb24", src_colorspace=space, src_color_range=color_range,
                          interpolation=exact).to_ndarray()


def _colour(frame):
    """(colorspace, range) to read the frame with: its own tags, else what players assume
    (BT.709 from 720 lines up, BT.601 below; limited range)."""
    from av.video.reformatter import ColorRange, Colorspace
    space = frame.colorspace
    if space in (None, 0, 2):  # RGB/unspecified
        space = Colorspace.ITU709 if frame.height >= 720 else Colorspace.ITU601
    color_range = frame.color_range if frame.color_range in (1, 2) else ColorRange.MPEG
    return space, color_range


def _transform_pyav(source, target, enhance, on_frame, crf, preset):
    import av
    try:
        inp = av.open(str(source))
    except (av.FFmpegError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot decode {source} as a video ({error})") from error
    with inp:
        if not inp.streams.video:
            raise ValueError(f"{source} has no video stream")
        vin = inp.streams.video[0]
        vin.thread_type = "AUTO"  # FFmpeg's own frame and slice threads
        copied = [s for s in inp.streams if s.type in ("audio", "subtitle")]
        count = vin.frames or 0
        with av.open(str(target), "w") as out:
            writer = _Writer(out, vin, copied, crf, preset)
            copied_indices = {s.index for s in copied}
            frames = 0
            last_end = None

            def produce(put):
                nonlocal last_end
                decoded = 0
                try:
                    # demux ends with an empty packet per stream, which flushes the decoder
                    for packet in inp.demux([vin, *copied]):
                        if packet.stream.index in copied_indices:
                            if packet.dts is not None:  # not that empty packet
                                put(("packet", packet))
                            continue
                        for frame in packet.decode():
                            decoded += 1
                            last_end = _frame_end(frame, vin)
                            put(("frame", (frame, _rgb(frame))))
                except av.FFmpegError as error:
                    raise ValueError(f"{source}: decoding failed after frame {decoded} "
                                     f"({error})") from error

            def process(item):
                nonlocal frames
                kind, value = item
                if kind == "packet":
                    return item
                frame, rgb = value
                writer.start(frame)
                frames += 1
                if on_frame:
                    on_frame(frames, count)
                return ("frame", (frame, enhance(rgb, "rgb")))

            def consume(item):
                kind, value = item
                if kind == "packet":
                    writer.copy(value)
                else:
                    writer.encode(*value)

            _pipeline(produce, process, consume)
            if frames == 0:
                raise ValueError(f"{source} has no video frames that FFmpeg can decode")
            writer.finish()
            _check_complete(source, inp, vin, last_end)
    return VideoResult(frames, writer.notes)


def _frame_end(frame, stream):
    """The time (s) at which `frame` stops showing, or None without timestamps."""
    if frame.pts is None or frame.time_base is None:
        return None
    duration = frame.duration or 0
    return float((frame.pts + duration) * frame.time_base - (stream.start_time or 0)
                 * stream.time_base)


def _check_complete(source, inp, vin, last_end):
    """A stream that stops well before the duration its container states is a truncated file:
    an error, never a short output reported as a success."""
    stated = None
    if vin.duration:
        stated = float(vin.duration * vin.time_base)
    elif inp.duration:
        stated = inp.duration / 1e6
    rate = float(vin.average_rate or vin.guessed_rate or 25)
    if stated is None or last_end is None:
        return
    if last_end < stated - max(2.0 / rate, 0.1):
        raise ValueError(f"{source} ends early: its video decodes to {last_end:.2f} s of the "
                         f"{stated:.2f} s it states (a truncated or damaged file?)")


class _Writer:
    """The output's streams: H.264 set up from the first frame (size, colour, rotation), then
    the copied streams, in the input's order. Packets to copy that come before the first frame
    wait until the streams exist."""

    def __init__(self, out, vin, copied, crf, preset):
        self.out, self.vin, self.copied, self.crf, self.preset = out, vin, copied, crf, preset
        self.stream, self.notes, self.copies, self.waiting = None, [], {}, []

    def copy(self, packet):
        self.waiting.append(packet)
        if self.stream is not None:
            self.copy_waiting()

    def start(self, first):
        if self.stream is not None:
            return
        self.space, self.range = _colour(first)
        rate = self.vin.average_rate or self.vin.guessed_rate or Fraction(25)
        stream = self.out.add_stream(CODEC, rate=rate)
        width, height = first.width + first.width % 2, first.height + first.height % 2
        if (width, height) != (first.width, first.height):
            self.notes.append(f"odd size {first.width}x{first.height} padded to {width}x{height} "
                              "(H.264 4:2:0 needs even sides; the last column/row is repeated)")
        stream.width, stream.height = width, height
        stream.pix_fmt = PIXEL_FORMAT
        # the source's time base for the stream and the encoder, so every pts stays exact
        stream.time_base = stream.codec_context.time_base = self.vin.time_base
        stream.options = {"crf": str(self.crf), "preset": self.preset}
        if self.out.format.name == "avi":  # AVI has no presentation times: frames must be in
            stream.codec_context.max_b_frames = 0  # display order (B-frames reorder them)
        stream.thread_type = "AUTO"
        context = stream.codec_context
        context.colorspace, context.color_range = self.space, self.range
        context.color_primaries = first.color_primaries
        context.color_trc = first.color_trc
        if first.format.name not in ("yuv420p", "yuvj420p", "nv12"):
            self.notes.append(f"{first.format.name} input written as 8-bit 4:2:0 ({PIXEL_FORMAT})")
        if first.rotation:
            stream.set_display_rotation(first.rotation)
        self.copies = {s.index: self.out.add_stream_from_template(s) for s in self.copied}
        self.stream = stream  # last: the consumer thread muxes once it is set

    def encode(self, source, rgb):
        if rgb.shape[:2] != (self.stream.height, self.stream.width):
            rgb = np.pad(rgb, ((0, self.stream.height - rgb.shape[0]),
                               (0, self.stream.width - rgb.shape[1]), (0, 0)), mode="edge")
        import av
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame = frame.reformat(format=PIXEL_FORMAT, dst_colorspace=self.space,
                               dst_color_range=self.range)
        frame.pts, frame.time_base = source.pts, source.time_base
        for packet in self.stream.encode(frame):
            self.out.mux(packet)
        self.copy_waiting()

    def copy_waiting(self):
        for packet in self.waiting:
            packet.stream = self.copies[packet.stream.index]
            self.out.mux(packet)
        self.waiting.clear()

    def finish(self):
        self.copy_waiting()
        for packet in self.stream.encode(None):
            self.out.mux(packet)


# ---- OpenCV (without PyAV) ------------------------------------------------------------------

def _cv2():
    try:
        import cv2
    except ImportError as error:
        raise RuntimeError("video needs PyAV (pip install 'sgz_fast[video]') or OpenCV") \
            from error
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


def _transform_opencv(source, target, enhance, on_frame):
    cv2 = _cv2()
    capture, fps, size, count = open_video(source)
    suffix = Path(target).suffix.lower()
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*FOURCC[suffix]), fps, size)
    if not writer.isOpened():
        capture.release()
        raise RuntimeError(f"OpenCV cannot write {suffix} video ({FOURCC[suffix]}) to {target}")
    frames = 0

    def produce(put):
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            put(frame)

    def process(frame):
        nonlocal frames
        frames += 1
        if on_frame:
            on_frame(frames, count)
        return np.ascontiguousarray(enhance(frame, "bgr"))

    try:
        _pipeline(produce, process, writer.write)
    finally:
        capture.release()
        writer.release()
    if frames == 0:
        raise ValueError(f"{source} has no frames that OpenCV can decode")
    return VideoResult(frames)
