// A camera JPEG's EXIF segment (APP1: capture time and GPS, which the server reads as the
// photo's evidence), carried over into a smaller copy the canvas drew, which has none. The
// copy's pixels are upright already, so the segment's orientation is reset to 1 on the way.

const EXIF = [0x45, 0x78, 0x69, 0x66, 0, 0]; // "Exif\0\0", after the marker and length
const TIFF = 10; // where the TIFF header starts in the segment
const ORIENTATION = 0x0112;

/** @param {Uint8Array} bytes @param {number} at */
const u16 = (bytes, at) => (bytes[at] << 8) | bytes[at + 1];

/**
 * The APP1 Exif segment of a JPEG (marker and length included), or null; only the headers
 * before the image data are read.
 * @param {Uint8Array} jpeg
 */
export function exifSegment(jpeg) {
  if (u16(jpeg, 0) !== 0xffd8) return null;
  for (let at = 2; at + 4 <= jpeg.length;) {
    if (jpeg[at] !== 0xff) return null;
    const marker = jpeg[at + 1];
    if (marker === 0xda || marker === 0xd9) return null; // the image data: no headers follow
    const end = at + 2 + u16(jpeg, at + 2);
    if (marker === 0xe1 && EXIF.every((byte, i) => jpeg[at + 4 + i] === byte)) {
      return end <= jpeg.length ? jpeg.slice(at, end) : null;
    }
    at = end;
  }
  return null;
}

/**
 * The segment with its orientation (in the first IFD) set to 1, or null when it cannot be
 * read: a copy that says "turn me" about upright pixels would be turned twice.
 * @param {Uint8Array} segment
 */
export function upright(segment) {
  const out = segment.slice();
  try {
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    const little = view.getUint16(TIFF) === 0x4949; // "II"; "MM" is big-endian
    const ifd = TIFF + view.getUint32(TIFF + 4, little);
    for (let n = 0, count = view.getUint16(ifd, little); n < count; n++) {
      const entry = ifd + 2 + n * 12;
      if (view.getUint16(entry, little) === ORIENTATION) view.setUint16(entry + 8, 1, little);
    }
    return out;
  } catch {
    return null; // offsets past the segment's end
  }
}

/**
 * ``jpeg`` with ``segment`` as its first header, in place of a JFIF one (APP0) if it has one.
 * @param {Uint8Array} jpeg @param {Uint8Array} segment
 */
export function withSegment(jpeg, segment) {
  const rest = u16(jpeg, 2) === 0xffe0 ? 4 + u16(jpeg, 4) : 2;
  const out = new Uint8Array(2 + segment.length + jpeg.length - rest);
  out.set(jpeg.subarray(0, 2));
  out.set(segment, 2);
  out.set(jpeg.subarray(rest), 2 + segment.length);
  return out;
}
