import { createGunzip } from 'node:zlib';

/** Why an upload is not a tar.gz archive: the `refusal` of a `support_bundle_invalid` problem. */
export type ArchiveRefusal = 'empty' | 'not_gzip' | 'corrupt_gzip' | 'not_tar' | 'too_large_unpacked';

/**
 * How many times its own size an archive may unpack to. A support bundle is text (logs, JSON),
 * which gzip shrinks some tenfold; a body that unpacks to far more is a decompression bomb, and
 * reading it to the end would cost the control plane minutes of CPU.
 */
export const MAX_UNPACK_RATIO = 64;

const TAR_BLOCK = 512;

/**
 * Whether `bytes` is a gzip stream that unpacks whole (every member's CRC and length checked) to a
 * tar archive: its first block a tar header whose checksum holds, as every tar writer (POSIX ustar,
 * GNU, pax, v7) makes it. Nothing is written anywhere: the unpacked bytes are counted and dropped,
 * but for the first block.
 */
export async function inspectArchive(
  bytes: Uint8Array,
): Promise<
  { readonly ok: true } | { readonly ok: false; readonly refusal: ArchiveRefusal; readonly detail: string }
> {
  if (bytes.length === 0) return { ok: false, refusal: 'empty', detail: 'the body is empty' };
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b)
    return { ok: false, refusal: 'not_gzip', detail: 'the body is not gzip (it does not start with 1f 8b)' };
  const limit = bytes.length * MAX_UNPACK_RATIO;
  const head: Buffer[] = [];
  let headBytes = 0;
  let unpacked = 0;
  const outcome = await new Promise<'whole' | 'too_large' | Error>((resolve) => {
    const gunzip = createGunzip();
    gunzip.on('data', (chunk: Buffer) => {
      if (headBytes < TAR_BLOCK) {
        head.push(chunk.subarray(0, TAR_BLOCK - headBytes));
        headBytes += Math.min(chunk.length, TAR_BLOCK - headBytes);
      }
      unpacked += chunk.length;
      if (unpacked > limit) {
        gunzip.destroy();
        resolve('too_large');
      }
    });
    gunzip.on('end', () => resolve('whole'));
    gunzip.on('error', (error) => resolve(error));
    gunzip.end(bytes);
  });
  if (outcome === 'too_large') {
    return {
      ok: false,
      refusal: 'too_large_unpacked',
      detail: `the archive unpacks to more than ${MAX_UNPACK_RATIO} times its size`,
    };
  }
  if (outcome instanceof Error)
    return {
      ok: false,
      refusal: 'corrupt_gzip',
      detail: `the gzip stream does not unpack: ${outcome.message}`,
    };
  if (!isTarHeader(Buffer.concat(head))) {
    return {
      ok: false,
      refusal: 'not_tar',
      detail:
        'the body is gzip, but what it unpacks to is not a tar archive (its first block is no tar header)',
    };
  }
  return { ok: true };
}

/**
 * Whether `block` is a tar header: a name, and the checksum at bytes 148–155 (octal) equal to the
 * sum of the block's bytes with the checksum field counted as spaces.
 */
function isTarHeader(block: Buffer): boolean {
  if (block.length < TAR_BLOCK || block[0] === 0) return false;
  const field = block
    .subarray(148, 156)
    .toString('latin1')
    .replace(/[\0 ]+$/, '')
    .trim();
  if (!/^[0-7]{1,7}$/.test(field)) return false;
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
  return sum === Number.parseInt(field, 8);
}
