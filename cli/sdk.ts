// `pvsim sdk`: where the guest SDK is, for building a frontend (a PV guest kernel) out of
// pvsim's tree with its guest library: the include directory, the library sources, the
// linker script, the cross compiler, and guests/sdk.mk, the Makefile fragment that holds
// the flags and rules (docs/ringkit.md). Also where the backend API is (pvsim/driver).

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The pvsim package's root: the nearest directory above this file with pvsim's package.json. */
export function pvsimRoot(from: string = import.meta.dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'pvsim') return dir;
      } catch {
        // not a package.json we can read: keep looking upwards
      }
    }
    if (dirname(dir) === dir) throw new Error(`no pvsim package.json above ${from}`);
  }
}

export interface SdkPaths {
  root: string;
  include: string;
  lib: string;
  linkerScript: string;
  makefile: string;
  cross: string;
  driverApi: string;
  ringApi: string;
  example: string;
}

export function sdkPaths(root = pvsimRoot()): SdkPaths {
  return {
    root,
    include: join(root, 'guests/include'),
    lib: join(root, 'guests/lib'),
    linkerScript: join(root, 'guests/lib/pv.ld'),
    makefile: join(root, 'guests/sdk.mk'),
    cross: 'riscv64-unknown-elf-',
    driverApi: join(root, 'dom0/driver/index.ts'),
    ringApi: join(root, 'protocol/ring.ts'),
    example: join(root, 'examples/echodev'),
  };
}

export function sdkCommand(opts: { makefile?: boolean; makefilePath?: boolean; json?: boolean }): number {
  const p = sdkPaths();
  if (opts.makefilePath) process.stdout.write(`${p.makefile}\n`);
  else if (opts.makefile) {
    process.stdout.write(
      [
        '# pvsim guest SDK (from `pvsim sdk --makefile`): include this from your Makefile, then',
        '#   build/front.elf: $(OBJDIR)/front.o $(PVSIM_LIB_OBJS) ; $(PVSIM_LINK) -o $@ $^',
        '#   $(OBJDIR)/%.o: %.c ; $(PVSIM_COMPILE)',
        `PVSIM_ROOT := ${p.root}`,
        `include ${p.makefile}`,
        '',
      ].join('\n'),
    );
  } else if (opts.json) process.stdout.write(`${JSON.stringify(p, null, 2)}\n`);
  else {
    process.stdout.write(
      [
        `pvsim root       ${p.root}`,
        `guest headers    ${p.include}   (-I; #include <pvsim/...>)`,
        `guest library    ${p.lib}`,
        `linker script    ${p.linkerScript}`,
        `Makefile rules   ${p.makefile}   (include it: PVSIM_CFLAGS, PVSIM_LIB_OBJS, PVSIM_LINK, PVSIM_COMPILE)`,
        `cross compiler   ${p.cross}gcc`,
        `backend API      import { defineBackend } from 'pvsim/driver'   (${p.driverApi})`,
        `ring library     import { FrontRing, BackRing } from 'pvsim/ring'   (${p.ringApi})`,
        `example device   ${p.example}`,
        '',
      ].join('\n'),
    );
  }
  return 0;
}
