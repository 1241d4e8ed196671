/**
 * The embedded store's keys in a compact form that crosses threads for free:
 * the loading worker builds it, transfers its buffers (no copy, no per-key
 * objects), and the serving thread looks keys up in it directly. Per key it
 * holds the 32-byte SHA-256 and a short JSON record; an open-addressing
 * table indexed by the hash's first bytes (uniform, being a SHA-256) finds
 * a key in one or two probes. 100,000 keys cost ~5 MiB plus their records,
 * all outside the JS heap.
 */
import { timingSafeEqual } from 'node:crypto';
import { compileRestrictions, type RawRestrictions } from './compile.ts';
import type { KeyRecord } from './key-record.ts';

/** What the worker posts (every buffer in the transfer list). */
export interface KeyTableData {
  readonly count: number;
  /** count × 32 bytes: the hashes, in entry order. */
  readonly hashes: ArrayBuffer;
  /** Int32 slots (a power of two, at least twice count): entry index + 1, 0 for empty. */
  readonly slots: ArrayBuffer;
  /** Uint32 × (count + 1): record i is bytes offsets[i] to offsets[i+1] of `records`. */
  readonly offsets: ArrayBuffer;
  /** UTF-8 JSON records: [project, name, displayName, restrictions|null]. */
  readonly records: ArrayBuffer;
}

/** Appends bytes to a buffer that doubles when full. */
class Growing {
  buf: Buffer;
  length = 0;
  constructor(initial: number) {
    this.buf = Buffer.allocUnsafeSlow(initial);
  }
  reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
  /** A copy exactly as long as the content, in its own ArrayBuffer (transferable). */
  take(): ArrayBuffer {
    const out = new ArrayBuffer(this.length);
    new Uint8Array(out).set(this.buf.subarray(0, this.length));
    return out;
  }
}

export class KeyTableBuilder {
  readonly #hashes = new Growing(32 * 1024);
  readonly #records = new Growing(64 * 1024);
  #offsets = new Uint32Array(1024);
  #count = 0;

  add(sha256Hex: string, project: string, name: string, displayName: string, restrictions: RawRestrictions | null): void {
    this.#hashes.reserve(32);
    this.#hashes.length += this.#hashes.buf.write(sha256Hex, this.#hashes.length, 32, 'hex');
    const json = JSON.stringify([project, name, displayName, restrictions]);
    const bytes = Buffer.byteLength(json);
    this.#records.reserve(bytes);
    this.#records.buf.write(json, this.#records.length, bytes, 'utf8');
    this.#records.length += bytes;
    if (this.#count + 2 > this.#offsets.length) {
      const next = new Uint32Array(this.#offsets.length * 2);
      next.set(this.#offsets);
      this.#offsets = next;
    }
    this.#count++;
    this.#offsets[this.#count] = this.#records.length;
  }

  finish(): { data: KeyTableData; transfer: ArrayBuffer[] } {
    const count = this.#count;
    let size = 16;
    while (size < count * 2) size *= 2;
    const slots = new Int32Array(size);
    const hashes = this.#hashes.buf;
    for (let i = 0; i < count; i++) {
      let s = hashes.readUInt32BE(i * 32) & (size - 1);
      while (slots[s] !== 0) s = (s + 1) & (size - 1);
      slots[s] = i + 1;
    }
    const offsets = this.#offsets.slice(0, count + 1);
    const data: KeyTableData = { count, hashes: this.#hashes.take(), slots: slots.buffer, offsets: offsets.buffer, records: this.#records.take() };
    return { data, transfer: [data.hashes, data.slots, data.offsets, data.records] };
  }
}

export interface KeyTable {
  readonly size: number;
  /** The record of the key whose SHA-256 is `digest` (32 bytes), or null. */
  lookup(digest: Buffer): KeyRecord | null;
}

export function keyTable(data: KeyTableData): KeyTable {
  const hashes = Buffer.from(data.hashes);
  const slots = new Int32Array(data.slots);
  const offsets = new Uint32Array(data.offsets);
  const records = Buffer.from(data.records);
  const mask = slots.length - 1;
  return {
    size: data.count,
    lookup(digest) {
      if (digest.length !== 32 || data.count === 0) return null;
      for (let s = digest.readUInt32BE(0) & mask; ; s = (s + 1) & mask) {
        const i = slots[s]! - 1;
        if (i < 0) return null;
        const stored = hashes.subarray(i * 32, i * 32 + 32);
        // Probing compares hashes (timing there reveals nothing about a key); the final check is constant-time anyway.
        if (stored.equals(digest) && timingSafeEqual(stored, digest)) return recordAt(i);
      }
    },
  };

  function recordAt(i: number): KeyRecord {
    const [project, name, displayName, raw] = JSON.parse(records.toString('utf8', offsets[i]!, offsets[i + 1]!)) as [string, string, string, RawRestrictions | null];
    // Checked when the file was loaded; compiled per lookup (the verifier caches the verdict).
    return { name, project, displayName, restrictions: compileRestrictions(raw, []) };
  }
}
