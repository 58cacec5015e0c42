// xl.cfg parsing: xl's syntax (comments, both quotes, escapes, multi-line lists, `;`,
// `+=`, last-assignment-wins), pvsim's keys with xl's defaults, every disk and vif spec
// form, every kind of error with its exact file:line:key message, path resolution, and a
// property: configurations generated from the grammar survive print -> parse.

import { CPU_ENGINES, validateCreateDomain } from '../dom0/toolstack/validate.ts';
import { ENGINE_KINDS } from '../hypervisor/cpu/engines.ts';
import { resolve } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  XL_KEYS,
  XlCfgError,
  generatedMac,
  parseCLong,
  parseDiskSpec,
  parseVifSpec,
  parseXlCfg,
  parseXlCfgSettings,
  vdevToDevid,
  type XlValue,
} from '../dom0/toolstack/xlcfg/index.ts';

const BASE = `name = "g"\nkernel = "/k.elf"\n`;
const cfg = (body: string, file = '/etc/xen/guest.cfg') => parseXlCfg(BASE + body, file);
/** The message parseXlCfg throws for `text`. */
function errorOf(text: string, file = 'guest.cfg'): string {
  try {
    parseXlCfg(text, file);
  } catch (e) {
    expect(e).toBeInstanceOf(XlCfgError);
    return (e as Error).message;
  }
  throw new Error('expected an XlCfgError');
}
const errOf = (body: string) => errorOf(BASE + body);
/** Plain values of the settings, for syntax tests. */
function plain(v: XlValue): unknown {
  return v.kind === 'string' ? v.text : v.items.map(plain);
}
function settings(text: string): Record<string, unknown> {
  const r: Record<string, unknown> = {};
  for (const [k, s] of parseXlCfgSettings(text, 't.cfg').settings) r[k] = plain(s.value);
  return r;
}

describe('xl.cfg syntax', () => {
  it('takes comments, blank lines, both quote styles, bare numbers and ; separators', () => {
    const s = settings(`# a comment line\n\nname = 'single' # trailing comment\nkernel="double"\n\t memory\t=\t0x40 ; vcpus=2;;\nmaxmem = 010\n`);
    expect(s).toEqual({ name: 'single', kernel: 'double', memory: '0x40', vcpus: '2', maxmem: '010' });
  });

  it('decodes the escapes xl knows', () => {
    expect(settings(String.raw`a = "q\"s\'b\\n\nt\tr\ra\ab\bf\fv\v"`).a).toBe('q"s\'b\\n\nt\tr\ra\x07b\bf\fv\v');
    expect(settings(String.raw`a = 'it\'s "fine"'`).a).toBe(`it's "fine"`);
  });

  it('takes lists across lines with comments, a trailing comma, empty and nested lists', () => {
    const s = settings(`disk = [\n  'a', # first\n\n  "b"\n  , 'c',\n]\nvif = []\nx = [ [ '1', 2 ], [] ]\n`);
    expect(s).toEqual({ disk: ['a', 'b', 'c'], vif: [], x: [['1', '2'], []] });
  });

  it('lets the last assignment win and += append to a string or a list', () => {
    const s = settings(`a = 'x'\na = 'y'\nb = 'one'\nb += ' two'\nl = ['p']\nl += ['q', 'r']\nn += 'fresh'\n`);
    expect(s).toEqual({ a: 'y', b: 'one two', l: ['p', 'q', 'r'], n: 'fresh' });
  });

  it('accepts a final statement without a newline, a comment at end of file and CRLF line ends', () => {
    expect(settings(`a = 1`)).toEqual({ a: '1' });
    expect(settings(`a = 1\n# end`)).toEqual({ a: '1' });
    expect(settings(`a = 1\r\nb = [ 'x',\r\n 'y' ]\r\n`)).toEqual({ a: '1', b: ['x', 'y'] });
  });

  it('records the line of each assignment', () => {
    const { assignments } = parseXlCfgSettings(`\n# c\na = 1; b = 2\n\nc = [\n 'x'\n]\n`, 't.cfg');
    expect(assignments.map((a) => [a.key, a.line])).toEqual([
      ['a', 3],
      ['b', 3],
      ['c', 5],
    ]);
  });

  it('reads numbers as C strtol does, for bare and quoted values alike', () => {
    expect([parseCLong('512'), parseCLong('0x200'), parseCLong('0X1f'), parseCLong('010'), parseCLong(' 7'), parseCLong('-3'), parseCLong('0')]).toEqual([512, 512, 31, 8, 7, -3, 0]);
    for (const bad of ['', 'lots', '1e3', '08', '0x', '12 ', '512M']) expect(parseCLong(bad)).toBeNull();
    expect(cfg(`memory = "96"\nvcpus = 0x2\n`)).toMatchObject({ memoryMiB: 96, vcpus: 2 });
  });
});

