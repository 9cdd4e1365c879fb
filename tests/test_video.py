"""sgz-enhance on videos through PyAV: sound copied packet for packet, every frame at its
source timestamp, rotation as metadata, colour tags carried, odd sizes and 10-bit or 4:2:2
input handled and said, broken and truncated files refused with nothing left behind."""
import hashlib
from fractions import Fraction

import numpy as np
import pytest

from sgz_fast import enhance, video

av = pytest.importorskip("av", reason="the video tests need PyAV (pip install 'sgz_fast[video]')")

VFR_MS = [0, 83, 200, 250, 400, 500, 700, 710, 800, 1000]  # a variable frame rate


def make_clip(path, times_ms=VFR_MS, size=(64, 48), rotation=0, audio=True, pix_fmt="yuv420p",
              colorspace=None, color_range=None, codec="libx264"):
    """A dark noisy clip with the given frame times (ms) and a 440 Hz AAC tone."""
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=12)
        stream.width, stream.height, stream.pix_fmt = *size, pix_fmt
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        if colorspace is not None:
            stream.codec_context.colorspace = colorspace
            stream.codec_context.color_range = color_range
        if rotation:
            stream.set_display_rotation(rotation)
        if audio:
            sound = out.add_stream("aac", rate=16000)
            sound.layout = "mono"
        for t in times_ms:
            rgb = rng.uniform(0, 50, (size[1], size[0], 3)).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=pix_fmt)
            frame.pts, frame.time_base = t, stream.time_base
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
        if audio:
            n = 16 * (times_ms[-1] + 100)
            tone = (0.2 * np.sin(np.arange(n) * 2 * np.pi * 440 / 16000)).astype(np.float32)
            for start in range(0, n, 1024):
                frame = av.AudioFrame.from_ndarray(tone[None, start:start + 1024], format="fltp",
                                                   layout="mono")
                frame.sample_rate, frame.pts = 16000, start
                for packet in sound.encode(frame):
                    out.mux(packet)
            for packet in sound.encode(None):
                out.mux(packet)


def probe(path):
    """(stream types, frame times in s, first frame, audio packets' md5 or None)."""
    with av.open(str(path)) as clip:
        types = [s.type for s in clip.streams]
        md5 = None
        if clip.streams.audio:
            packets = [bytes(p) for p in clip.demux(clip.streams.audio[0]) if p.dts is not None]
            md5 = hashlib.md5(b"".join(packets)).hexdigest()
            clip.seek(0)
        frames = list(clip.decode(clip.streams.video[0]))
        stream = clip.streams.video[0]
        return types, [f.pts * f.time_base for f in frames], frames[0], md5, stream


def run(tmp_path, source, *options, status=0):
    assert enhance.main([str(source), "-o", str(tmp_path / "out"), *options]) == status
    return tmp_path / "out" / source.name


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov"])
def test_sound_timestamps_and_rotation_are_kept(tmp_path, suffix):
    source = tmp_path / f"phone{suffix}"
    make_clip(source, rotation=90)
    types, times, first, md5, _ = probe(source)
    out_types, out_times, out_first, out_md5, out_stream = probe(run(tmp_path, source))
    assert out_types == types == ["video", "audio"]
    assert out_md5 == md5  # the audio packets, byte for byte
    assert out_times == times == [Fraction(t, 1000) for t in VFR_MS]
    assert out_stream.codec_context.name == "h264"
    assert out_first.rotation == first.rotation == 90  # plays upright
    assert (out_first.width, out_first.height) == (64, 48)  # pixels kept as decoded
    assert out_first.to_ndarray(format="rgb24").mean() > first.to_ndarray(format="rgb24").mean() + 10


def test_colour_tags_are_carried(tmp_path):
    source = tmp_path / "hd.mkv"
    make_clip(source, colorspace=1, color_range=2, audio=False)  # BT.709, full range
    _, _, first, _, _ = probe(source)
    _, _, out_first, _, _ = probe(run(tmp_path, source, "--strength", "0"))
    assert (out_first.colorspace, out_first.color_range) == (first.colorspace, first.color_range)
    # read with the same matrix and range, so strength 0 gives the picture back (H.264 at CRF 18)
    delta = out_first.to_ndarray(format="rgb24").astype(int) - first.to_ndarray(format="rgb24")
    assert np.abs(delta).mean() < 3


