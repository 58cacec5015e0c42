// Pins the grant-table constants and structures to Xen's own headers (libxen-dev),
// compiled for RV32 ilp32.

import { describe, expect, it } from 'vitest';
import { evalXenExpressions, oracleAvailable } from './helpers/xen_oracle.ts';
import {
  GNTCOPY,
  GNTMAP,
  GNTST,
  GNTTABOP,
  GNTTAB_COPY,
  GNTTAB_GET_VERSION,
  GNTTAB_MAP_GRANT_REF,
  GNTTAB_NR_RESERVED_ENTRIES,
  GNTTAB_QUERY_SIZE,
  GNTTAB_RESERVED_CONSOLE,
  GNTTAB_RESERVED_XENSTORE,
  GNTTAB_SETUP_TABLE,
  GNTTAB_SET_VERSION,
  GNTTAB_UNMAP_GRANT_REF,
  GRANT_ENTRY_V1,
  GTF,
} from '../protocol/xen/grant_table.ts';

const available = oracleAvailable();
if (!available && process.env.CI) throw new Error('CI needs riscv64-unknown-elf-gcc and libxen-dev for the Xen ABI oracle');

const H = ['xen/xen.h', 'xen/grant_table.h'];

function constants(prefix: string, t: Record<string, number>) {
  const names = Object.keys(t);
  const got = evalXenExpressions(H, names.map((n) => prefix + n)).map((v) => v | 0);
  return [Object.fromEntries(names.map((n, i) => [n, got[i]])), t];
}

function offsets(struct: string, t: Record<string, number>, field: (n: string) => string = (n) => n) {
  const names = Object.keys(t);
  const got = evalXenExpressions(H, names.map((n) => (n === 'SIZE' ? `sizeof(${struct})` : `offsetof(${struct}, ${field(n)})`)));
  return [Object.fromEntries(names.map((n, i) => [n, got[i]])), t];
}

describe.skipIf(!available)('grant table ABI (grant_table.h)', () => {
  it('GNTTABOP_*, GNTMAP_*, GTF_*, GNTST_* and GNTCOPY_* values', () => {
    for (const [prefix, t] of [['GNTTABOP_', GNTTABOP], ['GNTMAP_', GNTMAP], ['GTF_', GTF], ['GNTST_', GNTST], ['GNTCOPY_', GNTCOPY]] as const) {
      const [got, want] = constants(prefix, t);
      expect(got, prefix).toEqual(want);
    }
    expect(evalXenExpressions(H, ['GNTTAB_NR_RESERVED_ENTRIES', 'GNTTAB_RESERVED_CONSOLE', 'GNTTAB_RESERVED_XENSTORE'])).toEqual([
      GNTTAB_NR_RESERVED_ENTRIES,
      GNTTAB_RESERVED_CONSOLE,
      GNTTAB_RESERVED_XENSTORE,
    ]);
  });

  it('struct layouts', () => {
    const cases: [string, Record<string, number>, ((n: string) => string)?][] = [
      ['grant_entry_v1_t', GRANT_ENTRY_V1],
      ['struct gnttab_setup_table', GNTTAB_SETUP_TABLE],
      ['struct gnttab_query_size', GNTTAB_QUERY_SIZE],
      ['struct gnttab_map_grant_ref', GNTTAB_MAP_GRANT_REF],
      ['struct gnttab_unmap_grant_ref', GNTTAB_UNMAP_GRANT_REF],
      ['struct gnttab_set_version', GNTTAB_SET_VERSION],
      ['struct gnttab_get_version', GNTTAB_GET_VERSION],
      ['struct gnttab_copy', GNTTAB_COPY, (n) => n.replace(/^(source|dest)_u$/, '$1.u.ref').replace(/^(source|dest)_/, '$1.')],
    ];
    for (const [struct, t, f] of cases) {
      const [got, want] = offsets(struct, t, f);
      expect(got, struct).toEqual(want);
    }
    expect(evalXenExpressions(H, ['offsetof(struct gnttab_copy, source.u.gmfn)', 'offsetof(struct gnttab_copy, dest.u.gmfn)'])).toEqual([GNTTAB_COPY.source_u, GNTTAB_COPY.dest_u]);
  });
});
