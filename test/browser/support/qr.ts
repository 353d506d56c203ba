import jsQR from 'jsqr';
import { PNG } from 'pngjs';

/**
 * Decodes the QR code in a PNG given as a data URL (what the web app's <img> shows), the way a
 * phone camera would read it: pixels in, text out.
 */
export function decodeQrDataUrl(dataUrl: string): string {
  const match = /^data:image\/png;base64,(.+)$/.exec(dataUrl);
  if (!match) throw new Error('not a PNG data URL');
  const png = PNG.sync.read(Buffer.from(match[1]!, 'base64'));
  const code = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
  if (!code) throw new Error('no QR code found in the image');
  return code.data;
}