describe('xl.cfg syntax errors', () => {
  const cases: [string, string][] = [
    [`name = 'abc\n`, `guest.cfg:1: syntax error: unterminated string (a string must end on the line it starts; write \\n for a newline)`],
    [`name = "g"\nkernel = "a\\`, `guest.cfg:2: syntax error: unterminated string`],
    [`name = "g"\n\nmemory = 512M\n`, `guest.cfg:3: syntax error: unexpected character "M"`],
    [`Name = 'g'\n`, `guest.cfg:1: syntax error: unexpected character "N" (keys are lower case)`],
    [`memory = 256 * 2\n`, `guest.cfg:1: syntax error: unexpected character "*"`],
    [`cap = -1\n`, `guest.cfg:1: syntax error: unexpected character "-" (xl.cfg is not Python: values are strings, numbers and lists)`],
    [`name 'g'\n`, `guest.cfg:1: syntax error: expected "=" after "name", got string "g"`],
    [`name =\n`, `guest.cfg:1: syntax error: missing value after "name ="`],
    [`extra +=`, `guest.cfg:1: syntax error: missing value after "extra +="`],
    [`name = = 'g'\n`, `guest.cfg:1: syntax error: expected a value for "name" (a quoted string, a number or a [list]), got "="`],
    [`name = 'g' kernel = 'k'\n`, `guest.cfg:1: syntax error: expected the end of the statement after the value of "name", got "kernel"`],
    [`= 'g'\n`, `guest.cfg:1: syntax error: expected a key at the start of a statement, got "="`],
    [`disk = [ 'a'\n 'b' ]\n`, `guest.cfg:2: syntax error: expected "," or "]" in the list of "disk", got string "b"`],
    [`disk = [ 'a', , 'b' ]\n`, `guest.cfg:1: syntax error: expected a value for "disk" (a quoted string, a number or a [list]), got ","`],
    [`disk = [ 'a',\n  'b'\n`, `guest.cfg:3: syntax error: the list of "disk" opened on line 1 is not closed`],
    [`a = "\\z"\n`, `guest.cfg:1: syntax error: invalid escape "\\z" in a string (xl knows \\" \\' \\\\ \\a \\b \\f \\n \\r \\t \\v)`],
    [`a = "\\x41"\n`, `guest.cfg:1: syntax error: numeric escape "\\x" in a string: xl mishandles \\x and octal escapes, so pvsim refuses them`],
    [`a = "\\101"\n`, `guest.cfg:1: syntax error: numeric escape "\\1" in a string: xl mishandles \\x and octal escapes, so pvsim refuses them`],
    [`a = 'x'\na += ['y']\n`, `guest.cfg:2: syntax error: "a +=" cannot add a list to a string or a string to a list`],
    [`a = 1\rb = 2\n`, `guest.cfg:1: syntax error: unexpected character "\\r"`],
  ];
  it.each(cases)('%j', (text, message) => {
    expect(errorOf(text)).toBe(message);
  });

  it('reports a syntax error as an XlCfgError with file and line but no key', () => {
    try {
      parseXlCfg(`name = 'g'\nkernel = [\n`, 'dir/x.cfg');
      expect.unreachable();
    } catch (e) {
      expect(e).toMatchObject({ name: 'XlCfgError', file: 'dir/x.cfg', line: 3, key: null });
    }
  });
});

describe('xl.cfg keys', () => {
  it('applies xl defaults to a minimal pv config', () => {
    const c = parseXlCfg(`name = "tiny"\nkernel = "k.elf"\n`, '/cfg/tiny.cfg');
    expect(c).toEqual({
      file: '/cfg/tiny.cfg',
      name: 'tiny',
      type: 'pv',
      hvmMode: 'trap',
      shadowSync: 'wp',
      cpuEngine: null,
      xenPlatformPci: true,
      kernel: 'k.elf',
      kernelPath: '/cfg/k.elf',
      memoryMiB: 32,
      maxmemMiB: 32,
      vcpus: 1,
      maxvcpus: 1,
      cmdline: '',
      weight: 256,
      cap: 0,
      cpus: null,
      cpusSoft: null,
      pool: null,
      disks: [],
      vifs: [],
      vdevs: [],
      onPoweroff: 'destroy',
      onReboot: 'restart',
      onCrash: 'destroy',
      onWatchdog: 'destroy',
      onSoftReset: 'soft-reset',
      uuid: null,
      warnings: [],
    });
  });

  it('reads every supported key', () => {
    const c = parseXlCfg(
      [
        `name = "web-1.a_b"`,
        `type = "pvh"`,
        `uuid = "0123ABCD-89ab-cdef-0123-456789ABCDEF"`,
        `kernel = "/boot/k.elf"`,
        `memory = 64`,
        `maxmem = 128`,
        `vcpus = 2`,
        `maxvcpus = 4`,
        `cmdline = "console=hvc0 quiet"`,
        `cpu_weight = 512`,
        `cap = 150`,
        `on_poweroff = "preserve"`,
        `on_reboot = "rename-restart"`,
        `on_crash = "coredump-restart"`,
        `on_watchdog = "restart"`,
        `on_soft_reset = "destroy"`,
      ].join('\n'),
      'guest.cfg',
    );
    expect(c).toMatchObject({
      name: 'web-1.a_b',
      type: 'pvh',
      uuid: '0123abcd-89ab-cdef-0123-456789abcdef',
      kernelPath: '/boot/k.elf',
      memoryMiB: 64,
      maxmemMiB: 128,
      vcpus: 2,
      maxvcpus: 4,
      cmdline: 'console=hvc0 quiet',
      weight: 512,
      cap: 150,
      onPoweroff: 'preserve',
      onReboot: 'rename-restart',
      onCrash: 'coredump-restart',
      onWatchdog: 'restart',
      onSoftReset: 'destroy',
    });
  });

  it('takes maxmem alone as the memory size too, as libxl does', () => {
    expect(cfg(`maxmem = 48\n`)).toMatchObject({ memoryMiB: 48, maxmemMiB: 48 });
  });

  it('builds the command line as xl does: cmdline wins, else root= and extra', () => {
    expect(cfg(`extra = "quiet"\n`).cmdline).toBe('quiet');
    expect(cfg(`root = "/dev/xvda1"\n`).cmdline).toBe('root=/dev/xvda1');
    expect(cfg(`root = "/dev/xvda1"\nextra = "ro quiet"\n`).cmdline).toBe('root=/dev/xvda1 ro quiet');
    expect(cfg(`extra = "console=hvc0"\nextra += " debug"\n`).cmdline).toBe('console=hvc0 debug');
    const c = cfg(`cmdline = "init=/bin/sh"\nroot = "/dev/xvda1"\nextra = "quiet"\n`, 'guest.cfg');
    expect(c.cmdline).toBe('init=/bin/sh');
    expect(c.warnings).toEqual(['guest.cfg:3: ignoring root= and extra= in favour of cmdline=']);
  });

  it('reads type = "hvm" (a kernel is required: pvsim has no firmware or bootloader)', () => {
    const c = parseXlCfg(`name = "h"\ntype = "hvm"\nkernel = "n.elf"\nvif = ['']\n`, 'h.cfg');
    expect(c).toMatchObject({ type: 'hvm', kernel: 'n.elf', hvmMode: 'trap', shadowSync: 'wp' });
    expect(c.vifs[0]!.type).toBe('ioemu');
    expect(() => parseXlCfg(`name = "h"\ntype = "hvm"\n`, 'h.cfg')).toThrow(/missing required key "kernel"/);
  });

  it('warns when a key is set twice, and the last setting wins', () => {
    const c = cfg(`memory = 64\nmemory = 128\n`, 'guest.cfg');
    expect(c.memoryMiB).toBe(128);
    expect(c.warnings).toEqual(['guest.cfg:4: memory is set again (first on line 3); the last setting wins']);
  });

  it('resolves relative kernel and disk paths against the cfg file directory', () => {
    const c = parseXlCfg(`name = "p"\nkernel = "../images/k.elf"\ndisk = [ 'disks/root.img,raw,xvda,rw', '/abs/d.img,raw,xvdb,r' ]\n`, '/srv/pvsim/cfg/p.cfg');
    expect([c.kernel, c.kernelPath]).toEqual(['../images/k.elf', '/srv/pvsim/images/k.elf']);
    expect(c.disks.map((d) => [d.target, d.targetPath])).toEqual([
      ['disks/root.img', '/srv/pvsim/cfg/disks/root.img'],
      ['/abs/d.img', '/abs/d.img'],
    ]);
    // A relative cfg path resolves against the working directory, then the cfg's directory.
    expect(parseXlCfg(`name = "p"\nkernel = "k.elf"\n`, 'cfg/p.cfg').kernelPath).toBe(resolve('cfg/k.elf'));
  });
});

