#!/usr/bin/python3
"""Generate the preprocessing fixtures: small deterministic images and the pixels Pillow decodes and
resizes them to. The Go tests compare bench/preprocess against these.

Run from the repository root:

    /usr/bin/python3 bench/preprocess/testdata/gen_fixtures.py

Needs Pillow (9.4 here, linked to libjpeg-turbo 2.1.5) and numpy; torchvision, when importable, is used to
double-check the centre-crop reference. Pixel files (*.rgb) are raw uint8, row-major, packed RGB (HWC);
tensor files (*.chw) are raw uint8 channel-first. fixtures.json lists every case with its sizes.
"""
import io
import json
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))


def synth(w, h, seed):
    """Gradients, noise, sharp grey edges and saturated colour edges, so that chroma subsampling,
    ringing of the bicubic kernel and clipping all show up."""
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3), np.float64)
    img[..., 0] = 255.0 * x / max(w - 1, 1)
    img[..., 1] = 255.0 * y / max(h - 1, 1)
    img[..., 2] = 128.0 + 100.0 * np.sin(x / 3.0 + y / 5.0)
    # noisy band in the middle third
    band = (y >= h / 3) & (y < 2 * h / 3)
    img[band] += rng.normal(0.0, 25.0, size=(band.sum(), 3))
    # black/white checkerboard (sharp grey edges) in the top-left quarter
    cb = (x < w / 4) & (y < h / 4)
    checker = ((x.astype(int) // 3 + y.astype(int) // 3) % 2) * 255.0
    for c in range(3):
        img[..., c] = np.where(cb, checker, img[..., c])
    # pure red rectangle on pure blue (colour edge) in the bottom-right quarter
    br = (x >= 3 * w / 4) & (y >= 3 * h / 4)
    inner = br & (x >= 3 * w / 4 + 2) & (x < w - 2) & (y >= 3 * h / 4 + 2) & (y < h - 2)
    img[br] = [0, 0, 255]
    img[inner] = [255, 0, 0]
    # a one-pixel green diagonal
    diag = np.abs(x - y * w / h) < 0.5
    img[diag] = [0, 255, 0]
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def png_chunk(kind, data):
    c = kind + data
    return struct.pack(">I", len(data)) + c + struct.pack(">I", zlib.crc32(c) & 0xFFFFFFFF)


def write_png_raw(path, w, h, bit_depth, color_type, rows, trns=None):
    """Minimal PNG writer for formats Pillow cannot save (16-bit RGB/RGBA, 4-bit grey, 16-bit tRNS)."""
    raw = b"".join(b"\x00" + r for r in rows)
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(png_chunk(b"IHDR", ihdr))
        if trns is not None:
            f.write(png_chunk(b"tRNS", trns))
        f.write(png_chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(png_chunk(b"IEND", b""))


def save_raw(name, arr):
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(arr.tobytes())
    return name


def pil_rgb(path):
    with Image.open(path) as im:
        return im.convert("RGB")


def clip_reference(im, size):
    """CLIP / torchvision Resize(size, BICUBIC) + CenterCrop(size) on a PIL image, written out."""
    w, h = im.size
    short, long_ = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long_ / short)
    nw, nh = (new_short, new_long) if w <= h else (new_long, new_short)
    r = im.resize((nw, nh), Image.BICUBIC)
    top = int(round((nh - size) / 2.0))
    left = int(round((nw - size) / 2.0))
    return r.crop((left, top, left + size, top + size))


def pad_reference(im, size):
    """HPS v2's validation transform, ResizeMaxSize(size, BICUBIC, fill=0) of the HPSv2 authors'
    open_clip, written with torchvision's functional resize and pad: long side to size, each side
    rounded by Python's round, black padding split floor-first."""
    from torchvision.transforms import functional as F
    w, h = im.size
    scale = size / float(max(h, w))
    nh, nw = (round(d * scale) for d in (h, w))
    r = F.resize(im, (nh, nw), interpolation=F.InterpolationMode.BICUBIC) if scale != 1.0 else im
    ph, pw = size - nh, size - nw
    return F.pad(r, padding=[pw // 2, ph // 2, pw - pw // 2, ph - ph // 2], fill=0)


def torchvision_check(im, size, ref):
    try:
        from torchvision import transforms
    except Exception as e:  # torchvision is optional
        print("torchvision not importable, centre-crop cross-check skipped:", e, file=sys.stderr)
        return
    t = transforms.Compose([
        transforms.Resize(size, interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.CenterCrop(size),
    ])
    got = np.asarray(t(im))
    if not np.array_equal(got, np.asarray(ref)):
        raise SystemExit("centre-crop reference differs from torchvision for size %d" % size)


def main():
    man = {"decode": [], "resize": [], "tensor": []}

    def decode_case(fname, note):
        im = pil_rgb(os.path.join(HERE, fname))
        out = save_raw(fname + ".rgb", np.asarray(im))
        man["decode"].append({"file": fname, "w": im.size[0], "h": im.size[1], "pixels": out, "note": note})
        return im

    # --- JPEG files (Pillow encoder, libjpeg-turbo) ---
    Image.fromarray(synth(160, 120, 1)).save(os.path.join(HERE, "c420.jpg"), quality=90)
    Image.fromarray(synth(77, 53, 2)).save(os.path.join(HERE, "c444.jpg"), quality=95, subsampling=0)
    Image.fromarray(synth(91, 64, 3)).save(os.path.join(HERE, "c422.jpg"), quality=85, subsampling=1)
    Image.fromarray(synth(101, 77, 4)).save(os.path.join(HERE, "c420_progressive.jpg"), quality=80,
                                            progressive=True)
    Image.fromarray(synth(63, 47, 5)).convert("L").save(os.path.join(HERE, "gray.jpg"), quality=90)
    Image.fromarray(synth(40, 30, 6)).convert("CMYK").save(os.path.join(HERE, "cmyk.jpg"), quality=95)

    # --- PNG files ---
    rgb97 = synth(97, 61, 7)
    Image.fromarray(rgb97).save(os.path.join(HERE, "rgb8.png"))
    rgba = np.dstack([synth(33, 21, 8), (np.arange(33 * 21) % 256).reshape(21, 33).astype(np.uint8)])
    Image.fromarray(rgba, "RGBA").save(os.path.join(HERE, "rgba8.png"))
    la = np.dstack([synth(29, 17, 9)[..., 1], np.full((17, 29), 77, np.uint8)])
    Image.fromarray(la, "LA").save(os.path.join(HERE, "la8.png"))
    pal = Image.fromarray(synth(31, 19, 10)).quantize(colors=37)
    pal.save(os.path.join(HERE, "palette.png"), transparency=3)
    Image.fromarray(synth(27, 13, 11)[..., 0] > 128).save(os.path.join(HERE, "bilevel.png"))
    # 16-bit grey with values above 255: Pillow opens it as mode "I" and convert("RGB") clips to 255.
    g16 = (np.arange(23 * 11, dtype=np.uint32).reshape(11, 23) * 3).astype(">u2")
    write_png_raw(os.path.join(HERE, "gray16.png"), 23, 11, 16, 0, [r.tobytes() for r in g16])
    rng = np.random.RandomState(12)
    rgb16 = rng.randint(0, 65536, size=(9, 14, 3)).astype(">u2")
    write_png_raw(os.path.join(HERE, "rgb16.png"), 14, 9, 16, 2, [r.tobytes() for r in rgb16])
    rgba16 = rng.randint(0, 65536, size=(7, 12, 4)).astype(">u2")
    write_png_raw(os.path.join(HERE, "rgba16.png"), 12, 7, 16, 6, [r.tobytes() for r in rgba16])
    g4 = rng.randint(0, 16, size=(5, 10)).astype(np.uint8)
    write_png_raw(os.path.join(HERE, "gray4.png"), 10, 5, 4, 0,
                  [bytes((r[i] << 4) | r[i + 1] for i in range(0, 10, 2)) for r in g4])
    # The same with a tRNS colour key: Pillow still opens mode "I" and clips (Go's image/png returns
    # NRGBA64 here, whose high byte is not what Pillow shows). 16-bit RGB with tRNS keeps the high byte.
    write_png_raw(os.path.join(HERE, "gray16_trns.png"), 23, 11, 16, 0, [r.tobytes() for r in g16],
                  trns=struct.pack(">H", int(g16[2, 5])))
    rgb16t = (np.arange(6 * 5 * 3, dtype=np.uint32).reshape(5, 6, 3) * 733).astype(">u2")
    write_png_raw(os.path.join(HERE, "rgb16_trns.png"), 6, 5, 16, 2, [r.tobytes() for r in rgb16t],
                  trns=rgb16t[1, 2].tobytes())
    # A PNG behind a .jpg name: the decoder must sniff content, not trust the extension.
    Image.fromarray(synth(19, 11, 13)).save(os.path.join(HERE, "png_named.jpg"), format="PNG")

    c420 = decode_case("c420.jpg", "YCbCr 4:2:0 q90")
    decode_case("c444.jpg", "YCbCr 4:4:4 q95")
    decode_case("c422.jpg", "YCbCr 4:2:2 q85, odd width")
    decode_case("c420_progressive.jpg", "progressive 4:2:0, odd sizes")
    decode_case("gray.jpg", "greyscale JPEG")
    decode_case("cmyk.jpg", "Adobe CMYK JPEG")
    rgb8 = decode_case("rgb8.png", "8-bit RGB")
    decode_case("rgba8.png", "8-bit RGBA (alpha dropped)")
    decode_case("la8.png", "8-bit grey+alpha")
    decode_case("palette.png", "paletted with tRNS")
    decode_case("bilevel.png", "1-bit")
    decode_case("gray16.png", "16-bit grey (Pillow clips to 255)")
    decode_case("rgb16.png", "16-bit RGB (high byte)")
    decode_case("rgba16.png", "16-bit RGBA (high byte)")
    decode_case("gray4.png", "4-bit grey")
    decode_case("gray16_trns.png", "16-bit grey with tRNS (Pillow clips to 255)")
    decode_case("rgb16_trns.png", "16-bit RGB with tRNS (high byte)")
    decode_case("png_named.jpg", "PNG content with a .jpg name")

    # --- resize cases: source pixels are Pillow's decode, so resize is tested on its own ---
    tiny = Image.fromarray(synth(5, 3, 14))
    save_raw("tiny5x3.rgb", np.asarray(tiny))
    sources = {"c420.jpg.rgb": c420, "rgb8.png.rgb": rgb8, "tiny5x3.rgb": tiny}
    cases = [
        ("c420.jpg.rgb", 61, 47),    # non-integer downscale
        ("c420.jpg.rgb", 17, 13),    # strong downscale, wide support
        ("c420.jpg.rgb", 203, 150),  # upscale
        ("c420.jpg.rgb", 160, 77),   # same width: vertical pass only
        ("c420.jpg.rgb", 99, 120),   # same height: horizontal pass only
        ("c420.jpg.rgb", 200, 90),   # up in x, down in y
        ("c420.jpg.rgb", 80, 60),    # exact factor 2 (the 1024->512 case in small)
        ("rgb8.png.rgb", 150, 150),  # non-square to square, up
        ("rgb8.png.rgb", 33, 33),    # non-square to square, down
        ("rgb8.png.rgb", 97, 61),    # same size: a copy
        ("tiny5x3.rgb", 1, 1),
        ("tiny5x3.rgb", 11, 2),
    ]
    for src, w, h in cases:
        im = sources[src]
        out = save_raw("resize_%s_%dx%d.rgb" % (src.split(".")[0], w, h), np.asarray(im.resize((w, h), Image.BICUBIC)))
        man["resize"].append({"src": src, "src_w": im.size[0], "src_h": im.size[1], "w": w, "h": h, "out": out})

    # --- tensor cases (CHW) for both methods ---
    tall = Image.fromarray(synth(61, 97, 15))
    save_raw("tall61x97.rgb", np.asarray(tall))
    sources["tall61x97.rgb"] = tall
    wide = Image.fromarray(synth(81, 2, 16))
    save_raw("wide81x2.rgb", np.asarray(wide))
    sources["wide81x2.rgb"] = wide
    tcases = [
        ("c420.jpg.rgb", 64, "resize_center_crop"),   # crop left = round(10.5) = 10 (banker's rounding)
        ("rgb8.png.rgb", 50, "resize_center_crop"),   # long side int(79.5) = 79, left = round(14.5) = 14
        ("rgb8.png.rgb", 150, "resize_center_crop"),  # upscale then crop
        ("tall61x97.rgb", 32, "resize_center_crop"),  # portrait: vertical crop
        ("c420.jpg.rgb", 120, "resize_center_crop"),  # short side already S: no resize, only crop
        ("c420.jpg.rgb", 64, "resize"),
        ("tall61x97.rgb", 48, "resize"),
        ("tall61x97.rgb", 32, "resize_pad"),   # portrait: 20 x 32, padding 6 left, 6 right
        ("c420.jpg.rgb", 64, "resize_pad"),    # landscape: padding above and below
        ("rgb8.png.rgb", 150, "resize_pad"),   # upscale then pad
        ("wide81x2.rgb", 32, "resize_pad"),    # 81 x 2 -> 32 x round(0.79) = 1 row
    ]
    for src, s, method in tcases:
        im = sources[src]
        if method == "resize":
            ref = im.resize((s, s), Image.BICUBIC)
        elif method == "resize_pad":
            ref = pad_reference(im, s)
        else:
            ref = clip_reference(im, s)
            torchvision_check(im, s, ref)
        chw = np.asarray(ref).transpose(2, 0, 1)
        out = save_raw("tensor_%s_%d_%s.chw" % (src.split(".")[0], s, method), chw)
        man["tensor"].append({"src": src, "src_w": im.size[0], "src_h": im.size[1], "size": s,
                              "method": method, "out": out})

    with open(os.path.join(HERE, "fixtures.json"), "w") as f:
        json.dump(man, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(HERE, n)) for n in os.listdir(HERE))
    print("fixtures written, %d bytes in testdata" % total)


if __name__ == "__main__":
    main()