def test_strength_zero_keeps_the_brightness(tmp_path):
    # swscale's fast YUV -> RGB rounds low: the model saw every frame about a level darker.
    source = tmp_path / "dim.mp4"
    make_clip(source, size=(160, 96), audio=False)

    def mean_luma(path):
        with av.open(str(path)) as clip:
            return np.mean([np.frombuffer(f.planes[0], np.uint8).reshape(
                f.planes[0].height, -1)[:, :f.width].mean() for f in clip.decode(video=0)])

    assert abs(mean_luma(run(tmp_path, source, "--strength", "0")) - mean_luma(source)) < 0.25


def test_avi_frames_stay_in_display_order(tmp_path):
    # AVI stores no presentation times: H.264's B-frames would come back out of order.
    source = tmp_path / "old.avi"
    with av.open(str(source), "w") as out:
        stream = out.add_stream("mjpeg", rate=25)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuvj420p"
        for i in range(25):
            rgb = np.random.default_rng(i).integers(5, 60, (96, 160, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    with av.open(str(run(tmp_path, source))) as clip:
        times = [f.pts for f in clip.decode(video=0)]
    assert len(times) == 25 and times == sorted(times)


@pytest.mark.parametrize("pix_fmt", ["yuv422p", "yuv420p10le"])
def test_odd_sizes_and_deep_or_422_input_are_said(tmp_path, capsys, pix_fmt):
    source = tmp_path / "odd.mkv"
    make_clip(source, size=(63, 47), pix_fmt=pix_fmt, audio=False, codec="ffv1")
    _, _, out_first, _, _ = probe(run(tmp_path, source))
    assert (out_first.width, out_first.height) == (64, 48)
    assert out_first.format.name == "yuv420p"
    err = capsys.readouterr().err
    assert "odd size 63x47 padded to 64x48" in err and f"{pix_fmt} input written as 8-bit" in err
    assert "brightness smoothed over time (--temporal 0.8;" in err  # the default for video


def test_truncated_file_fails_and_leaves_nothing(tmp_path, capsys):
    source = tmp_path / "cut.mkv"
    make_clip(source, times_ms=list(range(0, 4000, 40)))
    data = source.read_bytes()
    source.write_bytes(data[:len(data) // 2])
    target = run(tmp_path, source, status=1)
    assert "ends early" in capsys.readouterr().err
    assert not target.exists() and list((tmp_path / "out").iterdir()) == []


def test_no_video_stream_is_refused(tmp_path, capsys):
    source = tmp_path / "voice.mkv"
    with av.open(str(source), "w") as out:
        sound = out.add_stream("aac", rate=16000)
        sound.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                           layout="mono")
        frame.sample_rate, frame.pts = 16000, 0
        for packet in [*sound.encode(frame), *sound.encode(None)]:
            out.mux(packet)
    run(tmp_path, source, status=1)
    assert "has no video stream" in capsys.readouterr().err


def test_without_pyav_opencv_writes_and_says_what_is_lost(tmp_path, capsys, monkeypatch):
    source = tmp_path / "clip.mp4"
    make_clip(source)
    monkeypatch.setattr(video, "have_pyav", lambda: False)
    types, times, _, _, _ = probe(run(tmp_path, source))
    assert types == ["video"] and len(times) == len(VFR_MS)
    assert "without sound" in capsys.readouterr().err


def test_denoise_cleans_every_frame_and_keeps_the_timing(tmp_path):
    source = tmp_path / "noisy.mp4"
    make_clip(source, audio=False)
    roughness, times = {}, {}
    for mode in ("off", "fast"):
        out = enhance.main([str(source), "-o", str(tmp_path / mode), "--denoise", mode])
        assert out == 0
        with av.open(str(tmp_path / mode / source.name)) as clip:
            frames = list(clip.decode(video=0))
        times[mode] = [f.pts * f.time_base for f in frames]
        roughness[mode] = [np.abs(np.diff(f.to_ndarray(format="rgb24").astype(int), axis=1)).mean()
                           for f in frames]
    assert len(times["fast"]) == len(VFR_MS) and times["fast"] == times["off"]
    assert all(fast < 0.8 * off for fast, off in zip(roughness["fast"], roughness["off"]))


def test_denoise_best_on_a_video_says_it_is_slow(tmp_path, capsys):
    source = tmp_path / "noisy.mp4"
    make_clip(source, times_ms=[0, 100], audio=False)
    run(tmp_path, source, "--denoise", "best")
    assert "--denoise best takes seconds per video frame" in capsys.readouterr().err