describe('xl.cfg key errors', () => {
  const cases: [string, string][] = [
    [`name = "g"\nkernel = "k"\nmemroy = 64\n`, `guest.cfg:3: unknown key "memroy" (did you mean "memory"?)`],
    [`name = "g"\nkernel = "k"\nvcpu = 2\n`, `guest.cfg:3: unknown key "vcpu" (did you mean "vcpus"?)`],
    [`name = "g"\nkernel = "k"\nfrobnicate = 1\n`, `guest.cfg:3: unknown key "frobnicate"`],
    [`name = "g"\nkernel = "k"\nweight = 512\n`, `guest.cfg:3: unknown key "weight" (xl.cfg calls it "cpu_weight")`],
    [`name = "g"\nkernel = "k"\nramdisk = "initrd"\n`, `guest.cfg:3: key "ramdisk" is an xl.cfg key that pvsim does not support`],
    [`kernel = "k"\n`, `guest.cfg: missing required key "name" (every domain needs a name)`],
    [`name = "g"\n`, `guest.cfg: missing required key "kernel" (a pv domain boots a kernel image)`],
    [`name = "g"\ntype = "pvh"\n`, `guest.cfg: missing required key "kernel" (a pvh domain boots a kernel image)`],
    [`name = "has space"\nkernel = "k"\n`, `guest.cfg:1: name: "has space" is not a domain name: use 1-64 of A-Z a-z 0-9 _ . -`],
    [`name = 42\nkernel = "k"\n`, `guest.cfg:1: name: "42" is all digits, which xl commands would read as a domid`],
    [`name = ["a"]\nkernel = "k"\n`, `guest.cfg:1: name: expected a single value, not a list`],
    [`name = "g"\nkernel = ""\n`, `guest.cfg:2: kernel: empty path`],
  ];
  it.each(cases)('%j', (text, message) => {
    expect(errorOf(text)).toBe(message);
  });

  const body: [string, string][] = [
    [`type = "xen"\n`, `guest.cfg:3: type: expected "pv", "pvh" or "hvm", got "xen"`],
    [`uuid = "not-a-uuid"\n`, `guest.cfg:3: uuid: expected a UUID like 01234567-89ab-cdef-0123-456789abcdef, got "not-a-uuid"`],
    [`\n\n\n\nmemory = "lots"\n`, `guest.cfg:7: memory: expected an integer number of MiB, got "lots"`],
    [`memory = 1e3\n`, `guest.cfg:3: memory: expected an integer number of MiB, got "1e3"`],
    [`memory = 0\n`, `guest.cfg:3: memory: 0 MiB is out of range (1-4096 MiB)`],
    [`memory = 8192\n`, `guest.cfg:3: memory: 8192 MiB is out of range (1-4096 MiB)`],
    [`memory = 64\nmaxmem = 32\n`, `guest.cfg:4: maxmem: 32 MiB is below memory = 64 MiB`],
    [`memory = 64\nmemory += 1\n`, `guest.cfg:4: memory: "+=" cannot be used with a number`],
    [`memory = [64]\n`, `guest.cfg:3: memory: expected a single value, not a list`],
    [`vcpus = "two"\n`, `guest.cfg:3: vcpus: expected an integer number of vCPUs, got "two"`],
    [`vcpus = 33\n`, `guest.cfg:3: vcpus: 33 is out of range (1-32)`],
    [`vcpus = 4\nmaxvcpus = 2\n`, `guest.cfg:4: maxvcpus: 2 is below vcpus = 4`],
    [`cpu_weight = 0\n`, `guest.cfg:3: cpu_weight: 0 is out of range (1-65535)`],
    [`cpu_weight = "heavy"\n`, `guest.cfg:3: cpu_weight: expected an integer weight (1-65535), got "heavy"`],
    [`cap = "-5"\n`, `guest.cfg:3: cap: -5 is out of range (0-100, 100 x vcpus; 0 = no cap)`],
    [`vcpus = 2\ncap = 250\n`, `guest.cfg:4: cap: 250 is out of range (0-200, 100 x vcpus; 0 = no cap)`],
    // The toolstack holds xl's create request to vcpus (it carries no maxvcpus): so does xl.cfg.
    [`vcpus = 1\nmaxvcpus = 2\ncap = 150\n`, `guest.cfg:5: cap: 150 is out of range (0-100, 100 x vcpus; 0 = no cap)`],
    [`on_crash = "explode"\n`, `guest.cfg:3: on_crash: unknown action "explode"; expected one of destroy, restart, rename-restart, preserve, coredump-destroy, coredump-restart, soft-reset`],
    [`cmdline = "${'x'.repeat(1024)}"\n`, `guest.cfg:3: cmdline: the command line is 1024 bytes; start_info holds at most 1023`],
    [`root = "/dev/xvda"\nextra = "${'x'.repeat(1020)}"\n`, `guest.cfg:4: extra: the command line is 1035 bytes; start_info holds at most 1023`],
    [`disk = 'img,raw,xvda'\n`, `guest.cfg:3: disk: expected a list of specs, e.g. disk = [ 'disk.img,raw,xvda,rw' ]`],
    [`vif = 'bridge=xenbr0'\n`, `guest.cfg:3: vif: expected a list of specs, e.g. vif = [ 'bridge=xenbr0' ]`],
    [`disk = [\n  'a.img,raw,xvda',\n  ['b.img']\n]\n`, `guest.cfg:5: disk[1]: expected a string, not a list`],
    [`disk = [ 'a.img,raw,xvda', 'b.img,raw,xvda' ]\n`, `guest.cfg:3: disk[1]: vdev xvda (device 51712) is already used by disk[0]`],
    [`disk = [ 'a.img,raw,xvda1', 'b.img,raw,d0p1' ]\n`, `guest.cfg:3: disk[1]: vdev d0p1 (device 51713) is already used by disk[0]`],
    [`disk = [\n 'a.img,qcow9,xvda' ]\n`, `guest.cfg:4: disk[0]: unknown value for format: "qcow9" (in "a.img,qcow9,xvda")`],
    [`vif = [ 'mac=00:16:3e:00:00:01', 'mac=00:16:3E:0:0:1' ]\n`, `guest.cfg:3: vif[1]: mac 00:16:3e:00:00:01 is already used by vif[0]`],
    [`vif = [ '', 'mac=00:16:3e:zz:00:01' ]\n`, `guest.cfg:3: vif[1]: mac "00:16:3e:zz:00:01" is not six colon-separated hex bytes, e.g. 00:16:3e:12:34:56 (in "mac=00:16:3e:zz:00:01")`],
  ];
  it.each(body)('%j', (text, message) => {
    expect(errOf(text)).toBe(message);
  });

  it('names file, line and key on the error object', () => {
    try {
      parseXlCfg(`${BASE}\nmemory = "lots"\n`, 'a/b.cfg');
      expect.unreachable();
    } catch (e) {
      expect(e).toMatchObject({ file: 'a/b.cfg', line: 4, key: 'memory', detail: 'expected an integer number of MiB, got "lots"' });
    }
  });

  it('suggests only keys within edit distance 2', () => {
    expect(errOf(`memry = 1\n`)).toContain('(did you mean "memory"?)');
    expect(errOf(`maxmen = 1\n`)).toContain('(did you mean "maxmem"?)');
    expect(errOf(`on_crsh = "destroy"\n`)).toContain('(did you mean "on_crash"?)');
    expect(errOf(`zzzzzz = 1\n`)).toBe('guest.cfg:3: unknown key "zzzzzz"');
  });
});

