// What each domain was created with (xl's on_poweroff/on_reboot/on_crash need it, and a
// reboot rebuilds from it). libxl keeps this per domain under /var/lib/xen; pvsim's dom0
// keeps it beside its saved XenStore, so a restarted dom0 still knows its domains.
//
// A kernel (up to 16 MiB) is kept once per distinct image, however many domains were made
// from it (a thousand copies of one guest are common): in memory one shared array, on disk
// `kernels/<sha256>.elf`, both released with the last domain that uses it.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RequestOps } from '../../protocol/wire.ts';

export type DomainConfig = RequestOps['createDomain'];

const FILE = /^domain-(\d+)\.json$/;

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const HASH = /^[0-9a-f]{64}$/;

/** A config on disk: the kernel named by its hash; other byte fields as base64. */
function encode(c: DomainConfig, kernelHash: string): string {
  return JSON.stringify({ ...c, kernel: { $kernel: kernelHash } }, (_k, v: unknown) => (v instanceof Uint8Array ? { $bytes: Buffer.from(v).toString('base64') } : v));
}

function decode(text: string, kernel: (hash: string) => Uint8Array): DomainConfig {
  return JSON.parse(text, (_k, v: unknown) => {
    if (v && typeof v === 'object') {
      const o = v as { $bytes?: unknown; $kernel?: unknown };
      if (typeof o.$bytes === 'string') return new Uint8Array(Buffer.from(o.$bytes, 'base64'));
      if (typeof o.$kernel === 'string' && HASH.test(o.$kernel)) return kernel(o.$kernel);
    }
    return v;
  }) as DomainConfig;
}

/** domid -> config, in memory and (with a directory) on disk. */
export class DomainConfigs {
  private readonly map = new Map<number, DomainConfig>();
  /** Each distinct kernel once: its bytes and how many configs use it. */
  private readonly kernels = new Map<string, { bytes: Uint8Array; refs: number }>();
  private readonly kernelOf = new Map<number, string>();

  constructor(private readonly dir?: string) {
    if (!dir) return;
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const f of readdirSync(dir)) {
      const m = FILE.exec(f);
      if (!m) continue;
      try {
        const c = decode(readFileSync(join(dir, f), 'utf8'), (hash) => this.kernels.get(hash)?.bytes ?? new Uint8Array(readFileSync(this.kernelFile(hash))));
        this.remember(Number(m[1]), c);
      } catch {
        // a half-written file from a crash, or its kernel gone: that domain's actions fall back to defaults
      }
    }
  }

  get(domid: number): DomainConfig | undefined {
    return this.map.get(domid);
  }

  set(domid: number, c: DomainConfig): void {
    if (this.map.has(domid)) this.delete(domid);
    const { hash, fresh } = this.remember(domid, c);
    if (!this.dir) return;
    if (fresh) {
      mkdirSync(join(this.dir, 'kernels'), { recursive: true, mode: 0o700 });
      const kf = this.kernelFile(hash);
      writeFileSync(`${kf}.tmp`, c.kernel, { mode: 0o600 });
      renameSync(`${kf}.tmp`, kf);
    }
    const file = join(this.dir, `domain-${domid}.json`);
    writeFileSync(`${file}.tmp`, encode(c, hash), { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  }

  delete(domid: number): void {
    this.map.delete(domid);
    const hash = this.kernelOf.get(domid);
    this.kernelOf.delete(domid);
    if (this.dir) rmSync(join(this.dir, `domain-${domid}.json`), { force: true });
    const k = hash === undefined ? undefined : this.kernels.get(hash);
    if (!k || --k.refs > 0) return;
    this.kernels.delete(hash!);
    if (this.dir) rmSync(this.kernelFile(hash!), { force: true });
  }

  /** Distinct kernels held (memory and disk alike). */
  get kernelCount(): number {
    return this.kernels.size;
  }

  private kernelFile(hash: string): string {
    return join(this.dir!, 'kernels', `${hash}.elf`);
  }

  /** Keeps `c` with its kernel shared among configs; `fresh` if the kernel is new here. */
  private remember(domid: number, c: DomainConfig): { hash: string; fresh: boolean } {
    const hash = sha256(c.kernel);
    let k = this.kernels.get(hash);
    const fresh = !k;
    if (!k) this.kernels.set(hash, (k = { bytes: c.kernel, refs: 0 }));
    k.refs++;
    this.kernelOf.set(domid, hash);
    this.map.set(domid, { ...c, kernel: k.bytes });
    return { hash, fresh };
  }

  /** The domid of the domain named `name`, if this toolstack created it. */
  byName(name: string): number | undefined {
    for (const [id, c] of this.map) if (c.name === name) return id;
    return undefined;
  }
}
