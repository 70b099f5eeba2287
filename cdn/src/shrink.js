// Photos are made smaller on the phone before they wait in the photo lane: a 12 MP camera
// JPEG of 4-8 MB becomes at most LONGEST pixels on its longest side, a fraction of the bytes
// to send over a field worker's mobile data. The camera's EXIF (capture time, GPS) goes into
// the smaller JPEG, so the server judges the evidence as it would the original's. A photo
// the browser cannot decode (HEIC outside Safari), one already small enough, and one the
// copy would not make smaller go as they are. The bytes saved are counted on the phone.
import { exifSegment, upright, withSegment } from "./jpeg.js";
import { keepPhoto } from "./photos.js";
import { read, write } from "./store.js";

const LONGEST = 2000;
const QUALITY = 0.85;
const JPEG = "image/jpeg";
const SAVED = "photoBytesSaved"; // in the vault's meta store
const HEADERS = 256 * 1024; // a camera's EXIF segment is within its first 64 KB

/** The bytes this phone has saved by shrinking photos. @returns {Promise<number>} */
export const bytesSaved = async () => (await read("meta", SAVED)) || 0;

/**
 * Shrink ``photo`` and keep it in the photo lane for ``jobId``; answers its photoId.
 * @param {string} jobId @param {string} kind @param {Blob} photo
 */
export async function keepShrunk(jobId, kind, photo) {
  const smaller = await shrunk(photo);
  if (smaller !== photo) await write("meta", SAVED, (await bytesSaved()) + photo.size - smaller.size);
  return keepPhoto(jobId, kind, smaller);
}

/** @param {Blob} photo @returns {Promise<Blob>} */
async function shrunk(photo) {
  if (typeof OffscreenCanvas !== "function") return photo;
  /** @type {ImageBitmap} */
  let bitmap;
  try {
    bitmap = await createImageBitmap(photo); // turned upright by its EXIF orientation
  } catch {
    return photo;
  }
  const scale = LONGEST / Math.max(bitmap.width, bitmap.height);
  if (scale >= 1) {
    bitmap.close();
    return photo;
  }
  const canvas = new OffscreenCanvas(Math.round(bitmap.width * scale), Math.round(bitmap.height * scale));
  const context = /** @type {OffscreenCanvasRenderingContext2D} */ (canvas.getContext("2d"));
  context.imageSmoothingQuality = "high";
  context.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  const drawn = new Uint8Array(await (await canvas.convertToBlob({ type: JPEG, quality: QUALITY })).arrayBuffer());
  const exif = exifSegment(new Uint8Array(await photo.slice(0, HEADERS).arrayBuffer())); // JPEGs have one
  const straight = exif && upright(exif);
  const smaller = new Blob([straight ? withSegment(drawn, straight) : drawn], { type: JPEG });
  return smaller.size < photo.size ? smaller : photo;
}