describe('disk specs', () => {
  const disk = (spec: string) => parseDiskSpec(spec, '/cfg');
  const pick = (spec: string) => {
    const d = disk(spec);
    return { target: d.target, format: d.format, vdev: d.vdev, access: d.access, devtype: d.devtype };
  };

  it('reads the equivalent forms of xl-disk-configuration as one disk', () => {
    const want = { target: '/dev/vg/guest-volume', format: 'raw', vdev: 'hda', access: 'w', devtype: 'disk' };
    for (const s of ['/dev/vg/guest-volume,,hda', '/dev/vg/guest-volume,raw,hda,rw', 'format=raw, vdev=hda, access=rw, target=/dev/vg/guest-volume', 'raw:/dev/vg/guest-volume,hda,w']) {
      expect(pick(s), s).toEqual(want);
    }
  });

  it('reads the equivalent cdrom forms as one read-only cdrom', () => {
    const want = { target: '/root/image.iso', format: 'raw', vdev: 'hdc', access: 'r', devtype: 'cdrom' };
    for (const s of [
      '/root/image.iso,,hdc,cdrom',
      '/root/image.iso,,hdc,,cdrom',
      '/root/image.iso,raw,hdc,devtype=cdrom',
      'format=raw, vdev=hdc, access=ro, devtype=cdrom, target=/root/image.iso',
      'raw:/root/image.iso,hdc:cdrom,ro',
    ]) {
      expect(pick(s), s).toEqual(want);
    }
  });

  it('reads an empty cdrom drive', () => {
    expect(pick(',hdc:cdrom,r')).toEqual({ target: null, format: 'empty', vdev: 'hdc', access: 'r', devtype: 'cdrom' });
    expect(pick('vdev=xvdd, devtype=cdrom')).toEqual({ target: null, format: 'empty', vdev: 'xvdd', access: 'r', devtype: 'cdrom' });
  });

  it('strips the deprecated prefixes, and a prefix takes the format position', () => {
    for (const s of ['file:/img,xvda,w', 'phy:/img,xvda,w', 'tap:aio:/img,xvda,w', 'tap2:/img,xvda,w', 'aio:/img,xvda', 'ioemu:/img,xvda']) {
      expect(pick(s), s).toEqual({ target: '/img', format: 'raw', vdev: 'xvda', access: 'w', devtype: 'disk' });
    }
    expect(pick('file:/img,xvda,r').access).toBe('r');
  });

  it('takes the rest of the spec, commas included, after target=', () => {
    expect(disk('vdev=xvda, target=/a,b c,').target).toBe('/a,b c');
  });

  it('accepts the flags xl documents that change nothing in pvsim, and a backend', () => {
    const d = disk('/img,raw,xvda,rw,discard,direct-io-safe,backendtype=qdisk,backend=driver-dom,trusted');
    expect([d.access, d.backend]).toEqual(['w', 'driver-dom']);
    expect(disk('/img,raw,xvda').backend).toBe('0');
  });

  it('resolves a relative target and keeps spec and devid', () => {
    expect(disk('img/root.img,raw,xvdb1,w')).toEqual({
      spec: 'img/root.img,raw,xvdb1,w',
      target: 'img/root.img',
      targetPath: '/cfg/img/root.img',
      format: 'raw',
      vdev: 'xvdb1',
      devid: (202 << 8) | (1 << 4) | 1,
      access: 'w',
      devtype: 'disk',
      emulation: null,
      backend: '0',
    });
  });

  const bad: [string, string][] = [
    ['/img', 'no vdev specified'],
    ['vdev=xvda', 'no target specified (and device not removable)'],
    ['/img,raw,xvda,rw,extra', 'too many positional parameters: "extra"'],
    ['/img,raw,xvda,rx', 'unknown value for access: "rx" (r, ro, w or rw)'],
    ['/img,vmdk,xvda', 'unknown value for format: "vmdk"'],
    ['/img,qcow2,xvda', 'format "qcow2" is not supported by pvsim (only raw images)'],
    ['/img,empty,xvda', 'format "empty" is only for a cdrom drive with no target'],
    ['format=raw,format=vhd,/img,xvda', 'format respecified: "vhd"'],
    ['/img,raw,xvda,vdev=xvdb', 'vdev respecified: "xvdb"'],
    ['/img,raw,xvda,devtype=floppy', 'unknown value for devtype: "floppy" (disk, cdrom, or for an hvm domain virtio or legacy)'],
    ['/img,raw,xvda,colour=blue', 'unknown parameter "colour"'],
    ['/img,raw,xvda,script=block-iscsi', 'parameter "script" is not supported by pvsim'],
    ['iscsi:iqn.x,xvda', 'the "iscsi:" prefix selects a block script, which pvsim does not support'],
    ['foo:/img,xvda', 'unknown deprecated disk prefix "foo:"'],
    ['/img=x,xvda', 'bad disk syntax near "/img=x"'],
    ['/img,raw,xvd', 'invalid vdev "xvd" (xvda, xvdb1, hdc, sda, d0p1, ...)'],
    ['/img,raw,hde', 'invalid vdev "hde" (xvda, xvdb1, hdc, sda, d0p1, ...)'],
    ['/img,raw,xvda01', 'invalid vdev "xvda01" (xvda, xvdb1, hdc, sda, d0p1, ...)'],
    ['/img,raw,hdc:floppy', 'unknown deprecated type "floppy" after vdev'],
  ];
  it.each(bad)('rejects %j: %s', (spec, message) => {
    expect(() => disk(spec)).toThrow(message);
  });
});

