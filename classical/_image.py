"""Input checks and dtype conversions shared by the methods.

Every method takes an (H, W, 3) RGB image, uint8 or float32/float64 in [0, 1], and returns the
same shape and dtype. Other inputs are refused with a ValueError/TypeError saying what to do,
rather than guessed at: greyscale (which channel layout?), RGBA (composite or drop the alpha?),
16-bit (which white level?) and empty images. The CLI is where files of those kinds are
converted, by sgz_fast.imageio.read_photo as for sgz-enhance, and written back by save_photo
with their alpha, greyscale, bit depth and metadata.
"""
import cv2
import numpy as np

FLOAT_TYPES = (np.float32, np.float64)


def check(image):
    """Raises a clear error unless `image` is a non-empty (H, W, 3) uint8 or float RGB array."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a numpy array of shape (H, W, 3), got {type(image).__name__}")
    shape = image.shape
    if image.ndim == 2 or (image.ndim == 3 and shape[2] == 1):
        raise ValueError(f"image is greyscale {shape}; the methods take RGB (H, W, 3): "
                         "repeat the channel, e.g. np.repeat(grey[..., None], 3, axis=2)")
    if image.ndim == 3 and shape[2] == 4:
        raise ValueError(f"image is RGBA {shape}; drop or composite the alpha channel first, "
                         "e.g. image[..., :3]")
    if image.ndim != 3 or shape[2] != 3:
        raise ValueError(f"image must have shape (H, W, 3), got {shape}")
    if image.size == 0:
        raise ValueError(f"image is empty {shape}")
    if image.dtype == np.uint16:
        raise TypeError("16-bit images are not taken directly: convert to float in [0, 1], "
                        "e.g. image / 65535.0")
    if image.dtype != np.uint8 and image.dtype.type not in FLOAT_TYPES:
        raise TypeError(f"image dtype must be uint8, float32 or float64, got {image.dtype}")
    if image.dtype != np.uint8:
        lo, hi = float(image.min()), float(image.max())
        if not (lo >= 0.0 and hi <= 1.0):  # also catches NaN
            raise ValueError(f"float images must lie in [0, 1]; got values in [{lo}, {hi}]")


def check_param(method, name, value, low=0.0, high=float("inf"), low_open=True,
                high_open=True):
    """Raises a ValueError naming `method`'s parameter unless `value` is a finite number in
    (low, high) (or closed at either end): NaN, infinities and values out of range give black,
    grey or NaN images (or crash OpenCV) rather than errors."""
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not (above and below) or not np.isfinite(value):
        bounds = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"{method}: {name} must be a finite number in {bounds}; got {value!r}")


def to_float(image):
    """Checks `image` and returns it as float32 in [0, 1] (a new array for uint8)."""
    check(image)
    if image.dtype == np.uint8:
        out = image.astype(np.float32)
        out *= np.float32(1 / 255)
        return out
    return image.astype(np.float32, copy=False)


def from_float(result, dtype):
    """float32 result -> `dtype`, clipped to [0, 1]; uint8 is rounded to nearest."""
    if dtype == np.uint8:
        result = result * np.float32(255)
        result += np.float32(0.5)
        np.clip(result, 0, 255, out=result)
        return result.astype(np.uint8)
    return np.clip(result, 0.0, 1.0).astype(dtype, copy=False)


# The brightness of each uint8 level in [0, 1]: levels * LEVELS_01 computed as a table.
LEVELS_01 = np.arange(256, dtype=np.float32) * np.float32(1 / 255)

# At 1080p each full-size float32 map is 8 MB, and on our machines first touching freshly
# allocated memory cost up to 0.3 ms per MB when busy: more than these methods' arithmetic.
# So the uint8 paths below reuse their buffers (dst=/out=) rather than allocate one per step.


def split(image):
    """R, G, B planes of a uint8 image as new (H, W) arrays. Into arrays made here: cv2.split
    left to allocate its own outputs (OpenCV's allocator, then copied into numpy arrays) takes
    milliseconds longer at 1080p than the copy itself."""
    channels = list(np.empty((3, *image.shape[:2]), np.uint8))
    cv2.split(image, channels)
    return channels


def max_rgb(image):
    """max(R, G, B) of a uint8 image, uint8 (H, W)."""
    r, g, b = split(image)
    return cv2.max(cv2.max(r, g, dst=r), b, dst=r)


def histogram(levels):
    """Pixel counts of the 256 levels of a uint8 (H, W) map, int64. cv2.calcHist counts in
    float32, exact up to 2**24 per bin: it is given blocks of fewer pixels than that."""
    rows = max(1, (1 << 24) // levels.shape[1])
    return sum(cv2.calcHist([levels[i:i + rows]], [0], None, [256], [0, 256]).ravel()
               .astype(np.int64) for i in range(0, levels.shape[0], rows))


def brightness(image, kind):
    """(levels, value) of each pixel: `kind` "luma" is BT.601 Y = 0.299 R + 0.587 G + 0.114 B
    (as cv2.COLOR_RGB2GRAY), "max" is max(R, G, B) (HSV's V). levels: uint8 (H, W), the value
    on 256 levels (what histograms count); value: float32 (H, W) in [0, 1], unrounded, a new
    array the caller may overwrite."""
    if image.dtype == np.uint8:
        assert kind == "luma", "uint8 max(R, G, B) is max_rgb(image): no float copy needed"
        # Unrounded Y for the gain: rounding a dark pixel's Y to 256 levels errs by up to 10%.
        r, g, b = split(image)
        value = cv2.addWeighted(r, 0.299 / 255, g, 0.587 / 255, 0, dtype=cv2.CV_32F)
        cv2.addWeighted(value, 1.0, b, 0.114 / 255, 0, dst=value, dtype=cv2.CV_32F)
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), value
    rgb = image.astype(np.float32, copy=False)
    value = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if kind == "luma" else rgb.max(axis=2)
    return np.rint(value * 255).astype(np.uint8), value


def luminance_gain(old, new, out=None):
    """new / old brightness (float32 maps, or tables, in [0, 1]): the factor that takes a
    pixel from one to the other; black (old = 0) gets gain new * 510 and stays black. `out`
    may be `old` itself, when the caller is done with it."""
    gain = np.maximum(old, np.float32(1 / 510), out=out)
    return np.divide(new, gain, out=gain)


def apply_gain(image, gain):
    """Multiplies each pixel's R, G, B by `gain` (float32 (H, W)): hue and saturation are kept
    (a grey pixel stays grey). Returns the image's dtype, clipped (uint8: rounded, saturating).
    uint8 images are scaled channel by channel in place (uint8 x float32 -> uint8 in one
    OpenCV pass), with no float copy of the image and no 3-channel gain."""
    if image.dtype == np.uint8:
        channels = split(image)
        for c in channels:
            cv2.multiply(c, gain, dst=c, dtype=cv2.CV_8U)
        return cv2.merge(channels)
    return np.clip(image * gain[..., None], 0.0, 1.0).astype(image.dtype, copy=False)
