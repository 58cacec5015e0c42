// What each domain was created with (xl's on_poweroff/on_reboot/on_crash need it, and a
// reboot rebuilds from it). libxl keeps this per domain under /var/lib/xen; pvsim's dom0
// keeps it beside its saved XenStore, so a restarted dom0 still knows its domains.

import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RequestOps } from '../../protocol/wire.ts';

export type DomainConfig = RequestOps['createDomain'];

const FILE = /^domain-(\d+)\.json$/;

function encode(c: DomainConfig): string {
  return JSON.stringify(c, (_k, v: unknown) => (v instanceof Uint8Array ? { $bytes: Buffer.from(v).toString('base64') } : v));
}

function decode(text: string): DomainConfig {
  return JSON.parse(text, (_k, v: unknown) => {
    if (v && typeof v === 'object' && typeof (v as { $bytes?: unknown }).$bytes === 'string') return new Uint8Array(Buffer.from((v as { $bytes: string }).$bytes, 'base64'));
    return v;
  }) as DomainConfig;
}

/** domid -> config, in memory and (with a directory) on disk. */
export class DomainConfigs {
  private readonly map = new Map<number, DomainConfig>();

  constructor(private readonly dir?: string) {
    if (!dir) return;
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const f of readdirSync(dir)) {
      const m = FILE.exec(f);
      if (!m) continue;
      try {
        this.map.set(Number(m[1]), decode(readFileSync(join(dir, f), 'utf8')));
      } catch {
        // a half-written file from a crash: that domain's actions fall back to defaults
      }
    }
  }

  get(domid: number): DomainConfig | undefined {
    return this.map.get(domid);
  }

  set(domid: number, c: DomainConfig): void {
    this.map.set(domid, c);
    if (!this.dir) return;
    const file = join(this.dir, `domain-${domid}.json`);
    writeFileSync(`${file}.tmp`, encode(c), { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  }

  delete(domid: number): void {
    this.map.delete(domid);
    if (this.dir) rmSync(join(this.dir, `domain-${domid}.json`), { force: true });
  }

  /** The domid of the domain named `name`, if this toolstack created it. */
  byName(name: string): number | undefined {
    for (const [id, c] of this.map) if (c.name === name) return id;
    return undefined;
  }
}