describe('vdev numbers', () => {
  it('computes Xen virtual device numbers as libxl does', () => {
    const want: [string, number][] = [
      ['xvda', 51712],
      ['xvdb', 51728],
      ['xvda1', 51713],
      ['xvdp15', (202 << 8) | (15 << 4) | 15],
      ['xvdq', (1 << 28) | (16 << 8)],
      ['xvda16', (1 << 28) | 16],
      ['xvdz', (1 << 28) | (25 << 8)],
      ['xvdaa', (1 << 28) | (26 << 8)],
      ['xvdaz', (1 << 28) | (51 << 8)],
      ['xvdba', (1 << 28) | (52 << 8)],
      ['d0p0', 51712],
      ['d536p37', (1 << 28) | (536 << 8) | 37],
      ['hda', 3 << 8],
      ['hdb', (3 << 8) | 64],
      ['hdc', 22 << 8],
      ['hdd2', (22 << 8) | 64 | 2],
      ['sda', 8 << 8],
      ['sdb3', (8 << 8) | 16 | 3],
      ['51712', 51712],
      ['0xca00', 51712],
    ];
    for (const [v, n] of want) expect(vdevToDevid(v), v).toBe(n);
    for (const v of ['', 'xvd', 'xvdA', 'xvda0', 'xvda256', 'hde', 'hda64', 'sdq', 'sda16', 'vda', 'd1', 'd0p256']) expect(vdevToDevid(v), v).toBeNull();
  });
});

describe('vif specs', () => {
  const vif = (spec: string, devid = 0) => parseVifSpec(spec, { domainName: 'web', devid, domainType: 'pv' });

  it('gives an empty spec all the defaults, with a MAC in Xen OUI derived from name and devid', () => {
    const v = vif('');
    expect(v).toEqual({
      spec: '',
      devid: 0,
      mac: generatedMac('web', 0),
      macGenerated: true,
      bridge: 'xenbr0',
      ip: null,
      script: null,
      model: 'rtl8139',
      type: 'vif',
      backend: '0',
      vifname: null,
    });
    expect(v.mac).toMatch(/^00:16:3e:[0-7][0-9a-f]:[0-9a-f]{2}:[0-9a-f]{2}$/);
    expect(vif('').mac).toBe(v.mac);
    expect(vif('', 1).mac).not.toBe(v.mac);
    expect(parseVifSpec('', { domainName: 'other', devid: 0, domainType: 'pv' }).mac).not.toBe(v.mac);
  });

  it('reads every key, with spaces after commas and empty pieces ignored', () => {
    const v = vif('mac=00:16:3E:74:3d:76, bridge=xenbr1,,ip=10.0.0.2 fd00::2, script=vif-bridge,model=e1000,type=ioemu,backend=netdom,vifname=web.0');
    expect(v).toMatchObject({
      mac: '00:16:3e:74:3d:76',
      macGenerated: false,
      bridge: 'xenbr1',
      ip: '10.0.0.2 fd00::2',
      script: 'vif-bridge',
      model: 'e1000',
      type: 'ioemu',
      backend: 'netdom',
      vifname: 'web.0',
    });
    expect(vif('mac=2:0:0:0:0:a').mac).toBe('02:00:00:00:00:0a');
    expect(vif('bridge=a,bridge=b').bridge).toBe('b');
  });

  it('refuses a multicast or zero MAC, as neither can be a NIC address (the toolstack refuses them too)', () => {
    expect(() => cfg(`vif = [ 'mac=01:00:5e:00:00:01' ]\n`, 'guest.cfg')).toThrow("guest.cfg:3: vif[0]: mac 01:00:5e:00:00:01 is a multicast address; a NIC's address must be unicast");
    expect(() => vif('mac=0:0:0:0:0:0')).toThrow('mac 00:00:00:00:00:00 is not a valid address');
  });

  const bad: [string, string][] = [
    ['mac=00:16:3e:00:01', 'mac "00:16:3e:00:01" is not six colon-separated hex bytes, e.g. 00:16:3e:12:34:56'],
    ['mac=00-16-3e-00-00-01', 'mac "00-16-3e-00-00-01" is not six colon-separated hex bytes'],
    ['mac=000:16:3e:00:00:01', 'is not six colon-separated hex bytes'],
    ['ip=10.0.0.300', 'ip "10.0.0.300" is not an IPv4 or IPv6 address'],
    ['type=tap', 'invalid type "tap" (vif or ioemu)'],
    ['bridge=', 'empty bridge name'],
    ['bridge=../../x', 'bridge "../../x" is not an interface name'],
    ['bridge=a-bridge-name-too-long', 'is not an interface name'],
    ['backend=', 'empty backend domain'],
    ['xenbr0', 'unrecognized argument "xenbr0" (expected key=value)'],
    ['colour=red', 'unrecognized argument "colour=red"'],
    ['rate=10Mb/s', 'parameter "rate" is not supported by pvsim'],
  ];
  it.each(bad)('rejects %j', (spec, message) => {
    expect(() => vif(spec)).toThrow(message);
  });
});

// --- print -> parse round trips -------------------------------------------------------------

interface Style {
  quote: '"' | "'";
  sep: '\n' | '; ';
  comments: boolean;
  multiline: boolean;
  trailingComma: boolean;
  hex: boolean;
  quotedNumbers: boolean;
}
const style: fc.Arbitrary<Style> = fc.record({
  quote: fc.constantFrom('"' as const, "'" as const),
  sep: fc.constantFrom('\n' as const, '; ' as const),
  comments: fc.boolean(),
  multiline: fc.boolean(),
  trailingComma: fc.boolean(),
  hex: fc.boolean(),
  quotedNumbers: fc.boolean(),
});

function quoteStr(s: string, st: Style): string {
  const q = st.quote;
  let out = '';
  for (const ch of s) {
    if (ch === '\\') out += '\\\\';
    else if (ch === q) out += `\\${q}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t' && st.comments) out += '\\t';
    else out += ch;
  }
  return q + out + q;
}

/** A small printer for settings: the inverse of parseXlCfgSettings, in a given style. */
function printSettings(entries: [string, XlValue][], st: Style): { text: string; lines: number[] } {
  const val = (v: XlValue, indent: string): string => {
    if (v.kind === 'string') return /^[0-9][0-9a-fx]*$/.test(v.text) && !st.quotedNumbers ? v.text : quoteStr(v.text, st);
    if (v.items.length === 0) return '[]';
    const items = v.items.map((i) => val(i, `${indent}  `));
    if (!st.multiline) return `[ ${items.join(', ')}${st.trailingComma ? ',' : ''} ]`;
    const lines = items.map((i, k) => `${indent}  ${i}${k < items.length - 1 || st.trailingComma ? ',' : ''}${st.comments ? ` # item ${k}` : ''}`);
    return `[\n${lines.join('\n')}\n${indent}]`;
  };
  let out = st.comments ? '# generated\n\n' : '';
  const lines: number[] = [];
  for (const [k, v] of entries) {
    lines.push(out.split('\n').length);
    out += `${k} = ${val(v, '')}`;
    out += v.kind === 'list' && st.multiline ? '\n' : st.sep;
    if (st.comments) out += '# between\n';
  }
  return { text: out, lines };
}

/** Text that leans on what a printer must get right: quotes, backslashes, newlines, xl's punctuation. */
const trickyText = (maxLength: number) =>
  fc.string({
    maxLength,
    unit: fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom('\\', '"', "'", '\n', '\t', '\r', '#', ',', '[', ']', '=', '+', ';', ' ') },
      { weight: 3, arbitrary: fc.constantFrom(...'abcxyz019') },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
    ),
  });
const atom: fc.Arbitrary<XlValue> = fc.oneof(
  trickyText(20).map((text) => ({ kind: 'string' as const, text, line: 0 })),
  fc.stringMatching(/^[0-9][0-9a-fx]{0,8}$/).map((text) => ({ kind: 'string' as const, text, line: 0 })),
);
const { value: anyValue } = fc.letrec<{ value: XlValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    atom,
    fc.array(tie('value'), { maxLength: 4 }).map((items) => ({ kind: 'list' as const, items, line: 0 })),
  ),
}));
const strip = (v: XlValue): unknown => (v.kind === 'string' ? v.text : v.items.map(strip));

describe('print -> parse round trips', () => {
  it('any settings, in any style, on the lines they were written on', () => {
    const key = fc.stringMatching(/^[a-z][_0-9a-z]{0,12}$/);
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(key, anyValue), { selector: ([k]) => k, maxLength: 8 }), style, (entries, st) => {
        const { text, lines } = printSettings(entries, st);
        const parsed = parseXlCfgSettings(text, 'p.cfg');
        expect(parsed.assignments.map((a) => [a.key, strip(a.value), a.line])).toEqual(entries.map(([k, v], i) => [k, strip(v), lines[i]]));
      }),
      { numRuns: 300 },
    );
  });

  // A domain described by the grammar's terms, with what parseXlCfg must return for it.
  const letters = (n: number): string => (n >= 26 ? letters(Math.floor(n / 26) - 1) : '') + String.fromCharCode(97 + (n % 26));
  const diskArb = fc.record({
    disk: fc.integer({ min: 0, max: 800 }),
    part: fc.integer({ min: 0, max: 20 }),
    target: fc.stringMatching(/^[a-z0-9_./-]{1,24}$/).filter((t) => !/^[a-z][a-z0-9]*:/.test(t) && !['cdrom', 'discard', 'no-discard', 'trusted', 'untrusted', 'direct-io-safe', 'colo', 'no-colo'].includes(t)),
    access: fc.constantFrom('r' as const, 'w' as const),
    form: fc.constantFrom('positional', 'short', 'named', 'prefix'),
  });
  const vifArb = fc.record({
    mac: fc.option(fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 5, maxLength: 5 })),
    bridge: fc.option(fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/)),
    ip: fc.option(fc.ipV4()),
    spaces: fc.boolean(),
  });
  const domainArb = fc.record({
    name: fc.stringMatching(/^[A-Za-z0-9_.-]{1,64}$/).filter((n) => !/^[0-9]+$/.test(n) && !/^\.+$/.test(n)),
    kernel: fc.stringMatching(/^(\/)?[a-z0-9_.-]{1,10}(\/[a-z0-9_.-]{1,10}){0,2}$/).filter((k) => !/(^|\/)\.\.?(\/|$)/.test(k)),
    memory: fc.option(fc.integer({ min: 1, max: 4096 })),
    maxmemExtra: fc.option(fc.integer({ min: 0, max: 4096 })),
    vcpus: fc.option(fc.integer({ min: 1, max: 32 })),
    maxvcpusExtra: fc.option(fc.integer({ min: 0, max: 31 })),
    weight: fc.option(fc.integer({ min: 1, max: 65535 })),
    capPct: fc.option(fc.integer({ min: 0, max: 100 })),
    cmdline: fc.option(trickyText(60).filter((s) => !s.includes('\0'))),
    onCrash: fc.option(fc.constantFrom('destroy', 'restart', 'rename-restart', 'preserve', 'coredump-destroy', 'coredump-restart', 'soft-reset')),
    uuid: fc.option(fc.uuid()),
    disks: fc.uniqueArray(diskArb, { selector: (d) => `${d.disk}/${d.part}`, maxLength: 4 }),
    vifs: fc.array(vifArb, { maxLength: 3 }).filter((vs) => {
      const macs = vs.flatMap((v) => (v.mac ? [v.mac.join(':')] : []));
      return new Set(macs).size === macs.length;
    }),
  });

  it('whole configurations, in any style, give back what was written', () => {
    fc.assert(
      fc.property(domainArb, style, fc.boolean(), (m, st, shuffleSeed) => {
        const S = (s: string) => quoteStr(s, st);
        const N = (n: number) => (st.quotedNumbers ? S(String(n)) : st.hex ? `0x${n.toString(16)}` : String(n));
        const stmts: string[] = [`name = ${S(m.name)}`, `kernel = ${S(m.kernel)}`];
        const maxmem = m.maxmemExtra !== null && m.memory !== null ? Math.min(4096, m.memory + m.maxmemExtra) : null;
        const maxvcpus = m.maxvcpusExtra !== null && m.vcpus !== null ? Math.min(32, m.vcpus + m.maxvcpusExtra) : null;
        if (m.memory !== null) stmts.push(`memory = ${N(m.memory)}`);
        if (maxmem !== null) stmts.push(`maxmem = ${N(maxmem)}`);
        if (m.vcpus !== null) stmts.push(`vcpus = ${N(m.vcpus)}`);
        if (maxvcpus !== null) stmts.push(`maxvcpus = ${N(maxvcpus)}`);
        if (m.weight !== null) stmts.push(`cpu_weight = ${N(m.weight)}`);
        if (m.capPct !== null) stmts.push(`cap = ${N(m.capPct)}`);
        if (m.cmdline !== null) stmts.push(`cmdline = ${S(m.cmdline)}`);
        if (m.onCrash !== null) stmts.push(`on_crash = ${S(m.onCrash)}`);
        if (m.uuid !== null) stmts.push(`uuid = ${S(m.uuid.toUpperCase())}`);

        const vdevs = m.disks.map((d) => `xvd${letters(d.disk)}${d.part ? d.part : ''}`);
        const devids = m.disks.map((d) => (d.disk <= 15 && d.part <= 15 ? (202 << 8) | (d.disk << 4) | d.part : (1 << 28) | (d.disk << 8) | d.part));
        const diskSpecs = m.disks.map((d, i) => {
          const v = vdevs[i]!;
          switch (d.form) {
            case 'positional':
              return `${d.target},raw,${v},${d.access === 'r' ? 'ro' : 'rw'}`;
            case 'short':
              return `${d.target},,${v}${d.access === 'r' ? ',r' : ''}`;
            case 'named':
              return `format=raw, vdev=${v}, access=${d.access}, target=${d.target}`;
            default:
              return `file:${d.target},${v},${d.access}`;
          }
        });
        const vifSpecs = m.vifs.map((v) => {
          const parts: string[] = [];
          if (v.mac) parts.push(`mac=${[0x02, ...v.mac].map((b) => b.toString(16).padStart(2, '0')).join(':')}`);
          if (v.bridge) parts.push(`bridge=${v.bridge}`);
          if (v.ip) parts.push(`ip=${v.ip}`);
          return parts.join(v.spaces ? ', ' : ',');
        });
        const list = (items: string[]) =>
          items.length === 0
            ? '[]'
            : st.multiline
              ? `[\n${items.map((x, k) => `    ${S(x)}${k < items.length - 1 || st.trailingComma ? ',' : ''}${st.comments ? ' # entry' : ''}`).join('\n')}\n]`
              : `[ ${items.map(S).join(', ')}${st.trailingComma ? ',' : ''} ]`;
        if (m.disks.length || shuffleSeed) stmts.push(`disk = ${list(diskSpecs)}`);
        if (m.vifs.length) stmts.push(`vif = ${list(vifSpecs)}`);
        if (shuffleSeed) stmts.reverse();
        const text = (st.comments ? '# a generated domain\n' : '') + stmts.map((s) => (s.endsWith(']') ? `${s}\n` : s + st.sep)).join(st.comments ? '\n# --\n' : '');

        const c = parseXlCfg(text, '/gen/dom.cfg');
        const memory = m.memory ?? 32;
        const vcpus = m.vcpus ?? 1;
        expect(c).toMatchObject({
          name: m.name,
          type: 'pv',
          kernel: m.kernel,
          kernelPath: m.kernel.startsWith('/') ? m.kernel : `/gen/${m.kernel}`,
          memoryMiB: memory,
          maxmemMiB: maxmem ?? memory,
          vcpus,
          maxvcpus: maxvcpus ?? vcpus,
          weight: m.weight ?? 256,
          cap: m.capPct ?? 0,
          cmdline: m.cmdline ?? '',
          onCrash: m.onCrash ?? 'destroy',
          uuid: m.uuid,
        });
        expect(c.disks.map((d) => [d.target, d.vdev, d.devid, d.access, d.format, d.devtype])).toEqual(
          m.disks.map((d, i) => [d.target, vdevs[i], devids[i], d.access, 'raw', 'disk']),
        );
        expect(c.vifs.map((v) => [v.mac, v.bridge, v.ip])).toEqual(
          m.vifs.map((v, i) => [
            v.mac ? [0x02, ...v.mac].map((b) => b.toString(16).padStart(2, '0')).join(':') : generatedMac(m.name, i),
            v.bridge ?? 'xenbr0',
            v.ip,
          ]),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('knows every key it documents', () => {
    expect([...XL_KEYS].sort()).toEqual(
      ['cap', 'cmdline', 'cpu_weight', 'disk', 'extra', 'kernel', 'maxmem', 'maxvcpus', 'memory', 'name', 'on_crash', 'on_poweroff', 'on_reboot', 'on_soft_reset', 'on_watchdog', 'root', 'type', 'uuid', 'vcpus', 'vif', 'hvm_mode', 'shadow_sync', 'cpus', 'cpus_soft', 'xen_platform_pci', 'pool', 'vdev', 'cpu_engine'].sort(),
    );
  });

  it('cpu_engine (pvsim\'s key): interp or jit for any domain type, the same list as the hypervisor\'s engines', () => {
    expect(cfg('').cpuEngine).toBeNull();
    expect(cfg('cpu_engine = "jit"\n').cpuEngine).toBe('jit');
    expect(cfg('cpu_engine = "interp"\n').cpuEngine).toBe('interp');
    expect(parseXlCfg(`name = "h"\ntype = "hvm"\nkernel = "/n.elf"\ncpu_engine = "jit"\n`, '/etc/xen/h.cfg').cpuEngine).toBe('jit');
    expect(errorOf(`${BASE}cpu_engine = "tcg"\n`)).toMatch(/guest\.cfg:3: cpu_engine: unknown cpu_engine "tcg"; expected one of interp, jit/);
    expect([...CPU_ENGINES]).toEqual([...ENGINE_KINDS]);
    expect(validateCreateDomain({ name: 'a', kernel: new Uint8Array(64), memoryMib: 16, cpuEngine: 'jit' }, 1024)).toBeUndefined();
    expect(() => validateCreateDomain({ name: 'a', kernel: new Uint8Array(64), memoryMib: 16, cpuEngine: 'fast' }, 1024)).toThrow(/cpu_engine: unknown cpu_engine "fast"/);
  });
});

describe('emulated devices of an hvm domain (devtype=virtio | legacy, model=virtio)', () => {
  const HVM = `name = "h"\ntype = "hvm"\nkernel = "/n.elf"\n`;
  const hvm = (body: string) => parseXlCfg(HVM + body, '/etc/xen/h.cfg');

  it('makes an hvm disk virtio unless devtype=legacy, and an hvm vif virtio-net', () => {
    const c = hvm(`disk = [ '/a.img,raw,xvda,w', '/b.img,raw,xvdb,w,devtype=virtio', '/c.img,raw,hda,w,devtype=legacy' ]\nvif = [ 'bridge=xenbr0', 'model=virtio' ]\n`);
    expect(c.disks.map((d) => d.emulation)).toEqual(['virtio', 'virtio', 'legacy']);
    expect(c.vifs.map((v) => v.model)).toEqual(['virtio', 'virtio']);
  });

  it('keeps a PV domain PV and refuses devtype=virtio|legacy and model=virtio there', () => {
    expect(cfg(`disk = [ '/a.img,raw,xvda,w' ]\n`).disks[0]!.emulation).toBeNull();
    expect(errorOf(`${BASE}disk = [ '/a.img,raw,xvda,w,devtype=virtio' ]\n`)).toMatch(/guest\.cfg:3: disk\[0\]: devtype=virtio applies to type = "hvm" domains only/);
    expect(errorOf(`${BASE}disk = [ '/a.img,raw,xvda,w,devtype=legacy' ]\n`)).toMatch(/devtype=legacy applies to type = "hvm" domains only/);
    expect(errorOf(`${BASE}vif = [ 'model=virtio' ]\n`)).toMatch(/vif\[0\]: model=virtio applies to type = "hvm" domains only/);
  });

  it('refuses nonsense: another NIC model, a second legacy disk, more devices than slots, an emulated cdrom', () => {
    expect(errorOf(`${HVM}vif = [ 'model=e1000' ]\n`)).toMatch(/vif\[0\]: model=e1000: pvsim emulates only virtio-net/);
    expect(errorOf(`${HVM}vif = [ 'model=legacy' ]\n`)).toMatch(/model=legacy: pvsim emulates only virtio-net/);
    expect(errorOf(`${HVM}disk = [ '/a,raw,hda,w,devtype=legacy', '/b,raw,hdb,w,devtype=legacy' ]\n`)).toMatch(/disk\[1\]: 2 legacy disks; the board has one ATA disk/);
    const nine = Array.from({ length: 9 }, (_, i) => `'/d${i},raw,xvd${String.fromCharCode(97 + i)},w'`).join(', ');
    expect(errorOf(`${HVM}disk = [ ${nine} ]\n`)).toMatch(/disk\[8\]: 9 virtio devices \(disks and vifs\); the board has 8 virtio-mmio slots/);
    expect(errorOf(`${HVM}disk = [ '/a,raw,xvda,w', '/b,raw,xvdb,w', '/c,raw,xvdc,w', '/d,raw,xvdd,w', '/e,raw,xvde,w' ]\nvif = [ '', '', '', '' ]\n`)).toMatch(/vif\[3\]: 9 virtio devices/);
    expect(errorOf(`${HVM}disk = [ '/a.iso,raw,hdc,devtype=cdrom' ]\n`)).toMatch(/pvsim emulates no cdrom drive/);
    expect(() => parseDiskSpec('/a.iso,raw,hdc,devtype=cdrom,devtype=virtio')).toThrow(/devtype=virtio is for a disk/);
    expect(() => parseDiskSpec('/a,raw,xvda,devtype=scsi')).toThrow(/unknown value for devtype: "scsi"/);
  });
});
